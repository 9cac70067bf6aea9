/**
 * Ablation grids as data (experiments/*.json): a base run config, profiles (`full` = the paper's settings,
 * `smoke` = what finishes on a 2-core CPU) and rows that override a few fields. Cells are claimed
 * atomically in the tracking store, so several worker processes can share one grid; a failed cell is
 * recorded with its error and the others go on; a second run of a finished grid does nothing.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { TrackingStore } from '@anatomynet/tracking';
import { mergeConfig, resolveRunConfig, runConfigDigest, RunConfigError, type RunConfig } from './run-config';

export interface GridRow {
  key: string;
  /** Legend text in the report (e.g. "1 down-sampling layer"). */
  label: string;
  override: Record<string, unknown>;
}

export interface GridFile {
  name: string;
  /** Which of the paper's figures or tables this grid regenerates: fig3, fig4, fig5, fig6, table1. */
  figure: string;
  title: string;
  description?: string;
  base: Record<string, unknown>;
  profiles: Record<string, Record<string, unknown>>;
  rows: GridRow[];
}

export interface GridCellPlan {
  /** Grid name in the store: `<name>@<profile>`. */
  grid: string;
  key: string;
  label: string;
  config: RunConfig;
  digest: string;
}

/** The grid file is malformed; names the file and the field. */
export class GridFileError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'GridFileError';
  }
}

export function readGridFile(file: string): GridFile {
  let g: GridFile;
  try {
    g = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new GridFileError(file, `cannot read JSON: ${(e as Error).message}`);
  }
  for (const k of ['name', 'figure', 'title'] as const) if (typeof g[k] !== 'string') throw new GridFileError(file, `"${k}" must be a string`);
  if (typeof g.base !== 'object' || !g.profiles || typeof g.profiles !== 'object') throw new GridFileError(file, '"base" and "profiles" must be objects');
  if (!Array.isArray(g.rows) || !g.rows.length) throw new GridFileError(file, '"rows" must be a non-empty list');
  const keys = new Set<string>();
  for (const r of g.rows) {
    if (typeof r.key !== 'string' || !/^[\w.+-]+$/.test(r.key)) throw new GridFileError(file, `row key ${JSON.stringify(r.key)} must be a word (letters, digits, _ . + -)`);
    if (keys.has(r.key)) throw new GridFileError(file, `row key "${r.key}" appears twice`);
    keys.add(r.key);
  }
  return g;
}

/** Resolves every cell of a profile, validating each config before any training starts. */
export function planGrid(g: GridFile, profile: string, file = `${g.name}.json`): GridCellPlan[] {
  const p = g.profiles[profile];
  if (!p) throw new GridFileError(file, `no profile "${profile}" (profiles: ${Object.keys(g.profiles).join(', ')})`);
  return g.rows.map((r) => {
    let config: RunConfig;
    try {
      config = resolveRunConfig(mergeConfig({}, g.base, p, r.override));
    } catch (e) {
      if (e instanceof RunConfigError) throw new GridFileError(file, `row "${r.key}", profile "${profile}": ${e.message}`);
      throw e;
    }
    return { grid: `${g.name}@${profile}`, key: r.key, label: r.label, config, digest: runConfigDigest(config) };
  });
}

/**
 * A grid argument, `FILE` or `FILE:ROW[,ROW...]` (e.g. `experiments/fig6-final.json:anatomynet`): the
 * grid file and, when given, the only rows to run.
 */
export function parseGridSelection(arg: string): { file: string; rows?: string[] } {
  const m = /^(.+\.json):([^/\\:]*)$/.exec(arg);
  if (!m) return { file: arg };
  const rows = m[2]!.split(',').filter(Boolean);
  if (!rows.length) throw new GridFileError(m[1]!, `no row keys after ":" in "${arg}" (write FILE:ROW[,ROW...], or the file alone for every row)`);
  return { file: m[1]!, rows };
}

/** The cells of the given rows (every cell without a selection); a key the grid lacks is an error listing its keys. */
export function selectRows(cells: GridCellPlan[], rows: string[] | undefined, file: string): GridCellPlan[] {
  if (!rows) return cells;
  const unknown = rows.filter((k) => !cells.some((c) => c.key === k));
  if (unknown.length) throw new GridFileError(file, `no row ${unknown.map((k) => `"${k}"`).join(', ')} (rows: ${cells.map((c) => c.key).join(', ')})`);
  return cells.filter((c) => rows.includes(c.key));
}

export interface CellOutcome {
  key: string;
  status: 'DONE' | 'FAILED' | 'SKIPPED';
  runId?: string;
  error?: string;
}

/** Trains one cell (resuming `resumeRunId` from its last checkpoint when given) and returns its run id and status. */
export type RunCell = (
  cell: GridCellPlan,
  onRunCreated: (runId: string) => Promise<void>,
  resumeRunId?: string,
) => Promise<{ runId: string; status: string; error?: string }>;

/** The killed run a claimed cell should continue: same config, and a checkpoint to continue from. */
async function runToResume(store: TrackingStore, cell: GridCellPlan): Promise<string | undefined> {
  const runId = (await store.gridCells(cell.grid)).find((c) => c.key === cell.key)?.runId;
  if (!runId) return undefined;
  const run = await store.getRun(runId);
  if (run?.status !== 'KILLED' || run.configDigest !== cell.digest) return undefined;
  return (await store.latestArtifact(runId, 'checkpoint')) ? runId : undefined;
}

/**
 * Runs the grid's missing cells: registers every cell, then claims them one by one; a cell another worker
 * holds or has finished is skipped. A cell whose run was killed (Ctrl-C, a lost worker) continues that run
 * from its last checkpoint, under the same id; one killed before its first checkpoint starts again.
 */
export async function runGrid(
  store: TrackingStore,
  cells: GridCellPlan[],
  worker: string,
  runCell: RunCell,
  opts: { retryFailed?: boolean; onCell?: (cell: GridCellPlan, index: number, resumeRunId?: string) => void } = {},
): Promise<CellOutcome[]> {
  if (!cells.length) return [];
  const grid = cells[0].grid;
  await store.registerCells(grid, cells.map((c) => ({ key: c.key, digest: c.digest })));
  const outcomes: CellOutcome[] = [];
  for (const [i, cell] of cells.entries()) {
    if (!(await store.claimCell(grid, cell.key, worker, { digest: cell.digest, retryFailed: opts.retryFailed }))) {
      outcomes.push({ key: cell.key, status: 'SKIPPED' });
      continue;
    }
    const resumeRunId = await runToResume(store, cell);
    opts.onCell?.(cell, i, resumeRunId);
    try {
      const r = await runCell(cell, (runId) => store.updateCell(grid, cell.key, { runId }), resumeRunId);
      const ok = r.status === 'FINISHED';
      const error = ok ? undefined : (r.error ?? r.status);
      await store.updateCell(grid, cell.key, { status: ok ? 'DONE' : 'FAILED', runId: r.runId, error: error ?? null });
      outcomes.push({ key: cell.key, status: ok ? 'DONE' : 'FAILED', runId: r.runId, error });
    } catch (e) {
      const msg = (e as Error).message;
      await store.updateCell(grid, cell.key, { status: 'FAILED', error: msg });
      outcomes.push({ key: cell.key, status: 'FAILED', error: msg });
    }
  }
  return outcomes;
}

export const gridNameOf = (file: string) => basename(file).replace(/\.json$/, '');
