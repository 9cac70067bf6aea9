/**
 * Wall-clock timing of tfjs work on any backend. GPU backends run asynchronously, so a batch of
 * runs is ended by reading back one element of the last result (the queue runs in order). That
 * read-back has a fixed latency (measured large on Dawn/NVIDIA), so short runs are batched until
 * the batch lasts `minSeconds`; otherwise the latency, not the kernel, is what gets timed.
 */
import * as tf from '@tensorflow/tfjs';

/** Waits until `t` (and everything queued before it) has been computed. */
export async function settle(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(t.reshape([-1]), 0, 1));
  await one.data();
  one.dispose();
}

export interface BatchTiming {
  /** Mean seconds per run. */
  seconds: number;
  /** Runs in the timed batch. */
  reps: number;
}

/**
 * Seconds per run of `run`: one warm-up (shader compiles, allocations), one timed run to size the
 * batch, then a batch of at least `minReps` runs lasting about `minSeconds` (at most `maxReps`).
 */
export async function timeBatched(
  run: () => tf.Tensor, opts: { minReps?: number; minSeconds?: number; maxReps?: number } = {},
): Promise<BatchTiming> {
  const { minReps = 3, minSeconds = 0.2, maxReps = 200 } = opts;
  const warm = run();
  await settle(warm);
  warm.dispose();
  let t0 = performance.now();
  const one = run();
  await settle(one);
  one.dispose();
  const single = (performance.now() - t0) / 1000;
  const reps = Math.min(maxReps, Math.max(minReps, Math.ceil(minSeconds / Math.max(single, 1e-6))));
  t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const y = run();
    if (i === reps - 1) await settle(y);
    y.dispose();
  }
  return { seconds: (performance.now() - t0) / 1000 / reps, reps };
}
