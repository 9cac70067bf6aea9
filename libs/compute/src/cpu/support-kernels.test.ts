import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel, DEFAULT_MODEL_CONFIG, forward, type ParamSpec } from '@anatomynet/model';
import { mulberry32 } from '@anatomynet/random';
import { registerCpuKernels, unregisterCpuKernels } from './kernels';

const rand = (shape: number[], r: () => number, lo = -1): tf.Tensor =>
  tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + r() * (1 - lo)), shape);

/** Run `f` on stock kernels and on ours; compare every output. */
function same(f: () => tf.Tensor | tf.Tensor[], tol = 1e-6): void {
  unregisterCpuKernels();
  const want = tf.tidy(() => [f()].flat());
  registerCpuKernels();
  const got = tf.tidy(() => [f()].flat());
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    expect(g.shape).toEqual(want[i].shape);
    expect(g.dtype).toBe(want[i].dtype);
    const a = g.dataSync(), b = want[i].dataSync();
    let worst = 0, scale = 1;
    for (let j = 0; j < b.length; j++) {
      if (a[j] === b[j] || (Number.isNaN(b[j]) && Number.isNaN(a[j]))) continue; // infinities, NaN
      worst = Math.max(worst, Math.abs(a[j] - b[j]));
      scale = Math.max(scale, Math.abs(b[j]));
    }
    expect(worst / scale).toBeLessThanOrEqual(tol);
  });
  tf.dispose([...got, ...want]);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => unregisterCpuKernels());

describe('support kernels against stock tfjs-cpu', () => {
  const r = mulberry32(5);
  const pairs: [number[], number[]][] = [
    [[1, 3, 4, 5, 6], [6]], [[1, 3, 4, 5, 6], [1, 1, 1, 1, 6]], [[2, 7, 5], [2, 7, 1]], [[7, 1], [7, 9]],
    [[1, 1, 1, 1, 1], [1, 3, 4, 5, 10]], [[3, 1, 5], [1, 4, 1]], [[4, 6], [4, 6]], [[], [5, 3]], [[2, 3, 4], [3, 1]],
  ];
  it.each(pairs)('Add/Sub/Multiply/RealDiv broadcast %j with %j', (as, bs) => {
    const a = rand(as, r), b = rand(bs, r, 0.5);
    same(() => [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b), tf.sub(b, a), tf.div(b, tf.add(a, 2)),
      tf.maximum(a, b), tf.minimum(a, b)]);
    const bq = tf.round(tf.mul(b, 4)), aq = tf.round(tf.mul(a, 4)); // ties for >=, <=, ==
    same(() => [tf.greater(aq, bq), tf.greaterEqual(aq, bq), tf.less(aq, bq), tf.lessEqual(aq, bq), tf.equal(aq, bq)]);
  });

  it('Slice and SplitV on every axis, odd sizes', () => {
    const x = rand([2, 5, 6, 7, 9], r);
    same(() => [
      tf.slice(x, [0, 1, 2, 3, 4], [2, 3, 4, 2, 5]), tf.slice(x, [1, 0, 0, 0, 2], [1, -1, -1, -1, 3]),
      tf.slice(x, [0, 2, 0, 0, 0], [2, 2, 6, 7, 9]), ...tf.split(x, [4, 5], 4), ...tf.split(x, [1, 3, 2], 2),
      ...tf.split(x, [1, 1], 0), ...tf.split(x, [2, 5], 3),
    ]);
  });

  it('Transpose with every kind of permutation', () => {
    const x = rand([3, 4, 5, 2, 6], r);
    same(() => [[4, 3, 2, 1, 0], [0, 1, 2, 4, 3], [1, 0, 2, 3, 4], [0, 2, 3, 1, 4], [4, 0, 1, 2, 3]]
      .map((p) => tf.transpose(x, p)));
    const y = rand([8, 256, 2, 64], r);
    same(() => tf.transpose(y, [0, 2, 1, 3]));
  });

  it('Softmax on the last axis', () => {
    const x = tf.mul(rand([37, 10], r), 20);
    same(() => [tf.softmax(x), tf.softmax(tf.reshape(x, [1, 37, 10]))], 0);
  });

  it('unary ops, LeakyRelu, ClipByValue on odd sizes (bit-identical formulas)', () => {
    const x = rand([3, 7, 5], r, -3), pos = rand([37, 11], r, 0.01);
    same(() => [tf.neg(x), tf.abs(x), tf.square(x), tf.exp(x), tf.sigmoid(x), tf.relu(x), tf.reciprocal(x),
      tf.leakyRelu(x, 0.01), tf.leakyRelu(x, 0.2), tf.clipByValue(x, -0.5, 0.7),
      tf.log(pos), tf.sqrt(pos), tf.rsqrt(pos), tf.neg(tf.scalar(2))], 0);
    // zeros of both signs, NaN, infinities, denormals (the branch-free LeakyRelu reads sign bits)
    const sp = tf.tensor([0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-40, 3, -3]);
    same(() => [tf.neg(sp), tf.abs(sp), tf.square(sp), tf.exp(sp), tf.log(sp), tf.sqrt(sp), tf.sigmoid(sp),
      tf.leakyRelu(sp, 0.01), tf.clipByValue(sp, -1, 1), tf.greater(sp, 0), tf.lessEqual(sp, 0), tf.equal(sp, sp)], 0);
    const signs = (t: tf.Tensor): boolean[] => Array.from(t.dataSync(), (v) => Object.is(v, -0));
    expect(signs(tf.leakyRelu(sp, 0.01))).toEqual([false, true, false, false, false, false, false, false, false]);
  });

  it('Select, and Cast of bool / int32 to float32', () => {
    const a = rand([4, 9, 3], r), b = rand([4, 9, 3], r);
    const cond = tf.greater(a, b);
    same(() => [tf.where(cond, a, b), tf.cast(cond, 'float32'), tf.cast(tf.tensor([1, -7, 3], [3], 'int32'), 'float32'),
      tf.mul(tf.cast(cond, 'float32'), a)], 0);
    // a tensor that broadcasts the condition goes to the stock kernel
    same(() => tf.where(tf.tensor([true, false, true, true], [4, 1, 1], 'bool'), a, b), 0);
    // the bit blend copies NaN and infinities of the chosen side only
    const t = tf.tensor([NaN, 1, Infinity, -0]), e = tf.tensor([2, NaN, 5, -Infinity]);
    same(() => tf.where(tf.tensor([true, false, false, true], [4], 'bool'), t, e), 0);
  });

  it.each([
    [[7, 5, 3], [0]], [[7, 5, 3], [2]], [[7, 5, 3], [1]], [[7, 5, 3], [0, 2]], [[7, 5, 3], [0, 1, 2]],
    [[2, 1, 6, 5], [3, 1]], [[1, 1, 4096, 12], [0, 1, 2]], [[33, 10], [-1]], [[6], [0]], [[4, 1], [1]],
  ])('Sum/Max/Min/Mean of %j over axes %j (sums bit-identical)', (shape, axes) => {
    const x = rand(shape, r);
    same(() => [tf.sum(x, axes), tf.sum(x, axes, true), tf.max(x, axes), tf.min(x, axes, true)], 0);
    same(() => [tf.mean(x, axes), tf.mean(x, axes, true)], 1e-6);
  });

  it('Max/Min propagate NaN as tfjs-cpu does; a sum over all axes', () => {
    const x = tf.tensor([1, NaN, 3, 4, 5, NaN], [2, 3]);
    same(() => [tf.max(x, 0), tf.max(x, 1), tf.min(x, 0), tf.min(x, 1)], 0);
    const big = rand([32768, 10], r);
    same(() => [tf.sum(big), tf.sum(big, 0), tf.sum(big, 1, true)], 0);
  });

  it('Concat along every axis, several inputs, odd sizes', () => {
    const a = rand([2, 3, 4, 5], r), b = rand([2, 3, 4, 7], r), c = rand([2, 3, 4, 1], r), d = rand([5, 3, 4, 5], r);
    const e = rand([3, 100], r), f = rand([3, 70], r);
    same(() => [tf.concat([a, b, c], 3), tf.concat([a, d], 0), tf.concat([a, a], 1), tf.concat([a, a, a], 2),
      tf.concat([e, f], 1)], 0);
  });

  it('BatchMatMul large enough for the wasm GEMM, all transpositions, odd sizes', () => {
    const a = rand([1031, 37], r), b = rand([37, 45], r), bt = rand([45, 37], r), c = rand([1031, 45], r);
    same(() => [tf.matMul(a, b), tf.matMul(a, bt, false, true), tf.matMul(a, c, true, false),
      tf.matMul(tf.reshape(a, [1, 1031, 37]), tf.reshape(b, [1, 37, 45]))], 2e-5);
    // thin products: a row sum, its outer-product gradient, a single column, all layouts
    const ones = tf.ones([1, 30011]), x = rand([30011, 17], r), g = rand([1, 17], r), v = rand([17, 1], r);
    same(() => [tf.matMul(ones, x), tf.matMul(x, ones, true, true), tf.matMul(tf.transpose(ones), g),
      tf.matMul(ones, g, true, false), tf.matMul(x, v), tf.matMul(x, tf.transpose(v), false, true)], 2e-5);
    // thin and small: a batched row sum (sumRows) and its gradient, an SE fully connected layer
    const x3 = rand([1, 4099, 12], r), g3 = rand([1, 1, 12], r), z = rand([1, 12], r), w = rand([12, 3], r);
    same(() => [tf.matMul(tf.ones([1, 1, 4099]), x3), tf.matMul(tf.ones([1, 4099, 1]), g3), tf.matMul(z, w)], 2e-5);
  });
});

describe('AnatomyNet on the project kernels', () => {
  it('gives the stock forward and the stock gradients of every parameter (8x16x16 input)', () => {
    // Random values everywhere (betas and biases too): at the default init the SE input is the
    // mean of a batch-normalised map, ~1e-8 noise, whose ReLU gates flip with rounding.
    const pr = mulberry32(3);
    const valueOf = (s: ParamSpec): Float32Array => Float32Array.from(
      { length: s.shape.reduce((a, b) => a * b, 1) },
      () => (s.init === 'ones' ? 1 + 0.2 * pr() : (pr() * 2 - 1) * (s.init === 'zeros' ? 0.3 : Math.sqrt(3 / s.fanIn))));
    const model = createModel({ ...DEFAULT_MODEL_CONFIG, filters: [...DEFAULT_MODEL_CONFIG.filters] }, valueOf);
    const x = rand([1, 8, 16, 16, 1], mulberry32(9));
    const target = rand([1, 8, 16, 16, 10], mulberry32(10), 0);
    const vars = [...model.params.values()];
    const run = () => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(forward(model, x, { training: true }), target)) as tf.Scalar, vars);
      return [value, ...vars.map((v) => grads[v.name])];
    };
    unregisterCpuKernels();
    const want = run();
    registerCpuKernels();
    const got = run();
    got.forEach((g, i) => {
      const a = g.dataSync(), b = want[i].dataSync();
      let worst = 0, scale = 1e-3;
      for (let j = 0; j < b.length; j++) scale = Math.max(scale, Math.abs(b[j]));
      for (let j = 0; j < b.length; j++) worst = Math.max(worst, Math.abs(a[j] - b[j]));
      expect(worst / scale, `${i === 0 ? 'loss' : vars[i - 1].name}`).toBeLessThan(1e-3);
    });
  });
});
