import { describe, expect, test } from 'vitest';
import { windowHu } from './intensity';
import { resampledShape, resampleLinear, resampleNearest } from './resample';

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
  test('HU window clips and scales', () => {
    expect(Array.from(windowHu([-2000, -1000, 0, 1000, 3000], { lo: -1000, hi: 1000 }))).toEqual([0, 0, 0.5, 1, 1]);
    expect(() => windowHu([0], { lo: 5, hi: 5 })).toThrow(/hi/);
  });
});
