import { describe, expect, it, vi } from 'vitest';
import { BufferedMetricWriter } from './metric-writer.js';
import type { MetricPoint } from './types.js';

function recorder() {
  const batches: MetricPoint[][] = [];
  return { batches, write: async (p: readonly MetricPoint[]) => void batches.push([...p]) };
}

describe('BufferedMetricWriter', () => {
  it('flushes every maxRows rows, in order', async () => {
    const r = recorder();
    const w = new BufferedMetricWriter('run1', r.write, { maxRows: 3, maxDelayMs: 60_000 });
    for (let s = 0; s < 7; s++) w.log('loss', s, s / 10, 1000 + s);
    await Promise.resolve();
    expect(r.batches.map((b) => b.map((p) => p.step))).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(w.pending).toBe(1);
    await w.close();
    expect(r.batches.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(r.batches[2]![0]).toEqual({ runId: 'run1', key: 'loss', step: 6, value: 0.6, time: 1006 });
    expect(() => w.log('loss', 7, 0)).toThrow(/after close/);
  });

  it('flushes maxDelayMs after the first queued row', async () => {
    vi.useFakeTimers();
    try {
      const r = recorder();
      const w = new BufferedMetricWriter('run1', r.write, { maxRows: 100, maxDelayMs: 500 });
      w.log('dice', 0, 0.5);
      w.log('dice', 1, 0.6);
      await vi.advanceTimersByTimeAsync(499);
      expect(r.batches).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(r.batches.map((b) => b.length)).toEqual([2]);
      w.log('dice', 2, 0.7);
      await vi.advanceTimersByTimeAsync(500);
      expect(r.batches.map((b) => b.length)).toEqual([2, 1]);
      await w.close();
      expect(r.batches).toHaveLength(2); // nothing left to write
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the rows of a failed write for the next flush and reports the error', async () => {
    let fail = true;
    const written: MetricPoint[] = [];
    const w = new BufferedMetricWriter('run1', async (p) => {
      if (fail) throw new Error('disk full');
      written.push(...p);
    }, { maxRows: 10, maxDelayMs: 60_000 });
    w.log('loss', 0, 1);
    await expect(w.flush()).rejects.toThrow('disk full');
    expect(w.pending).toBe(1);
    fail = false;
    w.log('loss', 1, 0.5);
    await w.close();
    expect(written.map((p) => p.step)).toEqual([0, 1]);
  });
});
