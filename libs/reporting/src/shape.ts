/**
 * Pure shaping of collected runs into figure models: per grid row (one run), per organ, the mean and
 * spread over test cases with n; the missing cells named with a reason; the paper's published numbers
 * kept apart. DSC and surface Dice are shown in % (results store fractions), distances in mm.
 */
import type { CaseResult } from '@anatomynet/tracking';
import type { GridData, RunData } from './collect';
import { REPORT_ORGANS } from './organs';
import { FIG3_PUBLISHED_MEANS, FIG5_PUBLISHED_MEANS, FIG6_PUBLISHED, TABLE1_PUBLISHED, type PublishedSeries } from './published';
import { summarize, type Summary } from './stats';
import { bootstrapMeanInterval, wilcoxonSignedRank, type SignedRankTest } from './paired';

export interface OrganStats {
  /** DSC in %. */
  dsc: Summary;
  hd95Mm: Summary;
  /** Surface Dice in %. */
  surfaceDice: Summary;
  meanSurfaceDistanceMm: Summary;
}

export interface MeasuredRow {
  key: string;
  label: string;
  runId: string;
  /** Statistics per organ, by PDDCA key; organs without any test result are absent. */
  organs: Record<string, OrganStats>;
  /** Mean over the nine organs of the per-organ mean DSC (%), as the paper's "mean"; NaN unless all nine have results. */
  meanDsc: number;
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
}

export interface PairedRow {
  key: string;
  label: string;
  /** Test cases both runs scored. */
  cases: number;
  /** Mean over those cases of the row's minus the reference's per-case mean DSC, in percentage points. */
  meanDiff: number;
  /** 95% percentile bootstrap interval of `meanDiff` (cases resampled); NaN below two cases. */
  low: number;
  high: number;
  /** Wilcoxon signed-rank test of the per-case differences, two-sided. */
  test: SignedRankTest;
}

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

/** Statistics of one run's test results, or the reason it has none. */
export function measuredRow(key: string, label: string, data: RunData): { row?: MeasuredRow; missing: MissingCell[] } {
  const byOrgan = new Map<string, CaseResult[]>();
  for (const r of data.results) byOrgan.set(r.organ, [...(byOrgan.get(r.organ) ?? []), r]);
  const missing: MissingCell[] = [];
  if (!data.results.length) return { missing: [{ row: key, label, reason: `run ${data.run.id} has no test results` }] };
  const organs: Record<string, OrganStats> = {};
  for (const o of REPORT_ORGANS) {
    const rs = byOrgan.get(o.key) ?? [];
    const dsc = summarize(rs.map((r) => r.dsc * 100));
    if (!dsc.n) {
      missing.push({ row: key, label, organ: o.key, reason: rs.length ? `${rs.length} test results, none with a finite DSC` : 'no test case with this organ annotated' });
      continue;
    }
    organs[o.key] = {
      dsc,
      hd95Mm: summarize(rs.map((r) => r.hd95Mm)),
      surfaceDice: summarize(rs.map((r) => r.surfaceDice * 100)),
      meanSurfaceDistanceMm: summarize(rs.map((r) => r.meanSurfaceDistanceMm ?? NaN)),
    };
  }
  const present = REPORT_ORGANS.filter((o) => organs[o.key]);
  const meanDsc = present.length === REPORT_ORGANS.length ? present.reduce((s, o) => s + organs[o.key].dsc.mean, 0) / present.length : NaN;
  const cases = new Set(data.results.map((r) => r.caseId)).size;
  return { row: { key, label, runId: data.run.id, organs, meanDsc, cases }, missing };
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
    return { ...base, rows, reference: null, paired: [], pairedNote: '', missing: g.def.rows.map((r) => ({ row: r.key, label: r.label, reason: `grid ${g.def.name} is not in the database under any profile` })) };
  }
  const keys = [...g.def.rows.map((r) => r.key), ...g.cells.map((c) => c.key).filter((k) => !g.def.rows.some((r) => r.key === k)).sort()];
  for (const key of keys) {
    const label = labelOf(key);
    const cell = g.cells.find((c) => c.key === key);
    if (!cell) { missing.push({ row: key, label, reason: `no cell "${key}" in grid ${g.grid}` }); continue; }
    const data = cell.runId ? g.runs.get(cell.runId) : undefined;
    if (!data) { missing.push({ row: key, label, reason: `cell ${cell.status}${cell.error ? ` (${cell.error.split('\n')[0].slice(0, 160)})` : ''}, no run attached` }); continue; }
    if (data.run.status !== 'FINISHED') {
      const why = data.run.errorText ? `: ${data.run.errorText.split('\n')[0].slice(0, 160)}` : '';
      missing.push({ row: key, label, reason: `run ${data.run.id} is ${data.run.status}${why}` });
      continue;
    }
    const m = measuredRow(key, label, data);
    if (m.row) rows.push(m.row);
    missing.push(...m.missing);
  }
  return { ...base, rows, missing, ...pairedWithReference(g, rows, labelOf) };
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
  const refScores = dscByCase(g.runs.get(ref.runId)!.results);
  const paired = rows
    .filter((r) => r.key !== ref.key)
    .map((r): PairedRow => {
      const scores = dscByCase(g.runs.get(r.runId)!.results);
      const diffs: number[] = [];
      for (const [caseId, organs] of [...scores].sort(([a], [b]) => a.localeCompare(b))) {
        const refOrgans = refScores.get(caseId);
        const both = [...organs.keys()].filter((o) => refOrgans?.has(o));
        if (!both.length) continue;
        const mean = (m: Map<string, number>) => both.reduce((s, o) => s + m.get(o)!, 0) / both.length;
        // to 1e-9 points: float noise in the means must not split ties or turn a zero into a sign
        diffs.push(Math.round(1e11 * (mean(organs) - mean(refOrgans!))) / 1e9);
      }
      const ci = bootstrapMeanInterval(diffs, { seed: 1 });
      return { key: r.key, label: r.label, cases: diffs.length, meanDiff: ci.mean, low: ci.low, high: ci.high, test: wilcoxonSignedRank(diffs) };
    });
  return { reference: { key: ref.key, label: ref.label }, paired, pairedNote: '' };
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
      label: r.label,
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
