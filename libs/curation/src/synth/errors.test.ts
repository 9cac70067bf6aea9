import { describe, expect, it } from 'vitest';
import type { Mat3 } from '@anatomynet/data';
import type { BoxMask, Grid } from './raster';
import { shiftedMask } from './errors';

/** The grid voxels a box mask sets, as "i,j,k". */
const voxelsOf = (m: BoxMask) => {
  const out: string[] = [];
  for (let k = 0; k < m.shape[2]; k++) for (let j = 0; j < m.shape[1]; j++) for (let i = 0; i < m.shape[0]; i++) if (m.data[i + m.shape[0] * (j + m.shape[1] * k)]) out.push(`${i + m.lo[0]},${j + m.lo[1]},${k + m.lo[2]}`);
  return out.sort();
};

describe('shiftedMask', () => {
  const grid = (direction: Mat3): Grid => ({ shape: [6, 5, 4], spacing: [2, 1, 3], origin: [0, 0, 0], direction });
  // a box reaching the grid's first row, with two voxels set
  const mask: BoxMask = { lo: [1, 0, 1], shape: [3, 3, 2], data: Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]) };
  // set: (1,0,1) and (2,1,2) on the grid

  it('moves every voxel by the LPS translation to the nearest voxel, past the edge its box touched', () => {
    // 4 mm left = 2 columns, 3 mm posterior = 3 rows, 3 mm superior = 1 slice
    expect(voxelsOf(shiftedMask(mask, grid([1, 0, 0, 0, 1, 0, 0, 0, 1]), [4, 3, 3]))).toEqual(['3,3,2', '4,4,3']);
    // a feet-first grid: i runs to the right, k to the feet
    expect(voxelsOf(shiftedMask(mask, grid([-1, 0, 0, 0, 1, 0, 0, 0, -1]), [-4, 3, -3]))).toEqual(['3,3,2', '4,4,3']);
  });

  it('loses the voxels moved off the grid, and gives an empty mask when all are', () => {
    expect(voxelsOf(shiftedMask(mask, grid([1, 0, 0, 0, 1, 0, 0, 0, 1]), [0, -1, 0]))).toEqual(['2,0,2']);
    expect(shiftedMask(mask, grid([1, 0, 0, 0, 1, 0, 0, 0, 1]), [0, 0, 9]).shape).toEqual([0, 0, 0]);
  });
});
