import { hostname } from 'node:os';
import type { CommandModule } from 'yargs';
import { planGrid, readGridFile, runGrid, trainRun } from '@anatomynet/training';
import { gitCommit, killRunOnSignal, openStore, runsDirOf, startBackend, trainProgress, withBackendOption, withStoreOptions } from '../common';

interface GridArgs {
  file: string;
  profile: string;
  dataset: string;
  db: string;
  runs?: string;
  worker?: string;
  retryFailed: boolean;
  backend?: string;
}

export const gridCommand: CommandModule<object, GridArgs> = {
  command: 'grid <file>',
  describe: 'Run the missing cells of an experiments grid; several workers may share one database',
  builder: (y) =>
    withBackendOption(
      withStoreOptions(
        y
          .positional('file', { type: 'string', demandOption: true, describe: 'experiments/<grid>.json' })
          .option('profile', { type: 'string', default: 'full', describe: 'full (the paper settings) or smoke (finishes on a 2-core CPU)' })
          .option('dataset', { type: 'string', demandOption: true, describe: 'curated dataset folder' })
          .option('worker', { type: 'string', describe: 'worker name recorded with each claimed cell (default host:pid)' })
          .option('retry-failed', { type: 'boolean', default: false, describe: 'claim FAILED cells again' }),
      ),
    ) as any,
  handler: async (a) => {
    const g = readGridFile(a.file);
    // Every cell's config is validated before any training starts.
    const cells = planGrid(g, a.profile, a.file);
    const backend = await startBackend(a.backend);
    const store = openStore(a.db, { create: true });
    const worker = a.worker ?? `${hostname()}:${process.pid}`;
    let runId: string | undefined;
    const stopSignals = killRunOnSignal(() => ({ runId, store }));
    const outcomes = await runGrid(
      store,
      cells,
      worker,
      async (cell, attach) => {
        const progress = trainProgress(`${cell.grid} ${cell.key}`);
        const r = await trainRun({
          config: cell.config,
          datasetDir: a.dataset,
          store,
          experiment: cell.grid,
          runName: cell.key,
          runsDir: runsDirOf(a),
          backend,
          gitCommit: gitCommit(),
          onRunCreated: (id) => {
            runId = id;
            void attach(id);
          },
          onProgress: (p) => progress.onProgress(p),
        });
        progress.finish(`${r.status}${Number.isFinite(r.testDice) ? ` test Dice ${r.testDice.toFixed(3)}` : ''}${r.error ? `: ${r.error}` : ''}`);
        runId = undefined;
        return r;
      },
      { retryFailed: a.retryFailed, onCell: (cell, i) => process.stderr.write(`cell ${i + 1}/${cells.length}: ${cell.key} (${cell.label})\n`) },
    );
    stopSignals();
    await store.close();
    const count = (s: string) => outcomes.filter((o) => o.status === s).length;
    console.log(JSON.stringify({ grid: cells[0]?.grid, done: count('DONE'), failed: count('FAILED'), skipped: count('SKIPPED'), cells: outcomes }));
    if (count('FAILED')) process.exitCode = 1;
  },
};
