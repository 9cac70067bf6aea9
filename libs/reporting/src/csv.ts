/**
 * The report's numbers as CSV, beside index.html, for tables in a paper or a notebook: per figure, row and
 * organ the test-case statistics, and each row's paired comparison with the figure's reference row.
 * Pure; DSC and surface Dice in %, distances in mm, an empty field where a value is undefined.
 */
import type { ReportModel } from './model';
import { REPORT_ORGANS } from './organs';
import type { Summary } from './stats';
import { csvText as lines, type CsvValue } from './csv-format';

/** One line per figure, row and organ (and the row's mean of the nine organ means, as `Mean`). */
export function resultsCsv(m: ReportModel): string {
  // run_ids: the row's runs, space-separated (several for seed replicates, whose values are averaged per
  // case first); dsc_seed_sd, on the Mean line: the SD between those runs' own means; contours_checked and
  // contours_flagged: the test contours (a case and run each) the annotation checks ran on and flag (the
  // Mean line: over the organs), empty for runs evaluated before the checks
  const header = ['figure', 'grid', 'row', 'label', 'run_ids', 'organ', 'n', 'dsc_mean', 'dsc_sd', 'hd95_mean_mm', 'hd95_sd_mm', 'hd95_infinite', 'surface_dice_mean', 'surface_dice_sd', 'msd_mean_mm', 'dsc_seed_sd', 'contours_checked', 'contours_flagged'];
  const rows: CsvValue[][] = [header];
  const stats = (s: Summary | undefined) => [s?.mean ?? null, s?.sd ?? null];
  const contours = (c: { checked: number; flagged: number }) => (c.checked ? [c.checked, c.flagged] : [null, null]);
  for (const f of m.figures) {
    for (const r of f.rows) {
      const total = { checked: 0, flagged: 0 };
      for (const o of REPORT_ORGANS) {
        const s = r.organs[o.key];
        if (!s) continue;
        total.checked += s.contours.checked;
        total.flagged += s.contours.flagged;
        rows.push([f.figure, f.grid, r.key, r.label, r.runIds.join(' '), o.key, s.dsc.n, ...stats(s.dsc), ...stats(s.hd95Mm), s.hd95Mm.nInfinite, ...stats(s.surfaceDice), s.meanSurfaceDistanceMm.mean, null, ...contours(s.contours)]);
      }
      rows.push([f.figure, f.grid, r.key, r.label, r.runIds.join(' '), 'Mean', r.cases, r.meanDsc, null, null, null, null, null, null, null, r.seedSd, ...contours(total)]);
    }
  }
  return lines(rows);
}

/** One line per compared row: the mean per-case DSC difference from the reference, its interval and test. */
export function pairedCsv(m: ReportModel): string {
  // test: wilcoxon-exact / wilcoxon-approx (one run a side), t (seed replicates: cases and runs, at df);
  // p_holm: p adjusted by Holm's method over the figure's comparisons with its reference
  const rows: CsvValue[][] = [['figure', 'grid', 'reference', 'row', 'label', 'runs', 'reference_runs', 'cases', 'dsc_diff_mean_pp', 'dsc_diff_low_pp', 'dsc_diff_high_pp', 'p', 'test', 'df', 'p_holm']];
  for (const f of m.figures) {
    for (const p of f.paired) {
      const t = p.test;
      rows.push([f.figure, f.grid, f.reference?.key ?? null, p.key, p.label, p.runs, p.referenceRuns, p.cases, p.meanDiff, p.low, p.high, t.p, t.method === 't' ? 't' : t.method === 'none' ? null : `wilcoxon-${t.method}`, t.method === 't' ? t.df : null, p.pHolm]);
    }
  }
  return lines(rows);
}
