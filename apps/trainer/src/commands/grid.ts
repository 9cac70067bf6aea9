import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import type { CommandModule } from 'yargs';
import { cellsOnOtherDataset, changedCells, GridChangedError, resetCellsOnOtherDataset, type CellOnOtherDataset, type Dataset, MAX_FOLDS, MAX_REPLICATES, parseGridSelection, planGrid, previewGridPass, slowOnCpuReason, type CellPlanPreview, readGridFile, runGrid, selectRows, trainRun, type GridCellPlan } from '@anatomynet/training';
import type { TrackingStore } from '@anatomynet/tracking';
import { checkDataset, gitCommit, makeOutputFolder, killRunOnSignal, openStore, runsDirOf, startBackend, trainProgress, withBackendOption, withStoreOptions, type GpuArgs, type StoreArgs } from '../common';
import { checkRecompute, recomputeOption, type Recompute } from '@anatomynet/model';

interface GridArgs extends GpuArgs, StoreArgs {
  files: string[];
  profile: string;
  dataset: string;
  worker?: string;
  workers: number;
  retryFailed: boolean;
  retrainOtherDataset: boolean;
  folds: number;
  reuse: boolean;
  dryRun: boolean;
  replicates: number;
  backend?: string;
  threads?: number;
  recompute?: boolean;
  keepSegments?: string;
}

/** The line each worker prints once it can claim cells; `--workers N` waits for it from the workers it starts. */
const readyLine = (worker: string, backend: string, threads: number | undefined) =>
  `worker ${worker} ready: ${backend} backend${threads ? `, ${threads} thread(s)` : ''}`;
const READY = /^worker \S+ ready: /;
/** Set in the environment of the workers `--workers N` starts, which leave the warnings to the first. */
const EXTRA_WORKER_ENV = 'ANATOMYNET_EXTRA_GRID_WORKER';

interface ExtraWorker {
  child: ChildProcess;
  /** Resolves when the worker printed its ready line, or exited before that. */
  ready: Promise<void>;
}

/**
 * The other workers of `--workers N`: this same command, once per extra worker, with its own name and its
 * share of the cores. Their output comes through line by line, tagged with the worker.
 */
function startExtraWorkers(a: GridArgs, name: string, threads: number): ExtraWorker[] {
  const passOn: string[] = [];
  for (let i = 2; i < process.argv.length; i++) {
    const arg = process.argv[i];
    if (/^--(workers|worker|threads)$/.test(arg)) i++;
    else if (!/^--(workers|worker|threads)=/.test(arg)) passOn.push(arg);
  }
  return Array.from({ length: a.workers - 1 }, (_, k) => {
    const tag = `${name}/${k + 2}`;
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...passOn, '--workers', '1', '--worker', tag, '--threads', String(threads)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, [EXTRA_WORKER_ENV]: '1' },
    });
    let pending = '';
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    child.once('exit', () => markReady());
    child.stderr!.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (READY.test(line)) markReady();
        if (line.trim()) process.stderr.write(`[worker ${k + 2}] ${line.replace(/\r/g, '')}\n`);
      }
    });
    return { child, ready };
  });
}

const exitOf = (c: ChildProcess) => new Promise<number>((resolve) => (c.exitCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code ?? 1))));

export const gridCommand: CommandModule<object, GridArgs> = {
  command: 'grid <files..>',
  describe: 'Run the missing cells of one or more experiments grids; worker processes on this machine share one database (other machines keep their own: trainer merge)',
  builder: (y) =>
    withBackendOption(
      withStoreOptions(
        y
          .positional('files', { type: 'string', array: true, demandOption: true, describe: 'experiments/<grid>.json, one or more (run in this order); <grid>.json:ROW[,ROW...] runs only those rows' })
          .option('profile', { type: 'string', default: 'full', describe: 'full (the paper settings) or smoke (finishes on a 2-core CPU)' })
          .option('dataset', { type: 'string', demandOption: true, describe: 'curated dataset folder' })
          .option('workers', { type: 'number', default: 1, describe: 'worker processes on this machine, sharing the cells (and the cores)' })
          .option('worker', { type: 'string', describe: 'worker name recorded with each claimed cell (default host:pid)' })
          .option('retry-failed', { type: 'boolean', default: false, describe: 'claim FAILED cells again (killed cells are always continued)' })
          .option('replicates', {
            type: 'number',
            default: 1,
            describe: `train each row N times with different seeds (cells ROW, ROW#2 ... ROW#N; at most ${MAX_REPLICATES}): the report then shows the spread between seeds and pairs rows on their seeds' mean`,
          })
          .option('folds', {
            type: 'number',
            default: 1,
            describe: `cross-validation: train each row (and replicate) K times, once per fold of the training and validation cases by patient, each selecting its model on its own fold (cells ROW/fold1ofK ... ROW/foldKofK; K from 2 to ${MAX_FOLDS}, 1: the dataset's splits); the test split stays the test: the report groups a row's folds as its runs, --row-seeds GRID:ROW ensembles them`,
          })
          .option('dry-run', { type: 'boolean', default: false, describe: 'say what a pass would do with each cell (train, resume, reuse, done, held, failed), and run nothing' })
          .option('retrain-other-dataset', {
            type: 'boolean',
            default: false,
            describe: 'train again the DONE cells whose runs trained on another dataset than --dataset (its folder curated again, or another folder; their runs stay in the database); without it they stay DONE and are named',
          })
          .option('reuse', {
            type: 'boolean',
            default: true,
            describe: 'a cell whose config already finished on this dataset (a row shared by two grids, a train run) takes that run; --no-reuse trains it again',
          })
          .check((a) => {
            if (!Number.isInteger(a.workers) || (a.workers as number) < 1) throw new Error('--workers must be a whole number >= 1');
            return true;
          }),
      ),
    ) as any,
  handler: async (a) => {
    // Every cell's config is validated before any training starts.
    const plans = a.files.map((arg) => {
      const { file, rows } = parseGridSelection(arg);
      return selectRows(planGrid(readGridFile(file), a.profile, file, { replicates: a.replicates, folds: a.folds }), rows, file);
    });
    // --keep-segments too: the rows' models (down-sampling layers, blocks) need not share segments
    const recompute = recomputeOption(a.recompute, a.keepSegments);
    for (const cell of plans.flat()) {
      try {
        checkRecompute(cell.config.model, recompute);
      } catch (e) {
        throw new Error(`--keep-segments: ${cell.grid} row ${cell.key}: ${(e as Error).message}`);
      }
    }
    const dataset = checkDataset(a.dataset);
    const datasetDigest = dataset.manifestDigest;
    if (a.dryRun) return dryRun(a, plans.flat(), a.reuse ? datasetDigest : undefined, dataset);
    makeOutputFolder(runsDirOf(a), '--runs');
    const worker = a.worker ?? `${hostname()}:${process.pid}`;
    const threads = a.threads ?? (a.workers > 1 ? Math.max(1, Math.floor(availableParallelism() / a.workers)) : undefined);
    // The database exists (created here, once) before the other workers open it.
    const store = openStore(a.db, { create: true });
    const changed = await changedCells(store, plans.flat());
    if (changed.length) {
      await store.close();
      throw new GridChangedError(a.db, changed);
    }
    // before any other worker claims: cells whose runs trained on another dataset are named, or made PENDING
    if (!process.env[EXTRA_WORKER_ENV]) {
      const stale = await cellsOnOtherDataset(store, plans.flat(), datasetDigest);
      if (stale.length && a.retrainOtherDataset) await resetCellsOnOtherDataset(store, stale);
      if (stale.length) process.stderr.write(`${otherDatasetNote(stale, dataset, a.retrainOtherDataset)}\n`);
    }
    // The other workers start first and load while this one does; all begin claiming cells together, so
    // a short grid is shared too instead of being done by this worker before the others are up.
    const extra = a.workers > 1 ? startExtraWorkers(a, worker, threads ?? 1) : [];
    // A SIGTERM to this process alone must stop the workers it started too (Ctrl-C reaches them all anyway).
    const forward = (signal: NodeJS.Signals) => extra.forEach(({ child }) => child.exitCode === null && child.kill(signal));
    process.on('SIGINT', forward).on('SIGTERM', forward);
    const backend = await startBackend(a.backend, threads, a).catch((error) => {
      forward('SIGTERM');
      throw error;
    });
    // once, from the first worker: the cells' configs that would take days here
    const slow = process.env[EXTRA_WORKER_ENV] ? [] : plans.flat().filter((c) => slowOnCpuReason(c.config, backend.name));
    if (slow.length) process.stderr.write(`warning: ${slow.length} cell(s) (${slow.map((c) => `${c.grid} ${c.key}`).slice(0, 3).join(', ')}${slow.length > 3 ? ', ...' : ''}): ${slowOnCpuReason(slow[0].config, backend.name)}\n`);
    process.stderr.write(`${readyLine(worker, backend.name, threads)}\n`);
    await Promise.all(extra.map((w) => w.ready));
    let current: { runId?: string; cell?: GridCellPlan } = {};
    const stopSignals = killRunOnSignal(() => ({
      runId: current.runId,
      store,
      resumeHint: 'run this grid command again to continue it',
      onKilled: (error) => (current.cell ? store.updateCell(current.cell.grid, current.cell.key, { status: 'FAILED', error }) : Promise.resolve()),
    }));
    const summaries = [];
    for (const cells of plans) summaries.push(await runOneGrid(store, cells, worker, a, recompute, backend, a.reuse ? datasetDigest : undefined, (c) => (current = c)));
    stopSignals();
    await store.close();
    const childCodes = await Promise.all(extra.map(({ child }) => exitOf(child)));
    for (const s of summaries) console.log(JSON.stringify(s));
    if (summaries.some((s) => s.failed) || childCodes.some((c) => c !== 0)) process.exitCode = 1;
  },
};

/**
 * What a pass does with DONE cells whose runs trained on another dataset (this folder's earlier version,
 * or another folder): leaves them, so their rows are compared with rows trained on this one, or (asked)
 * trains them again.
 */
function otherDatasetNote(stale: readonly CellOnOtherDataset[], ds: Dataset, retrain: boolean, dryRun = false): string {
  const p = ds.manifest.previous;
  const which = (digest: string) => (p?.manifestDigest === digest ? `version ${p.version}, which version ${ds.manifest.version} replaced` : `manifest ${digest.slice(0, 12)}`);
  const cells = stale.map((s) => `${s.cell.grid} ${s.cell.key} (run ${s.runId}, ${which(s.datasetDigest)})`);
  const listed = `${cells.slice(0, 5).join('; ')}${cells.length > 5 ? `; and ${cells.length - 5} more` : ''}`;
  return retrain
    ? `${stale.length} cell(s) trained on another dataset ${dryRun ? 'would be' : 'are'} trained again on ${ds.dir} (their runs stay in the database): ${listed}`
    : `warning: ${stale.length} DONE cell(s) trained on another dataset than ${ds.dir} (manifest ${ds.manifestDigest.slice(0, 12)}) stay as they are, so their rows will be compared with rows trained on this one: ${listed}. --retrain-other-dataset trains them again on this dataset`;
}

/** `--dry-run`: each cell's fate in a pass now, from the database as it is (created by nothing). */
async function dryRun(a: GridArgs, cells: GridCellPlan[], reuseOn: string | undefined, dataset: Dataset) {
  let preview: CellPlanPreview[];
  if (existsSync(a.db)) {
    const store = openStore(a.db);
    try {
      const changed = await changedCells(store, cells);
      if (changed.length) throw new GridChangedError(a.db, changed);
      preview = await previewGridPass(store, cells, { retryFailed: a.retryFailed, reuseOn });
      const stale = await cellsOnOtherDataset(store, cells, dataset.manifestDigest);
      if (stale.length) {
        console.error(otherDatasetNote(stale, dataset, a.retrainOtherDataset, true));
        // the flag makes them PENDING first: previewed as trained anew
        const again = new Set(a.retrainOtherDataset ? stale.map((s) => `${s.cell.grid}\u0000${s.cell.key}`) : []);
        preview = preview.map((p) => (again.has(`${p.grid}\u0000${p.key}`) ? { grid: p.grid, key: p.key, action: 'train', detail: `trained on another dataset as run ${p.runId}` } : p));
      }
    } finally {
      await store.close();
    }
  } else {
    preview = cells.map((c) => ({ grid: c.grid, key: c.key, action: 'train' }));
  }
  for (const p of preview) console.error(`${p.grid} ${p.key}: ${p.action}${p.runId ? ` ${p.runId}` : ''}${p.detail ? ` (${p.detail})` : ''}`);
  const count = (action: string) => preview.filter((p) => p.action === action).length;
  console.error(`dry run: ${count('train')} to train, ${count('resume')} to resume, ${count('reuse')} to reuse, ${count('done')} done; nothing was run`);
  console.log(JSON.stringify(preview));
}

async function runOneGrid(
  store: TrackingStore,
  cells: GridCellPlan[],
  worker: string,
  a: GridArgs,
  recompute: Recompute,
  backend: Awaited<ReturnType<typeof startBackend>>,
  reuseOn: string | undefined,
  setCurrent: (c: { runId?: string; cell?: GridCellPlan }) => void,
) {
  const outcomes = await runGrid(
    store,
    cells,
    worker,
    async (cell, attach, resumeRunId) => {
      setCurrent({ cell });
      const progress = trainProgress(`${cell.grid} ${cell.key}`);
      const r = await trainRun({
        config: cell.config,
        datasetDir: a.dataset,
        store,
        experiment: cell.grid,
        runName: cell.key,
        runsDir: runsDirOf(a),
        keepCheckpoints: a.keepCheckpoints,
        resumeRunId,
        recompute,
        backend,
        gitCommit: gitCommit(),
        onRunCreated: (id) => {
          setCurrent({ cell, runId: id });
          void attach(id);
        },
        onProgress: (p) => progress.onProgress(p),
        onWarning: (m) => progress.log(`warning: ${m}`),
      });
      progress.finish(`${r.status}${Number.isFinite(r.testDice) ? ` test Dice ${r.testDice.toFixed(3)}` : ''}${r.testContoursFlagged ? `, ${r.testContoursFlagged} test contours flagged` : ''}${r.error ? `: ${r.error}` : ''}`);
      setCurrent({});
      return r;
    },
    {
      retryFailed: a.retryFailed,
      reuseOn,
      onCell: (cell, i, resumeRunId) =>
        process.stderr.write(`cell ${i + 1}/${cells.length}: ${cell.grid} ${cell.key} (${cell.label})${resumeRunId ? `, continuing killed run ${resumeRunId}` : ''}\n`),
      onReuse: (cell, i, run) =>
        process.stderr.write(
          `cell ${i + 1}/${cells.length}: ${cell.grid} ${cell.key} (${cell.label}): done, the same config finished on this dataset as run ${run.id} (${run.experiment} ${run.name}); --no-reuse trains it again\n`,
        ),
    },
  );
  const count = (s: string) => outcomes.filter((o) => o.status === s).length;
  await reportSilentClaims(store, a.db, cells[0]?.grid, outcomes.filter((o) => o.status === 'SKIPPED').map((o) => o.key));
  return { grid: cells[0]?.grid, done: count('DONE'), reused: count('REUSED'), failed: count('FAILED'), skipped: count('SKIPPED'), cells: outcomes };
}

/** A claim this quiet is worth a word: a working run beats its heartbeat every minute (libs/training heartbeat.ts). */
const SILENT_MS = 30 * 60_000;

/**
 * Cells skipped because another worker holds them, whose run has not beaten for a long time (its worker
 * crashed, or its machine rebooted): they would wait forever, and nothing else says so.
 */
async function reportSilentClaims(store: TrackingStore, db: string, grid: string | undefined, skipped: string[]) {
  if (!grid || !skipped.length) return;
  const now = Date.now();
  for (const c of (await store.gridCells(grid)).filter((x) => x.status === 'CLAIMED' && skipped.includes(x.key))) {
    const run = c.runId ? await store.getRun(c.runId) : undefined;
    const last = run?.heartbeatTime ?? c.claimedAt ?? now;
    if (now - last < SILENT_MS) continue;
    const minutes = Math.floor((now - last) / 60_000);
    process.stderr.write(
      `cell ${grid} ${c.key}: held by worker ${c.claimedBy}${run ? `, run ${run.id}` : ''}, silent for ${minutes} min; if that worker is gone, \`trainer status --db ${db} --stale-minutes ${minutes}\` frees the cell and the next grid pass continues it\n`,
    );
  }
}
