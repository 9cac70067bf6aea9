/**
 * Summary statistics over test cases. Non-finite values are never averaged silently: NaN (metric
 * undefined, e.g. an organ not annotated) is counted as missing, ±Infinity (e.g. HD95 of an empty
 * prediction) is counted apart, and mean/SD/quantiles are over the finite values only.
 */
export interface Summary {
  /** Finite values summarised. */
  n: number;
  /** Values that were ±Infinity (kept out of the mean; shown beside it). */
  nInfinite: number;
  /** NaN values (undefined metric). */
  nMissing: number;
  /** NaN when n = 0. */
  mean: number;
  /** Sample standard deviation (n - 1); NaN when n < 2. */
  sd: number;
  median: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
}

/** Linear-interpolated quantile (type 7, as R and numpy) of sorted finite values; NaN when empty. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  const h = (sorted.length - 1) * q, lo = Math.floor(h), hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export function summarize(values: readonly number[]): Summary {
  const finite: number[] = [];
  let nInfinite = 0, nMissing = 0;
  for (const v of values) {
    if (Number.isNaN(v)) nMissing++;
    else if (!Number.isFinite(v)) nInfinite++;
    else finite.push(v);
  }
  finite.sort((a, b) => a - b);
  const n = finite.length;
  const mean = n ? finite.reduce((s, v) => s + v, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(finite.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : NaN;
  return {
    n, nInfinite, nMissing, mean, sd,
    median: quantileSorted(finite, 0.5), q1: quantileSorted(finite, 0.25), q3: quantileSorted(finite, 0.75),
    min: n ? finite[0] : NaN, max: n ? finite[n - 1] : NaN,
  };
}
