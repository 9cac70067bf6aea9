/**
 * The fused group normalisation's kernel names and its gradient, for every backend that registers
 * `AnatomyNetGroupNorm` (cpu: cpu/fused-kernels.ts; webgpu: webgpu/group_norm.ts). libs/model's
 * normalizeGroups calls the forward where the active backend has it. With attrs {alpha} the forward
 * ends in a LeakyReLU of that slope, and the backward kernels below take beta as well and apply the
 * LeakyReLU's gradient to dy first (at the norm's output, which they recompute): no activation pass
 * in the forward, no LeakyRelu gradient pass and no saved pre-activation tensor.
 * - `AnatomyNetGroupNormGrad` {dy, x, mean, variance, gamma(, beta)} -> [dx, dgamma, dbeta]: a
 *   one-pass backward (cpu), whose dgamma and dbeta are read back, a few values each.
 * - `AnatomyNetGroupNormSums` {dy, x, mean, variance(, gamma, beta)} -> [sum dy, sum dy xhat]
 *   ([G,1,C]) and `AnatomyNetGroupNormDx` {dy, x, mean, variance, gamma, sumDy, sumDyXhat(, beta)}
 *   -> dx: the backward without read-backs (webgpu), dgamma and dbeta being sums of the two over
 *   groups.
 * All take attrs {eps(, alpha)}.
 * - `AnatomyNetRunningStatsInPlace` {runningMean0, runningVar0, mean0, variance0, ...} ([C] each),
 *   attrs {momentum, correction, count}: running = running (1 - momentum) + momentum batch, the
 *   batch variance times `correction` (rows / (rows - 1)) first, written into the running tensors,
 *   which no other tensor may share (libs/model updateRunningStats checks); returns nothing.
 */
import { getBackend, getKernel, registerGradient, reshape, sum, tensor, type GradConfig, type Tensor } from '@tensorflow/tfjs-core';
import { runFused as run } from './fused-gradients';

export const GROUP_NORM = 'AnatomyNetGroupNorm';
export const GROUP_NORM_GRAD = 'AnatomyNetGroupNormGrad';
export const GROUP_NORM_SUMS = 'AnatomyNetGroupNormSums';
export const GROUP_NORM_DX = 'AnatomyNetGroupNormDx';
export const RUNNING_STATS_IN_PLACE = 'AnatomyNetRunningStatsInPlace';

/**
 * Gradient of the fused norm. tfjs asks for each input's gradient in its own tidy. With the
 * one-pass kernel, the first asked runs it once and keeps dgamma and dbeta (C values) as plain
 * arrays for the others. Otherwise the per-channel sums are computed once, outside the closures
 * (they live until the backward pass ends: [G, 1, C] values), and each closure uses them.
 */
const groupNormGradConfig: GradConfig = {
  kernelName: GROUP_NORM,
  inputsToSave: ['x', 'gamma', 'beta'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const dy = (Array.isArray(dys) ? dys[0] : dys) as Tensor;
    const [x, gamma, savedBeta, mean, variance] = saved;
    // the kernels recompute the norm's output for the LeakyReLU's gradient (beta needed only then)
    const beta: Record<string, Tensor> = attrs.alpha === undefined ? {} : { beta: savedBeta };
    if (getKernel(GROUP_NORM_GRAD, getBackend()) === undefined) {
      const [sumDy, sumDyXhat] = run(GROUP_NORM_SUMS, { dy, x, mean, variance, gamma, ...beta }, attrs);
      // [G, 1, C] summed over the groups; batch norm has one group, whose sums are the answer
      const overGroups = (t: Tensor) => (t.shape[0] === 1 ? reshape(t, gamma.shape) : sum(t, [0, 1]));
      return {
        // one output: runKernel returns the tensor itself
        x: () => run(GROUP_NORM_DX, { dy, x, mean, variance, gamma, sumDy, sumDyXhat, ...beta }, attrs) as unknown as Tensor,
        gamma: () => overGroups(sumDyXhat),
        beta: () => overGroups(sumDy),
      };
    }
    let params: [Float32Array, Float32Array] | undefined;
    const backward = (): Tensor => {
      const [dx, dg, db] = run(GROUP_NORM_GRAD, { dy, x, mean, variance, gamma, ...beta }, attrs);
      params = [Float32Array.from(dg.dataSync()), Float32Array.from(db.dataSync())];
      dg.dispose();
      db.dispose();
      return dx;
    };
    const param = (i: 0 | 1) => (): Tensor => {
      if (!params) backward().dispose();
      return tensor(params![i], gamma.shape, 'float32');
    };
    return { x: backward, gamma: param(0), beta: param(1) };
  },
};

/** Registers the fused norm's gradient (global in tfjs; idempotent). */
export function registerGroupNormGradient(): void {
  registerGradient(groupNormGradConfig);
}
