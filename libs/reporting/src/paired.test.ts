import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '@anatomynet/random';
import { bootstrapMeanInterval, holmAdjust, pairedDifferences, replicatedPairedDifference, wilcoxonSignedRank } from './paired';
import { studentTCdf, studentTQuantile } from './student-t';

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

describe('replicatedPairedDifference (rows trained several times: seed replicates)', () => {
  it('averages each side over its runs per case; its interval adds the spread between runs to that of the cases', () => {
    // every case 1 point apart on average, but the row's three runs sit 0, 1 and 2 points above the reference
    const ref = [[50, 60, 70, 80]];
    const row = [0, 1, 2].map((shift) => ref[0].map((v) => v + shift));
    expect(pairedDifferences(row, ref)).toEqual([1, 1, 1, 1]);
    // resampling the cases alone sees no spread at all
    expect(bootstrapMeanInterval(pairedDifferences(row, ref))).toMatchObject({ low: 1, high: 1 });
    // the runs' means 65, 66, 67 (the reference's two runs alike): SE = 1 / sqrt(3), t at 2 degrees of
    // freedom (4.3027), t = sqrt(3)
    const r = replicatedPairedDifference(row, [ref[0], ref[0]]);
    expect(r.mean).toBe(1);
    expect(r.se).toBeCloseTo(1 / Math.sqrt(3), 12);
    expect(r.df).toBeCloseTo(2, 12);
    expect(r.low).toBeCloseTo(1 - 4.302652729749464 / Math.sqrt(3), 9);
    expect(r.high).toBeCloseTo(1 + 4.302652729749464 / Math.sqrt(3), 9);
    expect(r.t).toBeCloseTo(Math.sqrt(3), 12);
    // scipy.stats.t.sf(sqrt(3), 2) * 2
    expect(r.p).toBeCloseTo(0.2254033307585166, 9);
    expect(() => pairedDifferences([[1, 2]], [[1, 2, 3]])).toThrow(RangeError);
    expect(replicatedPairedDifference([[1], [2]], [[1]])).toMatchObject({ mean: 0.5, low: NaN, high: NaN });
  });

  it.skipIf(!hasScipy)('agrees with SciPy: Welch-Satterthwaite degrees of freedom and t quantiles over three variance components', () => {
    const rng = mulberry32(3);
    const runs = (k: number, n: number, shift: number) => Array.from({ length: k }, () => Array.from({ length: n }, (_, c) => 60 + c + shift + 3 * rng()));
    const row = runs(3, 9, 1), ref = runs(4, 9, 0);
    const r = replicatedPairedDifference(row, ref);
    const script = `
import json, sys
import numpy as np
from scipy import stats
row, ref = (np.array(x) for x in json.load(sys.stdin))
d = row.mean(0) - ref.mean(0)
parts = [(row.mean(1).var(ddof=1) / len(row), len(row) - 1), (ref.mean(1).var(ddof=1) / len(ref), len(ref) - 1), (d.var(ddof=1) / len(d), len(d) - 1)]
se2 = sum(v for v, _ in parts)
df = se2 ** 2 / sum(v ** 2 / k for v, k in parts)
se = se2 ** 0.5
q = stats.t.ppf(0.975, df)
print(json.dumps([d.mean(), se, df, d.mean() - q * se, d.mean() + q * se, 2 * stats.t.sf(abs(d.mean() / se), df)]))`;
    const want = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify([row, ref]), encoding: 'utf8' })) as number[];
    const got = [r.mean, r.se, r.df, r.low, r.high, r.p];
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 8));
  });

  it('a side trained once borrows the spread between the other side\'s runs (pooled), rather than adding none', () => {
    const ref = [[50, 60, 70, 80]];
    const row = [0, 1, 2].map((shift) => ref[0].map((v) => v + shift));
    // runs' means 65, 66, 67: s^2 = 1, times (1/3 + 1) for the two sides' means, at 2 degrees of freedom
    const r = replicatedPairedDifference(row, ref);
    expect(r.se).toBeCloseTo(Math.sqrt(4 / 3), 12);
    expect(r.df).toBeCloseTo(2, 12);
    expect(r.high - r.mean).toBeCloseTo(4.302652729749464 * Math.sqrt(4 / 3), 9);
    // either side may be the one trained once
    const swapped = replicatedPairedDifference(ref, row);
    expect(swapped.mean).toBe(-1);
    expect(swapped.se).toBeCloseTo(r.se, 12);
  });

  it('covers the expected difference about 95% of the time when runs vary as much as cases; cases alone do not', () => {
    // score = case effect + run effect + noise, crossed; the row is 1 point better in expectation
    const rng = mulberry32(29);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    let replicated = 0, againstOne = 0, casesOnly = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) {
      const cases = Array.from({ length: 20 }, () => 70 + 5 * normal());
      const runs = (k: number, delta: number) => Array.from({ length: k }, () => {
        const run = 2 * normal();
        return cases.map((u) => u + delta + run + normal());
      });
      const row = runs(3, 1), ref = runs(3, 0);
      const r = replicatedPairedDifference(row, ref);
      if (r.low <= 1 && 1 <= r.high) replicated++;
      // the reference trained once, as a grid row without --replicates
      const once = replicatedPairedDifference(row, ref.slice(0, 1));
      if (once.low <= 1 && 1 <= once.high) againstOne++;
      const c = bootstrapMeanInterval(pairedDifferences(row, ref), { resamples: 1000, seed: t });
      if (c.low <= 1 && 1 <= c.high) casesOnly++;
    }
    expect(replicated / trials).toBeGreaterThan(0.92);
    expect(replicated / trials).toBeLessThan(0.995);
    expect(againstOne / trials).toBeGreaterThan(0.92);
    expect(againstOne / trials).toBeLessThan(0.995);
    expect(casesOnly / trials).toBeLessThan(0.6);
  });
});

describe("Holm's adjustment", () => {
  it('agrees with statsmodels multipletests(method="holm"); NaN stays out of the family', () => {
    // statsmodels 0.13.5: multipletests([0.01, 0.04, 0.03, 0.005], method='holm')[1]
    const got = holmAdjust([0.01, 0.04, 0.03, NaN, 0.005]);
    [0.03, 0.06, 0.06, NaN, 0.02].forEach((v, i) => (Number.isNaN(v) ? expect(got[i]).toBeNaN() : expect(got[i]).toBeCloseTo(v, 12)));
    // eight exact Wilcoxon tests of 6 cases (statsmodels: 0.25 each): nothing is left below 0.05
    expect(holmAdjust([0.03125, 0.03125, 0.0625, 0.0625, 0.03125, 0.0625, 0.09375, 0.03125])).toEqual(Array(8).fill(0.25));
    expect(holmAdjust([0.2])).toEqual([0.2]);
    expect(holmAdjust([0.6, 0.7])).toEqual([1, 1]);
  });

  it('is never below the raw p nor above Bonferroni, and keeps the order of the raw p-values', () => {
    const rng = mulberry32(5);
    for (let t = 0; t < 200; t++) {
      const ps = Array.from({ length: 1 + Math.floor(rng() * 9) }, () => rng() ** 3);
      const adj = holmAdjust(ps);
      ps.forEach((p, i) => {
        expect(adj[i]).toBeGreaterThanOrEqual(p);
        expect(adj[i]).toBeLessThanOrEqual(Math.min(1, ps.length * p) + 1e-15);
        ps.forEach((q, j) => p < q && expect(adj[i]).toBeLessThanOrEqual(adj[j]));
      });
    }
  });
});

describe('Student t (checked against SciPy)', () => {
  it('CDF and quantiles at whole and fractional degrees of freedom', () => {
    // scipy.stats.t.cdf / t.ppf
    expect(studentTCdf(1.5, 2)).toBeCloseTo(0.8638034375544994, 12);
    expect(studentTCdf(-2, 7.3)).toBeCloseTo(0.041970519667051565, 12);
    expect(studentTQuantile(0.975, 2)).toBeCloseTo(4.302652729749462, 9);
    expect(studentTQuantile(0.975, 4.7)).toBeCloseTo(2.62072607535317, 9);
    expect(studentTQuantile(0.975, 1000)).toBeCloseTo(1.9623390808264083, 9);
    expect(studentTQuantile(0.025, 1)).toBeCloseTo(-12.706204736174705, 8);
    expect(studentTQuantile(0.5, 3)).toBe(0);
    expect(studentTQuantile(1, 3)).toBeNaN();
  });
});
