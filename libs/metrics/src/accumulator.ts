/**
 * A thin accumulator over per-case, per-label metric values (MONAI's pattern): append rows, aggregate
 * skipping NaN and say how many values each statistic rests on.
 */

/** One case's metrics for one label. `values` maps a metric name (e.g. "dice", "hd95Mm") to a number. */
export interface MetricRow {
  caseId: string;
  label: string;
  values: Record<string, number>;
}

/**
 * Statistics of one metric over cases. NaN values are skipped; Infinity is kept on purpose, so the mean
 * becomes Infinity (std NaN) while the median may stay finite, and nInfinite says how many.
 */
export interface MetricSummary {
  /** Values used (not NaN). */
  n: number;
  /** NaN values skipped (e.g. organ absent from both prediction and reference). */
  nNaN: number;
  /** Of the n, how many are ±Infinity (e.g. HD95 with an empty prediction). */
  nInfinite: number;
  mean: number;
  /** Population standard deviation (ddof = 0, as numpy's default); NaN when n = 0 or any value is infinite. */
  std: number;
  median: number;
  min: number;
  max: number;
}

/** Summary of a list of numbers as {@link MetricSummary}. */
export function summarize(values: readonly number[]): MetricSummary {
  const kept = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const n = kept.length;
  const nNaN = values.length - n;
  const nInfinite = kept.filter((v) => !Number.isFinite(v)).length;
  if (n === 0) return { n, nNaN, nInfinite, mean: NaN, std: NaN, median: NaN, min: NaN, max: NaN };
  const mean = kept.reduce((s, v) => s + v, 0) / n;
  const std = nInfinite > 0 ? NaN : Math.sqrt(kept.reduce((s, v) => s + (v - mean) * (v - mean), 0) / n);
  const mid = n >> 1;
  const median = n % 2 === 1 ? kept[mid]! : (kept[mid - 1]! + kept[mid]!) / 2;
  return { n, nNaN, nInfinite, mean, std, median, min: kept[0]!, max: kept[n - 1]! };
}

/** Collects per-case, per-label metric rows and summarises them per label and metric. */
export class MetricAccumulator {
  private readonly rows: MetricRow[] = [];

  /** Adds one case's values for one label. */
  append(caseId: string, label: string, values: Record<string, number>): void {
    this.rows.push({ caseId, label, values: { ...values } });
  }

  /** Every appended row, in order (for writing per-case results). */
  all(): readonly MetricRow[] {
    return this.rows;
  }

  /** Labels in first-seen order. */
  labels(): string[] {
    return [...new Set(this.rows.map((r) => r.label))];
  }

  /** `summary[label][metric]`, labels and metrics in first-seen order. */
  aggregate(): Record<string, Record<string, MetricSummary>> {
    const byLabel = new Map<string, Map<string, number[]>>();
    for (const r of this.rows) {
      let m = byLabel.get(r.label);
      if (!m) byLabel.set(r.label, (m = new Map()));
      for (const [k, v] of Object.entries(r.values)) {
        let list = m.get(k);
        if (!list) m.set(k, (list = []));
        list.push(v);
      }
    }
    const out: Record<string, Record<string, MetricSummary>> = {};
    for (const [label, m] of byLabel) {
      out[label] = {};
      for (const [k, list] of m) out[label]![k] = summarize(list);
    }
    return out;
  }

  /**
   * One metric summarised over labels: each case's mean over its non-NaN labels first, then the
   * summary over cases (the "mean over organs" column of the paper's tables).
   */
  aggregateOverLabels(metric: string): MetricSummary {
    const perCase = new Map<string, number[]>();
    for (const r of this.rows) {
      const v = r.values[metric];
      if (v === undefined || Number.isNaN(v)) continue;
      let list = perCase.get(r.caseId);
      if (!list) perCase.set(r.caseId, (list = []));
      list.push(v);
    }
    return summarize([...perCase.values()].map((l) => l.reduce((s, v) => s + v, 0) / l.length));
  }
}
