/**
 * Evidence that the replacements are still needed: tfjs-backend-webgpu 4.22's own kernels, before
 * registerWebgpuKernels runs. If a tfjs upgrade fixes these, this test fails and the matching
 * replacement can be dropped (see WEBGPU_REPLACEMENTS).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { adapterPromise, SKIP_NOTE } from './test_util';

const adapter = await adapterPromise;
if (!adapter) console.warn(`stock webgpu bug tests ${SKIP_NOTE}`);

describe.skipIf(!adapter)(`stock tfjs-backend-webgpu kernels${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await import('@tensorflow/tfjs-backend-webgpu');
    expect(await tf.setBackend('webgpu')).toBe(true);
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  });

  it('a rank-5 bias add (C divisible by 4) does not compute the sum', async () => {
    const x = tf.ones([1, 4, 8, 8, 32]);
    const b = tf.fill([32], 2);
    const y = await tf.add(x, b).data();
    // the invalid WGSL ("cannot index type vec5") leaves the output unwritten
    expect(y.every((v) => v === 3)).toBe(false);
  });

  it('a sum over more than ~1M rows throws the dispatch error', () => {
    expect(() => tf.sum(tf.ones([1_100_000, 4]), 0)).toThrow(/Dispatch size exceeds WebGPU limits/);
  });

  it('a rank-5 pad does not write its output', async () => {
    const y = await tf.pad(tf.ones([1, 4, 5, 6, 2]), [[0, 0], [0, 1], [0, 1], [0, 1], [0, 0]]).data();
    const ones = Array.from(y).filter((v) => v === 1).length;
    expect(ones).not.toBe(4 * 5 * 6 * 2);
  });

  it('a matmul with more than ~2.1M rows of A throws the dispatch error', () => {
    expect(() => tf.matMul(tf.ones([1, 2_200_000, 1]), tf.ones([1, 1, 4]))).toThrow(/Dispatch size exceeds WebGPU limits/);
  });
});
