import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProcessPool, WorkerExitError } from './pool';

const dir = mkdtempSync(join(tmpdir(), 'curator-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A worker that doubles a number, loops for ever on 'hang' (a reader stuck on a damaged file), exits on 'die'. */
const worker = join(dir, 'worker.mjs');
writeFileSync(worker, "process.on('message', (t) => { if (t === 'hang') for (;;); if (t === 'die') process.exit(3); process.send(t * 2); });\n");

describe('createProcessPool', () => {
  it('stops a task past the time limit, fails it, and runs the next on a fresh worker', async () => {
    const pool = createProcessPool<number | 'hang', number>(worker, 1, {}, 1);
    try {
      expect(await pool.run(4)).toBe(8);
      const t0 = Date.now();
      const stuck = await pool.run('hang').then(() => 'replied', (e: unknown) => e);
      expect(stuck).toBeInstanceOf(WorkerExitError);
      expect((stuck as Error).message).toBe('worker process exited (stopped after 1 s)');
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(await pool.run(5)).toBe(10);
    } finally {
      await pool.close();
    }
  });
  it('without a limit, a task that ends is not stopped, and a worker that dies fails its task', async () => {
    const pool = createProcessPool<number | 'die', number>(worker, 2);
    try {
      expect(await Promise.all([1, 2, 3].map((n) => pool.run(n)))).toEqual([2, 4, 6]);
      await expect(pool.run('die')).rejects.toThrow('worker process exited (code 3)');
      expect(await pool.run(7)).toBe(14);
    } finally {
      await pool.close();
    }
  });
});
