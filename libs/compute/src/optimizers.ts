/**
 * tfjs's RMSprop and momentum optimizers with each variable's update run as one fused kernel
 * (optimizer-kernels.ts) where the active backend registers it, and tfjs's own update elsewhere.
 *
 * Why: tfjs updates a variable with about 11 elementwise kernels (RMSprop) or 4 (momentum) and a
 * scalar upload per constant. The reference network has 104 variables, so RMSprop alone was over
 * 1,100 of a training step's ~2,500 dispatches on webgpu, and 22 ms of a 0.4 s smoke step on cpu.
 * Where the backend has the in-place form (webgpu), all variables are updated by one kernel call
 * that writes the values and slots where they are (two variables per dispatch there).
 * Same class names, slot variables and slot names as tfjs's, so checkpoints written by either load
 * into the other; on cpu the values are tfjs's bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { exclusiveData, MOMENTUM_UPDATE, MOMENTUM_UPDATE_IN_PLACE, RMSPROP_UPDATE, RMSPROP_UPDATE_IN_PLACE } from './optimizer-kernels';

interface Slot {
  originalName: string;
  variable: tf.Variable;
}

type VariableGradients = Parameters<tf.Optimizer['applyGradients']>[0] | Parameters<tf.MomentumOptimizer['applyGradients']>[0];

function gradientList(g: VariableGradients): { name: string; grad: tf.Tensor | undefined }[] {
  return Array.isArray(g) ? g.map((t) => ({ name: t.name, grad: t.tensor })) : Object.keys(g).map((name) => ({ name, grad: g[name] as tf.Tensor | undefined }));
}

/** Slot i, created as tfjs creates it (zeros like the variable, not trainable) on first use. */
function slotVariable(slots: Slot[], i: number, originalName: string, like: tf.Variable): tf.Variable {
  slots[i] ??= { originalName, variable: tf.tidy(() => tf.zerosLike(like).variable(false)) };
  return slots[i].variable;
}

const fusable = (kernel: string, ...ts: tf.Tensor[]) =>
  tf.getKernel(kernel, tf.getBackend()) !== undefined && ts.every((t) => t.dtype === 'float32');

/** One variable's update: its gradient and the variables the kernel rewrites, in the kernel's output order. */
interface Update {
  grad: tf.Tensor;
  written: Record<string, tf.Variable>;
}

/** An update may run in place when each rewritten tensor alone holds its data and the gradient is none of them. */
function inPlaceSafe(u: Update): boolean {
  const written = Object.values(u.written);
  return u.grad.dtype === 'float32' && written.every((t) => exclusiveData(t) && t.dataId !== u.grad.dataId);
}

/**
 * Runs `updates` through `inPlaceKernel` in one call where the backend registers it and each is
 * safe to run in place, and the rest one by one through `kernel`, assigning its outputs.
 */
function applyUpdates(kernel: string, inPlaceKernel: string, updates: Update[], attrs: Record<string, number>): void {
  const inPlace = tf.getKernel(inPlaceKernel, tf.getBackend()) ? updates.filter(inPlaceSafe) : [];
  if (inPlace.length > 0) {
    const inputs: tf.NamedTensorMap = {};
    inPlace.forEach((u, i) => {
      for (const [name, t] of Object.entries(u.written)) inputs[`${name}${i}`] = t;
      inputs[`grad${i}`] = u.grad;
    });
    tf.engine().runKernel(inPlaceKernel, inputs, { ...attrs, count: inPlace.length });
  }
  const handled = new Set(inPlace);
  for (const u of updates) {
    if (handled.has(u)) continue;
    tf.tidy(() => {
      const outputs = tf.engine().runKernel(kernel, { ...u.written, grad: u.grad }, attrs) as tf.Tensor[];
      Object.values(u.written).forEach((v, i) => v.assign(outputs[i]));
    });
  }
}

/** RMSprop (not centred) whose update is `AnatomyNetRmspropUpdate` where registered. */
export class FusedRmspropOptimizer extends tf.RMSPropOptimizer {
  override applyGradients(variableGradients: Parameters<tf.RMSPropOptimizer['applyGradients']>[0]): void {
    const slots = this as unknown as { centered: boolean; accumulatedMeanSquares: Slot[]; accumulatedMoments: Slot[] };
    const list = gradientList(variableGradients);
    const variables = list.map(({ name }) => tf.engine().registeredVariables[name]);
    if (slots.centered || !fusable(RMSPROP_UPDATE, ...variables)) {
      super.applyGradients(variableGradients);
      return;
    }
    const updates: Update[] = [];
    list.forEach(({ name, grad }, i) => {
      const value = variables[i];
      const meanSquare = slotVariable(slots.accumulatedMeanSquares, i, `${name}/rms`, value);
      const moment = slotVariable(slots.accumulatedMoments, i, `${name}/momentum`, value);
      if (grad != null) updates.push({ grad, written: { value, meanSquare, moment } });
    });
    const attrs = { lr: this.learningRate, decay: this.decay, momentum: this.momentum, epsilon: this.epsilon };
    applyUpdates(RMSPROP_UPDATE, RMSPROP_UPDATE_IN_PLACE, updates, attrs);
    this.incrementIterations();
  }
}

/** Momentum SGD (not Nesterov) whose update is `AnatomyNetMomentumUpdate` where registered. */
export class FusedMomentumOptimizer extends tf.MomentumOptimizer {
  override applyGradients(variableGradients: Parameters<tf.MomentumOptimizer['applyGradients']>[0]): void {
    const slots = this as unknown as { useNesterov: boolean; momentum: number; accumulations: Slot[] };
    const list = gradientList(variableGradients);
    const variables = list.map(({ name }) => tf.engine().registeredVariables[name]);
    if (slots.useNesterov || !fusable(MOMENTUM_UPDATE, ...variables)) {
      super.applyGradients(variableGradients);
      return;
    }
    const updates: Update[] = [];
    list.forEach(({ name, grad }, i) => {
      const value = variables[i];
      const accumulation = slotVariable(slots.accumulations, i, `${name}/momentum`, value);
      if (grad != null) updates.push({ grad, written: { value, accumulation } });
    });
    applyUpdates(MOMENTUM_UPDATE, MOMENTUM_UPDATE_IN_PLACE, updates, { lr: this.learningRate, momentum: slots.momentum });
    this.incrementIterations();
  }
}

/** Like tf.train.rmsprop. */
export const rmspropOptimizer = (lr: number, decay?: number, momentum?: number, epsilon?: number) =>
  new FusedRmspropOptimizer(lr, decay, momentum, epsilon);

/** Like tf.train.momentum (no Nesterov). */
export const momentumOptimizer = (lr: number, momentum: number) => new FusedMomentumOptimizer(lr, momentum);
