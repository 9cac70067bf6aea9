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

export interface KernelTiming {
  /** Fastest run's GPU seconds (what a tuner should compare). */
  min: number;
  /** Mean GPU seconds per run. */
  mean: number;
}

/**
 * GPU seconds per run of `run`, summed over the timestamp queries tfjs puts around each kernel it
 * dispatches while profiling (tf.profile), after one warm-up run. Undefined where the backend
 * reports no kernel times (webgpu without 'timestamp-query' reports 0). Unlike wall-clock time it
 * leaves out the read-back latency and the CPU's cost per dispatch, which on an H100 were larger
 * than a small conv itself (a tuner timing wall-clock batches of 20 ms ranked by noise).
 */
export async function kernelSeconds(run: () => tf.Tensor, reps = 3): Promise<KernelTiming | undefined> {
  const warm = run();
  await settle(warm);
  warm.dispose();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const info = await tf.profile(() => run());
    tf.dispose(info.result as tf.Tensor);
    let ms = 0;
    for (const k of info.kernels) {
      const t = k.kernelTimeMs as unknown;
      if (typeof t !== 'number') return undefined;
      ms += t;
    }
    if (!(ms > 0)) return undefined;
    times.push(ms / 1000);
  }
  return { min: Math.min(...times), mean: times.reduce((a, b) => a + b, 0) / times.length };
}
