/**
 * A worker process for the concurrency tests: `node --import tsx child-worker.ts <mode> <db> <worker> <n>`.
 * - `metrics`: creates a run and writes n metric rows through the buffered writer (batches of 50);
 * - `claim`: tries to claim cells "cell-0" .. "cell-(n-1)" of grid "race" in a worker-specific order.
 * Opens the store, prints "ready", waits for a line on stdin (so all workers start together), then
 * prints one JSON line with what it did.
 */
import { openSqliteStore } from '../sqlite-store.js';

const [mode, dbPath, worker, count] = process.argv.slice(2);
const n = Number(count);
const store = openSqliteStore(dbPath!);
// Start together: say "ready", then wait for the parent's "go" line on stdin.
console.log('ready');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.pause();

const startedAt = Date.now();
if (mode === 'metrics') {
  const run = await store.createRun({ experiment: 'concurrency', name: worker!, config: { worker } });
  const writer = store.metricWriter(run.id, { maxRows: 50, maxDelayMs: 20 });
  for (let step = 0; step < n; step++) {
    writer.log('loss', step, 1 / (step + 1));
    if (step % 100 === 0) await store.heartbeat(run.id);
    if (step % 25 === 0) await new Promise((r) => setImmediate(r));
  }
  await writer.close();
  await store.endRun(run.id, 'FINISHED');
  console.log(JSON.stringify({ runId: run.id, startedAt, endedAt: Date.now() }));
} else if (mode === 'claim') {
  const seed = [...worker!].reduce((s, c) => s * 31 + c.charCodeAt(0), 7) >>> 0;
  const keys = Array.from({ length: n }, (_, i) => `cell-${i}`);
  // Worker-specific rotation, so the workers meet on different cells at different times.
  const order = keys.map((_, i) => keys[(i + seed) % n]!);
  const won: string[] = [];
  for (const key of order) {
    if (await store.claimCell('race', key, worker!)) won.push(key);
    await new Promise((r) => setImmediate(r));
  }
  console.log(JSON.stringify({ won, startedAt, endedAt: Date.now() }));
} else {
  throw new Error(`child-worker: unknown mode ${mode}`);
}
await store.close();
