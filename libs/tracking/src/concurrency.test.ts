import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store.js';

const worker = fileURLToPath(new URL('./testing/child-worker.ts', import.meta.url));
let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
function tempDb(): string {
  const d = mkdtempSync(join(tmpdir(), 'tracking-race-'));
  dirs.push(d);
  return join(d, 'tracking.sqlite');
}

/**
 * Starts one child worker per name; once every child has opened the store and said "ready", tells them
 * all "go" at once. Resolves with each child's JSON line; rejects with stderr on a non-zero exit.
 */
async function runChildren(mode: string, db: string, names: string[], n: number): Promise<any[]> {
  const readies: Promise<void>[] = [];
  const children = names.map((name) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, mode, db, name, String(n)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    let onReady!: () => void;
    readies.push(new Promise((r) => (onReady = r)));
    child.stdout.on('data', (d) => {
      out += d;
      if (out.startsWith('ready\n')) onReady();
    });
    child.stderr.on('data', (d) => (err += d));
    const done = new Promise<any>((resolve, reject) =>
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`worker ${name} exited ${code}: ${err}`)))),
    );
    return { child, done };
  });
  await Promise.race([Promise.all(readies), Promise.all(children.map((c) => c.done))]);
  for (const { child } of children) child.stdin.end('go\n');
  return Promise.all(children.map((c) => c.done));
}

/** The workers really ran at the same time: some worker started before another had finished. */
function expectOverlap(results: { startedAt: number; endedAt: number }[]): void {
  const byStart = [...results].sort((a, b) => a.startedAt - b.startedAt);
  let latestEnd = -Infinity, overlapped = false;
  for (const r of byStart) {
    if (r.startedAt < latestEnd) overlapped = true;
    latestEnd = Math.max(latestEnd, r.endedAt);
  }
  expect(overlapped).toBe(true);
}

describe('several processes on one database', () => {
  it('four processes write metrics at once without errors and every row arrives', async () => {
    const db = tempDb();
    // Each child also opens (and would migrate) the fresh file: the first opener races the others.
    const results = await runChildren('metrics', db, ['w0', 'w1', 'w2', 'w3'], 1000);
    const store = openSqliteStore(db);
    try {
      for (const { runId } of results) {
        const series = await store.metricSeries(runId, 'loss');
        expect(series.map((p) => p.step)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
        expect(series[9]!.value).toBeCloseTo(0.1, 12);
        expect((await store.getRun(runId))!.status).toBe('FINISHED');
      }
      expect(await store.listRuns({ experiment: 'concurrency' })).toHaveLength(4);
      expectOverlap(results);
    } finally {
      await store.close();
    }
  });

  it('claimCell: six processes racing for 300 cells claim each exactly once', async () => {
    const db = tempDb();
    const store = openSqliteStore(db);
    await store.registerCells('race', Array.from({ length: 200 }, (_, i) => ({ key: `cell-${i}` })));
    // cells 200..299 are not registered: the claim itself inserts them, racing too.
    const workers = ['a', 'b', 'c', 'd', 'e', 'f'];
    const results = await runChildren('claim', db, workers, 300);
    const won = results.flatMap((r, i) => (r.won as string[]).map((key) => ({ key, worker: workers[i]! })));
    expect(won.map((w) => w.key).sort()).toEqual(Array.from({ length: 300 }, (_, i) => `cell-${i}`).sort());
    const cells = await store.gridCells('race');
    expect(cells).toHaveLength(300);
    for (const c of cells) {
      expect(c.status).toBe('CLAIMED');
      expect(c.claimedBy).toBe(won.find((w) => w.key === c.key)!.worker);
    }
    expectOverlap(results);
    console.log('cells won per worker:', results.map((r, i) => `${workers[i]}=${r.won.length}`).join(', '));
    await store.close();
  });
});
