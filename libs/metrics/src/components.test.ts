import { describe, expect, it } from 'vitest';
import { connectedComponents, largeConnectedComponents, largestConnectedComponent } from './components.js';
import { maskWhere } from './test-helpers.js';
import type { Shape3 } from './types.js';

describe('largestConnectedComponent', () => {
  const shape: Shape3 = [10, 6, 4];
  // A 3x3x2 block (18 voxels), a 2x2x2 block touching it only at a corner (8), and a lone voxel.
  const big = (i: number, j: number, k: number) => i < 3 && j < 3 && k < 2;
  const corner = (i: number, j: number, k: number) => i >= 3 && i < 5 && j >= 3 && j < 5 && k >= 2 && k < 4;
  const lone = (i: number, j: number, k: number) => i === 9 && j === 0 && k === 0;
  const mask = maskWhere(shape, (i, j, k) => big(i, j, k) || corner(i, j, k) || lone(i, j, k));

  it('with 26-connectivity joins pieces touching at a corner', () => {
    const lcc = largestConnectedComponent(mask, shape, 26);
    expect(Array.from(lcc)).toEqual(Array.from(maskWhere(shape, (i, j, k) => big(i, j, k) || corner(i, j, k))));
    expect(connectedComponents(mask, shape, 26).sizes).toEqual([0, 26, 1]);
  });

  it('with 6-connectivity keeps only the face-connected largest piece', () => {
    const lcc = largestConnectedComponent(mask, shape, 6);
    expect(Array.from(lcc)).toEqual(Array.from(maskWhere(shape, big)));
    expect(connectedComponents(mask, shape, 6).sizes).toEqual([0, 18, 1, 8]);
  });

  it('returns zeros for an empty mask and breaks ties by scan order', () => {
    expect(largestConnectedComponent(new Uint8Array(8), [2, 2, 2]).every((v) => v === 0)).toBe(true);
    const two = Uint8Array.from([1, 0, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(largestConnectedComponent(two, [4, 2, 1]))).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('keeps every piece of at least a share of the largest (6-connectivity: 18, 8 and 1 voxels)', () => {
    const keep = (share: number) => Array.from(largeConnectedComponents(mask, shape, share, 6));
    expect(keep(0.4)).toEqual(Array.from(maskWhere(shape, (i, j, k) => big(i, j, k) || corner(i, j, k))));
    expect(keep(0.5)).toEqual(Array.from(maskWhere(shape, big)));
    expect(keep(0.05)).toEqual(Array.from(mask));
    expect(keep(1)).toEqual(Array.from(largestConnectedComponent(mask, shape, 6)));
    expect(largeConnectedComponents(new Uint8Array(8), [2, 2, 2], 0.5).every((v) => v === 0)).toBe(true);
    expect(() => largeConnectedComponents(mask, shape, 0)).toThrow(/minShare 0/);
  });

  it('rejects an unknown connectivity', () => {
    expect(() => connectedComponents(new Uint8Array(8), [2, 2, 2], 18 as 6)).toThrow(/connectivity 18/);
  });
});
