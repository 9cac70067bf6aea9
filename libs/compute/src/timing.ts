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

export interface KernelTimingOptions {
  /**
   * Keep the device busy with untimed runs for this long before the first timed one. A GPU left
   * idle (a tuner compiling the next candidate's shader) lowers its clocks: on an H100 the tuner
   * timed the direct conv kernels about 5x slower than the same kernels after other work.
   */
  warmSeconds?: number;
  /** Untimed runs queued right before each timed one, so that the timed one starts on a busy device. */
  lead?: number;
}

/**
 * GPU seconds per run of `run`, summed over the timestamp queries tfjs puts around each kernel it
 * dispatches while profiling (tf.profile), after one warm-up run (see {@link KernelTimingOptions}
 * for more). Undefined where the backend reports no kernel times (webgpu without
 * 'timestamp-query' reports 0). Unlike wall-clock time it leaves out the read-back latency and
 * the CPU's cost per dispatch, which on an H100 were larger than a small conv itself (a tuner
 * timing wall-clock batches of 20 ms ranked by noise).
 */
export async function kernelSeconds(run: () => tf.Tensor, reps = 3, opts: KernelTimingOptions = {}): Promise<KernelTiming | undefined> {
  const { warmSeconds = 0, lead = 0 } = opts;
  const untimed = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const y = run();
      if (i === n - 1) await settle(y);
      y.dispose();
    }
  };
  await untimed(1);
  const t0 = performance.now();
  for (let batch = 1; (performance.now() - t0) / 1000 < warmSeconds; batch = Math.min(2 * batch, 64)) await untimed(batch);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    // queued, not awaited: the GPU is still on them when the timed run arrives
    for (let j = 0; j < lead; j++) run().dispose();
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
