/**
 * tfjs gradients this project routes through its own one-pass kernels, on whichever backend
 * registers them (cpu: cpu/fused-kernels.ts; webgpu: the LeakyRelu gradient, webgpu/leaky_relu_grad.ts):
 * - `AnatomyNetLeakyReluGrad` {dy, x}, attrs {alpha}: in place of tfjs's where(x > 0, dy, dy * alpha)
 *   (Greater, Multiply, Select: three passes and a bool tensor);
 * - `AnatomyNetSoftmaxGrad` {dy, y}: the last-axis Softmax gradient instead of mul/sum/mul/sub.
 * Where the active backend lacks the kernel, tfjs's own gradient runs. Sum's and Mean's gradients are
 * replaced on every backend (below).
 */
import {
  broadcastTo, div, engine, getBackend, getGradient, getKernel, registerGradient, reshape, util,
  type GradConfig, type NamedAttrMap, type Tensor,
} from '@tensorflow/tfjs-core';

export const LEAKY_RELU_GRAD = 'AnatomyNetLeakyReluGrad';
export const SOFTMAX_GRAD = 'AnatomyNetSoftmaxGrad';

export const runFused = (name: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap): Tensor[] =>
  engine().runKernel(name, inputs as never, attrs) as unknown as Tensor[];

/** Whether a replaced gradient may run `fused`: the active backend has it, float32 operands of one size. */
const canFuse = (fused: string, ...ts: Tensor[]): boolean => getKernel(fused, getBackend()) !== undefined
  && ts.every((t) => t.dtype === 'float32' && t.size === ts[0].size);

/** LeakyRelu's gradient: the fused kernel where possible, tfjs's otherwise. */
const leakyReluGradConfig = (fallback: GradConfig): GradConfig => ({
  ...fallback,
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved, d = dy as Tensor;
    if (!canFuse(LEAKY_RELU_GRAD, d, x)) return fallback.gradFunc(dy, saved, attrs);
    return { x: () => runFused(LEAKY_RELU_GRAD, { dy: d, x }, attrs) as unknown as Tensor };
  },
});

/** Softmax's gradient (last axis): the fused kernel where possible, tfjs's otherwise. */
const softmaxGradConfig = (fallback: GradConfig): GradConfig => ({
  ...fallback,
  gradFunc: (dy, saved, attrs) => {
    const [y] = saved, d = dy as Tensor;
    const dim = attrs.dim as number;
    if (!canFuse(SOFTMAX_GRAD, d, y) || (dim !== -1 && dim !== y.rank - 1)) return fallback.gradFunc(dy, saved, attrs);
    return { logits: () => runFused(SOFTMAX_GRAD, { dy: d, y }, attrs) as unknown as Tensor };
  },
});

/** dy [reduced shape] back to x's rank, the reduced axes kept as 1. */
function expandedDy(dy: Tensor, x: Tensor, axis: number | number[]): { dy: Tensor; count: number } {
  const shape = x.shape.slice();
  let count = 1;
  for (const a of util.parseAxisParam(axis, x.shape)) {
    count *= shape[a];
    shape[a] = 1;
  }
  return { dy: reshape(dy, shape), count };
}

/*
 * Sum's and Mean's gradients broadcast dy on the backend. tfjs's multiply it by tf.ones(x.shape), which
 * JavaScript fills, and webgpu then uploads, on every step: for a sum over the voxels of a whole volume
 * ([12.1M, 10] at 178x302x225) that is 484 MB written by the CPU per sum. Values are unchanged
 * (dy * 1 = dy; Mean divides dy before the broadcast instead of after, the same quotient).
 */
const sumGradConfig = (fallback: GradConfig): GradConfig => ({
  ...fallback,
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    return { x: () => broadcastTo(expandedDy(dy as Tensor, x, attrs.axis as number | number[]).dy, x.shape) };
  },
});

const meanGradConfig = (fallback: GradConfig): GradConfig => ({
  ...fallback,
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    return {
      x: () => {
        const e = expandedDy(dy as Tensor, x, attrs.axis as number | number[]);
        return broadcastTo(div(e.dy, e.count), x.shape);
      },
    };
  },
});

/** tfjs's gradient configs replaced, by kernel name. */
const replaced = new Map<string, GradConfig>();
const REPLACEMENTS: Record<string, (fallback: GradConfig) => GradConfig> = {
  LeakyRelu: leakyReluGradConfig,
  Softmax: softmaxGradConfig,
  Sum: sumGradConfig,
  Mean: meanGradConfig,
};

/**
 * Routes LeakyRelu's and Softmax's gradients through the fused kernels, and Sum's and Mean's through a
 * broadcast (idempotent; global in tfjs).
 */
export function registerFusedGradients(): void {
  for (const [name, build] of Object.entries(REPLACEMENTS)) {
    if (replaced.has(name)) continue;
    const stock = getGradient(name);
    replaced.set(name, stock);
    registerGradient(build(stock));
  }
}

/** Puts tfjs's own gradients back. */
export function unregisterFusedGradients(): void {
  for (const cfg of replaced.values()) registerGradient(cfg);
  replaced.clear();
}
