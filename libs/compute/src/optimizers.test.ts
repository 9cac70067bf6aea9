/**
 * The fused optimizers against tfjs's own: bit for bit on cpu, close on webgpu (lavapipe in CI),
 * one kernel per variable (cpu) or one in-place kernel for all (webgpu), and checkpoints (slot names
 * and order) that either side loads.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCpuKernels, unregisterCpuKernels } from './cpu/kernels';
import { mulberry32 } from '@anatomynet/random';
import { MOMENTUM_UPDATE, MOMENTUM_UPDATE_IN_PLACE, RMSPROP_UPDATE, RMSPROP_UPDATE_IN_PLACE } from './optimizer-kernels';
import { FusedMomentumOptimizer, FusedRmspropOptimizer } from './optimizers';
import { selectBackend } from './backend';
import { adapterPromise, SKIP_NOTE } from './webgpu/test_util';
import { registerWebgpuKernels, WEBGPU_OWN_KERNELS, withoutOwnWebgpuKernels } from './webgpu/register';

/** Odd sizes, a scalar and a conv filter, as a model's variables are. */
const SHAPES = [[3, 3, 3, 5, 7], [7], [], [13, 2]];
let uid = 0;

/**
 * Fresh variables, each alone in its data as a model's are; with `initials`, the initial tensors
 * they were made from stay alive (and share their data) until the caller disposes them.
 */
function makeVariables(seed: number, initials?: tf.Tensor[]): tf.Variable[] {
  const r = mulberry32(seed);
  const id = uid++;
  return SHAPES.map((s, i) => {
    const init = tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1), s);
    const v = tf.variable(init, true, `opt_test_${id}_${i}`);
    if (initials) initials.push(init);
    else init.dispose();
    return v;
  });
}

/** Gradient of step k for variable i: the same on every side, of mixed sign and scale. */
function gradients(vars: tf.Variable[], k: number): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  vars.forEach((v, i) => {
    const r = mulberry32(1000 + 17 * k + i);
    out[v.name] = tf.tensor(Float32Array.from({ length: v.size }, () => (r() - 0.4) * 10 ** (-1 - (i % 3))), v.shape);
  });
  return out;
}

async function values(ts: tf.Tensor[]): Promise<number[][]> {
  return Promise.all(ts.map(async (t) => Array.from(await t.data())));
}

/**
 * Runs `steps` updates of `make()` on fresh variables (made from live initial tensors with `shared`);
 * returns the variables' and slots' values. The variables are read after every step, so a backend
 * that keeps a read-back copy must drop it when it updates in place.
 */
async function train(make: () => tf.Optimizer, steps = 3, seed = 5, shared = false) {
  const initials: tf.Tensor[] = [];
  const vars = makeVariables(seed, shared ? initials : undefined);
  const opt = make();
  for (let k = 0; k < steps; k++) {
    const g = gradients(vars, k);
    opt.applyGradients(g);
    tf.dispose(Object.values(g));
    await values(vars);
  }
  tf.dispose(initials);
  const weights = await opt.getWeights();
  const result = { vars: await values(vars), slots: await values(weights.slice(1).map((w) => w.tensor)), names: weights.map((w) => w.name) };
  opt.dispose();
  tf.dispose(vars);
  return result;
}

const OPTIMIZERS: [string, () => tf.Optimizer, () => tf.Optimizer, string, string][] = [
  ['RMSprop decay 0.99', () => new FusedRmspropOptimizer(2e-3, 0.99), () => tf.train.rmsprop(2e-3, 0.99), RMSPROP_UPDATE, RMSPROP_UPDATE_IN_PLACE],
  ['RMSprop with momentum 0.9', () => new FusedRmspropOptimizer(1e-3, 0.9, 0.9, 1e-6), () => tf.train.rmsprop(1e-3, 0.9, 0.9, 1e-6), RMSPROP_UPDATE, RMSPROP_UPDATE_IN_PLACE],
  ['momentum 0.9', () => new FusedMomentumOptimizer(1e-3, 0.9), () => tf.train.momentum(1e-3, 0.9), MOMENTUM_UPDATE, MOMENTUM_UPDATE_IN_PLACE],
];

describe('fused optimizers on cpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    registerCpuKernels();
  });
  afterAll(() => unregisterCpuKernels());

  it.each(OPTIMIZERS)('%s equals tfjs bit for bit, with the same slots and class name', async (_, fused, stock) => {
    const a = await train(fused), b = await train(stock);
    expect(a.vars).toEqual(b.vars);
    expect(a.slots).toEqual(b.slots);
    expect(a.names.map((n) => n.replace(/opt_test_\d+_/, ''))).toEqual(b.names.map((n) => n.replace(/opt_test_\d+_/, '')));
    expect(fused().getClassName()).toBe(stock().getClassName());
    // the update moved every variable
    const start = await values(makeVariables(5));
    a.vars.forEach((v, i) => expect(v).not.toEqual(start[i]));
  });

  it.each(OPTIMIZERS)('%s runs one kernel per variable', async (_, fused, _stock, kernel) => {
    const vars = makeVariables(9);
    const opt = fused();
    const g = gradients(vars, 0);
    opt.applyGradients(g); // creates the slots
    const info = await tf.profile(() => opt.applyGradients(g));
    expect(info.kernels.map((k) => k.name)).toEqual(vars.map(() => kernel));
    expect(info.newTensors).toBe(0);
    tf.dispose([...vars, ...Object.values(g)]);
    opt.dispose();
  });

  it('checkpoints cross over: stock slots loaded into the fused optimizer continue as stock does', async () => {
    const run = async (second: () => tf.Optimizer) => {
      const vars = makeVariables(11);
      const first = tf.train.rmsprop(2e-3, 0.99);
      const g0 = gradients(vars, 0);
      first.applyGradients(g0);
      const saved = await first.getWeights();
      const copy = saved.map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
      first.dispose();
      const opt = second();
      await opt.setWeights(copy);
      const g1 = gradients(vars, 1);
      opt.applyGradients(g1);
      const out = await values(vars);
      tf.dispose([...vars, ...Object.values(g0), ...Object.values(g1)]);
      opt.dispose();
      return out;
    };
    expect(await run(() => new FusedRmspropOptimizer(2e-3, 0.99))).toEqual(await run(() => tf.train.rmsprop(2e-3, 0.99)));
  });

  it('falls back to tfjs where the backend has no fused kernel', async () => {
    const withKernels = await train(() => new FusedRmspropOptimizer(2e-3, 0.99));
    unregisterCpuKernels();
    expect(tf.getKernel(RMSPROP_UPDATE, 'cpu')).toBeUndefined();
    const without = await train(() => new FusedRmspropOptimizer(2e-3, 0.99));
    registerCpuKernels();
    expect(without.vars).toEqual(withKernels.vars);
  });
});

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu optimizer tests ${SKIP_NOTE}`);

describe.skipIf(!adapter)(`fused optimizers on webgpu vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await selectBackend({ prefer: 'webgpu', log: () => undefined });
    // run everything on the GPU, not on tfjs-webgpu's CPU shortcut for small tensors
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    registerCpuKernels();
  });
  afterAll(async () => {
    unregisterCpuKernels();
    await tf.setBackend('cpu');
  });

  /** Each value within 1e-5 of the largest of its tensor in `b` (terms of opposite sign cancel in the moments). */
  const expectClose = (a: number[][], b: number[][]) => a.forEach((v, i) => {
    const scale = Math.max(...b[i].map(Math.abs));
    v.forEach((x, j) => expect(Math.abs(x - b[i][j])).toBeLessThanOrEqual(1e-5 * scale));
  });

  it.each(OPTIMIZERS)('%s: variables and slots within 1e-5 of cpu, all variables in one in-place kernel', async (_, fused, _stock, kernel, inPlace) => {
    await tf.setBackend('cpu');
    const cpu = await train(fused);
    await tf.setBackend('webgpu');
    expect(tf.getKernel(inPlace, 'webgpu')).toBeDefined();
    const gpu = await train(fused);
    expectClose(gpu.vars, cpu.vars);
    expectClose(gpu.slots, cpu.slots);

    const vars = makeVariables(13);
    const opt = fused();
    const g = gradients(vars, 0);
    opt.applyGradients(g);
    const before = tf.memory().numTensors;
    const info = await tf.profile(() => opt.applyGradients(g));
    expect(info.kernels.map((k) => k.name)).toEqual([inPlace]);
    expect(info.newTensors).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...vars, ...Object.values(g)]);
    opt.dispose();
    expect(kernel).not.toBe(inPlace);
  });

  it.each(OPTIMIZERS)('%s: in place equals the per-variable kernels; variables sharing their data take those', async (_, fused, _stock, kernel) => {
    await tf.setBackend('webgpu');
    const inPlace = await train(fused);
    // made from live initial tensors, no variable may be written in place (the initials would change)
    const initials: tf.Tensor[] = [];
    const vars = makeVariables(5, initials);
    const start = await values(initials);
    const opt = fused();
    const g = gradients(vars, 0);
    const info = await tf.profile(() => opt.applyGradients(g));
    expect(info.kernels.map((k) => k.name).filter((n) => n.startsWith('AnatomyNet'))).toEqual(vars.map(() => kernel));
    expect(await values(initials)).toEqual(start);
    tf.dispose([...vars, ...initials, ...Object.values(g)]);
    opt.dispose();
    const perVariable = await train(fused, 3, 5, true);
    expectClose(inPlace.vars, perVariable.vars);
    expectClose(inPlace.slots, perVariable.slots);
  });

  it('without the own kernels (a benchmark\'s A/B) the optimizers take tfjs\'s path, with the same result', async () => {
    await tf.setBackend('webgpu');
    const fused = await train(() => new FusedRmspropOptimizer(2e-3, 0.99));
    expect(withoutOwnWebgpuKernels()).toEqual(WEBGPU_OWN_KERNELS);
    expect(tf.getKernel(RMSPROP_UPDATE, 'webgpu')).toBeUndefined();
    const composed = await train(() => new FusedRmspropOptimizer(2e-3, 0.99));
    registerWebgpuKernels();
    expect(tf.getKernel(RMSPROP_UPDATE, 'webgpu')).toBeDefined();
    expectClose(composed.vars, fused.vars);
  });
});
