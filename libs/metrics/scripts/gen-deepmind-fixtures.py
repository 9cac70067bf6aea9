#!/usr/bin/python3
"""Writes src/fixtures/deepmind-oracle.json: masks and the results of DeepMind's surface-distance
library on them, the independent reference the TypeScript surfels are tested against.

Usage: /usr/bin/python3 libs/metrics/scripts/gen-deepmind-fixtures.py <checkout of google-deepmind/surface-distance>
Needs numpy and scipy (Debian python3-numpy, python3-scipy). Masks are stored i-fastest (Fortran order
of a [nx, ny, nz] array), base64 of uint8, as the TypeScript library lays volumes out.
"""
import base64
import json
import sys
import warnings

import numpy as np
from scipy import ndimage

warnings.filterwarnings('ignore', category=DeprecationWarning)
sys.path.insert(0, sys.argv[1])
import surface_distance as sd  # noqa: E402


def blob(rng, shape, sigma, threshold):
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return noise > threshold


def ellipsoid(shape, spacing, centre_mm, radii_mm):
    idx = np.indices(shape).astype(float)
    r = sum(((idx[a] * spacing[a] - centre_mm[a]) / radii_mm[a]) ** 2 for a in range(3))
    return r <= 1.0


def enc(mask):
    return base64.b64encode(np.asarray(mask, np.uint8).ravel(order='F').tobytes()).decode()


def case(name, gt, pred, spacing, tolerances=(1.0, 2.5), percents=(95, 100)):
    d = sd.compute_surface_distances(gt, pred, spacing)
    out = {
        'name': name, 'shape': list(gt.shape), 'spacingMm': list(spacing), 'gt': enc(gt), 'pred': enc(pred),
        'gtToPredMm': [float(x) for x in d['distances_gt_to_pred']],
        'gtAreasMm2': [float(x) for x in d['surfel_areas_gt']],
        'predToGtMm': [float(x) for x in d['distances_pred_to_gt']],
        'predAreasMm2': [float(x) for x in d['surfel_areas_pred']],
        'hausdorff': {str(p): float(sd.compute_robust_hausdorff(d, p)) for p in percents},
        'surfaceDice': {str(t): float(sd.compute_surface_dice_at_tolerance(d, t)) for t in tolerances},
        'dice': float(sd.compute_dice_coefficient(gt, pred)),
    }
    if len(d['distances_gt_to_pred']) and len(d['distances_pred_to_gt']):
        a, b = sd.compute_average_surface_distance(d)
        out['meanGtToPredMm'], out['meanPredToGtMm'] = float(a), float(b)
    return out


def main():
    rng = np.random.RandomState(20180611)
    cases = []
    for n, spacing in enumerate([(1.0, 1.0, 1.0), (0.9, 1.3, 2.5), (0.6, 0.6, 3.0)]):
        shape = (16, 14, 8)
        gt = blob(rng, shape, 2.0, 0.05)
        pred = blob(rng, shape, 2.0, 0.05) | (gt & (rng.uniform(size=shape) < 0.5))
        cases.append(case(f'random blobs {n}', gt, pred, spacing))
    spacing = (0.8, 1.0, 2.0)
    shape = (30, 26, 14)
    gt = ellipsoid(shape, spacing, (12, 13, 14), (6, 6, 6))
    cases.append(case('offset spheres', gt, ellipsoid(shape, spacing, (15.2, 13, 16), (6, 6, 6)), spacing))
    cases.append(case('thin chiasm-like bar', ellipsoid(shape, spacing, (12, 13, 14), (9, 2, 2.5)),
                      ellipsoid(shape, spacing, (13, 13.5, 14), (8, 1.6, 2.5)), spacing))
    single = np.zeros((5, 3, 3), bool)
    other = single.copy()
    single[1, 1, 1] = True
    other[3, 1, 1] = True
    cases.append(case('two voxels 2 mm apart', single, other, (1.0, 1.5, 2.0)))
    cases.append(case('empty prediction', gt, np.zeros(shape, bool), spacing))
    text = json.dumps({'source': 'google-deepmind/surface-distance compute_surface_distances (Apache-2.0)', 'cases': cases},
                      separators=(',', ':'))
    # JSON has no Infinity; 1e999 parses to it in JavaScript.
    open('libs/metrics/src/fixtures/deepmind-oracle.json', 'w').write(text.replace('Infinity', '1e999') + '\n')
    print('wrote', len(cases), 'cases')


main()
