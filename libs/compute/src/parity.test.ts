/**
 * The AnatomyNet model (libs/model) gives the same loss and gradients on webgpu (with this
 * project's kernels) as on the cpu backend: one training-mode forward (batch statistics), a soft
 * Dice loss and the gradient of every trainable variable, at 8x16x16 with small filters.
 * Tolerance: loss within 1e-4 relative; each gradient's max |webgpu - cpu| within 2e-3 of
 * max(that gradient's max |cpu|, 1e-4 x the largest gradient): float32 sums run in a different order,
 * and some gradients are mathematically zero (conv biases before BatchNorm) and hold only noise.
 * The initial weights are perturbed so that no activation sits on a kink: with fresh BatchNorm
 * (beta = 0) the SE input is a mean of exactly zero, pure rounding noise whose sign would pick the
 * LeakyReLU branch differently on each backend.
 */
import * as tf from '@tensorflow/tfjs';
import { buildLoss } from '@anatomynet/losses';
import { buildModel, DEFAULT_MODEL_CONFIG, forward, predict, trainStep, type AnatomyNetModel } from '@anatomynet/model';
import { FUSED_CONV3D, SCALE_ADD_LEAKY_RELU, SE_GATE, UPSAMPLE_CONCAT } from './fused-conv';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backend';
import { rmspropOptimizer } from './optimizers';
import { bindGroupCacheStats } from './webgpu/bind_groups';
import { gpuPoolStats, useBestFitGpuBuffers } from './webgpu/memory';
import { forceTiling, gemmPlan, winogradFor, type ConvTiling } from './webgpu/gemm_plan';
import { adapterPromise, programsOf, seededValues, SKIP_NOTE } from './webgpu/test_util';

const CONFIG = { ...DEFAULT_MODEL_CONFIG, filters: [8, 12], numClasses: 3, outputUpFilters: 4, outputFilters: 6 };
const SHAPE = [1, 8, 16, 16, 1];

/** Soft Dice over all classes: 1 - mean_c 2 sum(p g) / (sum p + sum g). */
function softDice(p: tf.Tensor5D, g: tf.Tensor): tf.Scalar {
  const pf = p.reshape([-1, p.shape[4]]);
  const gf = g.reshape([-1, p.shape[4]]);
  const inter = tf.sum(tf.mul(pf, gf), 0);
  const denom = tf.add(tf.sum(pf, 0), tf.sum(gf, 0));
  return tf.sub(1, tf.mean(tf.div(tf.mul(2, inter), tf.add(denom, 1e-5)))) as tf.Scalar;
}

/** One-hot labels of three nested boxes, deterministic. */
function labels(): tf.Tensor {
  const [, D, H, W] = SHAPE;
  const lab = new Int32Array(D * H * W);
  for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    const inner = d >= 2 && d < 6 && h >= 4 && h < 12 && w >= 3 && w < 13;
    const core = d >= 3 && d < 5 && h >= 6 && h < 10 && w >= 6 && w < 10;
    lab[(d * H + h) * W + w] = core ? 2 : inner ? 1 : 0;
  }
  return tf.oneHot(tf.tensor1d(lab, 'int32'), CONFIG.numClasses).reshape([...SHAPE.slice(0, 4), CONFIG.numClasses]);
}

/** The test network with its weights perturbed (see the header). */
function perturbedModel(): AnatomyNetModel {
  const model = buildModel(CONFIG, { seed: 7 });
  let seed = 1000;
  for (const v of model.params.values()) {
    v.assign(tf.tidy(() => tf.add(v, tf.mul(0.1, tf.tensor(seededValues(v.size, seed++), v.shape)))));
  }
  return model;
}

type Loss = (p: tf.Tensor5D, g: tf.Tensor) => tf.Scalar;

async function lossAndGrads(backend: string, recompute = false, lossFn: Loss = softDice): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  await tf.setBackend(backend);
  const model = perturbedModel();
  const x = tf.tensor(seededValues(SHAPE.reduce((a, b) => a * b, 1), 11), SHAPE);
  const g = labels();
  const { value, grads } = tf.variableGrads(() => lossFn(forward(model, x, { training: true, recompute }), g), [...model.params.values()]);
  const loss = (await value.data())[0];
  const out = new Map<string, Float32Array>();
  for (const [name, v] of model.params) out.set(name, (await grads[v.name].data()) as Float32Array);
  tf.dispose([x, g, value, ...Object.values(grads)]);
  model.dispose();
  return { loss, grads: out };
}

/** A Winograd tiling valid for every stride-1 3x3x3 conv of CONFIG, forward, dx and dW alike (8-deep slabs, 1 MiB chunks). */
const WINOGRAD: ConvTiling = { algo: 'winograd', m: 2, gemm: { tm: 128, rm: 8, tk: 8, tnt: 8, rn: 2, bv: true }, mib: 1 };

const adapter = await adapterPromise;
if (!adapter) console.warn(`model parity test ${SKIP_NOTE}`);

describe.skipIf(!adapter)(`AnatomyNet cpu/webgpu parity${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await selectBackend({ prefer: 'webgpu', log: () => undefined });
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  });

  /**
   * Runs `f` on webgpu with every buffer request served best fit (from 0 bytes, not 1 MiB: at these
   * sizes it would never engage), and checks that larger buffers did serve some.
   */
  async function withBestFit<T>(on: boolean, f: () => Promise<T>): Promise<T> {
    if (!on) return f();
    await tf.setBackend('webgpu');
    const before = gpuPoolStats().largerServed;
    useBestFitGpuBuffers(true, 0);
    try {
      return await f();
    } finally {
      useBestFitGpuBuffers(false);
      expect(gpuPoolStats().largerServed).toBeGreaterThan(before);
    }
  }

  // recomputed blocks (libs/model, the whole-volume path) run the norm's gradient inside a block's own
  // backward; best fit: tensors in buffers larger than themselves (memory.ts)
  // Winograd: forced on every stride-1 3x3x3 conv it serves (forward and dx; 1 MiB chunks)
  it.each([[false, false, false], [true, false, false], [true, true, false], [true, true, true]])('forward + soft Dice + gradients of every parameter agree at 8x16x16 (webgpu blocks recomputed: %s, best-fit buffers: %s, Winograd: %s)', async (recompute, bestFit, winograd) => {
    forceTiling(winograd ? WINOGRAD : undefined);
    const gpu = await withBestFit(bestFit, () => lossAndGrads('webgpu', recompute)).finally(() => forceTiling(undefined));
    const cpu = await lossAndGrads('cpu');
    expect(Number.isFinite(cpu.loss) && cpu.loss > 0 && cpu.loss < 1).toBe(true);
    expectParity(gpu, cpu);
  });

  // libs/losses runs the voxel sums of its Dice and focal terms as the backends' fused kernels (on
  // webgpu loss_sums.ts, reading the one-hot labels' int32 buffer), their gradients as one pass each
  it('the trainer\'s loss (Dice + focal) and the gradients of every parameter agree at 8x16x16', async () => {
    const dicePlusFocal = buildLoss({ name: 'dice+focal' });
    const lossFn: Loss = (p, g) => dicePlusFocal(p, g);
    const gpu = await programsOf(() => lossAndGrads('webgpu', false, lossFn));
    const cpu = await lossAndGrads('cpu', false, lossFn);
    expect(gpu.keys.filter((k) => /soft_counts_grad|focal_grad_p/.test(k))).toHaveLength(2);
    expect(Number.isFinite(cpu.loss) && cpu.loss > 0).toBe(true);
    expectParity(gpu.result, cpu);
  });

  // No kernel of a training step sums in an order that varies (atomics, races): tfjs's own split-K
  // matmul adds with atomics, and a step's sums over voxels once ran through it.
  it.each([false, true])('the trainer\'s loss and every gradient are bit-identical run to run on webgpu (best-fit buffers and Winograd: %s)', async (winograd) => {
    const dicePlusFocal = buildLoss({ name: 'dice+focal' });
    const lossFn: Loss = (p, g) => dicePlusFocal(p, g);
    forceTiling(winograd ? WINOGRAD : undefined);
    try {
      const [a, b] = [await withBestFit(winograd, () => lossAndGrads('webgpu', false, lossFn)), await withBestFit(winograd, () => lossAndGrads('webgpu', false, lossFn))];
      expect(b.loss).toBe(a.loss);
      for (const [name, ga] of a.grads) expect(Buffer.from(b.grads.get(name)!.buffer).equals(Buffer.from(ga.buffer)), name).toBe(true);
    } finally {
      forceTiling(undefined);
    }
  });

  /** The loss within 1e-4 (relative) and each parameter's gradient as the header says. */
  function expectParity(gpu: { loss: number; grads: Map<string, Float32Array> }, cpu: { loss: number; grads: Map<string, Float32Array> }): void {
    expect(Math.abs(gpu.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-4);
    expect([...gpu.grads.keys()]).toEqual([...cpu.grads.keys()]);
    const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const floor = 1e-4 * Math.max(...[...cpu.grads.values()].map(maxAbs));
    const worst: { name: string; err: number }[] = [];
    for (const [name, c] of cpu.grads) {
      const gv = gpu.grads.get(name)!;
      let diff = 0;
      for (let i = 0; i < c.length; i++) diff = Math.max(diff, Math.abs(gv[i] - c[i]));
      worst.push({ name, err: diff / Math.max(maxAbs(c), floor) });
    }
    worst.sort((a, b) => b.err - a.err);
    console.info(`parity: loss cpu ${cpu.loss} webgpu ${gpu.loss}; worst gradient ${worst[0].name} ${worst[0].err.toExponential(2)}`);
    expect(worst[0].err, `worst gradient ${worst[0].name}`).toBeLessThan(2e-3);
  }

  it.each([false, true])('model.trainStep runs on webgpu: same loss as cpu, weights and BatchNorm statistics updated (best-fit buffers: %s)', async (bestFit) => {
    const step = async (backend: string) => {
      await tf.setBackend(backend);
      const model = perturbedModel();
      const x = tf.tensor(seededValues(SHAPE.reduce((a, b) => a * b, 1), 11), SHAPE);
      const g = labels();
      const opt = tf.train.sgd(0.5);
      const w = model.params.get('out.conv2.w')!;
      const before = await w.data();
      const rm = [...model.buffers.entries()].find(([n]) => n.endsWith('runningMean'))![1];
      const rmBefore = await rm.data();
      const loss = await trainStep(model, opt, x, (p) => softDice(p, g));
      const after = await w.data();
      const rmAfter = await rm.data();
      const changed = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).some((v, i) => v !== b[i]);
      // every running mean and variance (on webgpu written in place, after rm's read above)
      const stats = await Promise.all([...model.buffers.values()].map(async (b) => Array.from(await b.data())));
      const res = { loss, wChanged: changed(before, after), statsChanged: changed(rmBefore, rmAfter), after, stats };
      tf.dispose([x, g]);
      opt.dispose();
      model.dispose();
      return res;
    };
    const gpu = await withBestFit(bestFit, () => step('webgpu'));
    const cpu = await step('cpu');
    expect(Math.abs(gpu.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-4);
    expect(gpu.wChanged && gpu.statsChanged).toBe(true);
    const err = Array.from(gpu.after).reduce((m, v, i) => Math.max(m, Math.abs(v - cpu.after[i])), 0);
    expect(err).toBeLessThan(1e-5);
    gpu.stats.forEach((s, i) => {
      const scale = Math.max(...cpu.stats[i].map(Math.abs));
      s.forEach((v, j) => expect(Math.abs(v - cpu.stats[i][j])).toBeLessThanOrEqual(1e-5 * scale));
    });
  });

  // tf.ones (and tfjs's Sum and Mean gradients, built on it) fill their values in JavaScript and upload
  // them on every call: at 178x302x225 about 1 GB per training step of the bench's soft Dice.
  it('a training step and an eval forward upload nothing voxel-sized from JavaScript (ones and broadcasts stay on the GPU)', async () => {
    await tf.setBackend('webgpu');
    const backend = tf.backend() as unknown as { uploadToGPU(id: object): void; tensorMap: { get(id: object): { values?: ArrayLike<number> } | undefined } };
    const model = perturbedModel();
    const x = tf.tensor(seededValues(SHAPE.reduce((a, b) => a * b, 1), 11), SHAPE);
    const g = labels();
    const opt = tf.train.sgd(0.1);
    const step = () => trainStep(model, opt, x, (p) => softDice(p, g), { recompute: false });
    await step(); // uploads the weights, the input and the labels once
    const upload = backend.uploadToGPU.bind(backend);
    const sizes: number[] = [];
    backend.uploadToGPU = (id) => {
      const values = backend.tensorMap.get(id)?.values;
      if (values) sizes.push(values.length);
      upload(id);
    };
    try {
      await step();
      await trainStep(model, opt, x, (p) => softDice(p, g), { recompute: true });
      const y = predict(model, x);
      await y.data();
      y.dispose();
    } finally {
      backend.uploadToGPU = upload;
    }
    // scalars and per-class vectors only; a ones row or a ones [voxels, classes] would be >= 2048 values
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(CONFIG.numClasses);
    tf.dispose([x, g]);
    opt.dispose();
    model.dispose();
  });

  // webgpu/bind_groups.ts: with the in-place optimizer and the pool's lowest-number order, a step
  // binds the same buffers as the one before, so tfjs's per-dispatch bind groups come from the cache
  it('RMSprop training steps make no new bind groups once the buffer pool has settled', async () => {
    await tf.setBackend('webgpu');
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const model = perturbedModel();
    const x = tf.tensor(seededValues(SHAPE.reduce((a, b) => a * b, 1), 11), SHAPE);
    const g = labels();
    const opt = rmspropOptimizer(2e-3, 0.99, 0, 1e-8);
    const misses: number[] = [];
    const hits: number[] = [];
    for (let i = 0; i < 10; i++) {
      await trainStep(model, opt, x, (p) => softDice(p, g));
      const stats = bindGroupCacheStats(device)!;
      misses.push(stats.misses);
      hits.push(stats.hits);
    }
    // settled within a few steps; the last three make none
    expect(misses[9]).toBe(misses[6]);
    // about 190 dispatches a step for this small network, all from the cache
    expect(hits[9] - hits[8]).toBeGreaterThan(150);
    tf.dispose([x, g]);
    opt.dispose();
    model.dispose();
  });

  it('the forced Winograd tiling serves the decoder\'s 20 -> 8 conv, its dx and its dW, not the stride-2 or the 1x1 convs', () => {
    forceTiling(WINOGRAD);
    try {
      const conv = (cin: number, cout: number, k: number, stride: number) => tf.backend_util.computeConv3DInfo([1, 4, 8, 8, cin], [k, k, k, cin, cout], stride, 1, 'same');
      expect(winogradFor(gemmPlan('forward', conv(20, 8, 3, 1)))?.tiling).toEqual(WINOGRAD);
      expect(winogradFor(gemmPlan('dx', conv(20, 8, 3, 1)))?.tiling).toEqual(WINOGRAD);
      expect(winogradFor(gemmPlan('dw', conv(20, 8, 3, 1)))?.tiling).toEqual(WINOGRAD);
      expect(winogradFor(gemmPlan('forward', conv(8, 8, 3, 2)))).toBeUndefined();
      expect(winogradFor(gemmPlan('dw', conv(8, 8, 3, 2)))).toBeUndefined();
      expect(winogradFor(gemmPlan('forward', conv(20, 8, 1, 1)))).toBeUndefined();
    } finally {
      forceTiling(undefined);
    }
  });

  it.each([false, true])('eval-mode forward (fused conv + norm + LeakyReLU, fused SE gate, SE scaling in the residual sum, fused upsampling) agrees with the cpu backend (Winograd: %s)', async (winograd) => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const model = perturbedModel();
      // running statistics away from their initial 0 / 1, so the folded norm is not the identity
      let seed = 2000;
      for (const [name, v] of model.buffers) {
        const u = tf.tensor(seededValues(v.size, seed++), v.shape);
        v.assign(name.endsWith('runningVar') ? tf.add(tf.abs(u), 0.5) : tf.mul(u, 0.3));
        u.dispose();
      }
      const x = tf.tensor(seededValues(SHAPE.reduce((a, b) => a * b, 1), 11), SHAPE);
      const info = await tf.profile(() => predict(model, x));
      const y = info.result as tf.Tensor;
      const values = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
      model.dispose();
      return { values, kernels: info.kernels.map((k) => k.name) };
    };
    forceTiling(winograd ? WINOGRAD : undefined);
    const gpu = await run('webgpu').finally(() => forceTiling(undefined));
    const cpu = await run('cpu');
    expect(gpu.kernels).toContain(FUSED_CONV3D);
    expect(gpu.kernels).toContain(SCALE_ADD_LEAKY_RELU);
    expect(gpu.kernels).toContain(SE_GATE);
    expect(gpu.kernels).toContain(UPSAMPLE_CONCAT);
    expect(gpu.kernels).not.toContain('Conv3D');
    expect(gpu.kernels).not.toContain('Sigmoid');
    const err = gpu.values.reduce((m, v, i) => Math.max(m, Math.abs(v - cpu.values[i])), 0);
    expect(err).toBeLessThan(1e-5);
  });
});
