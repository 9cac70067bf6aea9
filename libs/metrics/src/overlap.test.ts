import { describe, expect, it } from 'vitest';
import { confusionCounts, dice, diceFromCounts } from './overlap.js';

describe('dice', () => {
  it('is 2|P∩G|/(|P|+|G|) on a hand-counted pair', () => {
    // P = {0,1,2,3}, G = {2,3,4}: overlap 2 -> 4/7.
    expect(dice([1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 0])).toBeCloseTo(4 / 7, 12);
    expect(dice([0, 5, 0], [0, 1, 0])).toBe(1); // any nonzero is foreground
  });
  it('is NaN when both are empty and 0 when one is', () => {
    expect(dice([0, 0, 0], [0, 0, 0])).toBeNaN();
    expect(dice([0, 1, 0], [0, 0, 0])).toBe(0);
    expect(dice([0, 0, 0], [1, 0, 0])).toBe(0);
  });
  it('rejects masks of different lengths', () => {
    expect(() => dice([0, 1], [0, 1, 0])).toThrow(/pred has 2 voxels, gt 3/);
  });
});

describe('confusionCounts', () => {
  it('counts TP/FP/FN per class from label maps', () => {
    const pred = [0, 1, 1, 2, 2, 0, 1];
    const gt = [0, 1, 2, 2, 0, 1, 1];
    const c = confusionCounts(pred, gt, 3);
    expect(c[1]).toEqual({ tp: 2, fp: 1, fn: 1 });
    expect(c[2]).toEqual({ tp: 1, fp: 1, fn: 1 });
    expect(c[0]).toEqual({ tp: 1, fp: 1, fn: 1 });
    expect(diceFromCounts(c[1]!)).toBeCloseTo(4 / 6, 12);
    expect(diceFromCounts({ tp: 0, fp: 0, fn: 0 })).toBeNaN();
  });
  it('names a label outside the class range', () => {
    expect(() => confusionCounts([0, 3], [0, 1], 3)).toThrow(/pred label 3 at voxel 1 outside \[0, 3\)/);
    expect(() => confusionCounts([0, 1], [0, 1.5], 3)).toThrow(/gt label 1.5/);
  });
});
