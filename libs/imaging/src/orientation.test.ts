import { describe, expect, it } from 'vitest';
import { toRadiologicalView } from './orientation';

describe('toRadiologicalView', () => {
  it('flips i when it points to the patient right, so the patient right is on the image left', () => {
    const data = Uint8Array.from([1, 2, 3, 4]); // 2 x 2 x 1
    const same = toRadiologicalView([2, 2, 1], [1, 0, 0, 0, 1, 0, 0, 0, 1], [data]);
    expect(same.oriented).toBe(true);
    expect(Array.from(same.volumes[0])).toEqual([1, 2, 3, 4]);
    const fx = toRadiologicalView([2, 2, 1], [-1, 0, 0, 0, 1, 0, 0, 0, 1], [data]);
    expect(Array.from(fx.volumes[0])).toEqual([2, 1, 4, 3]);
    const fy = toRadiologicalView([2, 2, 1], [1, 0, 0, 0, -1, 0, 0, 0, 1], [data]);
    expect(Array.from(fy.volumes[0])).toEqual([3, 4, 1, 2]);
    expect(toRadiologicalView([2, 2, 1], [0, 1, 0, 1, 0, 0, 0, 0, 1], [data]).oriented).toBe(false);
  });
});
