import type { CommandModule } from 'yargs';
import { MAX_FOLDS, MAX_REPLICATES, planGrid, readGridFile, resolveRunConfig, slowOnCpuReason, trainRun, type RunConfig } from '@anatomynet/training';
import { parseReplicateKey } from '@anatomynet/tracking';
import { checkDataset, gitCommit, makeOutputFolder, killRunOnSignal, openStore, readRunConfigFile, runsDirOf, startBackend, trainProgress, withBackendOption, withStoreOptions, type GpuArgs, type StoreArgs } from '../common';
import { checkRecompute, recomputeOption } from '@anatomynet/model';

interface TrainArgs extends GpuArgs, StoreArgs {
  config?: string;
  grid?: string;
  row?: string;
  profile: string;
  dataset: string;
  experiment?: string;
  name?: string;
  resume?: string;
  backend?: string;
  threads?: number;
  recompute?: boolean;
  keepSegments?: string;
}

/** The run config from --config FILE, or from one row of a grid file, or (`--resume` alone) the run's own. */
async function configOf(a: TrainArgs): Promise<{ config: RunConfig; experiment: string; name: string }> {
  if (a.resume && !a.grid && !a.config) return resumedRunConfig(a.db, a.resume);
  if (a.grid) {
    const g = readGridFile(a.grid);
    // ROW#N: the row's Nth seed replicate, as `grid --replicates` trains it; ROW/foldIofK (ROW#N/foldIofK)
    // one of its cross-validation folds, as `grid --folds K` trains them
    const { replicate, fold } = parseReplicateKey(a.row ?? '');
    const cells = planGrid(g, a.profile, a.grid, { replicates: Math.min(replicate, MAX_REPLICATES), folds: fold && fold.k <= MAX_FOLDS && fold.k > 1 ? fold.k : 1 });
    const cell = cells.find((c) => c.key === a.row);
    if (!cell) {
      throw new Error(
        `${a.grid}: no row "${a.row}" (rows: ${g.rows.map((r) => r.key).join(', ')}; ROW#N for a seed replicate, N up to ${MAX_REPLICATES}; ROW/foldIofK for a cross-validation fold, K from 2 to ${MAX_FOLDS})`,
      );
    }
    return { config: cell.config, experiment: a.experiment ?? cell.grid, name: a.name ?? cell.key };
  }
  if (!a.config) throw new Error('give --config FILE, or --grid FILE --row KEY (or --resume RUN_ID to continue a killed run)');
  const config = readRunConfigFile(a.config);
  return { config, experiment: a.experiment ?? 'default', name: a.name ?? a.config };
}

/** The config, experiment and name a run was started with, from the tracking database. */
async function resumedRunConfig(db: string, runId: string): Promise<{ config: RunConfig; experiment: string; name: string }> {
  const store = openStore(db);
  try {
    const run = await store.getRun(runId);
    if (!run) throw new Error(`--resume ${runId}: no such run in ${db} (trainer status --db ${db} lists them)`);
    return { config: resolveRunConfig(JSON.parse(run.configJson)), experiment: run.experiment, name: run.name };
  } finally {
    await store.close();
  }
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Train one tracked run (a run config file, or one row of an experiments grid)',
  builder: (y) =>
    withBackendOption(
      withStoreOptions(
        y
          .option('config', { type: 'string', describe: 'run config JSON (fields of libs/training run-config.ts; defaults are the paper settings)' })
          .option('grid', { type: 'string', describe: 'experiments/<grid>.json, with --row' })
          .option('row', { type: 'string', describe: 'row key of the grid (ROW#N: its Nth seed replicate, as grid --replicates trains it; ROW/foldIofK: its fold I of K, as grid --folds K trains it)' })
          .option('profile', { type: 'string', default: 'full', describe: 'grid profile: full (paper settings) or smoke (CPU-sized)' })
          .option('dataset', { type: 'string', demandOption: true, describe: 'curated dataset folder (curator curate --out)' })
          .option('experiment', { type: 'string', describe: 'experiment name (default: the grid, or "default")' })
          .option('name', { type: 'string', describe: 'run name' })
          .option('resume', { type: 'string', describe: "continue this KILLED run from its last checkpoint, with its own config (a --config or --grid given must be the same) on the same dataset" })
          .check((a) => (a.grid && !a.row ? 'give --row with --grid' : true)),
      ),
    ) as any,
  handler: async (a) => {
    const { config, experiment, name } = await configOf(a);
    const recompute = recomputeOption(a.recompute, a.keepSegments);
    checkRecompute(config.model, recompute);
    const backend = await startBackend(a.backend, a.threads, a);
    const slow = slowOnCpuReason(config, backend.name);
    if (slow) process.stderr.write(`warning: ${slow}\n`);
    checkDataset(a.dataset);
    makeOutputFolder(runsDirOf(a), '--runs');
    const store = openStore(a.db, { create: true });
    let runId: string | undefined = a.resume;
    const stopSignals = killRunOnSignal(() => ({ runId, store }));
    const progress = trainProgress(`train ${name}`);
    const r = await trainRun({
      config,
      datasetDir: a.dataset,
      store,
      experiment,
      runName: name,
      runsDir: runsDirOf(a),
      keepCheckpoints: a.keepCheckpoints,
      resumeRunId: a.resume,
      recompute,
      backend,
      gitCommit: gitCommit(),
      onRunCreated: (id) => {
        runId = id;
        progress.log(`run ${id}`);
      },
      onProgress: (p) => progress.onProgress(p),
      onWarning: (m) => progress.log(`warning: ${m}`),
    });
    progress.finish(r.status);
    stopSignals();
    await store.close();
    console.log(JSON.stringify({ runId: r.runId, status: r.status, bestEpoch: r.bestEpoch, bestValDice: r.bestValDice, testDice: r.testDice, testContoursFlagged: r.testContoursFlagged, error: r.error }));
    if (r.status !== 'FINISHED') process.exitCode = 1;
  },
};
