import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { kernelSeconds, timeBatched } from './timing';

describe('timeBatched', () => {
  it('batches a short run until the batch lasts minSeconds, and runs slow work minReps times', async () => {
    await tf.setBackend('cpu');
    const x = tf.ones([64]);
    let calls = 0;
    // a long batch: a stall of one run (another process on a 2-core CI machine) must not end it at minReps
    const fast = await timeBatched(() => { calls++; return tf.add(x, 1); }, { minReps: 2, minSeconds: 0.3 });
    expect(fast.reps).toBeGreaterThan(2);
    expect(calls).toBe(fast.reps + 2);
    expect(fast.seconds).toBeGreaterThan(0);
    const sleep = (ms: number) => { const t = performance.now(); while (performance.now() - t < ms); };
    const slow = await timeBatched(() => { sleep(30); return tf.add(x, 1); }, { minReps: 2, minSeconds: 0.01 });
    expect(slow.reps).toBe(2);
    expect(slow.seconds).toBeGreaterThanOrEqual(0.03);
    x.dispose();
  });
});

describe('kernelSeconds', () => {
  it('keeps the device busy for warmSeconds, queues lead runs before each timed one, and times only those', async () => {
    await tf.setBackend('cpu');
    const x = tf.ones([64]);
    let calls = 0;
    const sleep = (ms: number) => { const t = performance.now(); while (performance.now() - t < ms); };
    const plain = await kernelSeconds(() => { calls++; return tf.add(x, 1); }, 3);
    expect(calls).toBe(1 + 3);
    expect(plain!.min).toBeGreaterThan(0);
    calls = 0;
    const t0 = performance.now();
    const warmed = await kernelSeconds(() => { calls++; sleep(2); return tf.add(x, 1); }, 3, { warmSeconds: 0.03, lead: 2 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(30);
    // one warm-up, busy runs in doubling batches (1, 2, 4, ...: 15 runs of 2 ms on an idle machine),
    // then 2 lead runs and one timed run per rep
    const busy = calls - 1 - 3 * 3;
    expect(busy).toBeGreaterThanOrEqual(3);
    expect(Math.log2(busy + 1) % 1).toBe(0);
    // the cpu backend's kernel time is the Add alone, not the sleeps around it
    expect(warmed!.min).toBeLessThan(0.002);
    expect(warmed!.min).toBeLessThanOrEqual(warmed!.mean);
    x.dispose();
  });
});
