/**
 * Pure shaping of collected runs into figure models: per grid row (one run), per organ, the mean and
 * spread over test cases with n; the missing cells named with a reason; the paper's published numbers
 * kept apart. DSC and surface Dice are shown in % (results store fractions), distances in mm.
 */
import { cellRunLabel, cellsByRow, runsDescription, type CaseResult } from '@anatomynet/tracking';
import type { GridData, RunData } from './collect';
import { REPORT_ORGANS } from './organs';
import { FIG3_PUBLISHED_MEANS, FIG5_PUBLISHED_MEANS, FIG6_PUBLISHED, TABLE1_PUBLISHED, type PublishedSeries } from './published';
import { summarize, type Summary } from './stats';
import { bootstrapMeanInterval, holmAdjust, pairedDifferences, replicatedPairedDifference, wilcoxonSignedRank, type SignedRankTest } from './paired';

export interface OrganStats {
  /** DSC in %. */
  dsc: Summary;
  hd95Mm: Summary;
  /** Surface Dice in %. */
  surfaceDice: Summary;
  meanSurfaceDistanceMm: Summary;
  /**
   * Test contours (one per case and run) the annotation checks were run on when the run was evaluated, and
   * how many of them they flag (sides, a stray piece, CT numbers, volume: trainer.ts `testEvaluation`);
   * runs evaluated before the checks existed count in neither.
   */
  contours: { checked: number; flagged: number };
}

export interface MeasuredRow {
  key: string;
  label: string;
  /**
   * The finished runs measured: the row's own, and its seed replicates (`grid --replicates`). With
   * several, each case's value of a metric is the mean over the runs that have it, so the spread over
   * cases is not inflated by the spread between seeds, which `seedSd` gives apart.
   */
  runIds: string[];
  /** Statistics per organ, by PDDCA key; organs without any test result are absent. */
  organs: Record<string, OrganStats>;
  /** Mean over the nine organs of the per-organ mean DSC (%), as the paper's "mean"; NaN unless all nine have results. */
  meanDsc: number;
  /** SD between the runs of their own `meanDsc` (%): how much training again with another seed moves it; NaN below two runs. */
  seedSd: number;
  /** How its several runs came about (`3 seeds`, `5 folds`, `2 seeds × 5 folds`; libs/tracking `runsDescription`), '' for one run. */
  runsNote: string;
  /** Distinct test cases with results. */
  cases: number;
}

export interface MissingCell {
  row: string;
  label: string;
  /** Set when one organ of an otherwise present row is missing. */
  organ?: string;
  reason: string;
}

export interface PublishedMean {
  rowKey: string;
  label: string;
  mean: number;
  source: string;
}

export interface FigureModel {
  figure: string;
  name: string;
  title: string;
  description: string;
  grid: string | null;
  profile: string | null;
  otherProfiles: string[];
  rows: MeasuredRow[];
  missing: MissingCell[];
  /** The paper's per-organ series for this figure (never mixed with `rows`). */
  published: PublishedSeries[];
  /** The paper's stated means per row key, where it gives only means. */
  publishedMeans: PublishedMean[];
  /** Why there is nothing published, when there is nothing. */
  publishedNote: string;
  /** Which published series corresponds to which grid row (Fig. 6 and Table I), for side-by-side columns. */
  counterparts: { rowKey: string; published: PublishedSeries }[];
  /** The row the others are paired with (the paper's configuration), when it has results. */
  reference: { key: string; label: string } | null;
  /** Each other row against the reference on the test cases both scored. */
  paired: PairedRow[];
  /** Why there is no paired comparison, when there is none. */
  pairedNote: string;
  /** The datasets (manifest digests) the rows' runs trained on, sorted: more than one, and rows differ in data too. */
  datasetDigests: string[];
}

export interface PairedRow {
  key: string;
  label: string;
  /** The row's runs (its seed replicates) and the reference's. */
  runs: number;
  referenceRuns: number;
  /** Test cases every run of both rows scored. */
  cases: number;
  /** Mean over those cases of the row's minus the reference's per-case mean DSC (each side averaged over its runs), in percentage points. */
  meanDiff: number;
  /**
   * 95% interval of `meanDiff`: with one run a side, the percentile bootstrap over cases; with seed
   * replicates, the t interval over cases and runs (paired.ts `replicatedPairedDifference`). NaN below two cases.
   */
  low: number;
  high: number;
  /** One run a side: the Wilcoxon signed-rank test of the per-case differences; seed replicates: the t test of the interval. Two-sided. */
  test: PairedTest;
  /**
   * `test.p` adjusted by Holm's method over the figure's comparisons with its reference (paired.ts
   * `holmAdjust`), so that among many rows a chance difference does not pass for a finding; NaN without a test.
   */
  pHolm: number;
}

/** The t test over cases and seed replicates, `statistic` = t at `df` degrees of freedom; `n` = cases. */
export interface ReplicatedTTest {
  method: 't';
  n: number;
  statistic: number;
  p: number;
  df: number;
}

export type PairedTest = SignedRankTest | ReplicatedTTest;

/** Grid row key -> label of its published counterpart. */
const COUNTERPARTS: Record<string, Record<string, string>> = {
  fig6: { anatomynet: 'AnatomyNet (paper)', 'dice-only': '3D SE-Res U-Net, Dice only (paper)' },
  table1: { 'pddca-only': 'PDDCA only (DATASET 1)', all: 'All 261 CTs (DATASET 1,2,3)' },
};

function counterpartsFor(figure: string, published: PublishedSeries[]): FigureModel['counterparts'] {
  return Object.entries(COUNTERPARTS[figure] ?? {}).flatMap(([rowKey, label]) => {
    const p = published.find((x) => x.label === label);
    return p ? [{ rowKey, published: p }] : [];
  });
}

const FIG5_KEYS: Record<string, string> = { dice: 'dice', 'exp-log': 'explog', 'dice+focal-0.5': 'dice+focal(0.5)', 'dice+ce-0.1': 'dice+ce(0.1)' };

function publishedFor(figure: string, rowLabel: (k: string) => string): Pick<FigureModel, 'published' | 'publishedMeans' | 'publishedNote' | 'counterparts'> {
  const r = publishedOnly(figure, rowLabel);
  return { ...r, counterparts: counterpartsFor(figure, r.published) };
}

function publishedOnly(figure: string, rowLabel: (k: string) => string): Pick<FigureModel, 'published' | 'publishedMeans' | 'publishedNote'> {
  const means = (table: Record<string, number>, rowToPublished: Record<string, string>, src: string): PublishedMean[] =>
    Object.entries(rowToPublished)
      .filter(([, pk]) => table[pk] !== undefined)
      .map(([rowKey, pk]) => ({ rowKey, label: rowLabel(rowKey), mean: table[pk], source: src }));
  switch (figure) {
    case 'fig3':
      return { published: [], publishedMeans: means(FIG3_PUBLISHED_MEANS, Object.fromEntries(Object.keys(FIG3_PUBLISHED_MEANS).map((k) => [k, k])), 'Zhu et al., Fig. 3 (means stated in the text)'), publishedNote: 'The paper states only the mean DSC per configuration; per-organ values are drawn as bars only.' };
    case 'fig5':
      return { published: [], publishedMeans: means(FIG5_PUBLISHED_MEANS, FIG5_KEYS, 'Zhu et al., Fig. 5 (means stated in the text)'), publishedNote: 'The paper states the mean DSC of four losses only; per-organ values are drawn as bars only.' };
    case 'fig6':
      return { published: FIG6_PUBLISHED, publishedMeans: [], publishedNote: '' };
    case 'table1':
      return { published: TABLE1_PUBLISHED, publishedMeans: [], publishedNote: '' };
    case 'fig4':
      return { published: [], publishedMeans: [], publishedNote: 'The paper gives Fig. 4 as bars only, with no numbers in its text.' };
    default:
      return { published: [], publishedMeans: [], publishedNote: 'Not a figure of the paper.' };
  }
}

/** How many of these test results had their contour checked, and how many the checks flag. */
export function contourCounts(results: readonly CaseResult[]): { checked: number; flagged: number } {
  const checked = results.filter((r) => typeof r.extra?.contourFinding === 'string');
  return { checked: checked.length, flagged: checked.filter((r) => r.extra!.contourFinding !== '').length };
}

/** The mean of a metric's values from several runs: NaN values (undefined) left out, NaN when all are. */
function meanOverRuns(values: readonly number[]): number {
  const known = values.filter((v) => !Number.isNaN(v));
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : NaN;
}

/**
 * Statistics of a row's test results, or the reason it has none: one run, or its seed replicates, whose
 * values are averaged per case and organ before the statistics over cases.
 */
export function measuredRow(key: string, label: string, runs: RunData | readonly RunData[], cellKeys?: readonly string[]): { row?: MeasuredRow; missing: MissingCell[] } {
  const all = Array.isArray(runs) ? (runs as readonly RunData[]) : [runs as RunData];
  const withResults = all.filter((d) => d.results.length);
  if (!withResults.length) return { missing: all.map((d) => ({ row: key, label, reason: `run ${d.run.id} has no test results` })) };
  const missing: MissingCell[] = all.filter((d) => !d.results.length).map((d) => ({ row: key, label, reason: `run ${d.run.id} has no test results` }));
  // organ -> case -> that case's results, one per run
  const byOrgan = new Map<string, Map<string, CaseResult[]>>();
  for (const d of withResults) {
    for (const r of d.results) {
      const cases = byOrgan.get(r.organ) ?? byOrgan.set(r.organ, new Map()).get(r.organ)!;
      cases.set(r.caseId, [...(cases.get(r.caseId) ?? []), r]);
    }
  }
  const organs: Record<string, OrganStats> = {};
  for (const o of REPORT_ORGANS) {
    const perCase = [...(byOrgan.get(o.key)?.values() ?? [])];
    const over = (metric: (r: CaseResult) => number) => perCase.map((rs) => meanOverRuns(rs.map(metric)));
    const dsc = summarize(over((r) => r.dsc * 100));
    if (!dsc.n) {
      missing.push({ row: key, label, organ: o.key, reason: perCase.length ? `${perCase.length} test cases with results, none with a finite DSC` : 'no test case with this organ annotated' });
      continue;
    }
    organs[o.key] = {
      dsc,
      hd95Mm: summarize(over((r) => r.hd95Mm)),
      surfaceDice: summarize(over((r) => r.surfaceDice * 100)),
      meanSurfaceDistanceMm: summarize(over((r) => r.meanSurfaceDistanceMm ?? NaN)),
      contours: contourCounts(perCase.flat()),
    };
  }
  const present = REPORT_ORGANS.filter((o) => organs[o.key]);
  const meanDsc = present.length === REPORT_ORGANS.length ? present.reduce((s, o) => s + organs[o.key].dsc.mean, 0) / present.length : NaN;
  const cases = new Set(withResults.flatMap((d) => d.results.map((r) => r.caseId))).size;
  const seedSd = withResults.length > 1 ? summarize(withResults.map((d) => measuredRow(key, label, d).row?.meanDsc ?? NaN)).sd : NaN;
  // how the runs with results came about, from their cells' keys (seeds when none are given)
  const n = withResults.length;
  const runsNote = n < 2 ? '' : cellKeys ? runsDescription(withResults.map((d) => cellKeys[all.indexOf(d)])) : `${n} seeds`;
  return { row: { key, label, runIds: withResults.map((d) => d.run.id), organs, meanDsc, seedSd, cases, runsNote }, missing };
}

/** The figure model of one grid: rows in definition order, each missing cell named with its reason. */
export function figureModel(g: GridData): FigureModel {
  const labelOf = (k: string) => g.def.rows.find((r) => r.key === k)?.label ?? k;
  const base = {
    figure: g.def.figure, name: g.def.name, title: g.def.title, description: g.def.description,
    grid: g.grid, profile: g.profile, otherProfiles: g.otherProfiles,
    ...publishedFor(g.def.figure, labelOf),
  };
  const rows: MeasuredRow[] = [];
  const missing: MissingCell[] = [];
  if (!g.grid) {
    return { ...base, rows, reference: null, paired: [], pairedNote: '', datasetDigests: [], missing: g.def.rows.map((r) => ({ row: r.key, label: r.label, reason: `grid ${g.def.name} is not in the database under any profile` })) };
  }
  // a row's cells: its own, its seed replicates (ROW#2 ...) and folds (ROW/fold1of5 ...), grouped back under the row
  const cellsOf = cellsByRow(g.cells);
  const keys = [...g.def.rows.map((r) => r.key), ...[...cellsOf.keys()].filter((k) => !g.def.rows.some((r) => r.key === k)).sort()];
  for (const key of keys) {
    const label = labelOf(key);
    const cells = cellsOf.get(key);
    if (!cells) { missing.push({ row: key, label, reason: `no cell "${key}" in grid ${g.grid}` }); continue; }
    const finished: RunData[] = [];
    const finishedKeys: string[] = [];
    for (const cell of cells) {
      // a replicate's or fold's entry names its cell; the row's own keeps the row key
      const at = { row: cell.key, label: cell.key === key ? label : `${label} (${cellRunLabel(cell.key)})` };
      const data = cell.runId ? g.runs.get(cell.runId) : undefined;
      if (!data) { missing.push({ ...at, reason: `cell ${cell.status}${cell.error ? ` (${cell.error.split('\n')[0].slice(0, 160)})` : ''}, no run attached` }); continue; }
      if (data.run.status !== 'FINISHED') {
        const why = data.run.errorText ? `: ${data.run.errorText.split('\n')[0].slice(0, 160)}` : '';
        missing.push({ ...at, reason: `run ${data.run.id} is ${data.run.status}${why}` });
        continue;
      }
      finished.push(data);
      finishedKeys.push(cell.key);
    }
    if (!finished.length) continue;
    const m = measuredRow(key, label, finished, finishedKeys);
    if (m.row) rows.push(m.row);
    missing.push(...m.missing);
  }
  const datasetDigests = [...new Set(rows.flatMap((r) => r.runIds.map((id) => g.runs.get(id)?.run.datasetDigest)).filter((d): d is string => !!d))].sort();
  return { ...base, rows, missing, datasetDigests, ...pairedWithReference(g, rows, labelOf) };
}

/** Per test case, the DSC of each organ with a finite one. */
function dscByCase(results: readonly CaseResult[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const r of results) {
    if (!Number.isFinite(r.dsc)) continue;
    if (!out.has(r.caseId)) out.set(r.caseId, new Map());
    out.get(r.caseId)!.set(r.organ, r.dsc);
  }
  return out;
}

/**
 * Each row against the figure's reference row, case by case: per test case, the mean DSC over the organs
 * both runs scored, then the differences' mean, bootstrap interval and Wilcoxon test. Pairing removes the
 * case-to-case spread that the per-organ SDs are full of.
 */
function pairedWithReference(g: GridData, rows: readonly MeasuredRow[], labelOf: (k: string) => string): Pick<FigureModel, 'reference' | 'paired' | 'pairedNote'> {
  const refKey = g.def.reference;
  const ref = rows.find((r) => r.key === refKey);
  if (!ref) return { reference: null, paired: [], pairedNote: refKey ? `The reference row ${labelOf(refKey)} has no test results, so no row is compared with it.` : '' };
  if (rows.length < 2) return { reference: { key: ref.key, label: ref.label }, paired: [], pairedNote: 'No other row has test results to compare with the reference.' };
  const scoresOf = (r: MeasuredRow) => r.runIds.map((id) => dscByCase(g.runs.get(id)!.results));
  const refScores = scoresOf(ref);
  const paired = rows
    .filter((r) => r.key !== ref.key)
    .map((r): Omit<PairedRow, 'pHolm'> => {
      const scores = scoresOf(r);
      const rowRuns: number[][] = scores.map(() => []);
      const refRuns: number[][] = refScores.map(() => []);
      for (const caseId of [...scores[0].keys()].sort()) {
        // the organs every run of both rows scored on this case
        const runs = [...scores, ...refScores].map((s) => s.get(caseId));
        if (runs.some((m) => !m)) continue;
        const both = [...runs[0]!.keys()].filter((o) => runs.every((m) => m!.has(o)));
        if (!both.length) continue;
        // in percentage points
        const mean = (m: Map<string, number>) => (100 * both.reduce((s, o) => s + m.get(o)!, 0)) / both.length;
        scores.forEach((m, i) => rowRuns[i].push(mean(m.get(caseId)!)));
        refScores.forEach((m, j) => refRuns[j].push(mean(m.get(caseId)!)));
      }
      const at = { key: r.key, label: r.label, runs: r.runIds.length, referenceRuns: ref.runIds.length };
      if (rowRuns.length === 1 && refRuns.length === 1) {
        const diffs = pairedDifferences(rowRuns, refRuns);
        const ci = bootstrapMeanInterval(diffs, { seed: 1 });
        return { ...at, cases: diffs.length, meanDiff: ci.mean, low: ci.low, high: ci.high, test: wilcoxonSignedRank(diffs) };
      }
      const rep = replicatedPairedDifference(rowRuns, refRuns);
      return { ...at, cases: rep.differences.length, meanDiff: rep.mean, low: rep.low, high: rep.high, test: { method: 't', n: rep.differences.length, statistic: rep.t, p: rep.p, df: rep.df } };
    });
  const holm = holmAdjust(paired.map((r) => (r.test.method === 'none' ? NaN : r.test.p)));
  return { reference: { key: ref.key, label: ref.label }, paired: paired.map((r, i) => ({ ...r, pHolm: holm[i] })), pairedNote: '' };
}

export interface ChartDataset {
  label: string;
  /** Per label: the value, or null where there is no result (never 0). */
  data: (number | null)[];
  /** Standard deviation over test cases, null where undefined. */
  sd: (number | null)[];
  n: number[];
}

export interface ChartSeries {
  labels: string[];
  datasets: ChartDataset[];
}

/** Grouped bars of measured DSC (%): groups = nine organs + Mean, one dataset per present row. */
export function measuredDscSeries(f: FigureModel): ChartSeries {
  const labels = [...REPORT_ORGANS.map((o) => o.short), 'Mean'];
  const datasets = f.rows.map((r) => {
    const st = REPORT_ORGANS.map((o) => r.organs[o.key]?.dsc);
    return {
      label: r.runsNote ? `${r.label} (${r.runsNote})` : r.label,
      data: [...st.map((s) => (s ? s.mean : null)), Number.isFinite(r.meanDsc) ? r.meanDsc : null],
      sd: [...st.map((s) => (s && Number.isFinite(s.sd) ? s.sd : null)), null],
      n: [...st.map((s) => s?.n ?? 0), REPORT_ORGANS.filter((o) => r.organs[o.key]).length],
    };
  });
  return { labels, datasets };
}

/** Grouped bars of the paper's per-organ DSC (%), same groups as the measured chart. */
export function publishedDscSeries(f: FigureModel): ChartSeries {
  const labels = [...REPORT_ORGANS.map((o) => o.short), 'Mean'];
  const datasets = f.published.map((p) => ({
    label: `${p.label} [published]`,
    data: [...REPORT_ORGANS.map((o) => p.dsc[o.tg263] ?? null), p.mean ?? null],
    sd: labels.map(() => null),
    n: labels.map(() => 0),
  }));
  return { labels, datasets };
}
