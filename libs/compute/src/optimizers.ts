/**
 * tfjs's RMSprop and momentum optimizers with each variable's update run as one fused kernel
 * (optimizer-kernels.ts) where the active backend registers it, and tfjs's own update elsewhere.
 *
 * Why: tfjs updates a variable with about 11 elementwise kernels (RMSprop) or 4 (momentum) and a
 * scalar upload per constant. The reference network has 104 variables, so RMSprop alone was over
 * 1,100 of a training step's ~2,500 dispatches on webgpu, and 22 ms of a 0.4 s smoke step on cpu.
 * Same class names, slot variables and slot names as tfjs's, so checkpoints written by either load
 * into the other; on cpu the values are tfjs's bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { MOMENTUM_UPDATE, RMSPROP_UPDATE } from './optimizer-kernels';

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

function runUpdate(kernel: string, inputs: tf.NamedTensorMap, attrs: Record<string, number>): tf.Tensor[] {
  return tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor[];
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
    const attrs = { lr: this.learningRate, decay: this.decay, momentum: this.momentum, epsilon: this.epsilon };
    list.forEach(({ name, grad }, i) => {
      const value = variables[i];
      const meanSquare = slotVariable(slots.accumulatedMeanSquares, i, `${name}/rms`, value);
      const moment = slotVariable(slots.accumulatedMoments, i, `${name}/momentum`, value);
      if (grad == null) return;
      tf.tidy(() => {
        const [v, ms, mom] = runUpdate(RMSPROP_UPDATE, { value, meanSquare, moment, grad }, attrs);
        meanSquare.assign(ms);
        moment.assign(mom);
        value.assign(v);
      });
    });
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
    const attrs = { lr: this.learningRate, momentum: slots.momentum };
    list.forEach(({ name, grad }, i) => {
      const value = variables[i];
      const accumulation = slotVariable(slots.accumulations, i, `${name}/momentum`, value);
      if (grad == null) return;
      tf.tidy(() => {
        const [v, acc] = runUpdate(MOMENTUM_UPDATE, { value, accumulation, grad }, attrs);
        accumulation.assign(acc);
        value.assign(v);
      });
    });
    this.incrementIterations();
  }
}

/** Like tf.train.rmsprop. */
export const rmspropOptimizer = (lr: number, decay?: number, momentum?: number, epsilon?: number) =>
  new FusedRmspropOptimizer(lr, decay, momentum, epsilon);

/** Like tf.train.momentum (no Nesterov). */
export const momentumOptimizer = (lr: number, momentum: number) => new FusedMomentumOptimizer(lr, momentum);
