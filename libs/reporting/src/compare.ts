/**
 * Two models measured on the same cases (`trainer evaluate` twice, e.g. a clinic's contours): per organ
 * and over all organs, is the candidate better than the baseline case by case, or within the noise of
 * the cases there are? The same paired statistics as the report's figures. Pure.
 */
import { bootstrapMeanInterval, holmAdjust, pairedDifferences, wilcoxonSignedRank, type SignedRankTest } from './paired';

/** One case and organ of one model's measurement (DSC as a fraction, as `metrics.csv` holds it). */
export interface CaseOrganScore {
  caseId: string;
  organ: string;
  dsc: number;
  hd95Mm: number;
}

export interface ComparisonRow {
  /** An organ, or `all` (per case, the mean DSC over the organs both models scored). */
  organ: string;
  /** Cases both models scored (finite DSC). */
  cases: number;
  /** Mean DSC (%) of each model over those cases. */
  baseline: number;
  candidate: number;
  /** Candidate minus baseline, mean over cases, percentage points; 95% bootstrap interval (NaN below two cases). */
  diff: number;
  low: number;
  high: number;
  test: SignedRankTest;
  /**
   * An organ's p adjusted by Holm's method over the organs tested (nine tests: one would pass by chance
   * alone); `all`, the comparison that counts first, keeps its own p. NaN without a test.
   */
  pHolm: number;
  /** Over the cases where both HD95 are finite: candidate minus baseline, mm (NaN without such a case). */
  hd95DiffMm: number;
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

function row(organ: string, pairs: readonly { a: number; b: number; hd95A?: number; hd95B?: number }[]): Omit<ComparisonRow, 'pHolm'> {
  const diffs = pairedDifferences([pairs.map((p) => 100 * p.b)], [pairs.map((p) => 100 * p.a)]);
  const ci = bootstrapMeanInterval(diffs, { seed: 1 });
  const hd = pairs.filter((p) => Number.isFinite(p.hd95A) && Number.isFinite(p.hd95B)).map((p) => p.hd95B! - p.hd95A!);
  return {
    organ, cases: pairs.length, baseline: 100 * mean(pairs.map((p) => p.a)), candidate: 100 * mean(pairs.map((p) => p.b)),
    diff: ci.mean, low: ci.low, high: ci.high, test: wilcoxonSignedRank(diffs), hd95DiffMm: mean(hd),
  };
}

/** Per organ (in `organs` order, then any others by name) and `all`, the candidate against the baseline on the cases both scored. */
export function compareMeasurements(baseline: readonly CaseOrganScore[], candidate: readonly CaseOrganScore[], organs: readonly string[] = []): ComparisonRow[] {
  const key = (s: CaseOrganScore) => `${s.caseId}\u0000${s.organ}`;
  const base = new Map(baseline.filter((s) => Number.isFinite(s.dsc)).map((s) => [key(s), s]));
  const both = candidate.filter((s) => Number.isFinite(s.dsc) && base.has(key(s))).map((b) => ({ a: base.get(key(b))!, b }));
  const present = [...new Set(both.map((p) => p.a.organ))];
  const order = [...organs.filter((o) => present.includes(o)), ...present.filter((o) => !organs.includes(o)).sort()];
  const byCase = new Map<string, { a: number[]; b: number[] }>();
  for (const p of both) {
    const c = byCase.get(p.a.caseId) ?? byCase.set(p.a.caseId, { a: [], b: [] }).get(p.a.caseId)!;
    c.a.push(p.a.dsc);
    c.b.push(p.b.dsc);
  }
  const sortedCases = (ps: typeof both) => [...ps].sort((x, y) => x.a.caseId.localeCompare(y.a.caseId));
  const perOrgan = order.map((organ) => row(organ, sortedCases(both.filter((p) => p.a.organ === organ)).map((p) => ({ a: p.a.dsc, b: p.b.dsc, hd95A: p.a.hd95Mm, hd95B: p.b.hd95Mm }))));
  const pOf = (r: Omit<ComparisonRow, 'pHolm'>) => (r.test.method === 'none' ? NaN : r.test.p);
  const holm = holmAdjust(perOrgan.map(pOf));
  const all = row('all', [...byCase].sort(([x], [y]) => x.localeCompare(y)).map(([, c]) => ({ a: mean(c.a), b: mean(c.b) })));
  return [...perOrgan.map((r, i) => ({ ...r, pHolm: holm[i] })), { ...all, pHolm: pOf(all) }];
}
