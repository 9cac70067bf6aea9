import { describe, expect, it } from 'vitest';
import { mergeLabels } from './merge';

const m = (s: string) => Uint8Array.from(s, (c) => (c === '1' ? 1 : 0));

describe('mergeLabels', () => {
  it('gives overlapping voxels to the smaller organ, ties to the lower label, and counts each pair', () => {
    const big = m('1111111100'); // 8 voxels
    const mid = m('0001111000'); // 4 voxels
    const small = m('0000011100'); // 3 voxels
    const tie = m('0000000111'); // 3 voxels, ties with `small`
    const { labelmap, overlapsVoxels } = mergeLabels([
      { label: 4, mask: big, voxels: 8 },
      { label: 9, mask: mid, voxels: 4 },
      { label: 7, mask: small, voxels: 3 },
      { label: 3, mask: tie, voxels: 3 },
    ]);
    // voxel: 0..2 big only; 3,4 big+mid -> mid; 5,6 big+mid+small -> small; 7 big+small+tie -> tie (label 3 < 7);
    // 8,9 tie only.
    expect(Array.from(labelmap)).toEqual([4, 4, 4, 9, 9, 7, 7, 3, 3, 3]);
    expect(overlapsVoxels).toEqual([
      { labels: [3, 4], voxels: 1 },
      { labels: [3, 7], voxels: 1 },
      { labels: [4, 7], voxels: 3 },
      { labels: [4, 9], voxels: 4 },
      { labels: [7, 9], voxels: 2 },
    ]);
  });

  it('needs no overlap bookkeeping for disjoint masks', () => {
    const { labelmap, overlapsVoxels } = mergeLabels([
      { label: 1, mask: m('1100'), voxels: 2 },
      { label: 2, mask: m('0011'), voxels: 2 },
    ]);
    expect(Array.from(labelmap)).toEqual([1, 1, 2, 2]);
    expect(overlapsVoxels).toEqual([]);
    expect(mergeLabels([]).labelmap.length).toBe(0);
  });

  it('rejects bad labels and sizes', () => {
    expect(() => mergeLabels([{ label: 0, mask: m('1'), voxels: 1 }])).toThrow(/label 0/);
    expect(() => mergeLabels([{ label: 256, mask: m('1'), voxels: 1 }])).toThrow(/label 256/);
    expect(() => mergeLabels([{ label: 1, mask: m('1'), voxels: 1 }, { label: 1, mask: m('1'), voxels: 1 }])).toThrow(/twice/);
    expect(() => mergeLabels([{ label: 1, mask: m('1'), voxels: 1 }, { label: 2, mask: m('11'), voxels: 2 }])).toThrow(/2 voxels, expected 1/);
  });
});
