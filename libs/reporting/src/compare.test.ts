import { describe, expect, it } from 'vitest';
import { compareMeasurements, type CaseOrganScore } from './compare';

const score = (caseId: string, organ: string, dsc: number, hd95Mm = 5): CaseOrganScore => ({ caseId, organ, dsc, hd95Mm });

describe('compareMeasurements', () => {
  it('pairs the cases both models scored, per organ and over all organs; candidate minus baseline in points', () => {
    const cases = ['c1', 'c2', 'c3', 'c4'];
    const baseline = cases.flatMap((c, i) => [score(c, 'Mandible', 0.8 + 0.01 * i, 4), score(c, 'BrainStem', 0.7, 6)]);
    // the candidate: mandible 2 points better on every case, brainstem 1, 2, 3, 4 points worse; case c4's
    // brainstem not scored (not annotated), and a case only the candidate measured
    const candidate = [
      ...cases.map((c, i) => score(c, 'Mandible', 0.82 + 0.01 * i, 3)),
      ...cases.slice(0, 3).map((c, i) => score(c, 'BrainStem', 0.7 - 0.01 * (i + 1), Infinity)),
      score('c5', 'Mandible', 0.99),
    ];
    const [brainstem, mandible, all] = compareMeasurements(baseline, candidate, ['BrainStem', 'Mandible']);
    expect(mandible).toMatchObject({ organ: 'Mandible', cases: 4, diff: 2, low: 2, high: 2, hd95DiffMm: -1, test: { n: 4, p: 0.125, method: 'exact' } });
    expect(mandible.baseline).toBeCloseTo(81.5, 9);
    expect(mandible.candidate).toBeCloseTo(83.5, 9);
    expect(brainstem).toMatchObject({ organ: 'BrainStem', cases: 3, diff: -2, test: { n: 3, p: 0.25 } });
    // an infinite HD95 (empty prediction) has no finite difference
    expect(brainstem.hd95DiffMm).toBeNaN();
    expect(brainstem.low).toBeGreaterThanOrEqual(-3);
    expect(brainstem.high).toBeLessThanOrEqual(-1);
    // per case, the mean over the organs both scored: c1 (+2 - 1) / 2, c2 (+2 - 2) / 2, c3 (+2 - 3) / 2, c4 +2
    expect(all).toMatchObject({ organ: 'all', cases: 4 });
    expect(all.diff).toBeCloseTo((0.5 + 0 - 0.5 + 2) / 4, 9);
    expect(all.test.n).toBe(3);
    // Holm over the two organs tested: 0.125 doubled, 0.25 kept; `all` keeps its own p
    expect([mandible.pHolm, brainstem.pHolm]).toEqual([0.25, 0.25]);
    expect(all.pHolm).toBe(all.test.p);
  });

  it('the same measurement twice differs by nothing, and has no test', () => {
    const m = [score('a', 'Parotid_L', 0.8), score('b', 'Parotid_L', 0.7)];
    const [parotid] = compareMeasurements(m, m);
    expect(parotid).toMatchObject({ cases: 2, diff: 0, low: 0, high: 0, test: { n: 0, method: 'none' } });
    expect(compareMeasurements(m, [])).toEqual([expect.objectContaining({ organ: 'all', cases: 0 })]);
  });
});
