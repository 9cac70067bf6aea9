import { describe, expect, test } from 'vitest';
import { windowHu } from './intensity';
import { argmaxOfLinearResample, resampledShape, resampleLinear, resampleNearest, type Shape3 } from './resample';

describe('resampling', () => {
  test('shape keeps the physical extent', () => {
    expect(resampledShape([256, 256, 100], [0.5, 0.5, 2.5], [2, 2, 3])).toEqual([64, 64, 83]);
  });
  test('identity when shapes are equal', () => {
    const a = Float32Array.from({ length: 24 }, (_, i) => i * 1.5);
    expect(Array.from(resampleLinear(a, [2, 3, 4], [2, 3, 4]))).toEqual(Array.from(a));
    const l = Uint8Array.from({ length: 24 }, (_, i) => i % 7);
    expect(Array.from(resampleNearest(l, [2, 3, 4], [2, 3, 4]))).toEqual(Array.from(l));
  });
  test('halving a linear ramp averages neighbour pairs (edges aligned)', () => {
    const a = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    // target centres at source coordinates 0.5, 2.5, 4.5, 6.5
    expect(Array.from(resampleLinear(a, [8, 1, 1], [4, 1, 1]))).toEqual([0.5, 2.5, 4.5, 6.5]);
  });
  test('nearest upsampling by two repeats each label', () => {
    const l = Uint8Array.from([1, 2, 3]);
    expect(Array.from(resampleNearest(l, [3, 1, 1], [6, 1, 1]))).toEqual([1, 1, 2, 2, 3, 3]);
  });
  test('probability resampling: argmax of each class resampled on its own, separably', () => {
    // Independent check: every class through resampleLinear (trilinear in one go), then argmax.
    const shape: Shape3 = [5, 4, 3], dst: Shape3 = [12, 9, 7], classes = 4;
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const probs = Float32Array.from({ length: 5 * 4 * 3 * classes }, rand);
    const perClass = Array.from({ length: classes }, (_, c) =>
      resampleLinear(Float32Array.from({ length: 60 }, (_, q) => probs[q * classes + c]!), shape, dst),
    );
    const expected = Uint8Array.from({ length: 12 * 9 * 7 }, (_, q) => {
      let best = 0;
      for (let c = 1; c < classes; c++) if (perClass[c]![q]! > perClass[best]![q]!) best = c;
      return best;
    });
    expect(Array.from(argmaxOfLinearResample(probs, classes, shape, dst))).toEqual(Array.from(expected));
  });
  test('probability resampling moves an edge to where the probabilities cross, not to the coarse voxel border', () => {
    // Two coarse voxels along x, p(organ) 0.1 then 0.6, upsampled by 4: the coarse border lies between
    // fine voxels 3 and 4, but the interpolated organ probability first beats background's at voxel 5.
    const probs = Float32Array.from([0.9, 0.1, 0.4, 0.6]); // [background, organ] per coarse voxel
    expect(Array.from(argmaxOfLinearResample(probs, 2, [2, 1, 1], [8, 1, 1]))).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
    expect(Array.from(resampleNearest(Uint8Array.from([0, 1]), [2, 1, 1], [8, 1, 1]))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(() => argmaxOfLinearResample(probs, 3, [2, 1, 1], [8, 1, 1])).toThrow(RangeError);
  });
  test('HU window clips and scales', () => {
    expect(Array.from(windowHu([-2000, -1000, 0, 1000, 3000], { lo: -1000, hi: 1000 }))).toEqual([0, 0, 0.5, 1, 1]);
    expect(() => windowHu([0], { lo: 5, hi: 5 })).toThrow(/hi/);
  });
});
