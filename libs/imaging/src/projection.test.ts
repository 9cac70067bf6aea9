import { describe, expect, it } from 'vitest';
import { coronalProjection } from './projection';

describe('coronalProjection', () => {
  // 3 x 4 x 2 voxels; CT numbers 100 k + 10 j + i tell every voxel apart
  const shape: [number, number, number] = [3, 4, 2];
  const ct = Int16Array.from({ length: 24 }, (_, p) => 100 * Math.floor(p / 12) + 10 * (Math.floor(p / 3) % 4) + (p % 3));
  const labels = new Uint8Array(24);
  const at = (i: number, j: number, k: number) => i + 3 * (j + 4 * k);
  labels[at(0, 1, 0)] = 5;
  labels[at(2, 3, 1)] = 5; // mean row (1 + 3) / 2 = 2
  labels[at(1, 0, 1)] = 6; // another organ: not projected

  it('shows the CT on the organ\'s mean row and every voxel of the organ projected onto it, superior up', () => {
    const up = coronalProjection(ct, labels, shape, 5, true)!;
    expect(up.shape).toEqual([3, 2, 1]);
    // rows: v 0 is k 1 (superior), v 1 is k 0
    expect(Array.from(up.ct)).toEqual([120, 121, 122, 20, 21, 22]);
    expect(Array.from(up.labels)).toEqual([0, 0, 5, 5, 0, 0]);
    const down = coronalProjection(ct, labels, shape, 5, false)!;
    expect(Array.from(down.ct)).toEqual([20, 21, 22, 120, 121, 122]);
    expect(Array.from(down.labels)).toEqual([5, 0, 0, 0, 0, 5]);
    expect(coronalProjection(ct, labels, shape, 7, true)).toBeNull();
  });

  it('projects every label, the most anterior where several lie behind one another', () => {
    const both = labels.slice();
    both[at(0, 3, 0)] = 6; // behind organ 5's voxel at (0, 1, 0)
    const all = coronalProjection(ct, both, shape, 'all', false)!;
    // rows: voxels of 5 at j 1 and 3, of 6 at j 0 and 3: mean row (1 + 3 + 0 + 3) / 4 = 1.75 -> 2
    expect(Array.from(all.ct)).toEqual([20, 21, 22, 120, 121, 122]);
    expect(Array.from(all.labels)).toEqual([5, 0, 0, 0, 6, 5]);
  });
});
