/**
 * The eval-mode fusions on webgpu (../fused-conv.ts) against the composed ops on the cpu backend:
 * the fused conv through each of its routes (untuned default, a GEMM tiling, the direct kernel,
 * Winograd in two chunks),
 * with and without BatchNorm and LeakyReLU, strides 1 and 2, odd sizes and channel counts not
 * divisible by 4; the one-pass residual sum; and the SE gate and its gradients.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { composedSeGate, composedUpsampleConcat, fusedConvReference, normInputs } from '../cpu/test-util';
import { ADD_LEAKY_RELU, FUSED_CONV3D, SCALE_ADD_LEAKY_RELU, SCALE_SHIFT, SE_GATE, SUM_PRODUCTS, UPSAMPLE_CONCAT } from '../fused-conv';
import { directCandidates, directGeometry } from './conv3d_direct';
import { SE_GATE_GRAD_BUFFERS, seGateGradOneDispatch, seGateGradPerOutput } from './se_gate';
import { defaultTiling, gemmMode } from './conv3d_gemm';
import { winogradCandidates, winogradChunkTiles } from './conv3d_winograd';
import { upsampleThreads } from './upsample_concat';
import { forceTiling, gemmPlan, type ConvTiling } from './gemm_plan';
import { adapterPromise, compareWithCpu, SKIP_NOTE, startWebgpu } from './test_util';

type V5 = [number, number, number, number, number];
interface Case { name: string; x: V5; f: V5; stride: 1 | 2; norm: boolean; alpha: number | null }

const CASES: Case[] = [
  { name: 'BatchNorm + LeakyReLU, 12 -> 20', x: [1, 5, 7, 9, 12], f: [3, 3, 3, 12, 20], stride: 1, norm: true, alpha: 0.01 },
  { name: 'stride 2, odd sizes, 5 -> 7, BatchNorm + LeakyReLU', x: [1, 7, 6, 9, 5], f: [3, 3, 3, 5, 7], stride: 2, norm: true, alpha: 0.2 },
  { name: 'bias only, 17 -> 10 (the output conv), batch 2', x: [2, 5, 11, 13, 17], f: [3, 3, 3, 17, 10], stride: 1, norm: false, alpha: null },
  { name: 'LeakyReLU without norm, 16 -> 6', x: [1, 4, 6, 7, 16], f: [3, 3, 3, 16, 6], stride: 1, norm: false, alpha: 0.01 },
  { name: 'BatchNorm + LeakyReLU, 24 -> 40, 264 tiles', x: [1, 12, 8, 22, 24], f: [3, 3, 3, 24, 40], stride: 1, norm: true, alpha: 0.01 },
  { name: '1x1x1 skip conv, 13 -> 18', x: [1, 4, 5, 6, 13], f: [1, 1, 1, 13, 18], stride: 1, norm: false, alpha: null },
];

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu fused conv tests ${SKIP_NOTE}`);

const info = (c: Case) => tf.backend_util.computeConv3DInfo(c.x, c.f, c.stride, 1, 'same');

/** Largest relative error of the fused kernel (webgpu) against the composed ops (cpu). */
async function errorOf(c: Case, seed: number): Promise<number> {
  const cout = c.f[4];
  const r = await compareWithCpu(
    [{ shape: c.x, seed }, { shape: c.f, seed: seed + 1 }, { shape: [cout], seed: seed + 2 }, { shape: [4, cout], seed: seed + 3 }],
    (x, f, bias, raw) => {
      // mean, variance > 0, gamma near 1, beta
      const [m, v, g, b] = tf.unstack(raw);
      const norm = c.norm ? tf.stack([m, tf.add(tf.abs(v), 0.3), tf.add(tf.mul(g, 0.5), 1), b]) as tf.Tensor2D : undefined;
      if (tf.getBackend() === 'cpu') return fusedConvReference(x as tf.Tensor5D, f as tf.Tensor5D, bias as tf.Tensor1D, norm, c.stride, 'same', 1e-5, c.alpha);
      return tf.engine().runKernel(FUSED_CONV3D, { x, filter: f, bias, ...normInputs(norm) },
        { strides: c.stride, pad: 'same', eps: 1e-5, activation: c.alpha === null ? 'linear' : 'leakyrelu', alpha: c.alpha ?? 0 }) as tf.Tensor;
    },
  );
  expect(r.shapes).toEqual(r.cpuShapes);
  await tf.setBackend('webgpu');
  return r.errors[0];
}

describe.skipIf(!adapter)(`webgpu eval-mode fusions vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  let bytes = 16384;
  beforeAll(async () => {
    bytes = await startWebgpu();
  });
  afterEach(() => forceTiling(undefined));

  CASES.forEach((c, ci) => {
    it(`fused conv agrees on every route: ${c.name}`, async () => {
      const routes: [string, ConvTiling | undefined][] = [['default', undefined]];
      routes.push(['GEMM', defaultTiling(c.f[4], gemmMode(c.f[3]), c.f[3])]);
      const g = directGeometry('forward', info(c));
      if (g) routes.push(['direct', directCandidates(g, bytes)[0]]);
      const w = gemmPlan('forward', info(c)).winograd;
      if (w) {
        // 1 MiB a chunk: 102 tiles of 40 channels, so the 264 tiles F(2) makes of the 24 -> 40 case take three chunks
        if (c.f[4] === 40) expect(winogradChunkTiles(w, 2, 1)).toBe(102);
        for (const m of [2, 4] as const) routes.push([`Winograd F(${m})`, { ...winogradCandidates(w).find((t) => t.m === m)!, mib: 1 }]);
      }
      for (const [route, t] of routes) {
        forceTiling(t);
        const e = await errorOf(c, 60 + 10 * ci);
        // F(4)'s transforms hold fractions down to 1/24: about 50x F(2)'s rounding (conv3d_winograd.ts)
        const bound = route === 'Winograd F(4)' ? 1e-4 : 2e-5;
        expect({ route, error: e }).toEqual({ route, error: expect.toSatisfy((v: number) => v < bound) });
      }
    });
  });

  it('Winograd compiles an output shader per epilogue: bias only, then LeakyReLU, then norm + LeakyReLU on one conv', async () => {
    const base: Case = { name: '', x: [1, 4, 6, 7, 16], f: [3, 3, 3, 16, 8], stride: 1, norm: false, alpha: null };
    const w = gemmPlan('forward', info(base)).winograd!;
    forceTiling(winogradCandidates(w)[0]);
    for (const c of [base, { ...base, alpha: 0.2 }, { ...base, norm: true, alpha: 0.2 }]) {
      const e = await errorOf(c, 90);
      expect({ norm: c.norm, alpha: c.alpha, error: e }).toEqual({ norm: c.norm, alpha: c.alpha, error: expect.toSatisfy((v: number) => v < 2e-5) });
    }
  });

  it('refuses an incomplete set of norm inputs, and per-channel inputs of the wrong length', () => {
    const x = tf.ones([1, 2, 2, 2, 1]), f = tf.ones([1, 1, 1, 1, 2]), bias = tf.zeros([2]), mean = tf.zeros([2]), three = tf.ones([3]);
    const attrs = { strides: 1, pad: 'same', eps: 1e-5, activation: 'linear', alpha: 0 };
    expect(() => tf.engine().runKernel(FUSED_CONV3D, { x, filter: f, bias, mean }, attrs)).toThrow(/give all of mean, variance, gamma, beta or none; got mean$/);
    expect(() => tf.engine().runKernel(FUSED_CONV3D, { x, filter: f, bias, mean, variance: mean, gamma: three, beta: mean }, attrs)).toThrow(/of 2 values expected/);
    tf.dispose([x, f, bias, mean, three]);
  });

  // 1,260 values run four a thread (vec4), 1,470 one
  it.each([6, 7])('the residual sum leakyRelu(a + b) agrees and refuses operands of different shapes: %i channels', async (c) => {
    const r = await compareWithCpu([{ shape: [2, 3, 5, 7, c], seed: 1 }, { shape: [2, 3, 5, 7, c], seed: 2 }], (a, b) =>
      (tf.getBackend() === 'cpu' ? tf.leakyRelu(tf.add(a, b), 0.01) : tf.engine().runKernel(ADD_LEAKY_RELU, { a, b }, { alpha: 0.01 }) as tf.Tensor));
    await tf.setBackend('webgpu');
    expect(r.errors[0]).toBeLessThan(1e-6);
    const a = tf.ones([2, 3]), b = tf.ones([3, 2]);
    expect(() => tf.engine().runKernel(ADD_LEAKY_RELU, { a, b }, { alpha: 0.01 })).toThrow(/one shape/);
    tf.dispose([a, b]);
  });

  // 5,000 rows: past one lanes workgroup's 2,048, so the sums take a second pass; 8 channels: x * scale + shift
  // (and with 5,000 rows the lanes pass) on vec4s
  it.each([[2, 37, 6], [1, 5000, 13], [2, 37, 8], [1, 5000, 8]])('the SE backward\'s sums of products and x * scale + shift agree: %i cases, %i rows, %i channels', async (n, r, c) => {
    const res = await compareWithCpu(
      [{ shape: [n, r, c], seed: 21 }, { shape: [n, r, c], seed: 22 }, { shape: [n, c], seed: 23 }, { shape: [n, c], seed: 24 }],
      (a, b, s, t) => (tf.getBackend() === 'cpu'
        ? [tf.sum(tf.mul(a, b), 1), tf.add(tf.mul(a, s.reshape([n, 1, c])), t.reshape([n, 1, c]))]
        : [tf.engine().runKernel(SUM_PRODUCTS, { a, b }) as tf.Tensor, tf.engine().runKernel(SCALE_SHIFT, { x: a, scale: s, shift: t }) as tf.Tensor]));
    await tf.setBackend('webgpu');
    expect(res.shapes).toEqual([[n, c], [n, r, c]]);
    expect(res.errors[0]).toBeLessThan(1e-5);
    expect(res.errors[1]).toBeLessThan(1e-6);
  });

  // 6 channels run one value a thread, 8 four (vec4)
  it.each([6, 8])('the SE-residual end leakyRelu(a * scale + b) agrees (scale per case and channel) and refuses misfit operands: %i channels', async (c) => {
    const r = await compareWithCpu([{ shape: [2, 3, 5, 7, c], seed: 1 }, { shape: [2, c], seed: 3 }, { shape: [2, 3, 5, 7, c], seed: 2 }], (a, s, b) =>
      (tf.getBackend() === 'cpu'
        ? tf.leakyRelu(tf.add(tf.mul(a, s.reshape([2, 1, 1, 1, c])), b), 0.01)
        : tf.engine().runKernel(SCALE_ADD_LEAKY_RELU, { a, scale: s, b }, { alpha: 0.01 }) as tf.Tensor));
    await tf.setBackend('webgpu');
    expect(r.errors[0]).toBeLessThan(1e-6);
    const a = tf.ones([2, 3, 6]), s = tf.ones([3, 6]);
    expect(() => tf.engine().runKernel(SCALE_ADD_LEAKY_RELU, { a, scale: s, b: a }, { alpha: 0.01 })).toThrow(/do not fit/);
    tf.dispose([a, s]);
  });

  // 5 output channels are summed one a lane, 8 four (vec4); 420 voxels: 6 workgroups of 64 and a part;
  // 128 channels: 130 values a voxel, so 32 voxels a workgroup where workgroup memory is 32 KiB (lavapipe)
  it('the upsampling takes fewer voxels a workgroup where 64 voxels\' outputs exceed its memory', () => {
    expect(upsampleThreads(17, 16384)).toBe(64);
    expect(upsampleThreads(130, 32768)).toBe(32);
    expect(upsampleThreads(130, 16384)).toBe(16);
  });
  it.each([5, 8, 128])('the output upsampling (transposed conv, bias, crop, appended input) agrees, and refuses misfit operands: %i channels', async (cout) => {
    const r = await compareWithCpu(
      [{ shape: [2, 3, 4, 3, 6], seed: 11 }, { shape: [6, 8 * cout], seed: 12 }, { shape: [cout], seed: 13 }, { shape: [2, 5, 7, 6, 2], seed: 14 }],
      (x, w, b, append) => (tf.getBackend() === 'cpu'
        ? composedUpsampleConcat(x, w, b, append)
        : tf.engine().runKernel(UPSAMPLE_CONCAT, { x, w, b, append }, {}) as tf.Tensor));
    await tf.setBackend('webgpu');
    expect(r.shapes[0]).toEqual([2, 5, 7, 6, cout + 2]);
    expect(r.errors[0]).toBeLessThan(1e-6);
    const x = tf.zeros([1, 2, 2, 2, 3]), w = tf.zeros([3, 16]), b = tf.zeros([2]), big = tf.zeros([1, 5, 4, 4, 1]);
    expect(() => tf.engine().runKernel(UPSAMPLE_CONCAT, { x, w, b, append: big }, {})).toThrow(/do not fit/);
    tf.dispose([x, w, b, big]);
  });

  // 70 channels and 70 hidden units: more than the workgroup's 64 threads, so each thread loops
  it.each([[2, 13, 3], [1, 70, 17], [1, 56, 70]])('the SE gate agrees with the composed ops: %i cases, %i channels, %i hidden', async (n, c, r) => {
    const res = await compareWithCpu(
      [{ shape: [n, c], seed: 3 }, { shape: [c, r], seed: 4 }, { shape: [r], seed: 5 }, { shape: [r, c], seed: 6 }, { shape: [c], seed: 7 }],
      (sums, w1, b1, w2, b2) => {
        const big = tf.mul(sums, 300);
        return tf.getBackend() === 'cpu'
          ? composedSeGate(big, w1, b1, w2, b2, 123, 0.01)
          : tf.engine().runKernel(SE_GATE, { sums: big, w1, b1, w2, b2 }, { voxels: 123, alpha: 0.01 }) as tf.Tensor;
      });
    await tf.setBackend('webgpu');
    expect(res.shapes).toEqual([[n, c]]);
    expect(res.errors[0]).toBeLessThan(1e-6);
  });

  it.each([[3, 13, 3], [1, 70, 17], [2, 56, 70]])('the SE gate\'s gradients (AnatomyNetSEGateGrad) agree with the composed ones: %i cases, %i channels, %i hidden', async (n, c, r) => {
    const res = await compareWithCpu(
      [{ shape: [n, c], seed: 3 }, { shape: [c, r], seed: 4 }, { shape: [r], seed: 5 }, { shape: [r, c], seed: 6 }, { shape: [c], seed: 7 }, { shape: [n, c], seed: 8 }],
      (sums, w1, b1, w2, b2, dgate) => {
        const loss = (...a: tf.Tensor[]) => {
          const [s, v1, c1, v2, c2] = a;
          const gate = tf.getBackend() === 'cpu'
            ? composedSeGate(s, v1, c1, v2, c2, 123, 0.01)
            : tf.engine().runKernel(SE_GATE, { sums: s, w1: v1, b1: c1, w2: v2, b2: c2 }, { voxels: 123, alpha: 0.01 }) as tf.Tensor;
          return tf.sum(tf.mul(gate, dgate));
        };
        return tf.grads(loss)([tf.mul(sums, 300), w1, b1, w2, b2]);
      });
    await tf.setBackend('webgpu');
    expect(res.shapes).toEqual([[n, c], [c, r], [r], [r, c], [c]]);
    for (const e of res.errors) expect(e).toBeLessThan(1e-5);
  });

  it('the gate\'s gradients in one dispatch equal the five-program fallback (devices with fewer storage buffers)', async () => {
    await startWebgpu();
    expect((tf.backend() as unknown as { device: GPUDevice }).device.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(SE_GATE_GRAD_BUFFERS);
    const [n, c, r] = [3, 70, 17];
    const make = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
    const inputs = { dgate: make([n, c], 1), sums: tf.mul(make([n, c], 2), 300), w1: make([c, r], 3), b1: make([r], 4), w2: make([r, c], 5), b2: make([c], 6) };
    const backend = tf.backend() as never;
    const uniforms = [{ type: 'float32' as const, data: [123] }, { type: 'float32' as const, data: [0.01] }];
    const read = (infos: tf.TensorInfo[]) => Promise.all(infos.map(async (t) => {
      const v = tf.engine().makeTensorFromTensorInfo(t);
      const values = Array.from(await v.data());
      v.dispose();
      return values;
    }));
    const one = await read(seGateGradOneDispatch(backend, inputs, n, c, r, uniforms));
    const five = await read(seGateGradPerOutput(backend, inputs, n, c, r, uniforms));
    expect(one).toEqual(five);
    expect(one[1].some((v) => v !== 0)).toBe(true);
    tf.dispose(Object.values(inputs));
  });
});
