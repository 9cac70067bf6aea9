import { describe, expect, it } from 'vitest';
import { boxesBySlice, forEachNonZero, unionBoxes } from './boxes';

describe('forEachNonZero', () => {
  it('visits every non-zero voxel once, in order, for aligned, unaligned and non-byte arrays', () => {
    const values = [0, 0, 3, 0, 0, 0, 0, 0, 7, 1, 0, 0, 0, 255, 0, 0, 0, 2, 0];
    const expected = values.flatMap((x, v) => (x ? [[v, x]] : []));
    const backing = new Uint8Array(values.length + 1);
    backing.set(values, 1);
    for (const data of [Uint8Array.from(values), backing.subarray(1), Int16Array.from(values), values]) {
      const seen: number[][] = [];
      forEachNonZero(data, (v, x) => seen.push([v, x]));
      expect(seen).toEqual(expected);
    }
  });
});

describe('boxesBySlice', () => {
  it('boxes each value per slice, and unions them', () => {
    // 4 x 3 x 2: value 1 at (1,0,0) and (3,2,0); value 2 at (0,1,1); value 1 at (2,2,1).
    const d = new Uint8Array(24);
    d[1] = 1; d[3 + 4 * 2] = 1; d[12 + 4] = 2; d[12 + 2 + 8] = 1;
    const b = boxesBySlice(d, 4, 3, 2);
    expect(b.get(1)).toEqual([{ iMin: 1, iMax: 3, jMin: 0, jMax: 2 }, { iMin: 2, iMax: 2, jMin: 2, jMax: 2 }]);
    expect(b.get(2)).toEqual([undefined, { iMin: 0, iMax: 0, jMin: 1, jMax: 1 }]);
    expect(unionBoxes(b.values(), 2)).toEqual([{ iMin: 1, iMax: 3, jMin: 0, jMax: 2 }, { iMin: 0, iMax: 2, jMin: 1, jMax: 2 }]);
  });
});
