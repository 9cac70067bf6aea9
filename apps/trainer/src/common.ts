/** What the trainer's commands share: backend and database options, git commit, signal handling. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { capGpuBufferPool, limitGpuMemory, loadTunedTilings, parseTunedTilings, registerCpuKernels, selectBackend, useBestFitGpuBuffers, type BackendChoice } from '@anatomynet/compute';
import { cellsByRow, openSqliteStore } from '@anatomynet/tracking';
import { createProgressBar } from '@anatomynet/cli';
import { DEFAULT_TILE_OVERLAP, MIN_TILE_VOXELS, parseTileSize, loadRunEnsemble, mirrorRefusal, openDataset, resolveRunConfig, RunConfigError, type Dataset, type RunConfig, type TileOptions, type TrainProgress } from '@anatomynet/training';

export interface StoreArgs {
  db: string;
  runs?: string;
  keepCheckpoints: number;
}

export function withStoreOptions<T>(y: Argv<T>) {
  return y
    .option('db', { type: 'string', demandOption: true, describe: 'tracking database (SQLite file; created if missing; not on a network file system)' })
    .option('runs', { type: 'string', describe: 'folder for run folders (default: <db folder>/runs)' })
    .option('keep-checkpoints', {
      type: 'number',
      default: 2,
      describe: "epoch checkpoints kept in each run folder, the latest (0: every epoch's; about 10 MB each for the paper's network); best/ is kept apart",
    })
    .check((a) => (Number.isInteger(a.keepCheckpoints) && (a.keepCheckpoints as number) >= 0 ? true : `--keep-checkpoints ${a.keepCheckpoints}: give a whole number, 0 or more`));
}

export function withBackendOption<T>(y: Argv<T>) {
  return y
    .option('backend', {
      type: 'string',
      choices: ['tensorflow', 'webgpu', 'wasm', 'cpu'],
      describe: 'compute backend (default: the best available; env ANATOMYNET_BACKEND also sets it)',
    })
    .option('threads', { type: 'number', describe: 'cpu backend: convolution threads (default: all cores)' })
    .option('recompute', {
      type: 'boolean',
      default: false,
      describe: 'run each block again in the backward pass instead of keeping its activations: a fraction of the memory for about a third more compute (whole volumes on a GPU: a 178x302x225 step of the reference network allocates at most 14.2 GB with it, 18.3 GB without, npm run bench:memory)',
    })
    .option('keep-segments', {
      type: 'string',
      describe: 'with --recompute: the segments (blocks enc0.b0 ... dec0.b0, output convs out) not recomputed, comma-separated: their activations kept, for speed. At 178x302x225 keeping out,dec0.b0,dec1.b0,dec2.b0 allocates no more than recomputing all (npm run bench:memory)',
    })
    .option('gpu-pool-gb', {
      type: 'number',
      describe: 'webgpu: keep at most this many GiB of freed GPU buffers for reuse (default: no cap). At 0 only live tensors hold memory (a 178x302x225 --recompute step: 9.5 GB, npm run bench:memory) but every buffer is created anew: 2.3 s a step against 0.93 s on an H100',
    })
    .option('gpu-memory-gb', {
      type: 'number',
      describe: 'webgpu: keep what is allocated on the GPU (live tensors and freed buffers kept for reuse) within this many GB (10^9 bytes) where the live tensors allow: before a buffer is created past it, the largest freed buffers are destroyed (default: no limit). A 178x302x225 step without --recompute allocates at most 18.3 GB for 16.2 GB of live tensors; with --gpu-memory-gb 17, 16.9 GB, creating no buffer again once settled; at 16.5, 80 buffers (4.2 GB) a step (npm run bench:memory --budget-gb, H100 tilings)',
    })
    .option('gpu-best-fit', {
      type: 'boolean',
      default: true,
      describe: 'webgpu: a request of 1 MiB or more with no freed buffer of its size takes one up to twice as large: a 178x302x225 --recompute step allocates at most 14.2 GB instead of 26.1 GB (npm run bench:memory; --no-gpu-best-fit: tfjs\'s exact sizes)',
    })
    .option('gpu-tilings', {
      type: 'string',
      describe: 'webgpu: conv kernels tuned on this GPU, a JSON file from `trainer tune-gpu --out FILE` (or the GPU bench\'s --save-tilings; cuDNN\'s benchmark mode, kept): each conv class it lists runs its tuned kernel (GEMM tiling, direct, Winograd), the rest the defaults. Recorded with the run',
    })
    .check((a) => (a.keepSegments !== undefined && !a.recompute ? '--keep-segments goes with --recompute (it names the segments not recomputed)' : true))
    .check((a) => (a.threads === undefined || (Number.isInteger(a.threads) && (a.threads as number) >= 1) ? true : `--threads ${a.threads}: give a whole number of threads, 1 or more`));
}

export const runsDirOf = (a: StoreArgs) => resolve(a.runs ?? join(dirname(resolve(a.db)), 'runs'));

/**
 * `--run ID --db FILE` or `--model RUN_FOLDER`: which trained model a command uses; several (either
 * option repeated, or both) make an ensemble whose class probabilities are averaged (see {@link modelFoldersOf}).
 */
export function withModelOptions<T>(y: Argv<T>) {
  return y
    .option('run', { type: 'string', array: true, describe: 'run id in --db whose best checkpoint to use; repeat for an ensemble (e.g. a grid row\'s seed replicates)' })
    .option('db', { type: 'string', describe: 'tracking database (with --run)' })
    .option('model', { type: 'string', array: true, describe: 'a run folder (holding run-config.json and best/), instead of --run; repeat for an ensemble' })
    .option('row-seeds', { type: 'string', describe: 'GRID:ROW (e.g. fig3-pooling@full:pool1): every finished run of a grid row (its seed replicates, grid --replicates, and cross-validation folds, grid --folds), as an ensemble; with --db' })
    .option('mirror', {
      type: 'boolean',
      default: false,
      describe: "test-time mirroring: average each model's class probabilities with its view of the left-right mirrored CT (mirrored back, left and right organs swapped); twice the time; for models trained with left-right flips (data.augment.flipLR)",
    })
    .option('tile', {
      type: 'string',
      describe: 'sliding-window inference over tiles of N (or X,Y,Z) voxels of the network grid, blended with Gaussian weights, where the volume is larger: memory follows the tile (default: the whole volume at once, as the paper)',
    })
    .option('tile-overlap', { type: 'number', default: DEFAULT_TILE_OVERLAP, describe: 'with --tile, the share of a tile its neighbours overlap, in [0, 1)' })
    .check((a) => {
      const tile = a.tile as string | undefined, overlap = a.tileOverlap as number;
      if (tile !== undefined && !parseTileSize(tile)) return `--tile ${tile}: give N or X,Y,Z, whole numbers of voxels of at least ${MIN_TILE_VOXELS}`;
      return overlap >= 0 && overlap < 1 ? true : `--tile-overlap ${overlap} is not in [0, 1)`;
    })
    .check((a) => {
      const runs = (a.run as string[] | undefined) ?? [], models = (a.model as string[] | undefined) ?? [];
      if (!runs.length && !models.length && !a.rowSeeds) return 'give --model RUN_FOLDER, or --run RUN_ID (or --row-seeds GRID:ROW) with --db FILE';
      if (a.rowSeeds !== undefined && !/^[^:]+:[^:#]+$/.test(a.rowSeeds as string)) return `--row-seeds ${a.rowSeeds}: write GRID:ROW, e.g. fig3-pooling@full:pool1`;
      return (runs.length || a.rowSeeds) && !a.db ? '--run and --row-seeds need --db FILE (the tracking database holding the runs)' : true;
    });
}

/** `--tile` and `--tile-overlap` as the predictor's tile (undefined: whole volumes). */
export function tileOptionsOf(a: { tile?: string; tileOverlap?: number }): TileOptions | undefined {
  const size = a.tile === undefined ? null : parseTileSize(a.tile);
  return size ? { size, overlap: a.tileOverlap ?? DEFAULT_TILE_OVERLAP } : undefined;
}

/**
 * The run folders whose best/ models to use: each `--model DIR`, then each `--run ID` looked up in `--db`,
 * then the finished seed replicates and folds of `--row-seeds GRID:ROW`.
 */
export async function modelFoldersOf(a: { model?: string[]; run?: string[]; rowSeeds?: string; db?: string }): Promise<string[]> {
  const folders = [...(a.model ?? [])];
  if (!a.run?.length && !a.rowSeeds) return folders;
  const store = openStore(a.db!);
  try {
    const ids = [...(a.run ?? [])];
    if (a.rowSeeds) {
      const [grid, row] = a.rowSeeds.split(':') as [string, string];
      const grids = await store.listGrids();
      if (!grids.includes(grid)) throw new Error(`--row-seeds ${a.rowSeeds}: ${a.db} has no grid ${grid} (grids: ${grids.join(', ') || 'none'})`);
      const rows = cellsByRow(await store.gridCells(grid));
      const seeds = (rows.get(row) ?? []).filter((c) => c.status === 'DONE' && c.runId);
      if (!seeds.length) throw new Error(`--row-seeds ${a.rowSeeds}: no finished cell of row ${row} in ${grid} (rows: ${[...rows.keys()].join(', ')})`);
      ids.push(...seeds.map((c) => c.runId!));
    }
    for (const id of ids) {
      const run = await store.getRun(id);
      if (!run) throw new Error(`${a.db}: no run ${id}`);
      if (!run.runDir) throw new Error(`run ${id} has no run folder recorded`);
      if (run.status !== 'FINISHED') console.error(`warning: run ${run.id} is ${run.status}, not FINISHED: its best checkpoint so far is used`);
      folders.push(run.runDir);
    }
  } finally {
    await store.close();
  }
  return folders;
}

/**
 * The trained models of `runDirs` (several: an ensemble), refused before any work when `--mirror` is
 * asked of a model trained without left-right flips.
 */
export function loadModelsOf(runDirs: string[], mirror: boolean): ReturnType<typeof loadRunEnsemble> {
  const ensemble = loadRunEnsemble(runDirs);
  const refusal = mirror ? mirrorRefusal(ensemble.configs, runDirs) : undefined;
  if (refusal) {
    for (const m of ensemble.models) m.dispose();
    throw new Error(refusal);
  }
  if (runDirs.length > 1) console.error(`ensemble of ${runDirs.length} models (class probabilities averaged): ${runDirs.join(', ')}`);
  if (mirror) console.error("test-time mirroring: each model's view of the left-right mirrored CT is averaged in (twice the time)");
  return ensemble;
}

/** Makes the output folder `path` (of `option`) before any work, refusing a file in its place. */
export function makeOutputFolder(path: string, option: string): void {
  if (existsSync(path) && !statSync(path).isDirectory()) throw new Error(`${option} ${path}: a file is there; give a folder`);
  mkdirSync(path, { recursive: true });
}

/**
 * Opens the tracking database. Commands that record runs (`create`) make the file and its folder when
 * missing; commands that only read it refuse a path with no database (a typo would otherwise create one).
 */
export function openStore(db: string, o: { create?: boolean } = {}) {
  const path = resolve(db);
  if (o.create) mkdirSync(dirname(path), { recursive: true });
  else if (!existsSync(path)) throw new Error(`${db}: no tracking database there`);
  return openSqliteStore(path);
}

/** The GPU options of {@link withBackendOption}. */
export interface GpuArgs {
  gpuPoolGb?: number;
  gpuMemoryGb?: number;
  gpuBestFit?: boolean;
  gpuTilings?: string;
}

/** The tuned kernels of `file` loaded for the webgpu backend; returns what the run records of them. */
function loadGpuTilings(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--gpu-tilings ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); write one with trainer tune-gpu --config RUN.json --out ${file}`);
  }
  const table = parseTunedTilings(text, `--gpu-tilings ${file}`);
  loadTunedTilings(table);
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 12);
  return `${basename(file)} (sha256 ${digest}, ${Object.keys(table).length} conv passes)`;
}

export async function startBackend(
  prefer?: string, threads?: number, gpu: GpuArgs = {},
): Promise<{ name: string; adapter?: string; gpuTilings?: string; choice: BackendChoice }> {
  const { gpuPoolGb, gpuMemoryGb, gpuBestFit = true } = gpu;
  if (gpuPoolGb !== undefined && !(gpuPoolGb >= 0)) throw new Error(`--gpu-pool-gb ${gpuPoolGb}: give a number of GiB, 0 or more`);
  if (gpuMemoryGb !== undefined && !(gpuMemoryGb > 0)) throw new Error(`--gpu-memory-gb ${gpuMemoryGb}: give a positive number of GB`);
  const choice = await selectBackend({ prefer: prefer as BackendChoice['backend'] | undefined });
  if (choice.backend === 'webgpu' && gpuPoolGb !== undefined) capGpuBufferPool(gpuPoolGb * 2 ** 30);
  if (choice.backend === 'webgpu') {
    useBestFitGpuBuffers(gpuBestFit);
    limitGpuMemory(gpuMemoryGb === undefined ? undefined : gpuMemoryGb * 1e9);
  }
  let gpuTilings: string | undefined;
  if (gpu.gpuTilings !== undefined) {
    if (choice.backend === 'webgpu') gpuTilings = loadGpuTilings(gpu.gpuTilings);
    else process.stderr.write(`--gpu-tilings ${gpu.gpuTilings}: not used, the backend is ${choice.backend}\n`);
  }
  // Parallel grid workers share the cores: each one's convolution thread pool gets its share.
  if (choice.backend === 'cpu' && threads) registerCpuKernels({ threads });
  const a = choice.adapter;
  return { name: choice.backend, adapter: a ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') : undefined, gpuTilings, choice };
}

/**
 * Opens `--dataset` before a database or a run is made of it (a wrong folder is one error, not a failed
 * run per grid cell), and says what an empty split means for the runs.
 */
export function checkDataset(dir: string): Dataset {
  const ds = checkDatasetFiles(dir);
  if (!ds.splits.validation.length) process.stderr.write(`warning: ${dir} has no validation cases: nothing to select a model by, each run's best/ is its last epoch's model\n`);
  if (!ds.splits.test.length) process.stderr.write(`warning: ${dir} has no test cases: runs end without a test evaluation\n`);
  const flagged = flaggedBySplit(ds);
  if (flagged) process.stderr.write(`warning: ${dir}: the curator's annotation checks flagged cases (${flagged}; DATASHEET.md, Annotation checks): runs learn from, are selected by and tested on those labels as they are; a names file section per case answers them (curator curate --names)\n`);
  return ds;
}

/** The cases of each split the curator's annotation checks flagged, as "train: hn_0007, ..." (empty when none). */
function flaggedBySplit(ds: Dataset): string {
  const flagged = new Set((ds.manifest.annotationFindings ?? []).map((f) => f.caseId));
  return (['train', 'validation', 'test'] as const)
    .map((s) => [s, ds.splits[s].filter((id) => flagged.has(id))] as const)
    .filter(([, ids]) => ids.length)
    .map(([s, ids]) => `${s}: ${fewIds(ids)}`)
    .join('; ');
}

/** Opens `--dataset`, refusing one whose split cases lost image or label files since curation (all named). */
export function checkDatasetFiles(dir: string): Dataset {
  const ds = openDataset(dir);
  const { splits, cases } = ds;
  // a file gone since curation fails its run minutes in; name them all now
  const ids = [...splits.train, ...splits.validation, ...splits.test];
  const missing = ids.flatMap((id) => {
    const rec = cases.get(id);
    return rec ? [rec.image, rec.label].filter((f) => !existsSync(join(dir, f))) : [`a manifest case for split id ${id}`];
  });
  if (missing.length) {
    throw new Error(`${dir}: ${missing.length} file(s) of the splits are missing (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); npm run curator -- validate ${dir} lists what is wrong; curate again to repair it`);
  }
  return ds;
}

/** The checkout's commit (with "+dirty" when files changed), or undefined outside git. */
export function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

/** A progress bar for one run: steps with loss, ETA, and the last validation Dice. */
export function trainProgress(title: string) {
  const bar = createProgressBar(title);
  let val = '';
  return {
    onProgress(p: TrainProgress) {
      if (p.valDice !== undefined) val = ` val Dice ${Number.isFinite(p.valDice) ? p.valDice.toFixed(3) : 'n/a'}`;
      bar.update(p.step, p.totalSteps, `epoch ${p.epoch + 1}/${p.epochs} ${p.phase} loss ${p.loss.toFixed(4)}${val}`);
    },
    finish: (note?: string) => bar.finish(note),
    log: (m: string) => bar.log(m),
  };
}

/**
 * On Ctrl-C or SIGTERM, the run in flight is marked KILLED (its last checkpoint stays) before exiting,
 * so `--resume RUN_ID` can continue it. Returns a function that removes the handlers.
 */
export function killRunOnSignal(current: () => { runId?: string; store: { endRun: (id: string, s: 'KILLED', e: { error: string }) => Promise<unknown> }; onKilled?: (error: string) => Promise<unknown>; resumeHint?: string }): () => void {
  const handler = (signal: NodeJS.Signals) => {
    const { runId, store, onKilled, resumeHint } = current();
    const exit = () => process.exit(signal === 'SIGINT' ? 130 : 143);
    if (!runId) return exit();
    const error = `interrupted by ${signal}`;
    process.stderr.write(`\n${signal}: marking run ${runId} KILLED; ${resumeHint ?? `continue it with --resume ${runId}`}\n`);
    store.endRun(runId, 'KILLED', { error }).then(() => onKilled?.(error)).then(exit, exit);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** A run config JSON file, resolved against the defaults; errors name the file. */
export function readRunConfigFile(file: string): RunConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read JSON (${(e as Error).message})`);
  }
  try {
    return resolveRunConfig(raw);
  } catch (e) {
    // The message names the field; the file is named here, as for grid files.
    if (e instanceof RunConfigError) throw new Error(`${file}: ${e.message}`);
    throw e;
  }
}

/** Ids for a line of output: all of a few, else the first `n` and how many more (files list them all). */
export const fewIds = (ids: readonly string[], n = 8): string => (ids.length <= n ? ids.join(' ') : `${ids.slice(0, n).join(' ')} and ${ids.length - n} more`);
