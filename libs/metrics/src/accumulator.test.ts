import { describe, expect, it } from 'vitest';
import { MetricAccumulator, summarize } from './accumulator.js';

describe('summarize', () => {
  it('skips NaN and reports how many values it used', () => {
    const s = summarize([1, NaN, 3, 2, 6]);
    expect(s).toEqual({ n: 4, nNaN: 1, nInfinite: 0, mean: 3, std: Math.sqrt((4 + 0 + 1 + 9) / 4), median: 2.5, min: 1, max: 6 });
  });
  it('keeps Infinity: the mean becomes Infinity, the median may stay finite', () => {
    const s = summarize([1, 2, Infinity]);
    expect(s.mean).toBe(Infinity);
    expect(s.median).toBe(2);
    expect(s.nInfinite).toBe(1);
    expect(s.std).toBeNaN();
  });
  it('is all NaN with n = 0 for no usable value', () => {
    expect(summarize([NaN])).toMatchObject({ n: 0, nNaN: 1, mean: NaN, median: NaN });
  });
});

describe('MetricAccumulator', () => {
  it('aggregates per label and over labels per case', () => {
    const acc = new MetricAccumulator();
    acc.append('case1', 'Brainstem', { dice: 0.8, hd95Mm: 3 });
    acc.append('case1', 'Chiasm', { dice: 0.4, hd95Mm: NaN });
    acc.append('case2', 'Brainstem', { dice: 0.9, hd95Mm: 2 });
    acc.append('case2', 'Chiasm', { dice: NaN, hd95Mm: NaN });
    const agg = acc.aggregate();
    expect(Object.keys(agg)).toEqual(['Brainstem', 'Chiasm']);
    expect(agg['Brainstem']!['dice']!.mean).toBeCloseTo(0.85, 12);
    expect(agg['Chiasm']!['dice']).toMatchObject({ n: 1, nNaN: 1, mean: 0.4 });
    expect(agg['Chiasm']!['hd95Mm']!.n).toBe(0);
    // case1: (0.8 + 0.4) / 2 = 0.6; case2: 0.9 (Chiasm NaN skipped).
    expect(acc.aggregateOverLabels('dice').mean).toBeCloseTo(0.75, 12);
    expect(acc.all()).toHaveLength(4);
    expect(acc.labels()).toEqual(['Brainstem', 'Chiasm']);
  });
});
