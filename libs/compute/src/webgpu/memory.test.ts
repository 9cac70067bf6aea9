import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { boundGpuBufferPool, capGpuBufferPool, gpuAllocationPeak, gpuPoolStats, limitGpuMemory, trimGpuBufferPool, useBestFitGpuBuffers } from './memory';
import { adapterPromise, SKIP_NOTE } from './test_util';

const adapter = await adapterPromise;

const allocated = () => (tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU: number }).numBytesAllocatedInGPU;
const inUse = () => (tf.memory() as tf.MemoryInfo & { numBytesInGPU: number }).numBytesInGPU;

describe.skipIf(!adapter)(`webgpu buffer pool${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await selectBackend({ prefer: 'webgpu', log: () => undefined });
  });

  it('freed buffers stay pooled until trimmed; buffers in use survive and keep their values', async () => {
    const keep = tf.tidy(() => tf.range(0, 1000).mul(2));
    await keep.data();
    trimGpuBufferPool();
    const base = allocated();
    // distinct sizes, so none can reuse another's pooled buffer
    for (let n = 1; n <= 8; n++) {
      const t = tf.tidy(() => tf.ones([1024 * n]).add(1));
      await t.data();
      t.dispose();
    }
    expect(allocated() - base).toBeGreaterThanOrEqual(2 * 36 * 1024 * 4);
    expect(boundGpuBufferPool(1 << 30)).toBe(0);
    const released = boundGpuBufferPool(1024);
    expect(released).toBeGreaterThanOrEqual(2 * 36 * 1024 * 4);
    expect(allocated()).toBe(base);
    expect(inUse()).toBeGreaterThanOrEqual(4000);
    expect((await keep.data())[999]).toBe(1998);
    // the pool works again after a trim
    const again = tf.tidy(() => tf.ones([3000]).add(2));
    expect((await again.data())[2999]).toBe(3);
    tf.dispose([keep, again]);
  });

  it('between steps, buffers the last step reused stay pooled and sizes no longer used are destroyed', async () => {
    boundGpuBufferPool();
    const step = async (n: number) => {
      const t = tf.tidy(() => tf.ones([n]).add(1));
      expect((await t.data())[n - 1]).toBe(2);
      t.dispose();
    };
    await step(5000);
    boundGpuBufferPool();
    const pooled = allocated();
    // the same size again: served from the pool, nothing allocated, nothing released
    await step(5000);
    expect(allocated()).toBe(pooled);
    expect(boundGpuBufferPool()).toBe(0);
    expect(allocated()).toBe(pooled);
    // another size: the 5000-element buffers sat unused through this step and go
    await step(7000);
    const released = boundGpuBufferPool();
    expect(released).toBeGreaterThanOrEqual(2 * 5000 * 4);
    // the 7000-element buffers were kept: the next step of that size allocates nothing
    const kept = allocated();
    await step(7000);
    expect(allocated()).toBe(kept);
    expect(boundGpuBufferPool()).toBe(0);
  });

  it('a capped pool destroys what it cannot hold, values stay right, and the allocation peak is recorded', async () => {
    trimGpuBufferPool();
    capGpuBufferPool(0);
    try {
      gpuAllocationPeak(true);
      const live = allocated();
      for (let n = 1; n <= 4; n++) {
        const t = tf.tidy(() => tf.ones([4096 * n]).mul(3));
        expect((await t.data())[4096 * n - 1]).toBe(3);
        t.dispose();
        // nothing pooled: the allocation falls back to what is live
        expect(allocated()).toBe(live);
      }
      // at least the largest step's two 16,384-float buffers were allocated at once
      expect(gpuAllocationPeak() - live).toBeGreaterThanOrEqual(2 * 4 * 16384);
      // a cap above the free part pools again
      capGpuBufferPool(1 << 20);
      const t = tf.tidy(() => tf.ones([1000]).mul(2));
      await t.data();
      t.dispose();
      expect(allocated()).toBeGreaterThan(live);
      expect(allocated() - inUse()).toBeLessThanOrEqual(1 << 20);
    } finally {
      capGpuBufferPool(undefined);
    }
  });

  it('a memory budget destroys the largest free buffers before creating one past it, and yields to live tensors', async () => {
    trimGpuBufferPool();
    const live = allocated();
    // free buffers of 1, 2, 3 and 4 x 64 Ki floats (the sum's inputs and outputs: 2 each)
    for (let n = 1; n <= 4; n++) {
      const t = tf.tidy(() => tf.ones([65536 * n]).add(1));
      await t.data();
      t.dispose();
    }
    const pooled = allocated();
    expect(pooled - live).toBeGreaterThanOrEqual(2 * 10 * 65536 * 4);
    // room for the pool less 5 x 64 Ki floats: two buffers of a new size (6 x 64 Ki) must evict
    limitGpuMemory(pooled + 65536 * 4);
    try {
      const before = gpuPoolStats();
      const t = tf.tidy(() => tf.ones([6 * 65536]).mul(3));
      const values = await t.data();
      expect(values[6 * 65536 - 1]).toBe(3);
      const after = gpuPoolStats();
      expect(allocated()).toBeLessThanOrEqual(pooled + 65536 * 4);
      // the largest first: the two 4 x 64 Ki buffers, then one 3 x 64 Ki, make room for 12 x 64 Ki
      // (less what the budget's margin and the reused smaller sizes leave)
      expect(after.buffersEvicted - before.buffersEvicted).toBeGreaterThanOrEqual(2);
      expect(after.bytesEvicted - before.bytesEvicted).toBeGreaterThanOrEqual(2 * 4 * 65536 * 4);
      t.dispose();
      // live tensors beyond the budget: creations go ahead once nothing free is left
      limitGpuMemory(0);
      const big = tf.tidy(() => tf.ones([8 * 65536]).mul(2));
      expect((await big.data())[8 * 65536 - 1]).toBe(2);
      // every buffer pooled before went; free now: only the fill's and the read's, freed after the product
      expect(allocated() - inUse()).toBeLessThanOrEqual(2 * 8 * 65536 * 4 + 1024);
      big.dispose();
    } finally {
      limitGpuMemory(undefined);
    }
  });

  it('best fit: a smaller tensor reuses a pooled buffer up to twice its size and reads back its own elements', async () => {
    trimGpuBufferPool();
    useBestFitGpuBuffers(true);
    try {
      // 400,000 floats (1.6 MB) freed, then 310,000 floats (1.24 MB) asked for
      const a = tf.tidy(() => tf.ones([400_000]).mul(2));
      expect((await a.data()).length).toBe(400_000);
      a.dispose();
      const pooled = allocated();
      const b = tf.tidy(() => tf.range(0, 310_000).add(1));
      const values = await b.data();
      expect(values.length).toBe(310_000);
      expect(values[0]).toBe(1);
      expect(values[309_999]).toBe(310_000);
      // the first buffer served the second tensor: nothing new beyond the add's input (the range)
      expect(allocated()).toBeLessThanOrEqual(pooled + 310_000 * 4);
      // a tensor read back and used again: its cached values keep their length
      const c = tf.tidy(() => b.mul(2).max());
      expect((await c.data())[0]).toBe(620_000);
      expect(b.shape).toEqual([310_000]);
      tf.dispose([b, c]);
      // more than twice as large: not reused
      trimGpuBufferPool();
      const big = tf.tidy(() => tf.ones([700_000]).mul(2));
      await big.data();
      big.dispose();
      const before = allocated();
      const small = tf.tidy(() => tf.ones([300_000]).mul(3));
      await small.data();
      // the fill and the product both new (with no limit, one of them would have taken the pooled one)
      expect(allocated()).toBeGreaterThanOrEqual(before + 2 * 300_000 * 4);
      small.dispose();
    } finally {
      useBestFitGpuBuffers(false);
    }
  });

  // tfjs returns a disposed tensor's buffer to the pool only at the next submit (every 15 dispatches)
  it.each([true, false])('best fit: a chain of ops frees its intermediates before making new buffers (best fit: %s)', async (bestFit) => {
    trimGpuBufferPool();
    useBestFitGpuBuffers(bestFit);
    try {
      const n = 1 << 20; // 4 MiB a tensor
      let x = tf.fill([n], 1);
      await x.data();
      const before = allocated(), flushes = gpuPoolStats().flushes;
      for (let i = 0; i < 12; i++) {
        const y = tf.mul(x, 2);
        x.dispose();
        x = y;
      }
      const grown = allocated() - before;
      const v = await x.data();
      expect(v[0]).toBe(4096);
      expect(v[n - 1]).toBe(4096);
      x.dispose();
      if (bestFit) {
        // each product's buffer is the one before last, freed by a submit: at most two new ones
        expect(grown).toBeLessThanOrEqual(2 * 4 * n);
        expect(gpuPoolStats().flushes).toBeGreaterThan(flushes);
      } else {
        expect(grown).toBeGreaterThanOrEqual(10 * 4 * n);
        expect(gpuPoolStats().flushes).toBe(flushes);
      }
    } finally {
      useBestFitGpuBuffers(false);
    }
  });
});
