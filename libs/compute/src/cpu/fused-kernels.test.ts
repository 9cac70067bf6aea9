import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, DEFAULT_MODEL_CONFIG, forward, normalizeGroups, predict, type ModelConfig } from '@anatomynet/model';
import { composedSeGate, composedUpsampleConcat, fusedConvReference, normInputs } from './test-util';
import { mulberry32 } from '@anatomynet/random';
import { ADD_LEAKY_RELU, epilogueAffine, FUSED_CONV3D, SCALE_ADD_LEAKY_RELU, SCALE_SHIFT, SE_GATE, SE_GATE_GRAD, SUM_PRODUCTS, UPSAMPLE_CONCAT, withoutFusions } from '../fused-conv';
import { convEpilogueInPlace } from './elementwise';
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
    [1, 37, 5, undefined], [2, 41, 3, undefined], [2, 64, 13, undefined], [3, 9, 1, undefined], [1, 4096, 12, undefined],
    [1, 37, 5, 0.1], [2, 64, 13, 0.01], [3, 9, 1, 0],
  ])('G=%i R=%i C=%i, LeakyReLU slope %s: output, batch statistics and gradients of x, gamma, beta', (g, r, c, alpha) => {
    const gen = mulberry32(100 + g * r + c);
    const x = tf.add(tf.mul(rand([g, r, c], gen), 3), 2) as tf.Tensor3D; // mean 2, not centred
    const gamma = rand([c], gen, 0.5, 1.5) as tf.Tensor1D;
    const beta = rand([c], gen) as tf.Tensor1D;
    const dy = rand([g, r, c], gen);
    const run = (): tf.Tensor[] => {
      const out = normalizeGroups(x, gamma, beta, 1e-5, alpha);
      const grads = tf.grads((a, gm, b) => tf.sum(tf.mul(normalizeGroups(a as tf.Tensor3D, gm as tf.Tensor1D,
        b as tf.Tensor1D, 1e-5, alpha).y, dy)))([x, gamma, beta]);
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
    const gen = mulberry32(21);
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
    const gen = mulberry32(7);
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
    const gen = mulberry32(11);
    const x = tf.concat([rand([997], gen), tf.tensor([0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-40])]);
    const dy = rand([1004], gen);
    const { composed, fused } = both(() => [tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(t, 0.01), dy)))(x),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(t, 0.2), dy)))(x)]);
    for (let i = 0; i < 2; i++) expect(Array.from(fused[i].dataSync())).toEqual(Array.from(composed[i].dataSync()));
  });
});

describe('fused Softmax gradient (AnatomyNetSoftmaxGrad)', () => {
  it('is bit-identical to tfjs mul/sum/mul/sub on the last axis; other axes keep tfjs', () => {
    const gen = mulberry32(12);
    const x = tf.mul(rand([53, 10], gen), 8), dy = rand([53, 10], gen);
    const x3 = rand([3, 7, 5], gen), dy3 = rand([3, 7, 5], gen);
    const { composed, fused } = both(() => [
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), dy)))(x),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), dy3)))(x3),
    ]);
    for (let i = 0; i < 2; i++) expect(Array.from(fused[i].dataSync())).toEqual(Array.from(composed[i].dataSync()));
  });
});

describe('Sum and Mean gradients (a broadcast of dy instead of dy times tf.ones)', () => {
  it('are bit-identical to tfjs\'s for every axis choice, keepDims or not, and build no ones', async () => {
    const gen = mulberry32(13);
    const x = rand([4, 5, 6, 3], gen);
    const cases: [number | number[] | undefined, boolean][] = [[undefined, false], [0, false], [-1, true], [[1, 2], false], [[0, 3], true], [[0, 1, 2, 3], false]];
    const grads = () => cases.flatMap(([axis, keep]) => {
      const w = rand(tf.sum(x, axis, keep).shape, mulberry32(14));
      return [tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.sum(t, axis, keep), w)))(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, axis, keep), w)))(x)];
    });
    const { composed, fused } = both(grads);
    for (let i = 0; i < composed.length; i++) expect(Array.from(fused[i].dataSync()), `case ${i}`).toEqual(Array.from(composed[i].dataSync()));
    // The broadcast is a Tile on the backend; tfjs's multiplies dy by ones built in JavaScript.
    const { kernelNames } = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mean(t, 0)))(x));
    expect(kernelNames).toContain('Tile');
    expect(kernelNames).not.toContain('Multiply');
  });
});

/** Running statistics and affine parameters as the fused conv takes them: [4, C], variance > 0. */
function normRows(c: number, r: () => number): tf.Tensor2D {
  return tf.stack([rand([c], r, -0.5, 0.5), rand([c], r, 0.3, 2), rand([c], r, 0.5, 1.5), rand([c], r)]) as tf.Tensor2D;
}

describe('fused eval-mode conv (AnatomyNetFusedConv3D) against the composed ops', () => {
  const cases: { name: string; x: number[]; f: number[]; stride: 1 | 2; pad: 'same' | 'valid'; norm: boolean; alpha: number | null }[] = [
    { name: '3x3x3, BatchNorm, LeakyReLU', x: [1, 5, 7, 9, 12], f: [3, 3, 3, 12, 20], stride: 1, pad: 'same', norm: true, alpha: 0.01 },
    { name: 'stride 2, odd sizes, 5 -> 7 channels', x: [1, 7, 6, 9, 5], f: [3, 3, 3, 5, 7], stride: 2, pad: 'same', norm: true, alpha: 0.2 },
    { name: 'bias only (the output conv), batch 2, valid', x: [2, 6, 5, 7, 16], f: [3, 3, 3, 16, 10], stride: 1, pad: 'valid', norm: false, alpha: null },
    { name: '1x1x1 skip conv, 13 -> 18', x: [1, 4, 5, 6, 13], f: [1, 1, 1, 13, 18], stride: 1, pad: 'same', norm: false, alpha: null },
    { name: 'LeakyReLU without norm, slope above 1', x: [1, 3, 4, 5, 3], f: [3, 3, 3, 3, 6], stride: 1, pad: 'same', norm: false, alpha: 1.5 },
  ];
  it.each(cases)('$name', (c) => {
    const gen = mulberry32(c.x.reduce((a, b) => a * 31 + b, 0));
    const x = rand(c.x, gen) as tf.Tensor5D, f = rand(c.f, gen, -0.3, 0.3) as tf.Tensor5D;
    const cout = c.f[4];
    const bias = rand([cout], gen) as tf.Tensor1D;
    const norm = c.norm ? normRows(cout, gen) : undefined;
    unregisterCpuKernels();
    const want = fusedConvReference(x, f, bias, norm, c.stride, c.pad, 1e-5, c.alpha);
    registerCpuKernels();
    const got = tf.engine().runKernel(FUSED_CONV3D, { x, filter: f, bias, ...normInputs(norm) },
      { strides: c.stride, pad: c.pad, eps: 1e-5, activation: c.alpha === null ? 'linear' : 'leakyrelu', alpha: c.alpha ?? 0 }) as tf.Tensor;
    expect(relErr(got, want)).toBeLessThan(2e-6);
    // some values on each side of zero, so the activation's branch is exercised
    const v = want.dataSync();
    expect(v.some((e) => e < 0) && v.some((e) => e > 0)).toBe(true);
    tf.dispose([x, f, bias, got, want, ...(norm ? [norm] : [])]);
  });

  it('the JavaScript epilogue (volumes past the wasm memory) computes y * scale + offset, then LeakyReLU', () => {
    const bias = Float32Array.of(0.5, -1), norm = Float32Array.of(1, 0, 4, 1, 2, 3, 0, 1);
    const { scale, offset } = epilogueAffine(bias, norm, 0);
    // scale = gamma / sqrt(var) = [1, 3]; offset = bias * scale + beta - mean * scale = [-0.5, -2]
    expect(Array.from(scale)).toEqual([1, 3]);
    expect(Array.from(offset)).toEqual([-0.5, -2]);
    const y = Float32Array.of(1, 1, 0, 0);
    convEpilogueInPlace(y, scale, offset, 0.5);
    expect(Array.from(y)).toEqual([0.5, 1, -0.25, -1]);
    expect(() => epilogueAffine(bias, Float32Array.of(1, 2), 0)).toThrow(/norm must be \[4, 2\]/);
  });

  it('refuses an incomplete set of norm inputs, naming the ones given', () => {
    registerCpuKernels();
    const x = tf.ones([1, 2, 2, 2, 1]), f = tf.ones([1, 1, 1, 1, 2]), bias = tf.zeros([2]), mean = tf.zeros([2]), gamma = tf.ones([2]);
    const attrs = { strides: 1, pad: 'same', eps: 1e-5, activation: 'linear', alpha: 0 };
    expect(() => tf.engine().runKernel(FUSED_CONV3D, { x, filter: f, bias, mean, gamma }, attrs)).toThrow(/give all of mean, variance, gamma, beta or none; got mean, gamma/);
    tf.dispose([x, f, bias, mean, gamma]);
  });
});

describe('fused residual sum (AnatomyNetAddLeakyRelu)', () => {
  it('equals leakyRelu(a + b) and refuses operands of different shapes', () => {
    registerCpuKernels();
    const gen = mulberry32(5);
    const a = rand([3, 7, 11], gen), b = rand([3, 7, 11], gen);
    const got = tf.engine().runKernel(ADD_LEAKY_RELU, { a, b }, { alpha: 0.01 }) as tf.Tensor;
    unregisterCpuKernels();
    const want = tf.leakyRelu(tf.add(a, b), 0.01);
    expect(relErr(got, want)).toBeLessThan(1e-7);
    registerCpuKernels();
    expect(() => tf.engine().runKernel(ADD_LEAKY_RELU, { a, b: b.reshape([21, 11]) }, { alpha: 0.01 })).toThrow(/differ/);
    tf.dispose([a, b, got, want]);
  });
});

describe('fused SE-residual end (AnatomyNetScaleAddLeakyRelu)', () => {
  it('equals leakyRelu(a * scale + b) per case and channel, both slopes\' branches; refuses misfit operands', () => {
    registerCpuKernels();
    const gen = mulberry32(6);
    const a = rand([2, 3, 4, 5, 7], gen), s = rand([2, 7], gen, 0, 1), b = rand([2, 3, 4, 5, 7], gen);
    const got = tf.engine().runKernel(SCALE_ADD_LEAKY_RELU, { a, scale: s, b }, { alpha: 0.01 }) as tf.Tensor;
    unregisterCpuKernels();
    const want = tf.leakyRelu(tf.add(tf.mul(a, s.reshape([2, 1, 1, 1, 7])), b), 0.01);
    expect(relErr(got, want)).toBeLessThan(1e-7);
    expect(Math.min(...want.dataSync())).toBeLessThan(0);
    registerCpuKernels();
    expect(() => tf.engine().runKernel(SCALE_ADD_LEAKY_RELU, { a, scale: s.reshape([7, 2]), b }, { alpha: 0.01 })).toThrow(/do not fit/);
    tf.dispose([a, s, b, got, want]);
  });
});

/** x's shape, the upsampled channels and the appended tensor's shape of the upsampling tests. */
const UPSAMPLE_CASES = [
  ['no crop, 2 cases, 1 appended channel', [2, 3, 2, 4, 5], 3, [2, 6, 4, 8, 1]],
  ['cropped on every axis, 2 appended channels', [1, 3, 4, 3, 6], 4, [1, 5, 7, 6, 2]],
  ['cropped on one axis, odd sizes', [1, 3, 5, 2, 7], 5, [1, 6, 9, 4, 1]],
  ['cropped by 7 (four pools), 49 input channels (two matMul blocks)', [1, 8, 2, 3, 49], 2, [1, 9, 4, 5, 1]],
] as const;

describe('fused output upsampling (AnatomyNetUpsampleConcat)', () => {
  it.each(UPSAMPLE_CASES)('equals matMul, the 2x2x2 layout, crop, bias and concat: %s', (_name, xs, cout, as) => {
    registerCpuKernels();
    const gen = mulberry32(31);
    const x = rand([...xs], gen), w = rand([xs[4], 8 * cout], gen), b = rand([cout], gen), append = rand([...as], gen);
    const got = tf.engine().runKernel(UPSAMPLE_CONCAT, { x, w, b, append }, {}) as tf.Tensor;
    unregisterCpuKernels();
    const want = composedUpsampleConcat(x, w, b, append);
    expect(got.shape).toEqual([...as.slice(0, 4), cout + as[4]]);
    expect(relErr(got, want)).toBeLessThan(xs[4] > 48 ? 1e-6 : 1e-7);
    registerCpuKernels();
    tf.dispose([x, w, b, append, got, want]);
  });

  it('refuses misfit weights and an append larger than twice x or of another batch', () => {
    registerCpuKernels();
    const x = tf.zeros([1, 2, 2, 2, 3]), w = tf.zeros([3, 16]), b = tf.zeros([2]);
    for (const [ww, append] of [[tf.zeros([3, 15]), tf.zeros([1, 4, 4, 4, 1])], [w, tf.zeros([1, 5, 4, 4, 1])], [w, tf.zeros([2, 4, 4, 4, 1])]]) {
      expect(() => tf.engine().runKernel(UPSAMPLE_CONCAT, { x, w: ww, b, append }, {})).toThrow(/AnatomyNetUpsampleConcat: .* do not fit/);
    }
    tf.dispose([x, w, b]);
  });
});

describe('fused SE gate (AnatomyNetSEGate)', () => {
  it('equals the composed gate bit for bit (1 to 3 cases, channel counts not divisible by 4, both LeakyReLU branches); refuses misfit weights', () => {
    registerCpuKernels();
    const gen = mulberry32(6);
    for (const [n, c, r] of [[2, 13, 3], [1, 70, 17], [3, 1, 1]]) {
      const sums = tf.mul(rand([n, c], gen), 500), w1 = rand([c, r], gen), b1 = rand([r], gen), w2 = rand([r, c], gen), b2 = rand([c], gen);
      const got = tf.engine().runKernel(SE_GATE, { sums, w1, b1, w2, b2 }, { voxels: 250, alpha: 0.2 }) as tf.Tensor;
      const want = composedSeGate(sums, w1, b1, w2, b2, 250, 0.2);
      expect(got.shape).toEqual([n, c]);
      expect(Array.from(got.dataSync()), `${n}x${c}, hidden ${r}`).toEqual(Array.from(want.dataSync()));
      if (c !== r) expect(() => tf.engine().runKernel(SE_GATE, { sums, w1: w2, b1, w2, b2 }, { voxels: 250, alpha: 0.2 })).toThrow(/do not fit/);
      tf.dispose([sums, w1, b1, w2, b2, got, want]);
    }
  });
});

describe('gradients of the fused kernels (training)', () => {
  const gradsOf = (f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] =>
    tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), dy)))(xs);

  it('SE gate: AnatomyNetSEGateGrad gives the composed gate\'s five gradients (1 to 3 cases, both LeakyReLU branches)', () => {
    registerCpuKernels();
    const gen = mulberry32(8);
    for (const [n, c, r] of [[1, 13, 3], [3, 70, 17], [2, 1, 1]]) {
      const sums = tf.mul(rand([n, c], gen), 500), w1 = rand([c, r], gen), b1 = rand([r], gen), w2 = rand([r, c], gen), b2 = rand([c], gen);
      const dgate = rand([n, c], gen);
      const attrs = { voxels: 250, alpha: 0.2 };
      const fused = gradsOf((...a) => tf.engine().runKernel(SE_GATE, { sums: a[0], w1: a[1], b1: a[2], w2: a[3], b2: a[4] }, attrs) as tf.Tensor, [sums, w1, b1, w2, b2], dgate);
      const composed = gradsOf((...a) => composedSeGate(a[0], a[1], a[2], a[3], a[4], 250, 0.2), [sums, w1, b1, w2, b2], dgate);
      const names = ['dsums', 'dw1', 'db1', 'dw2', 'db2'];
      for (const [i, g] of fused.entries()) expect(relErr(g, composed[i]), `${names[i]} at ${n}x${c}, hidden ${r}`).toBeLessThan(1e-6);
      expect(() => tf.engine().runKernel(SE_GATE_GRAD, { dgate: dgate.reshape([-1]), sums, w1, b1, w2, b2 }, attrs)).toThrow(/differ/);
      tf.dispose([sums, w1, b1, w2, b2, dgate, ...fused, ...composed]);
    }
  });

  it('SE backward at the voxels: sums of products and x * scale + shift equal the composed ops; misfit operands are refused', () => {
    registerCpuKernels();
    const gen = mulberry32(12);
    const a = rand([3, 301, 7], gen), b = rand([3, 301, 7], gen), s = rand([3, 7], gen), t = rand([3, 7], gen);
    const sums = tf.engine().runKernel(SUM_PRODUCTS, { a, b }) as tf.Tensor;
    const shifted = tf.engine().runKernel(SCALE_SHIFT, { x: a, scale: s, shift: t }) as tf.Tensor;
    expect(() => tf.engine().runKernel(SUM_PRODUCTS, { a, b: b.reshape([3, 7, 301]) })).toThrow(/do not fit/);
    expect(() => tf.engine().runKernel(SCALE_SHIFT, { x: a, scale: s.reshape([7, 3]), shift: t })).toThrow(/do not fit/);
    unregisterCpuKernels();
    expect(relErr(sums, tf.sum(tf.mul(a, b), 1))).toBeLessThan(1e-6);
    expect(relErr(shifted, tf.add(tf.mul(a, s.reshape([3, 1, 7])), t.reshape([3, 1, 7])))).toBeLessThan(1e-7);
    tf.dispose([a, b, s, t, sums, shifted]);
  });

  it.each(UPSAMPLE_CASES)('upsampling: the gradients of matMul, the 2x2x2 layout, crop, bias and concat (%s)', (_name, xs, cout, as) => {
    registerCpuKernels();
    const gen = mulberry32(14);
    const x = rand([...xs], gen), w = rand([xs[4], 8 * cout], gen), b = rand([cout], gen), append = rand([...as], gen);
    const dy = rand([...as.slice(0, 4), cout + as[4]], gen);
    const run = (...a: tf.Tensor[]) => tf.engine().runKernel(UPSAMPLE_CONCAT, { x: a[0], w: a[1], b: a[2], append: a[3] }, {}) as tf.Tensor;
    const fused = gradsOf(run, [x, w, b, append], dy);
    const composed = gradsOf((...a) => composedUpsampleConcat(a[0], a[1], a[2], a[3]), [x, w, b, append], dy);
    for (const [i, g] of fused.entries()) expect(relErr(g, composed[i]), ['x', 'w', 'b', 'append'][i]).toBeLessThan(1e-6);
    // the appended tensor off the gradient's path (the CT in the network): the other three alone
    const three = gradsOf((...a) => run(a[0], a[1], a[2], append), [x, w, b], dy);
    for (const [i, g] of three.entries()) expect(relErr(g, composed[i])).toBeLessThan(1e-6);
    tf.dispose([x, w, b, append, dy, ...fused, ...composed, ...three]);
  });

  it('residual sum: both addends get the LeakyReLU gradient of the sum, taken at the output', () => {
    registerCpuKernels();
    const gen = mulberry32(9);
    const a = rand([40, 7], gen), b = rand([40, 7], gen), dy = rand([40, 7], gen);
    // exact zeros of the sum: the gradient there is alpha dy in tfjs
    const b0 = tf.concat([tf.neg(a.slice([0, 0], [5, 7])), b.slice([5, 0], [35, 7])]);
    const fused = gradsOf((x, y) => tf.engine().runKernel(ADD_LEAKY_RELU, { a: x, b: y }, { alpha: 0.1 }) as tf.Tensor, [a, b0], dy);
    const composed = gradsOf((x, y) => tf.leakyRelu(tf.add(x, y), 0.1), [a, b0], dy);
    expect(Array.from(fused[0].dataSync())).toEqual(Array.from(composed[0].dataSync()));
    expect(Array.from(fused[1].dataSync())).toEqual(Array.from(composed[1].dataSync()));
    tf.dispose([a, b, b0, dy, ...fused, ...composed]);
  });

  it('conv with bias and LeakyReLU: the gradients of conv3d + bias (+ leakyRelu, slopes 0.01 and 0); negative slopes and norm inputs are refused', () => {
    registerCpuKernels();
    const gen = mulberry32(10);
    for (const stride of [1, 2] as const) {
      const x = rand([1, 5, 6, 7, 3], gen), filter = rand([3, 3, 3, 3, 5], gen), bias = rand([5], gen);
      const attrs = { strides: stride, pad: 'same', eps: 1e-5, activation: 'linear', alpha: 0.01 };
      const run = (a: tf.Tensor, w: tf.Tensor, bi: tf.Tensor, extra: object = {}) => tf.engine().runKernel(FUSED_CONV3D, { x: a, filter: w, bias: bi }, { ...attrs, ...extra }) as tf.Tensor;
      const dy = rand(run(x, filter, bias).shape, gen);
      const fused = gradsOf(run, [x, filter, bias], dy);
      const composed = gradsOf((a, w, bi) => tf.add(tf.conv3d(a as tf.Tensor5D, w as tf.Tensor5D, stride, 'same'), bi), [x, filter, bias], dy);
      for (const [i, g] of fused.entries()) expect(relErr(g, composed[i]), `input ${i}, stride ${stride}`).toBeLessThan(1e-6);
      for (const alpha of [0.01, 0]) {
        const leaky = gradsOf((a, w, bi) => run(a, w, bi, { activation: 'leakyrelu', alpha }), [x, filter, bias], dy);
        const want = gradsOf((a, w, bi) => tf.leakyRelu(tf.add(tf.conv3d(a as tf.Tensor5D, w as tf.Tensor5D, stride, 'same'), bi), alpha), [x, filter, bias], dy);
        for (const [i, g] of leaky.entries()) expect(relErr(g, want[i]), `input ${i}, stride ${stride}, slope ${alpha}`).toBeLessThan(1e-6);
        tf.dispose([...leaky, ...want]);
      }
      expect(() => gradsOf((a, w, bi) => run(a, w, bi, { activation: 'leakyrelu', alpha: -0.5 }), [x, filter, bias], dy)).toThrow(/needs alpha >= 0/);
      const mean = tf.zeros([5]);
      // the norm's gradient, asked for: refused
      expect(() => gradsOf((a, w, bi, m) => tf.engine().runKernel(FUSED_CONV3D, { x: a, filter: w, bias: bi, mean: m, variance: mean, gamma: mean, beta: mean }, attrs) as tf.Tensor, [x, filter, bias, mean], dy))
        .toThrow(/no gradient for the norm inputs/);
      tf.dispose([x, filter, bias, dy, mean, ...fused, ...composed]);
    }
  });
});

describe('training step of the network: fused kernels against the composed ops', () => {
  const small = { ...DEFAULT_MODEL_CONFIG, filters: [6, 8, 10], pools: 2, outputUpFilters: 4, outputFilters: 5, numClasses: 3 };
  it.each([
    ['SE-residual blocks, BatchNorm (the reference)', {}],
    ['residual blocks, instance norm, norm after the down-sampling conv', { block: 'residual', norm: 'instance', downsampleNorm: true }],
  ] as [string, Partial<ModelConfig>][])('%s: same gradients and running statistics; no bias add, sigmoid or separate residual activation', async (_name, over) => {
    const cfg = { ...small, ...over } as ModelConfig;
    const gen = mulberry32(21);
    const x = rand([2, 7, 10, 9, 1], gen) as tf.Tensor5D;
    const weights = rand([1, 1, 1, 1, cfg.numClasses], gen, 0.5, 2);
    const step = () => {
      const model = buildModel(cfg, { seed: 4 });
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(forward(model, x, { training: true }), weights)) as tf.Scalar, [...model.params.values()]);
      const stats = [...model.buffers.values()].map((v) => v.clone());
      model.dispose();
      return { value, grads: Object.values(grads), stats };
    };
    registerCpuKernels();
    const profiled = await tf.profile(step);
    const fused = profiled.result as unknown as ReturnType<typeof step>;
    const composed = await withoutFusions(step);
    expect(relErr(fused.value, composed.value)).toBeLessThan(1e-6);
    expect(fused.grads.length).toBe(composed.grads.length);
    for (const [i, g] of fused.grads.entries()) expect(relErr(g, composed.grads[i]), `gradient ${i}`).toBeLessThan(1e-4);
    for (const [i, t] of fused.stats.entries()) expect(relErr(t, composed.stats[i]), `running statistic ${i}`).toBeLessThan(1e-6);
    const names = profiled.kernels.map((k) => k.name);
    const model = buildModel(cfg, { seed: 4 });
    const convs = model.specs.filter((s) => s.name.endsWith('.w') && s.shape.length === 5).length;
    const gates = model.specs.filter((s) => s.name.endsWith('.fc1.w')).length;
    model.dispose();
    expect(names.filter((k) => k === FUSED_CONV3D).length).toBe(convs);
    // plain convs only in the upsamplings' gradients (a stride-2 conv over dy: fusion-gradients.ts)
    expect(names.filter((k) => k === 'Conv3D').length).toBeLessThanOrEqual(cfg.pools);
    expect(names.filter((k) => k === SE_GATE).length).toBe(gates);
    expect(names.filter((k) => k === SE_GATE_GRAD).length).toBe(gates);
    expect(names).not.toContain('Sigmoid');
    // each upsampling of the decoder and the output's, with their concatenations, one kernel each
    expect(names.filter((k) => k === UPSAMPLE_CONCAT).length).toBe(cfg.pools);
    // every residual block ends in one fused sum + LeakyReLU
    const blocks = model.specs.filter((s) => /\.b\d+\.conv1\.w$/.test(s.name)).length;
    expect(names.filter((k) => k === ADD_LEAKY_RELU).length).toBe(blocks);
    tf.dispose([fused.value, composed.value, ...fused.grads, ...composed.grads, ...fused.stats, ...composed.stats, x, weights]);
  });
});

describe('eval-mode forward of the network: fused kernels against the composed ops', () => {
  const small = { ...DEFAULT_MODEL_CONFIG, filters: [6, 8, 10], pools: 2, outputUpFilters: 4, outputFilters: 5, numClasses: 3 };
  const variants: [string, Partial<ModelConfig>][] = [
    ['SE-residual blocks, BatchNorm (the reference)', {}],
    ['residual blocks, norm after the down-sampling conv', { block: 'residual', downsampleNorm: true }],
    ['plain blocks, sum merge', { block: 'plain', merge: 'sum' }],
    ['no norm', { norm: 'none' }],
    ['instance norm (the conv and bias fused, the norm not)', { norm: 'instance' }],
  ];
  it.each(variants)('%s', async (_name, over) => {
    const cfg = { ...small, ...over } as ModelConfig;
    const model = buildModel(cfg, { seed: 3 });
    const gen = mulberry32(17);
    // trained-looking running statistics and affine parameters, so the norm is not the identity
    for (const [name, v] of [...model.buffers, ...model.params]) {
      if (/running(Mean|Var)|gamma|beta/.test(name)) {
        v.assign(rand(v.shape, gen, name.endsWith('Var') || name.endsWith('gamma') ? 0.5 : -0.5, name.endsWith('Var') || name.endsWith('gamma') ? 1.5 : 0.5));
      }
    }
    const x = rand([1, 7, 10, 9, 1], gen) as tf.Tensor5D;
    registerCpuKernels();
    const fusedRun = await tf.profile(() => predict(model, x));
    const fused = fusedRun.result as tf.Tensor;
    const composed = await withoutFusions(() => {
      expect(tf.getKernel(FUSED_CONV3D, 'cpu')).toBeUndefined();
      return predict(model, x);
    });
    expect(tf.getKernel(FUSED_CONV3D, 'cpu')).toBeDefined();
    expect(relErr(fused, composed)).toBeLessThan(1e-5);
    const kernels = fusedRun.kernels.map((k) => k.name);
    const convs = model.specs.filter((s) => s.name.endsWith('.w') && s.shape.length === 5).length;
    // every conv is fused; with instance norm only its bias (the norm and activation follow as ops)
    expect(kernels.filter((k) => k === FUSED_CONV3D).length).toBe(convs);
    expect(kernels).not.toContain('Conv3D');
    if (cfg.norm === 'instance') {
      expect(kernels).toContain(GROUP_NORM);
    } else {
      // LeakyReLU runs only inside the SE gates, on [N, hidden] vectors
      const voxelActs = fusedRun.kernels.filter((k) => k.name === 'LeakyRelu' && k.outputShapes[0]!.length > 2);
      expect(voxelActs).toEqual([]);
    }
    // every upsampling is one kernel with its crop and concat (decoder stages with a sum merge keep
    // theirs composed: two transposes each); no slice is left
    const concatUps = cfg.merge === 'concat' ? cfg.pools : 1;
    expect(kernels.filter((k) => k === UPSAMPLE_CONCAT)).toHaveLength(concatUps);
    expect(kernels.filter((k) => k === 'Transpose')).toHaveLength(2 * (cfg.pools - concatUps));
    expect(kernels).not.toContain('Slice');
    // every SE block's gate is one kernel, its scaling part of the residual sum's pass; no sigmoid is left
    const gates = model.specs.filter((s) => s.name.endsWith('.fc1.w')).length;
    expect(kernels.filter((k) => k === SE_GATE).length).toBe(gates);
    expect(kernels.filter((k) => k === SCALE_ADD_LEAKY_RELU).length).toBe(gates);
    if (gates > 0) expect(kernels).not.toContain('Multiply');
    expect(kernels).not.toContain('Sigmoid');
    tf.dispose([fused, composed, x]);
    model.dispose();
  });
});
