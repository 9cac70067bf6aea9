import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeGroups } from '@anatomynet/model';
import { rng } from './test-util';
import { registerCpuKernels, unregisterCpuKernels } from './kernels';
import { GROUP_NORM } from '../group-norm';
import { groupNormForward } from './norm';

const rand = (shape: number[], r: () => number, lo = -1, hi = 1): tf.Tensor =>
  tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + r() * (hi - lo)), shape);

/** max |a - b| / max(1, max |b|) */
function relErr(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const av = a.dataSync(), bv = b.dataSync();
  let worst = 0, scale = 1;
  for (let i = 0; i < bv.length; i++) {
    worst = Math.max(worst, Math.abs(av[i] - bv[i]));
    scale = Math.max(scale, Math.abs(bv[i]));
  }
  return worst / scale;
}

/** Runs f on the stock kernels (composed ops) and on the project's (fused); returns both. */
function both(f: () => tf.Tensor[]): { composed: tf.Tensor[]; fused: tf.Tensor[] } {
  unregisterCpuKernels();
  expect(tf.getKernel(GROUP_NORM, 'cpu')).toBeUndefined();
  const composed = f();
  registerCpuKernels();
  expect(tf.getKernel(GROUP_NORM, 'cpu')).toBeDefined();
  const fused = f();
  return { composed, fused };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => unregisterCpuKernels());

describe('fused group normalisation (AnatomyNetGroupNorm) against the composed ops', () => {
  it.each([
    [1, 37, 5], [2, 41, 3], [2, 64, 13], [3, 9, 1], [1, 4096, 12],
  ])('G=%i R=%i C=%i: output, batch statistics and gradients of x, gamma, beta', (g, r, c) => {
    const gen = rng(100 + g * r + c);
    const x = tf.add(tf.mul(rand([g, r, c], gen), 3), 2) as tf.Tensor3D; // mean 2, not centred
    const gamma = rand([c], gen, 0.5, 1.5) as tf.Tensor1D;
    const beta = rand([c], gen) as tf.Tensor1D;
    const dy = rand([g, r, c], gen);
    const run = (): tf.Tensor[] => {
      const out = normalizeGroups(x, gamma, beta, 1e-5);
      const grads = tf.grads((a, gm, b) => tf.sum(tf.mul(normalizeGroups(a as tf.Tensor3D, gm as tf.Tensor1D,
        b as tf.Tensor1D, 1e-5).y, dy)))([x, gamma, beta]);
      return [out.y, out.mean, out.variance, ...grads];
    };
    const { composed, fused } = both(run);
    expect(fused[1].shape).toEqual([g, 1, c]);
    expect(fused[2].shape).toEqual([g, 1, c]);
    const names = ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'];
    names.forEach((n, i) => expect(relErr(fused[i], composed[i]), n).toBeLessThan(1e-5));
    tf.dispose([...composed, ...fused]);
  });

  it.each([[1000, 0.01], [10, 1]])('statistics of mean %s, spread %s match a float64 reference', (offset, spread) => {
    const gen = rng(21);
    const [g, r, c] = [2, 777, 3];
    const x = Float32Array.from({ length: g * r * c }, () => offset + spread * (gen() - 0.5));
    const f = groupNormForward(x, g, r, c, Float32Array.of(1, 1, 1), Float32Array.of(0, 0, 0), 0);
    for (let gi = 0; gi < g; gi++) {
      for (let j = 0; j < c; j++) {
        const col = Array.from({ length: r }, (_, i) => x[(gi * r + i) * c + j]);
        const m = col.reduce((a, b) => a + b, 0) / r;
        const v = col.reduce((a, b) => a + (b - m) ** 2, 0) / r;
        expect(Math.abs(f.mean[gi * c + j] - m) / m).toBeLessThan(1e-7);
        expect(Math.abs(f.variance[gi * c + j] - v) / v).toBeLessThan(1e-6); // no cancellation
        // y is centred to the float32 rounding of the mean relative to the spread
        const ys = Array.from({ length: r }, (_, i) => f.y[(gi * r + i) * c + j]);
        const yMean = ys.reduce((a, b) => a + b, 0) / r;
        expect(Math.abs(yMean)).toBeLessThan(offset * 2 ** -24 / Math.sqrt(v) + 1e-6);
        expect(Math.abs(ys.reduce((a, b) => a + (b - yMean) ** 2, 0) / r - 1)).toBeLessThan(1e-5);
      }
    }
  });

  it('variableGrads through a norm leaves no tensor behind and is bit-identical on a rerun', () => {
    registerCpuKernels();
    const gen = rng(7);
    const x = rand([2, 50, 6], gen) as tf.Tensor3D;
    const gamma = tf.variable(rand([6], gen, 0.5, 1.5)), beta = tf.variable(rand([6], gen));
    const step = (): Float32Array[] => {
      const { value, grads } = tf.variableGrads(() => {
        const r = normalizeGroups(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-5);
        tf.dispose([r.mean, r.variance]);
        return tf.sum(tf.square(r.y)) as tf.Scalar;
      }, [gamma, beta]);
      const out = [value, grads[gamma.name], grads[beta.name]].map((t) => Float32Array.from(t.dataSync()));
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    step();
    const before = tf.memory().numTensors;
    const a = step();
    expect(tf.memory().numTensors).toBe(before);
    expect(step()).toEqual(a);
    // gradients w.r.t. x alone (gamma and beta off the path) also leave nothing behind
    const g = tf.grad((t: tf.Tensor) => tf.sum(normalizeGroups(t as tf.Tensor3D, gamma as tf.Tensor1D,
      beta as tf.Tensor1D, 1e-5).y.square()));
    g(x).dispose();
    const n0 = tf.memory().numTensors;
    g(x).dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });
});

describe('fused LeakyRelu gradient (AnatomyNetLeakyReluGrad)', () => {
  it('equals tfjs where(x > 0, dy, alpha dy), zeros and NaN included', () => {
    const gen = rng(11);
    const x = tf.concat([rand([997], gen), tf.tensor([0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-40])]);
    const dy = rand([1004], gen);
    const { composed, fused } = both(() => [tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(t, 0.01), dy)))(x),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(t, 0.2), dy)))(x)]);
    for (let i = 0; i < 2; i++) expect(Array.from(fused[i].dataSync())).toEqual(Array.from(composed[i].dataSync()));
  });
});

describe('fused Softmax gradient (AnatomyNetSoftmaxGrad)', () => {
  it('is bit-identical to tfjs mul/sum/mul/sub on the last axis; other axes keep tfjs', () => {
    const gen = rng(12);
    const x = tf.mul(rand([53, 10], gen), 8), dy = rand([53, 10], gen);
    const x3 = rand([3, 7, 5], gen), dy3 = rand([3, 7, 5], gen);
    const { composed, fused } = both(() => [
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), dy)))(x),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), dy3)))(x3),
    ]);
    for (let i = 0; i < 2; i++) expect(Array.from(fused[i].dataSync())).toEqual(Array.from(composed[i].dataSync()));
  });
});
