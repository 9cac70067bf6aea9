import { describe, expect, it } from 'vitest';
import type { Mat3, Vec3 } from '@anatomynet/data';
import { labelBoundingBoxes } from '@anatomynet/metrics';
import { ALIGNMENT_SEARCH_MM, boneAlignment, BONE_VOXEL_HU, translatedLabel } from './bone-alignment';

describe('boneAlignment', () => {
  const shape: Vec3 = [40, 36, 16];
  const spacing: Vec3 = [1, 0.8, 2.5];
  const n = shape[0] * shape[1] * shape[2];
  const at = (i: number, j: number, k: number) => i + shape[0] * (j + shape[1] * k);
  /** A bone (HU 900, noise-free) in a box, soft tissue (40 HU) around it. */
  const bone = (lo: Vec3, hi: Vec3) => {
    const hu = new Int16Array(n).fill(40);
    for (let k = lo[2]; k <= hi[2]; k++) for (let j = lo[1]; j <= hi[1]; j++) for (let i = lo[0]; i <= hi[0]; i++) hu[at(i, j, k)] = 900;
    return hu;
  };
  /** Label 3 on the box moved by `d` voxels. */
  const contour = (lo: Vec3, hi: Vec3, d: Vec3 = [0, 0, 0]) => {
    const label = new Uint8Array(n);
    for (let k = lo[2]; k <= hi[2]; k++) for (let j = lo[1]; j <= hi[1]; j++) for (let i = lo[0]; i <= hi[0]; i++) label[at(i + d[0], j + d[1], k + d[2])] = 3;
    return label;
  };
  const measure = (label: Uint8Array, hu: Int16Array, direction: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1]) =>
    boneAlignment(label, hu, { shape, spacing, direction }, labelBoundingBoxes(label, shape, 4)[3]!, 3);
  const lo: Vec3 = [10, 8, 4], hi: Vec3 = [29, 27, 11];
  const hu = bone(lo, hi);

  it('a contour on its bone lies wholly on bone and is not moved', () => {
    expect(measure(contour(lo, hi), hu)).toEqual({ fraction: 1, shiftMm: [0, 0, 0], shiftedFraction: 1 });
  });

  it('a contour moved off its bone finds the translation back, in LPS mm through the direction matrix', () => {
    // 3 columns, -2 rows and one slice: 3 mm, -1.6 mm and 2.5 mm along the index axes
    const moved = contour(lo, hi, [3, -2, 1]);
    // 20 x 20 x 8 voxels (3200: every one judges each translation); overlap 17 x 18 x 7
    const onBone = Math.round((17 * 18 * 7) / (20 * 20 * 8) * 1000) / 1000;
    expect(measure(moved, hu)).toEqual({ fraction: onBone, shiftMm: [-3, 1.6, -2.5], shiftedFraction: 1 });
    // i towards the patient's right, k towards the feet (a feet-first scan): the same voxels, other LPS directions
    expect(measure(moved, hu, [-1, 0, 0, 0, 1, 0, 0, 0, -1])).toEqual({ fraction: onBone, shiftMm: [3, 1.6, 2.5], shiftedFraction: 1 });
    // axes permuted: index i runs along LPS y, j along x
    expect(measure(moved, hu, [0, 1, 0, 1, 0, 0, 0, 0, 1]).shiftMm).toEqual([1.6, -3, -2.5]);
    // translatedLabel moves the contour by what was found: back onto its bone, whatever the direction matrix
    for (const direction of [[1, 0, 0, 0, 1, 0, 0, 0, 1], [-1, 0, 0, 0, 1, 0, 0, 0, -1], [0, 1, 0, 1, 0, 0, 0, 0, 1]] as Mat3[]) {
      const back = translatedLabel(moved, { shape, spacing, direction }, measure(moved, hu, direction).shiftMm, 3);
      expect(Array.from(back)).toEqual(Array.from(contour(lo, hi)));
    }
  });

  it('judges translations on a sample of a large contour and scores the answer with every voxel', () => {
    const bigLo: Vec3 = [4, 4, 2], bigHi: Vec3 = [35, 31, 13];
    // 32 x 28 x 12 = 10752 voxels, more than the sample
    const r = measure(contour(bigLo, bigHi, [0, 4, 0]), bone(bigLo, bigHi));
    expect(r).toEqual({ fraction: Math.round((32 * 24 * 12) / (32 * 28 * 12) * 1000) / 1000, shiftMm: [0, -3.2, 0], shiftedFraction: 1 });
  });

  it('does not search past ALIGNMENT_SEARCH_MM, nor move a contour that no translation puts on more bone', () => {
    expect(ALIGNMENT_SEARCH_MM).toBe(10);
    // 6 slices (15 mm) above its bone: no translation within 10 mm reaches it
    const far = measure(contour(lo, [29, 27, 5], [0, 0, 9]), bone(lo, [29, 27, 5]));
    expect(far).toEqual({ fraction: 0, shiftMm: [0, 0, 0], shiftedFraction: 0 });
    // bone everywhere: nothing to gain
    expect(measure(contour(lo, hi, [2, 2, 0]), new Int16Array(n).fill(BONE_VOXEL_HU + 1))).toEqual({ fraction: 1, shiftMm: [0, 0, 0], shiftedFraction: 1 });
    // the threshold: a voxel at BONE_VOXEL_HU is not bone
    expect(measure(contour(lo, hi), new Int16Array(n).fill(BONE_VOXEL_HU)).fraction).toBe(0);
  });
});
