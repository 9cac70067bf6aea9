/**
 * Test fixture: one grid worker process (grid.test.ts spawns two on one grid and one database).
 * Usage: node --import tsx grid-worker.ts <grid.json> <profile> <dataset> <db> <runsDir> <worker> <barrierDir> <workers>
 * Waits until <workers> workers have written their ready file into <barrierDir>, so that they really race
 * for the cells, then runs the grid and prints its outcomes as one JSON line on stdout.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectBackend } from '@anatomynet/compute';
import { openSqliteStore } from '@anatomynet/tracking';
import { planGrid, readGridFile, runGrid } from '../grid';
import { trainRun } from '../trainer';

const [gridFile, profile, datasetDir, db, runsDir, worker, barrierDir, workers] = process.argv.slice(2);
if (!workers) throw new Error('usage: grid-worker.ts <grid.json> <profile> <dataset> <db> <runsDir> <worker> <barrierDir> <workers>');

await selectBackend({ prefer: 'cpu', log: () => undefined });
const cells = planGrid(readGridFile(gridFile), profile, gridFile);
writeFileSync(join(barrierDir, `${worker}.ready`), '');
const deadline = Date.now() + 120_000;
while (readdirSync(barrierDir).filter((f) => f.endsWith('.ready')).length < Number(workers)) {
  if (Date.now() > deadline) throw new Error(`${worker}: the other workers never became ready`);
  await new Promise((r) => setTimeout(r, 20));
}
if (!existsSync(datasetDir)) throw new Error(`${datasetDir}: no dataset`);
const store = openSqliteStore(db);
const outcomes = await runGrid(store, cells, worker, (cell, attach) =>
  trainRun({ config: cell.config, datasetDir, store, experiment: cell.grid, runName: cell.key, runsDir, onRunCreated: (id) => void attach(id) }),
);
await store.close();
console.log(JSON.stringify(outcomes));
