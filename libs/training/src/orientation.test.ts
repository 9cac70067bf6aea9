import { describe, expect, test } from 'vitest';
import { canonicalOrientation, canonicalShape, fromCanonical, toCanonical } from './orientation';

describe('canonical orientation', () => {
  test('HFS (identity direction) is left as it is', () => {
    expect(canonicalOrientation([1, 0, 0, 0, 1, 0, 0, 0, 1])).toEqual({ perm: [0, 1, 2], flip: [false, false, false] });
  });
  test('FFS (i towards the right, k towards the feet) flips i and k', () => {
    expect(canonicalOrientation([-1, 0, 0, 0, 1, 0, 0, 0, -1])).toEqual({ perm: [0, 1, 2], flip: [true, false, true] });
  });
  test('a permuted, slightly oblique direction takes the nearest axes', () => {
    // columns: i ~ +S, j ~ -L, k ~ +P
    const d = [0.05, -0.999, 0, 0, 0, 1, 0.999, 0.05, 0];
    expect(canonicalOrientation(d)).toEqual({ perm: [1, 2, 0], flip: [true, false, false] });
  });
  test('two axes along one LPS axis are refused', () => {
    expect(() => canonicalOrientation([1, 1, 0, 0, 0, 0, 0, 0, 1])).toThrow(RangeError);
  });
  test('a voxel at the patient-left, superior corner lands at canonical (max, 0, max) from an FFS grid', () => {
    const shape: [number, number, number] = [3, 2, 4];
    const o = canonicalOrientation([-1, 0, 0, 0, 1, 0, 0, 0, -1]);
    const src = new Uint8Array(24);
    src[0] = 7; // FFS: i runs to the patient's right, so i=0 is the left-most column; k runs to the feet, so k=0 is the top
    const can = toCanonical(src, shape, o);
    const cs = canonicalShape(shape, o);
    expect(cs).toEqual([3, 2, 4]);
    expect(can[2 + 3 * (0 + 2 * 3)]).toBe(7);
  });
  test('fromCanonical inverts toCanonical for every orientation', () => {
    const shape: [number, number, number] = [4, 3, 5];
    const data = Float32Array.from({ length: 60 }, (_, i) => i);
    for (const d of [[1, 0, 0, 0, 1, 0, 0, 0, 1], [-1, 0, 0, 0, -1, 0, 0, 0, 1], [0, 0, 1, 1, 0, 0, 0, -1, 0], [0, -1, 0, 0, 0, -1, -1, 0, 0]]) {
      const o = canonicalOrientation(d);
      const back = fromCanonical(toCanonical(data, shape, o), shape, o);
      expect(Array.from(back)).toEqual(Array.from(data));
    }
  });
});
