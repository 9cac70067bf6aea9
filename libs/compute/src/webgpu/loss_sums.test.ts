/**
 * The losses' voxel sums on webgpu (loss_sums.ts) against their definition in composed tfjs ops on
 * cpu: values and, through the registered gradients, both inputs' gradients; the vec4 and the
 * scalar path, one pass and several, and which ran.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { FOCAL_SUMS, SOFT_COUNTS } from '../loss-gradients';
import { modulationWgsl } from './loss_sums';
import { adapterPromise, compareWithCpu, programsOf, SKIP_NOTE } from './test_util';

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu loss sums tests ${SKIP_NOTE}`);

/** Probabilities in [0, 1], a tenth of them exactly 1, and a 0/1 target, from seeded values in [-1, 1). */
const probs = (x: tf.Tensor) => tf.minimum(tf.mul(tf.add(x, 1), 0.55), 1);
const target = (x: tf.Tensor) => tf.cast(tf.greater(x, 0.2), 'float32');

/** The focal sums composed as libs/losses writes them (a clamp of 0.05 so that some p fall under it). */
const EPS = 0.05;
function focalComposed(p: tf.Tensor, g: tf.Tensor, gamma: number): tf.Tensor {
  const q = tf.sub(1, p);
  const m = gamma === 0 ? tf.onesLike(p) : Number.isInteger(gamma) && gamma <= 4
    ? Array.from({ length: gamma - 1 }, () => q).reduce((a: tf.Tensor, b) => tf.mul(a, b), q)
    : tf.pow(tf.maximum(q, 1e-12), gamma);
  return tf.sum(tf.mul(tf.mul(g, m), tf.log(tf.maximum(p, EPS))), 1);
}

describe('the focal modulation in WGSL', () => {
  it('is products for integer gamma up to 4, a clamped pow otherwise, and refuses a negative gamma', () => {
    expect(modulationWgsl(0, 'q')).toEqual({ m: 'V(1.0)', slope: 'V(0.0)' });
    expect(modulationWgsl(2, 'q')).toEqual({ m: 'q * q', slope: '-(2.0 * q)' });
    expect(modulationWgsl(1, 'q')).toEqual({ m: 'q', slope: '-(1.0 * V(1.0))' });
    expect(modulationWgsl(5, 'q').m).toBe('pow(max(q, V(1e-12)), V(5.0))');
    expect(modulationWgsl(0.5, 'q').slope).toContain('pow(q, V(-0.5))');
    expect(() => modulationWgsl(-1, 'q')).toThrow(/gamma/);
    expect(() => modulationWgsl(Number.NaN, 'q')).toThrow(/gamma/);
  });
});

describe.skipIf(!adapter)(`webgpu loss sums vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    const choice = await selectBackend({ prefer: 'webgpu', log: () => undefined });
    expect(choice.kernels).toEqual(expect.arrayContaining([SOFT_COUNTS, FOCAL_SUMS]));
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  });

  // 10 classes run a float a thread, 8 and 12 four; past 2,048 voxels the sums take a second pass
  const shapes: [number, number, number][] = [[1, 5000, 10], [2, 37, 8], [2, 3000, 12], [3, 7, 3]];

  it.each(shapes)('soft counts (sum p g, sum p) and the gradients of a weighted sum of them: [%i, %i, %i]', async (n, v, c) => {
    const { result: r, keys } = await programsOf(() => compareWithCpu(
      [{ shape: [n, v, c], seed: 31 }, { shape: [n, v, c], seed: 32 }, { shape: [n, c], seed: 33 }, { shape: [n, c], seed: 34 }],
      (x, y, w1, w2) => {
        const counts = (p: tf.Tensor, g: tf.Tensor) => (tf.getBackend() === 'cpu'
          ? [tf.sum(tf.mul(p, g), 1), tf.sum(p, 1)]
          : tf.engine().runKernel(SOFT_COUNTS, { p, g }) as tf.Tensor[]);
        const p = probs(x), g = target(y);
        const weighted = (a: tf.Tensor, b: tf.Tensor) => {
          const [tp, sumP] = counts(a, b);
          return tf.add(tf.sum(tf.mul(w1, tp)), tf.sum(tf.mul(w2, sumP))) as tf.Scalar;
        };
        return [...counts(p, g), ...tf.grads(weighted)([p, g])];
      }));
    await tf.setBackend('webgpu');
    expect(r.shapes).toEqual([[n, c], [n, c], [n, v, c], [n, v, c]]);
    r.errors.forEach((e, i) => expect(e, `output ${i}`).toBeLessThan(1e-5));
    const vec4 = c % 4 === 0;
    expect(keys.some((k) => k.startsWith('anatomynet_lanesreduce_sum_float32') && k.includes('_p_g') && k.endsWith('_vec4') === vec4)).toBe(v > 128);
    expect(keys.some((k) => k.startsWith('anatomynet_flat_soft_counts_grad') && k.includes('_vec4') === vec4)).toBe(true);
    expect(keys.some((k) => k.startsWith('anatomynet_flat_soft_counts_grad_nosum'))).toBe(true);
  });

  it.each([
    // gamma 0.5: (1 - p)^gamma's slope is infinite at p = 1, where the clamp makes it 0
    [2, 1, 5000, 10], [0, 2, 37, 8], [2.5, 2, 3000, 12], [2, 3, 7, 3], [1, 1, 300, 4], [0.5, 1, 300, 5],
  ] as const)('focal sums with gamma %s and their gradients: [%i, %i, %i]', async (gamma, n, v, c) => {
    const { result: r, keys } = await programsOf(() => compareWithCpu(
      [{ shape: [n, v, c], seed: 41 }, { shape: [n, v, c], seed: 42 }, { shape: [n, c], seed: 43 }],
      (x, y, w) => {
        const sums = (p: tf.Tensor, g: tf.Tensor) => (tf.getBackend() === 'cpu'
          ? focalComposed(p, g, gamma)
          : tf.engine().runKernel(FOCAL_SUMS, { p, g }, { gamma, eps: EPS }) as tf.Tensor);
        const p = probs(x), g = target(y);
        return [sums(p, g), ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(w, sums(a, b))) as tf.Scalar)([p, g])];
      }));
    await tf.setBackend('webgpu');
    expect(r.shapes).toEqual([[n, c], [n, v, c], [n, v, c]]);
    r.errors.forEach((e, i) => expect(e, `output ${i}`).toBeLessThan(2e-5));
    const vec4 = c % 4 === 0;
    expect(keys.filter((k) => k.startsWith('anatomynet_flat_focal_grad')).map((k) => k.includes('_vec4'))).toEqual([vec4, vec4]);
  });

  it('refuses operands of different shapes, other dtypes, a bad eps and a bad wrt', () => {
    const a = tf.ones([1, 6, 4]), b = tf.ones([1, 6, 3]), i = tf.ones([1, 6, 4], 'int32'), ds = tf.ones([1, 4]);
    expect(() => tf.engine().runKernel(SOFT_COUNTS, { p: a, g: b })).toThrow(/one shape/);
    expect(() => tf.engine().runKernel(SOFT_COUNTS, { p: a, g: i })).toThrow(/float32/);
    expect(() => tf.engine().runKernel(FOCAL_SUMS, { p: a, g: a }, { gamma: 2, eps: 0 })).toThrow(/eps/);
    expect(() => tf.engine().runKernel('AnatomyNetFocalSumsGrad', { ds, p: a, g: a }, { gamma: 2, eps: 1e-7, wrt: 'x' })).toThrow(/wrt/);
    expect(() => tf.engine().runKernel('AnatomyNetSoftCountsGrad', { dtp: tf.ones([1, 3]), other: a })).toThrow(/\[1, 4\]/);
    tf.dispose([a, b, i, ds]);
  });
});
