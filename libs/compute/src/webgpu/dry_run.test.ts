/**
 * A dry run (nothing submitted) allocates exactly what a real run does: the same buffer requests and
 * releases, event for event, and the same peak, with the pool exact or best fit (from 0 bytes: at this
 * size few buffers reach 1 MiB). The training steps are the default network's at 8x16x32, blocks recomputed.
 */
import * as tf from '@tensorflow/tfjs';
import { buildModel, DEFAULT_MODEL_CONFIG, trainStep } from '@anatomynet/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { rmspropOptimizer } from '../optimizers';
import { withoutGpuExecution } from './dry_run';
import { boundGpuBufferPool, gpuAllocationPeak, gpuPoolStats, trimGpuBufferPool, useBestFitGpuBuffers } from './memory';
import { adapterPromise, SKIP_NOTE } from './test_util';

const adapter = await adapterPromise;

interface ManagerLike {
  acquireBuffer(size: number, usage: number, mapped?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(b: GPUBuffer, reuse?: boolean): void;
}

/** The buffer requests and releases of `f`, as `acquire size usage` / `release size usage` lines. */
async function allocationTrace(f: () => Promise<unknown>): Promise<string[]> {
  const m = (tf.backend() as unknown as { bufferManager: ManagerLike }).bufferManager;
  const [acquire, release] = [m.acquireBuffer, m.releaseBuffer];
  const events: string[] = [];
  m.acquireBuffer = (size, usage, mapped, reuse) => {
    const b = acquire.call(m, size, usage, mapped, reuse);
    events.push(`acquire ${size} ${usage} -> ${b.size}`);
    return b;
  };
  m.releaseBuffer = (b, reuse) => {
    events.push(`release ${b.size} ${b.usage}`);
    release.call(m, b, reuse);
  };
  try {
    await f();
  } finally {
    m.acquireBuffer = acquire;
    m.releaseBuffer = release;
  }
  return events;
}

describe.skipIf(!adapter)(`webgpu dry run${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await selectBackend({ prefer: 'webgpu', log: () => undefined });
  });
  afterAll(() => {
    useBestFitGpuBuffers(false);
    trimGpuBufferPool();
  });

  it.each([false, true])('two recomputed training steps allocate the same, buffer for buffer, as when they run (best fit: %s)', async (bestFit) => {
    useBestFitGpuBuffers(bestFit, 0);
    const x = tf.randomNormal([1, 8, 16, 32, 1], 0, 1, 'float32', 5);
    const w = tf.randomNormal([1, 8, 16, 32, DEFAULT_MODEL_CONFIG.numClasses], 0, 1, 'float32', 6);
    /** From an empty pool and a new model: each step's requests and releases, and the most bytes allocated. */
    const twoSteps = async () => {
      trimGpuBufferPool();
      const model = buildModel(DEFAULT_MODEL_CONFIG, { seed: 1 });
      const opt = rmspropOptimizer(2e-3, 0.99, 0, 1e-8);
      gpuAllocationPeak(true);
      const created = gpuPoolStats().buffersCreated;
      const traces: string[][] = [];
      for (let i = 0; i < 2; i++) {
        traces.push(await allocationTrace(() => trainStep(model, opt, x, (p) => tf.sum(tf.mul(p, w)) as tf.Scalar, { recompute: true })));
        boundGpuBufferPool();
      }
      opt.dispose();
      model.dispose();
      return { traces, peak: gpuAllocationPeak(true), created: gpuPoolStats().buffersCreated - created };
    };
    try {
      await twoSteps(); // what the kernels cache at their first use (constants, uniforms) is made here
      const real = await twoSteps();
      const dry = await withoutGpuExecution(twoSteps);
      expect(real.traces[1].length).toBeGreaterThan(500);
      expect(dry.result.traces).toEqual(real.traces);
      expect(dry.result.peak).toBe(real.peak);
      expect(dry.result.created).toBe(real.created);
      expect(dry.droppedSubmits).toBeGreaterThan(0);
      const servedLarger = (e: string) => e.startsWith('acquire') && e.split(' ')[1] !== e.split(' ')[4];
      expect(real.traces[1].some(servedLarger)).toBe(bestFit);
    } finally {
      useBestFitGpuBuffers(false);
      tf.dispose([x, w]);
    }
  });

  it('runs no kernel, and the backend computes normally afterwards', async () => {
    const dry = await withoutGpuExecution(async () => {
      const y = tf.tidy(() => tf.fill([4096], 7.25).add(1));
      const values = await y.data();
      y.dispose();
      return values;
    });
    expect(Array.from(dry.result).every((v) => v === 8.25)).toBe(false);
    const y = tf.tidy(() => tf.fill([4096], 7.25).add(1));
    expect(Array.from(await y.data()).every((v) => v === 8.25)).toBe(true);
    y.dispose();
  });
});
