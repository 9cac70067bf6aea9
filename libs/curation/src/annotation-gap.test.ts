/**
 * A structure set whose left parotid skips a slice (its contour there left out, as when a planner draws
 * alternate slices and the interpolation is not exported): the curator flags it, changes nothing, and
 * the same case drawn whole raises nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curateCohort, type CurateResult } from './cohort';
import { caseCuratedFrom, headNeckPhantom, ORGAN_SPHERES, PHANTOM_SHAPE, writeDicomCase } from './testing/phantom';

let root: string, result: CurateResult;
const skipped = ORGAN_SPHERES.Parotid_L.c[2]; // the slice through its centre

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'curation-gap-'));
  const whole = headNeckPhantom(4);
  writeDicomCase(join(root, 'in', 'whole'), whole, { patientId: 'GAP-W', uidSeed: 'gw' });
  const gap = headNeckPhantom(5);
  const [nx, ny] = PHANTOM_SHAPE;
  gap.masks.get('Parotid_L')!.fill(0, skipped * nx * ny, (skipped + 1) * nx * ny);
  writeDicomCase(join(root, 'in', 'gap'), gap, { patientId: 'GAP-G', uidSeed: 'gg' });
  result = await curateCohort({ inputs: [join(root, 'in')], outDir: join(root, 'out') });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('an organ with a slice left out', () => {
  it('is measured and flagged, and its case curated as it is', () => {
    const c = caseCuratedFrom(result, join(root, 'in', 'gap'));
    expect(c.measures?.Parotid_L).toMatchObject({ pieces: 2, gapSlices: 1, strayGapMm: 8 });
    expect(result.manifest.annotationFindings).toEqual([
      {
        caseId: c.caseId, check: 'gap', organs: ['Parotid_L'],
        message: 'Parotid_L: 1 slice between its first and last holds no contour: a slice left out, or contours drawn on alternate slices and exported without their interpolation?',
      },
    ]);
    expect(c.availability.Parotid_L).toBe('annotated');
    expect(caseCuratedFrom(result, join(root, 'in', 'whole')).measures?.Parotid_L).toMatchObject({ pieces: 1, gapSlices: 0 });
  });
});
