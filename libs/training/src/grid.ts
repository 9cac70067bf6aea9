/**
 * Ablation grids as data (experiments/*.json): a base run config, profiles (`full` = the paper's settings,
 * `smoke` = what finishes on a 2-core CPU) and rows that override a few fields. Cells are claimed
 * atomically in the tracking store, so several worker processes can share one grid; a failed cell is
 * recorded with its error and the others go on; a second run of a finished grid does nothing, and a
 * config that already finished on the dataset is not trained again.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { cellClaimable, cellKey, type CellFold, type GridCell, type Run, type RunStatus, type TrackingStore } from '@anatomynet/tracking';
import { deriveSeed } from '@anatomynet/random';
import { configChanges, MAX_FOLDS, mergeConfig, resolveRunConfig, runConfigDigest, RunConfigError, type RunConfig } from './run-config';

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
  /** The row the report compares the others with, case by case (the paper's configuration); default the first. */
  reference?: string;
  base: Record<string, unknown>;
  profiles: Record<string, Record<string, unknown>>;
  rows: GridRow[];
}

export interface GridCellPlan {
  /** Grid name in the store: `<name>@<profile>`. */
  grid: string;
  /** The row's key, `<row>#<replicate>` for a replicate with another seed, `/fold<i>of<k>` after it for a fold (libs/tracking cell-keys.ts). */
  key: string;
  /** The grid row this cell trains. */
  row: string;
  /** 1 for the row's own seed, 2... for the replicates `--replicates` adds. */
  replicate: number;
  /** The cross-validation fold this cell trains (`--folds`), absent for the dataset's own splits. */
  fold?: CellFold;
  label: string;
  config: RunConfig;
  digest: string;
}

/** The most seed replicates of a row a grid pass plans. */
export const MAX_REPLICATES = 20;

/**
 * The seed of a row's replicate: the row's own for the first, then streams derived from it, so each
 * replicate measures the same configuration trained again (initial weights, case order, crops and
 * augmentation drawn anew; the data split is the dataset's and does not change).
 */
export const replicateSeed = (seed: number, replicate: number) => (replicate === 1 ? seed : deriveSeed(seed, 0x5eed, replicate));

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
  if (g.reference !== undefined && !keys.has(g.reference)) throw new GridFileError(file, `"reference" ${JSON.stringify(g.reference)} is not a row key (rows: ${[...keys].join(', ')})`);
  return g;
}

/**
 * Resolves every cell of a profile, validating each config before any training starts. With
 * `replicates` > 1, each row also has replicates 2..N: the same config with other seeds, so the report
 * can tell a configuration's effect from the spread of training it again. With `folds` K > 1, each
 * row (and replicate) is K cells instead, one per cross-validation fold of the training and validation
 * cases (`data.fold`; the test split stays the test split), as nnU-Net trains its five folds: each fold's
 * model selected on its own fold, the K models a natural ensemble.
 */
export function planGrid(g: GridFile, profile: string, file = `${g.name}.json`, opts: { replicates?: number; folds?: number } = {}): GridCellPlan[] {
  const p = g.profiles[profile];
  if (!p) throw new GridFileError(file, `no profile "${profile}" (profiles: ${Object.keys(g.profiles).join(', ')})`);
  const replicates = opts.replicates ?? 1;
  if (!Number.isInteger(replicates) || replicates < 1 || replicates > MAX_REPLICATES) {
    throw new GridFileError(file, `replicates ${replicates}: give a whole number from 1 to ${MAX_REPLICATES}`);
  }
  const k = opts.folds ?? 1;
  if (!Number.isInteger(k) || k < 1 || k > MAX_FOLDS) throw new GridFileError(file, `folds ${k}: give a whole number from 2 to ${MAX_FOLDS} (1: no cross-validation)`);
  const folds: (CellFold | undefined)[] = k === 1 ? [undefined] : Array.from({ length: k }, (_, i) => ({ index: i + 1, k }));
  const configs = g.rows.map((r) => {
    try {
      return resolveRunConfig(mergeConfig({}, g.base, p, r.override));
    } catch (e) {
      if (e instanceof RunConfigError) throw new GridFileError(file, `row "${r.key}", profile "${profile}": ${e.message}`);
      throw e;
    }
  });
  // every row's first replicate (and fold) before any row's second: each row has a result as early as it can
  return Array.from({ length: replicates }, (_, i) => i + 1).flatMap((replicate) =>
    folds.flatMap((fold) =>
      g.rows.map((r, i) => {
        const seeded = replicate === 1 ? configs[i] : { ...configs[i], seed: replicateSeed(configs[i].seed, replicate) };
        const config = fold ? { ...seeded, data: { ...seeded.data, fold } } : seeded;
        return { grid: `${g.name}@${profile}`, key: cellKey(r.key, replicate, fold), row: r.key, replicate, ...(fold ? { fold } : {}), label: r.label, config, digest: runConfigDigest(config) };
      }),
    ),
  );
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

/** The cells of the given rows, replicates included (every cell without a selection); a key the grid lacks is an error listing its rows. */
export function selectRows(cells: GridCellPlan[], rows: string[] | undefined, file: string): GridCellPlan[] {
  if (!rows) return cells;
  const unknown = rows.filter((k) => !cells.some((c) => c.row === k));
  if (unknown.length) throw new GridFileError(file, `no row ${unknown.map((k) => `"${k}"`).join(', ')} (rows: ${[...new Set(cells.map((c) => c.row))].join(', ')})`);
  return cells.filter((c) => rows.includes(c.row));
}

/** A grid file's cell whose config is not the one recorded under its key (the grid changed since it ran). */
export interface ChangedCell {
  cell: GridCellPlan;
  recordedDigest: string;
  /** The run recorded under the key, if any. */
  runId: string | null;
  /** The fields that differ from that run's config, each as `path: recorded -> now` (empty without a run). */
  changes: string[];
}

/** Each planned cell with what the store records under its key (one read per grid). */
async function withRecorded(store: TrackingStore, cells: readonly GridCellPlan[]): Promise<{ cell: GridCellPlan; recorded?: GridCell }[]> {
  const out: { cell: GridCellPlan; recorded?: GridCell }[] = [];
  for (const grid of new Set(cells.map((c) => c.grid))) {
    const recorded = new Map((await store.gridCells(grid)).map((c) => [c.key, c]));
    for (const cell of cells.filter((c) => c.grid === grid)) out.push({ cell, recorded: recorded.get(cell.key) });
  }
  return out;
}

/**
 * The cells recorded in the store under these keys with another config digest: a grid file edited after
 * its cells ran. Checked before any training, so that a week-long grid does not stop at the edited row.
 */
export async function changedCells(store: TrackingStore, cells: readonly GridCellPlan[]): Promise<ChangedCell[]> {
  const out: ChangedCell[] = [];
  for (const { cell, recorded: r } of await withRecorded(store, cells)) {
    if (!r?.digest || r.digest === cell.digest) continue;
    const run = r.runId ? await store.getRun(r.runId) : undefined;
    const changes = run ? configChanges(JSON.parse(run.configJson), cell.config) : [];
    out.push({ cell, recordedDigest: r.digest, runId: r.runId, changes });
  }
  return out;
}

/** A DONE cell whose run trained on another dataset than the one given now. */
export interface CellOnOtherDataset {
  cell: GridCellPlan;
  runId: string;
  /** The run's dataset (its manifest digest). */
  datasetDigest: string;
}

/**
 * The DONE cells whose runs trained on another dataset than `datasetDigest` (the folder curated again,
 * or another folder): a pass leaves them DONE, so their rows would be compared with rows trained on this
 * one. Said before training, and retrained on request (`resetCellsOnOtherDataset`).
 */
export async function cellsOnOtherDataset(store: TrackingStore, cells: readonly GridCellPlan[], datasetDigest: string): Promise<CellOnOtherDataset[]> {
  const out: CellOnOtherDataset[] = [];
  for (const { cell, recorded: r } of await withRecorded(store, cells)) {
    if (r?.status !== 'DONE' || !r.runId) continue;
    const run = await store.getRun(r.runId);
    if (run?.datasetDigest && run.datasetDigest !== datasetDigest) out.push({ cell, runId: run.id, datasetDigest: run.datasetDigest });
  }
  return out;
}

/** Makes those cells PENDING, to be trained on this dataset by the next claims (their old runs stay in the database). */
export async function resetCellsOnOtherDataset(store: TrackingStore, stale: readonly CellOnOtherDataset[]): Promise<void> {
  for (const s of stale) await store.updateCell(s.cell.grid, s.cell.key, { status: 'PENDING', error: null });
}

/** Grid rows whose config changed under a key that already ran; lists each, and what to do. */
export class GridChangedError extends Error {
  constructor(
    readonly db: string,
    readonly changed: ChangedCell[],
  ) {
    super(
      [
        `${db}: ${changed.length} grid cell(s) recorded with another config under the same key (the grid file changed since they ran):`,
        ...changed.map((c) => `  ${c.cell.grid} ${c.cell.key}${c.runId ? ` (run ${c.runId})` : ''}${c.changes.length ? `: ${c.changes.join(', ')}` : ''}`),
        'Give a changed row a new key (the old cell keeps its run), or use another --db.',
      ].join('\n'),
    );
    this.name = 'GridChangedError';
  }
}

export interface CellOutcome {
  key: string;
  /** REUSED: the cell is DONE with a finished run of the same config and dataset (another grid's, or a `train` run). */
  status: 'DONE' | 'FAILED' | 'SKIPPED' | 'REUSED';
  runId?: string;
  error?: string;
}

/** Trains one cell (resuming `resumeRunId` from its last checkpoint when given) and returns its run id and status. */
export type RunCell = (
  cell: GridCellPlan,
  onRunCreated: (runId: string) => Promise<void>,
  resumeRunId?: string,
) => Promise<{ runId: string; status: string; error?: string; endedElsewhere?: boolean }>;

export interface RunGridOptions {
  retryFailed?: boolean;
  /**
   * The digest of the dataset the cells train on (`manifestDigestOf`): a cell whose config a FINISHED run
   * already trained on this dataset takes that run instead of training again (the paper's default
   * configuration is a row of several figures). Without it every claimed cell trains.
   */
  reuseOn?: string;
  onCell?: (cell: GridCellPlan, index: number, resumeRunId?: string) => void;
  onReuse?: (cell: GridCellPlan, index: number, run: Run) => void;
}

/** The killed run a claimed cell should continue: same config, and a checkpoint to continue from. */
async function runToResume(store: TrackingStore, cell: GridCellPlan): Promise<string | undefined> {
  const runId = (await store.gridCells(cell.grid)).find((c) => c.key === cell.key)?.runId;
  if (!runId) return undefined;
  const run = await store.getRun(runId);
  if (run?.status !== 'KILLED' || run.configDigest !== cell.digest) return undefined;
  return (await store.latestArtifact(runId, 'checkpoint')) ? runId : undefined;
}

/** The oldest run of the cell's config on that dataset with that status, if any. */
const twinRun = async (store: TrackingStore, cell: GridCellPlan, datasetDigest: string, status: RunStatus) =>
  (await store.listRuns({ configDigest: cell.digest, datasetDigest, status }))[0];

/** What a grid pass would do with a cell, as `grid --dry-run` shows it. */
export interface CellPlanPreview {
  grid: string;
  key: string;
  /** train: a new run; resume: continue the killed run; reuse: take a finished run of the same config; wait: its config is training elsewhere. */
  action: 'train' | 'resume' | 'reuse' | 'wait' | 'done' | 'held' | 'failed';
  runId?: string;
  detail?: string;
}

/** What a worker does with a cell it has claimed (or, in a preview, could claim). */
type ClaimedCellAction = { action: 'reuse'; run: Run } | { action: 'resume'; runId: string } | { action: 'train' };

/** Reuse a finished run of the same config on the dataset, else continue the cell's killed run, else train. */
async function claimedCellAction(store: TrackingStore, cell: GridCellPlan, reuseOn: string | undefined): Promise<ClaimedCellAction> {
  const twin = reuseOn === undefined ? undefined : await twinRun(store, cell, reuseOn, 'FINISHED');
  if (twin) return { action: 'reuse', run: twin };
  const runId = await runToResume(store, cell);
  return runId ? { action: 'resume', runId } : { action: 'train' };
}

/** Whether a pass puts the cell off until its other cells are done: its config is training right now elsewhere. */
const twinTraining = async (store: TrackingStore, cell: GridCellPlan, reuseOn: string | undefined) =>
  reuseOn === undefined ? undefined : await twinRun(store, cell, reuseOn, 'RUNNING');

/**
 * Previews a pass over `cells` without claiming anything: {@link runGrid}'s decisions (the store's claim
 * rule, `cellClaimable`, and the same choice between reuse, resume and train), read from the store as it is
 * now (another worker may change them before the pass).
 */
export async function previewGridPass(store: TrackingStore, cells: readonly GridCellPlan[], opts: Pick<RunGridOptions, 'retryFailed' | 'reuseOn'> = {}): Promise<CellPlanPreview[]> {
  const out: CellPlanPreview[] = [];
  for (const { cell, recorded: r } of await withRecorded(store, cells)) {
    const at = (action: CellPlanPreview['action'], runId?: string | null, detail?: string): CellPlanPreview => ({ grid: cell.grid, key: cell.key, action, ...(runId ? { runId } : {}), ...(detail ? { detail } : {}) });
    if (!cellClaimable(r, opts.retryFailed)) {
      if (r?.status === 'DONE') out.push(at('done', r.runId));
      else if (r?.status === 'CLAIMED') out.push(at('held', r.runId, `by worker ${r.claimedBy}`));
      else out.push(at('failed', r?.runId, `${(r?.error ?? '').split('\n')[0]} (--retry-failed claims it again)`));
      continue;
    }
    const running = await twinTraining(store, cell, opts.reuseOn);
    if (running) {
      out.push(at('wait', running.id, `${running.experiment} ${running.name} is training it; after this worker's other cells, reused if finished, else trained`));
      continue;
    }
    const next = await claimedCellAction(store, cell, opts.reuseOn);
    if (next.action === 'reuse') out.push(at('reuse', next.run.id, `${next.run.experiment} ${next.run.name}`));
    else if (next.action === 'resume') out.push(at('resume', next.runId));
    else out.push(at('train'));
  }
  return out;
}

/**
 * Runs the grid's missing cells: registers every cell, then claims them one by one; a cell another worker
 * holds or has finished is skipped. A cell whose run was killed (Ctrl-C, a lost worker) continues that run
 * from its last checkpoint, under the same id; one killed before its first checkpoint starts again.
 * With `reuseOn`, a cell whose config already finished on the dataset is DONE with that run, and one whose
 * config is training right now (another worker, another grid's cell) waits until this worker's other cells
 * are done, then takes that run if it finished or trains.
 */
export async function runGrid(store: TrackingStore, cells: GridCellPlan[], worker: string, runCell: RunCell, opts: RunGridOptions = {}): Promise<CellOutcome[]> {
  if (!cells.length) return [];
  const grid = cells[0].grid;
  await store.registerCells(grid, cells.map((c) => ({ key: c.key, digest: c.digest })));
  const outcomes = new Map<number, CellOutcome>();
  const attempt = async (cell: GridCellPlan, i: number): Promise<CellOutcome> => {
    if (!(await store.claimCell(grid, cell.key, worker, { digest: cell.digest, retryFailed: opts.retryFailed }))) return { key: cell.key, status: 'SKIPPED' };
    const next = await claimedCellAction(store, cell, opts.reuseOn);
    if (next.action === 'reuse') {
      await store.updateCell(grid, cell.key, { status: 'DONE', runId: next.run.id, error: null });
      opts.onReuse?.(cell, i, next.run);
      return { key: cell.key, status: 'REUSED', runId: next.run.id };
    }
    const resumeRunId = next.action === 'resume' ? next.runId : undefined;
    opts.onCell?.(cell, i, resumeRunId);
    try {
      const r = await runCell(cell, (runId) => store.updateCell(grid, cell.key, { runId }), resumeRunId);
      const ok = r.status === 'FINISHED';
      const error = ok ? undefined : (r.error ?? r.status);
      // the sweep that ended the run freed its cell, which another worker may hold by now
      if (r.endedElsewhere) return { key: cell.key, status: 'FAILED', runId: r.runId, error };
      await store.updateCell(grid, cell.key, { status: ok ? 'DONE' : 'FAILED', runId: r.runId, error: error ?? null });
      return { key: cell.key, status: ok ? 'DONE' : 'FAILED', runId: r.runId, error };
    } catch (e) {
      const msg = (e as Error).message;
      await store.updateCell(grid, cell.key, { status: 'FAILED', error: msg });
      return { key: cell.key, status: 'FAILED', error: msg };
    }
  };
  const later: number[] = [];
  for (const [i, cell] of cells.entries()) {
    // Checked before claiming, so another worker may take the cell meanwhile.
    if (await twinTraining(store, cell, opts.reuseOn)) later.push(i);
    else outcomes.set(i, await attempt(cell, i));
  }
  for (const i of later) outcomes.set(i, await attempt(cells[i], i));
  return cells.map((_, i) => outcomes.get(i)!);
}

export const gridNameOf = (file: string) => basename(file).replace(/\.json$/, '');
