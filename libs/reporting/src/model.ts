/**
 * The whole report as data (pure): figures, runs, training curves, per-case tables, overlays and the
 * dataset section. render.ts turns it into HTML.
 */
import { cellLabel, type GridData } from './collect';
import type { DatasetModel } from './dataset';
import type { OverlayRun } from './overlays-io';
import { figureModel, type FigureModel } from './shape';

export interface RunSummary {
  id: string;
  /** `grid / row label`. */
  label: string;
  grid: string;
  status: string;
  gitCommit: string | null;
  datasetDigest: string | null;
  backend: string | null;
  adapter: string | null;
  error: string | null;
}

export interface CurveModel {
  runId: string;
  label: string;
  status: string;
  lossKey: string | null;
  /** [x, y] points, thinned to at most `maxPoints`. */
  loss: [number, number][];
  /** Validation mean Dice, in %. */
  valDice: [number, number][];
}

export interface CaseCell {
  dsc: number;
  hd95Mm: number;
  surfaceDice: number;
  /** The annotation checks that flag the predicted contour, ';'-separated ('' none, absent: not checked). */
  contourFinding?: string;
}

export interface CaseTable {
  runId: string;
  label: string;
  cases: { caseId: string; organs: Record<string, CaseCell> }[];
}

export interface ReportModel {
  generatedAt: string;
  dbPath: string;
  figures: FigureModel[];
  runs: RunSummary[];
  curves: CurveModel[];
  caseTables: CaseTable[];
  overlays: OverlayRun[] | null;
  overlayNote: string;
  dataset: DatasetModel | null;
  datasetNote: string;
}

/** Keeps at most `max` points, evenly strided, always keeping the last one. */
export function thin<T>(points: readonly T[], max: number): T[] {
  if (points.length <= max) return [...points];
  const stride = Math.ceil(points.length / max);
  const out = points.filter((_, i) => i % stride === 0);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

export interface ReportModelInput {
  grids: readonly GridData[];
  dbPath: string;
  generatedAt: string;
  overlays: OverlayRun[] | null;
  overlayNote: string;
  dataset: DatasetModel | null;
  datasetNote: string;
  maxCurvePoints?: number;
}

export function buildReportModel(inp: ReportModelInput): ReportModel {
  const runs: RunSummary[] = [];
  const curves: CurveModel[] = [];
  const caseTables: CaseTable[] = [];
  for (const g of inp.grids) {
    for (const c of g.cells) {
      const d = c.runId ? g.runs.get(c.runId) : undefined;
      if (!d || runs.some((r) => r.id === d.run.id)) continue;
      const label = cellLabel(g, c.key);
      const r = d.run;
      runs.push({ id: r.id, label, grid: g.grid!, status: r.status, gitCommit: r.gitCommit, datasetDigest: r.datasetDigest, backend: r.backend, adapter: r.adapter, error: r.errorText ? r.errorText.split('\n')[0] : null });
      curves.push({
        runId: r.id, label, status: r.status, lossKey: d.lossKey,
        loss: thin(d.loss.map((p) => [p.step, p.value] as [number, number]), inp.maxCurvePoints ?? 400),
        valDice: thin(d.valDice.map((p) => [p.step, p.value * 100] as [number, number]), inp.maxCurvePoints ?? 400),
      });
      if (d.results.length) {
        const byCase = new Map<string, Record<string, CaseCell>>();
        for (const x of d.results) {
          const row = byCase.get(x.caseId) ?? {};
          const finding = x.extra?.contourFinding;
          row[x.organ] = { dsc: x.dsc * 100, hd95Mm: x.hd95Mm, surfaceDice: x.surfaceDice * 100, ...(typeof finding === 'string' ? { contourFinding: finding } : {}) };
          byCase.set(x.caseId, row);
        }
        caseTables.push({ runId: r.id, label, cases: [...byCase].sort(([a], [b]) => a.localeCompare(b)).map(([caseId, organs]) => ({ caseId, organs })) });
      }
    }
  }
  return {
    generatedAt: inp.generatedAt, dbPath: inp.dbPath,
    figures: inp.grids.map(figureModel),
    runs, curves, caseTables,
    overlays: inp.overlays, overlayNote: inp.overlayNote,
    dataset: inp.dataset, datasetNote: inp.datasetNote,
  };
}
