import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '@anatomynet/random';
import { bootstrapMeanInterval, wilcoxonSignedRank } from './paired';

const PYTHON = '/usr/bin/python3';
const hasScipy = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import scipy.stats']).status === 0;

/** Random paired differences: some tied magnitudes and zeros on request. */
function differences(seed: number, n: number, o: { ties?: boolean; zeros?: boolean } = {}): number[] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    if (o.zeros && i % 5 === 0) return 0;
    const v = (rng() - 0.4) * 0.2;
    return o.ties ? Math.round(v * 50) / 50 : v;
  });
}

describe('wilcoxonSignedRank', () => {
  it('counts the exact null distribution by hand on small samples', () => {
    // n = 3, all positive: R- = 0, P(W <= 0) = 1/8, two-sided 1/4
    expect(wilcoxonSignedRank([0.1, 0.2, 0.3])).toEqual({ n: 3, statistic: 0, p: 0.25, method: 'exact' });
    // zeros dropped; n = 6 all one sign gives the smallest two-sided p there is, 2/64
    expect(wilcoxonSignedRank([0, -1, -2, -3, -4, -5, -6, 0])).toMatchObject({ n: 6, statistic: 0, p: 2 / 64 });
    // ranks 1 2 3 4 with signs + - + -: R+ = 4, R- = 6; 7 of the 16 sign patterns give a sum <= 4 -> p = 14/16
    expect(wilcoxonSignedRank([0.1, -0.2, 0.3, -0.4])).toMatchObject({ statistic: 4, p: 0.875 });
    expect(wilcoxonSignedRank([0, 0])).toEqual({ n: 0, statistic: NaN, p: NaN, method: 'none' });
    // tied magnitudes keep their average rank 2: R+ is 0, 2, 4 or 6 with chances 1, 3, 3, 1 in 8
    expect(wilcoxonSignedRank([-0.5, -0.5, -0.5])).toEqual({ n: 3, statistic: 0, p: 0.25, method: 'exact' });
  });

  it('counts every sign pattern, as a brute-force permutation test does, with tied magnitudes and zeros', () => {
    for (const [seed, n] of [[21, 10], [22, 14], [23, 16]]) {
      const d = differences(seed, n, { ties: true, zeros: true });
      const nonZero = d.filter((x) => x !== 0);
      const magnitudes = nonZero.map(Math.abs);
      // average ranks, independently: 1 + (number smaller) + (number equal - 1) / 2
      const ranks = magnitudes.map((m) => 1 + magnitudes.filter((x) => x < m).length + (magnitudes.filter((x) => x === m).length - 1) / 2);
      const total = ranks.reduce((a, b) => a + b, 0);
      const observed = Math.min(...[1, -1].map((sign) => ranks.reduce((s, r, i) => s + (Math.sign(nonZero[i]) === sign ? r : 0), 0)));
      let extreme = 0;
      for (let mask = 0; mask < 2 ** ranks.length; mask++) {
        const plus = ranks.reduce((s, r, i) => s + (mask & (1 << i) ? r : 0), 0);
        if (Math.min(plus, total - plus) <= observed + 1e-9) extreme++;
      }
      const ours = wilcoxonSignedRank(d);
      expect(ours).toMatchObject({ n: nonZero.length, method: 'exact' });
      expect(ours.statistic).toBeCloseTo(observed, 9);
      expect(ours.p).toBeCloseTo(extreme / 2 ** ranks.length, 12);
    }
  });

  describe.skipIf(!hasScipy)('agrees with SciPy (Debian python3-scipy)', () => {
    const cases = [
      { name: 'n=6', d: differences(1, 6), method: 'exact' },
      { name: 'n=12 with zeros', d: differences(2, 12, { zeros: true }), method: 'exact' },
      { name: 'n=30', d: differences(3, 30), method: 'exact' },
      { name: 'n=90 tied magnitudes', d: differences(4, 90, { ties: true }), method: 'approx' },
      { name: 'n=80', d: differences(5, 80), method: 'approx' },
    ];
    const script = `
import json, sys
from scipy.stats import wilcoxon
for c in json.load(sys.stdin):
    # zeros dropped first: SciPy 1.10 would otherwise leave the exact method for the normal approximation
    r = wilcoxon([x for x in c['d'] if x != 0], zero_method='wilcox', correction=False, alternative='two-sided', method=c['method'])
    print(json.dumps([float(r.statistic), float(r.pvalue)]))
`;
    const scipy = execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(cases), encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as [number, number]);
    it.each(cases.map((c, i) => [c.name, c, scipy[i]] as const))('%s', (_, c, [statistic, p]) => {
      const ours = wilcoxonSignedRank(c.d);
      expect(ours.method).toBe(c.method);
      expect(ours.statistic).toBeCloseTo(statistic, 9);
      expect(Math.abs(ours.p - p)).toBeLessThan(1e-6);
    });
  });
});

describe('bootstrapMeanInterval', () => {
  it('brackets the mean, repeats for a seed, narrows with more cases, and is NaN below two values', () => {
    const few = differences(7, 6);
    const a = bootstrapMeanInterval(few);
    expect(bootstrapMeanInterval(few)).toEqual(a);
    expect(a.low).toBeLessThan(a.mean);
    expect(a.high).toBeGreaterThan(a.mean);
    expect(a.mean).toBeCloseTo(few.reduce((s, v) => s + v, 0) / few.length, 12);
    // the interval of a mean shrinks like 1/sqrt(n): 24x the cases, about a fifth of the width
    const many = differences(7, 144);
    const b = bootstrapMeanInterval(many);
    expect((b.high - b.low) / (a.high - a.low)).toBeLessThan(0.35);
    // a constant sample has no spread to resample
    expect(bootstrapMeanInterval([0.2, 0.2, 0.2])).toEqual({ mean: expect.closeTo(0.2, 12), low: expect.closeTo(0.2, 12), high: expect.closeTo(0.2, 12) });
    expect(bootstrapMeanInterval([0.3])).toEqual({ mean: 0.3, low: NaN, high: NaN });
    expect(bootstrapMeanInterval([])).toEqual({ mean: NaN, low: NaN, high: NaN });
  });

  it('covers the true mean about 95% of the time on normal samples', () => {
    const rng = mulberry32(11);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    let covered = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) {
      const sample = Array.from({ length: 30 }, () => 0.05 + 0.1 * normal());
      const ci = bootstrapMeanInterval(sample, { resamples: 1000, seed: t });
      if (ci.low <= 0.05 && 0.05 <= ci.high) covered++;
    }
    // percentile intervals run a little narrow at n = 30
    expect(covered / trials).toBeGreaterThan(0.9);
    expect(covered / trials).toBeLessThan(0.98);
  });
});
