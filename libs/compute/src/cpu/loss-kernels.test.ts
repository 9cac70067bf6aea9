import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLoss, focalLoss, tverskyLoss, type LossName } from '@anatomynet/losses';
import { mulberry32 } from '@anatomynet/random';
import { registerCpuKernels, unregisterCpuKernels } from './kernels';
import { FOCAL_SUMS, SOFT_COUNTS } from '../loss-gradients';

/** Softmax probabilities [n, v, c] (some saturated near 0 and 1) and a one-hot target. */
function data(n: number, v: number, c: number, seed: number): { p: tf.Tensor; g: tf.Tensor } {
  const r = mulberry32(seed);
  const logits = tf.tensor(Float32Array.from({ length: n * v * c }, () => (r() - 0.5) * (r() < 0.1 ? 40 : 6)), [n, v, c]);
  const labels = tf.tensor1d(Int32Array.from({ length: n * v }, () => Math.floor(r() * c)), 'int32');
  return { p: tf.softmax(logits), g: tf.oneHot(labels, c).reshape([n, v, c]).toFloat() };
}

function relErr(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const av = a.dataSync(), bv = b.dataSync();
  let worst = 0, scale = 1e-6;
  for (let i = 0; i < bv.length; i++) scale = Math.max(scale, Math.abs(bv[i]));
  for (let i = 0; i < bv.length; i++) worst = Math.max(worst, Math.abs(av[i] - bv[i]));
  return worst / scale;
}

/** f on the composed ops (stock kernels) and on the fused loss kernels. */
function both(f: () => tf.Tensor[]): [tf.Tensor[], tf.Tensor[]] {
  unregisterCpuKernels();
  expect(tf.getKernel(SOFT_COUNTS, 'cpu')).toBeUndefined();
  const composed = f();
  registerCpuKernels();
  expect(tf.getKernel(FOCAL_SUMS, 'cpu')).toBeDefined();
  return [composed, f()];
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => unregisterCpuKernels());

describe('fused loss sums against the composed losses', () => {
  const { p, g } = data(2, 301, 7, 1);
  const mask = [[1, 1, 0, 1, 1, 1, 1], [1, 0, 1, 1, 1, 1, 0]];
  const weights = [0.5, 1, 2, 1, 1, 3, 1];

  it.each(['dice+focal', 'dice', 'tversky', 'focal', 'cross-entropy', 'dice+ce', 'exp-log', 'generalised-dice'] as LossName[])(
    '%s: value and gradient in p (masked, weighted, 2 cases, odd sizes)', (name) => {
      const loss = buildLoss({ name });
      const [composed, fused] = both(() => {
        const { value, grad } = tf.valueAndGrad((q: tf.Tensor) => loss(q, g, { mask, weights }))(p);
        return [value, grad];
      });
      expect(relErr(fused[0], composed[0]), 'value').toBeLessThan(1e-5);
      expect(relErr(fused[1], composed[1]), 'gradient').toBeLessThan(1e-5);
    });

  it.each([0, 1, 2, 3, 1.5, 0.3])('focal gamma %s: gradients in p and in g', (gamma) => {
    const [composed, fused] = both(() => tf.grads((q, t) => focalLoss(q, t, { gamma }, { mask }))([p, g]));
    expect(relErr(fused[0], composed[0]), 'd/dp').toBeLessThan(1e-5);
    expect(relErr(fused[1], composed[1]), 'd/dg').toBeLessThan(1e-5);
  });

  it('tversky: gradients in p and in g; an int32 target works too', () => {
    const f = () => [...tf.grads((q, t) => tverskyLoss(q, t, { alpha: 0.3, beta: 0.7 }, { mask }))([p, g]),
      tverskyLoss(p, g.toInt(), {}, { weights }), focalLoss(p, g.toInt())];
    const [composed, fused] = both(f);
    composed.forEach((c, i) => expect(relErr(fused[i], c), `output ${i}`).toBeLessThan(1e-5));
  });
});
