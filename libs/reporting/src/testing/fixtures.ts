/**
 * Fake tracking databases for the report's tests and benchmark: grids, cells, runs with known test
 * results and training curves, written through libs/tracking's real store.
 */
import type { CaseResult, TrackingStore } from '@anatomynet/tracking';
import { REPORT_ORGANS } from '../organs';

export interface FakeCell {
  key: string;
  /** Run status; 'none' leaves the cell PENDING with no run. */
  run: 'FINISHED' | 'FAILED' | 'RUNNING' | 'KILLED' | 'none';
  /** DSC fraction of case c, organ index o (0..8); NaN leaves the organ out (not annotated). Default a fixed pattern. */
  dsc?: (c: number, o: number) => number;
  hd95Mm?: (c: number, o: number) => number;
  /** The contour checks' verdict recorded with each test row (`extra.contourFinding`); default none recorded. */
  contourFinding?: (c: number, o: number) => string;
  /** Write test results (default: only for FINISHED runs). */
  results?: boolean;
  runDir?: string;
  error?: string;
}

export interface FakeGridOptions {
  cases?: string[];
  epochs?: number;
  gitCommit?: string;
  datasetDigest?: string;
}

export const FAKE_CASES = ['case-001', 'case-002', 'case-003', 'case-004'];

/** Default DSC: organ-dependent level with a small case-dependent wiggle, in (0, 1). */
export const defaultDsc = (c: number, o: number) => 0.5 + 0.04 * o + 0.01 * ((c * 7 + o * 3) % 5);

/** Registers `grid` with `cells` and fills each cell's run. Returns the run ids by cell key. */
export async function seedFakeGrid(store: TrackingStore, grid: string, cells: FakeCell[], o: FakeGridOptions = {}): Promise<Record<string, string>> {
  const cases = o.cases ?? FAKE_CASES;
  const epochs = o.epochs ?? 20;
  await store.registerCells(grid, cells.map((c) => ({ key: c.key })));
  const ids: Record<string, string> = {};
  let t = Date.UTC(2026, 0, 1);
  for (const cell of cells) {
    if (cell.run === 'none') continue;
    const id = `${grid.replace(/[^a-z0-9]/gi, '-')}-${cell.key.replace(/[^a-z0-9]/gi, '-')}`;
    ids[cell.key] = id;
    await store.claimCell(grid, cell.key, 'fixture');
    await store.createRun({ id, experiment: grid.split('@')[0], name: cell.key, config: { grid, key: cell.key }, gitCommit: o.gitCommit ?? 'abc1234', datasetDigest: o.datasetDigest ?? 'd'.repeat(64), backend: 'cpu', runDir: cell.runDir, startTime: t });
    await store.updateCell(grid, cell.key, { runId: id });
    t += 1000;
    const pts = [];
    for (let e = 0; e < epochs; e++) {
      pts.push({ runId: id, key: 'train/epoch_loss', step: e, value: 1 / (1 + 0.3 * e), time: t });
      pts.push({ runId: id, key: 'val/dice_mean', step: e, value: Math.min(0.9, 0.2 + 0.03 * e), time: t });
    }
    await store.logMetrics(pts);
    if (cell.results ?? cell.run === 'FINISHED') {
      const rows: CaseResult[] = [];
      const dsc = cell.dsc ?? defaultDsc;
      cases.forEach((caseId, c) =>
        REPORT_ORGANS.forEach((organ, oi) => {
          const d = dsc(c, oi);
          if (Number.isNaN(d)) return;
          rows.push({ runId: id, split: 'test', caseId, organ: organ.key, dsc: d, hd95Mm: cell.hd95Mm ? cell.hd95Mm(c, oi) : 2 + oi + c, surfaceDice: Math.min(1, d + 0.05), meanSurfaceDistanceMm: 1 + 0.1 * oi, tp: 100, fp: 10, fn: 10, ...(cell.contourFinding ? { extra: { contourFinding: cell.contourFinding(c, oi) } } : {}) });
        }),
      );
      await store.recordCaseResults(rows);
    }
    if (cell.run !== 'RUNNING') await store.endRun(id, cell.run, { error: cell.error, endTime: t });
    await store.updateCell(grid, cell.key, { status: cell.run === 'FINISHED' ? 'DONE' : cell.run === 'RUNNING' ? 'CLAIMED' : 'FAILED' });
  }
  return ids;
}
