import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { timeBatched } from './timing';

describe('timeBatched', () => {
  it('batches a short run until the batch lasts minSeconds, and runs slow work minReps times', async () => {
    await tf.setBackend('cpu');
    const x = tf.ones([64]);
    let calls = 0;
    const fast = await timeBatched(() => { calls++; return tf.add(x, 1); }, { minReps: 2, minSeconds: 0.05 });
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
