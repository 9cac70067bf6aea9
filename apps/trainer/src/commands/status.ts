import type { CommandModule } from 'yargs';
import { cellsByRow, runsDescription, type GridCell, type Run, type TrackingStore } from '@anatomynet/tracking';
import { summarize } from '@anatomynet/reporting';
import { formatDuration } from '@anatomynet/cli';
import { runProgress, type RunProgress } from '@anatomynet/training';
import { openStore } from '../common';

interface StatusArgs {
  db: string;
  grid?: string;
  experiment?: string;
  staleMinutes?: number;
  json: boolean;
}

/** The validation at the best epoch (highest mean Dice; the checkpoint the run keeps), per organ, and the test mean. */
interface RunSummary {
  bestEpoch: number;
  valDiceMean: number;
  valDice: Record<string, number>;
  testDiceMean?: number;
  /** Test contours the annotation checks flag (runs evaluated since they run there). */
  testContoursFlagged?: number;
}

async function summarise(store: TrackingStore, runId: string): Promise<RunSummary | undefined> {
  const means = await store.metricSeries(runId, 'val/dice_mean');
  if (!means.length) return undefined;
  const best = means.reduce((a, b) => (b.value > a.value ? b : a));
  const keys = (await store.metricKeys(runId)).filter((k) => k.startsWith('val/dice/'));
  const valDice: Record<string, number> = {};
  for (const k of keys) {
    const at = (await store.metricSeries(runId, k)).find((m) => m.step === best.step);
    if (at) valDice[k.slice('val/dice/'.length)] = at.value;
  }
  const test = (await store.metricSeries(runId, 'test/dice_mean'))[0]?.value;
  const flagged = (await store.metricSeries(runId, 'test/contours_flagged'))[0]?.value;
  return { bestEpoch: best.step + 1, valDiceMean: best.value, valDice, ...(test !== undefined ? { testDiceMean: test } : {}), ...(flagged !== undefined ? { testContoursFlagged: flagged } : {}) };
}

/** Epochs closed (their `train/epoch_loss` points) of the run config's schedule. */
async function progressOf(store: TrackingStore, run: Run): Promise<RunProgress> {
  const schedule = (JSON.parse(run.configJson) as { schedule?: { rmspropEpochs?: number; sgdEpochs?: number } }).schedule ?? {};
  const epochs = (schedule.rmspropEpochs ?? 0) + (schedule.sgdEpochs ?? 0);
  return runProgress((await store.metricSeries(run.id, 'train/epoch_loss')).map((m) => m.time), epochs);
}

/**
 * Per row with two or more finished runs (seed replicates `ROW`, `ROW#2` ..., cross-validation folds
 * `ROW/fold1of5` ...), how they came about and their test means in cell order.
 */
function runsByRow(cells: readonly GridCell[], tests: ReadonlyMap<string, number>): [string, string, number[]][] {
  return [...cellsByRow(cells)]
    .map(([row, cs]): [string, string, number[]] => {
      const done = cs.filter((c) => tests.has(`${c.grid}\u0000${c.key}`));
      return [row, runsDescription(done.map((c) => c.key)), done.map((c) => tests.get(`${c.grid}\u0000${c.key}`)!)];
    })
    .filter(([, , means]) => means.length > 1);
}

const time = (ms: number | null) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-');

export const statusCommand: CommandModule<object, StatusArgs> = {
  command: 'status',
  describe: 'List runs and grid cells of a tracking database',
  builder: (y) =>
    y
      .option('db', { type: 'string', demandOption: true, describe: 'tracking database' })
      .option('grid', { type: 'string', describe: 'only this grid (e.g. fig3-pooling@smoke)' })
      .option('experiment', { type: 'string', describe: 'only this experiment' })
      .option('stale-minutes', { type: 'number', describe: 'first mark RUNNING runs without a heartbeat for this long as KILLED' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .check((a) => (a.staleMinutes === undefined || (a.staleMinutes as number) >= 0 ? true : `--stale-minutes ${a.staleMinutes}: give minutes, 0 or more`)) as any,
  handler: async (a) => {
    const store = openStore(a.db);
    if (a.staleMinutes !== undefined) {
      const sweep = await store.markStaleRunsKilled(a.staleMinutes * 60_000);
      if (sweep.killedRunIds.length) console.error(`marked KILLED (no heartbeat for ${a.staleMinutes} min): ${sweep.killedRunIds.join(', ')}`);
    }
    const known = await store.listGrids();
    if (a.grid && !known.includes(a.grid)) {
      await store.close();
      throw new Error(`${a.db}: no grid ${a.grid} (grids: ${known.join(', ') || 'none yet'}; a grid is named <file>@<profile>)`);
    }
    const runs: Run[] = await store.listRuns({ experiment: a.experiment, grid: a.grid });
    const grids = a.grid ? [a.grid] : known;
    const cells = (await Promise.all(grids.map((g) => store.gridCells(g)))).flat();
    const runOf = new Map((await store.listRuns()).map((r) => [r.id, r]));
    const summaries = new Map<string, RunSummary | undefined>();
    for (const r of runs) summaries.set(r.id, await summarise(store, r.id));
    // the test mean of each grid cell's finished run, for the rows' spread between seeds
    const cellTests = new Map<string, number>();
    for (const c of cells) {
      if (!c.runId || runOf.get(c.runId)?.status !== 'FINISHED') continue;
      const test = summaries.has(c.runId) ? summaries.get(c.runId)?.testDiceMean : (await store.metricSeries(c.runId, 'test/dice_mean'))[0]?.value;
      if (test !== undefined) cellTests.set(`${c.grid}\u0000${c.key}`, test);
    }
    const progress = new Map<string, RunProgress>();
    for (const r of runs.filter((x) => x.status === 'RUNNING')) progress.set(r.id, await progressOf(store, r));
    await store.close();
    if (a.json) {
      console.log(JSON.stringify({ runs: runs.map((r) => ({ ...r, summary: summaries.get(r.id) ?? null, progress: progress.get(r.id) ?? null })), cells }, null, 1));
      return;
    }
    // Each run once: under the first grid cell shown that holds it, else in the list after the grids.
    const listed = new Map(runs.map((r) => [r.id, r]));
    const details = (r: Run, indent: string, head: string) => {
      const err = r.errorText ? `  ${r.errorText.split('\n')[0]}` : '';
      console.log(`${indent}${head}${r.status.padEnd(8)} ${head ? `${r.experiment} / ${r.name}  ` : ''}started ${time(r.startTime)} ended ${time(r.endTime)}  ${r.backend ?? ''}${err}`);
      const p = progress.get(r.id);
      if (p) {
        const pace = p.msPerEpoch === undefined ? '' : `, about ${formatDuration(p.remainingMs! / 1000)} left (${formatDuration(p.msPerEpoch / 1000)} per epoch)`;
        console.log(`      epoch ${p.done}/${p.epochs} done${pace}; last heartbeat ${formatDuration((Date.now() - r.heartbeatTime) / 1000)} ago`);
      }
      const sm = summaries.get(r.id);
      if (sm) {
        const organs = Object.entries(sm.valDice).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
        const flagged = sm.testContoursFlagged !== undefined ? `, ${sm.testContoursFlagged} test contour${sm.testContoursFlagged === 1 ? '' : 's'} flagged by the annotation checks` : '';
        const test = sm.testDiceMean !== undefined ? `; test mean DSC ${sm.testDiceMean.toFixed(3)}${flagged}` : '';
        console.log(`      best validation (epoch ${sm.bestEpoch}): mean Dice ${sm.valDiceMean.toFixed(3)}: ${organs}${test}`);
      }
      listed.delete(r.id);
    };
    for (const g of grids) {
      const cs = cells.filter((c) => c.grid === g);
      const n = (status: string) => cs.filter((c) => c.status === status).length;
      const more = [n('CLAIMED') && `${n('CLAIMED')} running`, n('FAILED') && `${n('FAILED')} failed`, n('PENDING') && `${n('PENDING')} to run`].filter(Boolean);
      console.log(`grid ${g}: ${n('DONE')}/${cs.length} done${more.length ? `, ${more.join(', ')}` : ''}`);
      for (const c of cs) {
        // A cell reusing a run of the same config trained for another grid's cell (or by `train`)
        const owner = c.runId ? runOf.get(c.runId) : undefined;
        const reused = owner && (owner.experiment !== g || owner.name !== c.key) ? ` (run of ${owner.experiment} / ${owner.name})` : '';
        console.log(`  ${c.key.padEnd(20)} ${c.status.padEnd(8)} ${c.runId ?? '-'}${reused}${c.error ? `  ${c.error.split('\n')[0]}` : ''}`);
        const run = c.runId ? listed.get(c.runId) : undefined;
        if (run) details(run, '      ', '');
      }
      // rows trained several times (grid --replicates, --folds): how far apart their test results are
      for (const [row, how, means] of runsByRow(cs, cellTests)) {
        const { mean, sd } = summarize(means);
        console.log(`  ${row}: ${how} finished, test mean DSC ${means.map((v) => v.toFixed(3)).join(' / ')} (mean ${mean.toFixed(3)} ± ${sd.toFixed(3)})`);
      }
    }
    if (listed.size || !grids.length) {
      console.log(grids.length ? `runs outside these grids (${listed.size})` : `runs (${listed.size})`);
      for (const r of [...listed.values()]) details(r, '  ', `${r.id}  `);
    }
  },
};
