/**
 * Paired comparisons of two configurations on the same test cases: is a row of a figure better than the
 * figure's reference row, or within the noise of a handful of test cases? The paper compares means only.
 * Pure functions; the Wilcoxon signed-rank test and a percentile bootstrap of the mean difference,
 * written here because the report carries no statistics package (checked against SciPy in the tests).
 */
import { mulberry32 } from '@anatomynet/random';
import { studentTCdf, studentTQuantile } from './student-t';

export interface SignedRankTest {
  /** Non-zero differences ranked (zeros are dropped, as Wilcoxon's original test and SciPy's default do). */
  n: number;
  /** min(R+, R-): the smaller rank sum of the positive and of the negative differences. */
  statistic: number;
  /** Two-sided p; NaN without a non-zero difference. */
  p: number;
  /**
   * exact (n <= 50): the rank sum's null distribution counted over the 2^n sign patterns of these ranks
   * (tied |differences| keep their average ranks, as a permutation test does); approx (n > 50): normal,
   * tie-corrected.
   */
  method: 'exact' | 'approx' | 'none';
}

/** Standard normal upper tail P(Z > z), from Numerical Recipes' erfc fit (relative error below 1.2e-7). */
function normalUpperTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const y =
    t *
    Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  const erfc = z >= 0 ? y : 2 - y;
  return erfc / 2;
}

/** Average ranks (1-based) of `values`, ties sharing the mean of their ranks; and the tie group sizes. */
function averageRanks(values: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  const ties: number[] = [];
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = (i + j) / 2 + 1;
    ties.push(j - i + 1);
    i = j + 1;
  }
  return { ranks, ties };
}

/** Wilcoxon signed-rank test of paired differences against a median of zero, two-sided. */
export function wilcoxonSignedRank(differences: readonly number[]): SignedRankTest {
  const d = differences.filter((x) => Number.isFinite(x) && x !== 0);
  const n = d.length;
  if (!n) return { n: 0, statistic: NaN, p: NaN, method: 'none' };
  const { ranks, ties } = averageRanks(d.map(Math.abs));
  const rPlus = ranks.reduce((s, r, i) => s + (d[i] > 0 ? r : 0), 0);
  const total = (n * (n + 1)) / 2;
  const statistic = Math.min(rPlus, total - rPlus);
  if (n <= 50) {
    // The null distribution of R+ given these ranks: each sign pattern equally likely. Ranks doubled so
    // tied (half-integer) ranks count as integers; counts[s] = sign patterns whose doubled R+ is s.
    const doubled = ranks.map((r) => Math.round(2 * r));
    const counts = new Float64Array(2 * total + 1);
    counts[0] = 1;
    for (const r of doubled) for (let s = 2 * total; s >= r; s--) counts[s] += counts[s - r];
    let below = 0;
    for (let s = 0; s <= Math.round(2 * statistic); s++) below += counts[s];
    return { n, statistic, p: Math.min(1, (2 * below) / 2 ** n), method: 'exact' };
  }
  const mean = total / 2;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - ties.reduce((s, t) => s + t ** 3 - t, 0) / 48;
  const z = (rPlus - mean) / Math.sqrt(variance);
  return { n, statistic, p: Math.min(1, 2 * normalUpperTail(Math.abs(z))), method: 'approx' };
}

export interface BootstrapInterval {
  mean: number;
  /** Percentile interval of the resampled means; NaN with fewer than two values. */
  low: number;
  high: number;
}

/** The percentile interval at `level` of resampled statistics (sorted in place), type-7 interpolation. */
function percentileInterval(draws: Float64Array, level: number): { low: number; high: number } {
  draws.sort();
  const at = (q: number) => {
    const h = (draws.length - 1) * q, lo = Math.floor(h), hi = Math.ceil(h);
    return draws[lo] + (h - lo) * (draws[hi] - draws[lo]);
  };
  return { low: at((1 - level) / 2), high: at(1 - (1 - level) / 2) };
}

/**
 * Percentile bootstrap interval of the mean: `resamples` draws of the values with replacement, from a
 * fixed seed so the report's bytes repeat.
 */
export function bootstrapMeanInterval(values: readonly number[], o: { level?: number; resamples?: number; seed?: number } = {}): BootstrapInterval {
  const n = values.length;
  const mean = n ? values.reduce((s, v) => s + v, 0) / n : NaN;
  if (n < 2) return { mean, low: NaN, high: NaN };
  const resamples = o.resamples ?? 10_000;
  const rng = mulberry32(o.seed ?? 1);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[Math.floor(rng() * n)];
    means[b] = s / n;
  }
  return { mean, ...percentileInterval(means, o.level ?? 0.95) };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: readonly number[]) => {
  const m = mean(xs);
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
};

/**
 * Per case, the row's mean over its runs minus the reference's: `row[i][c]` is run i's score on case c,
 * `reference[j][c]` likewise. To 1e-9, so float noise neither splits ties nor turns a zero into a sign.
 */
export function pairedDifferences(row: readonly (readonly number[])[], reference: readonly (readonly number[])[]): number[] {
  const n = row[0]?.length ?? 0;
  if (!row.length || !reference.length || [...row, ...reference].some((r) => r.length !== n)) {
    throw new RangeError(`pairedDifferences: every run needs one score per case (${[...row, ...reference].map((r) => r.length).join(', ')})`);
  }
  const at = (runs: readonly (readonly number[])[], c: number) => mean(runs.map((r) => r[c]));
  return Array.from({ length: n }, (_, c) => Math.round(1e9 * (at(row, c) - at(reference, c))) / 1e9);
}

export interface ReplicatedDifference extends BootstrapInterval {
  differences: number[];
  /** Standard error of `mean` and its Welch-Satterthwaite degrees of freedom. */
  se: number;
  df: number;
  /** t = mean / se, and its two-sided p. */
  t: number;
  p: number;
}

/**
 * The runs' share of the variance of the difference of two rows' means, with degrees of freedom: each
 * side with two runs or more, the variance of its runs' own means over their count. A side trained once
 * cannot show its spread, so it borrows the other side's estimate (training assumed to vary as much for
 * both, the pooled two-sample case): one part s^2 (1/k + 1) at k - 1 degrees of freedom, rather than
 * nothing, which would make the interval too narrow by exactly what training again would change.
 */
function runParts(row: readonly (readonly number[])[], reference: readonly (readonly number[])[]): { v: number; df: number }[] {
  const runVariance = (runs: readonly (readonly number[])[]) => variance(runs.map(mean));
  const [many, once] = row.length > 1 ? [row, reference] : [reference, row];
  if (many.length < 2) return [];
  if (once.length < 2) return [{ v: runVariance(many) * (1 / many.length + 1), df: many.length - 1 }];
  return [row, reference].map((runs) => ({ v: runVariance(runs) / runs.length, df: runs.length - 1 }));
}

/**
 * The mean paired difference of two rows scored on the same cases when a row was trained several times
 * (seed replicates; arguments as {@link pairedDifferences}), with a t interval and test whose variance
 * holds both what resampling the test cases and what training again would change: the one-way
 * components of the crossed design, runs of each row (the variance of the runs' own means over their
 * count; a side trained once borrows the other's, see {@link runParts}) and cases (the variance of the
 * per-case differences over their count). That sum is Owen's pigeonhole bootstrap variance (2007), conservative by the runs-by-
 * cases interaction counted in both; t quantiles at the Welch-Satterthwaite degrees of freedom keep a
 * handful of seeds honest, where a bootstrap over three runs would not.
 */
export function replicatedPairedDifference(
  row: readonly (readonly number[])[],
  reference: readonly (readonly number[])[],
  o: { level?: number } = {},
): ReplicatedDifference {
  const differences = pairedDifferences(row, reference);
  const n = differences.length;
  const m = n ? mean(differences) : NaN;
  const none = { mean: m, low: NaN, high: NaN, differences, se: NaN, df: NaN, t: NaN, p: NaN };
  if (n < 2) return none;
  const parts = [...runParts(row, reference), { v: variance(differences) / n, df: n - 1 }];
  const se2 = parts.reduce((s, x) => s + x.v, 0);
  if (!(se2 > 0)) return { ...none, low: m, high: m, se: 0, p: m === 0 ? NaN : 0, t: m === 0 ? NaN : Math.sign(m) * Infinity };
  const df = se2 ** 2 / parts.reduce((s, x) => s + (x.v > 0 ? x.v ** 2 / x.df : 0), 0);
  const se = Math.sqrt(se2);
  const q = studentTQuantile(1 - (1 - (o.level ?? 0.95)) / 2, df);
  const t = m / se;
  return { mean: m, low: m - q * se, high: m + q * se, differences, se, df, t, p: Math.min(1, 2 * studentTCdf(-Math.abs(t), df)) };
}

/**
 * Holm's step-down adjustment of p-values for a family of tests (Holm 1979): the i-th smallest of m is
 * multiplied by m - i + 1, made non-decreasing and capped at 1. It keeps the family-wise error rate (the
 * chance of any false finding among a figure's comparisons) at the level, under any dependence between
 * the tests, and is never worse than Bonferroni. NaN (no test) stays NaN and does not count in m.
 */
export function holmAdjust(ps: readonly number[]): number[] {
  const tested = ps.map((p, i) => ({ p, i })).filter((x) => !Number.isNaN(x.p)).sort((a, b) => a.p - b.p);
  const out = ps.map(() => NaN);
  let running = 0;
  tested.forEach(({ p, i }, k) => {
    running = Math.max(running, Math.min(1, (tested.length - k) * p));
    out[i] = running;
  });
  return out;
}
