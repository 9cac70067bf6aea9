/**
 * Gradients of three fused kernels of ./fused-conv.ts, so that a training step runs them too:
 * - `AnatomyNetFusedConv3D` with bias (no norm inputs), linear or LeakyReLU: the conv's own
 *   gradients (tfjs's Conv3D gradient, this project's backprop kernels underneath) and the bias's
 *   sum of dy over the voxels, with LeakyReLU's gradient taken at the output first (slope >= 0, as
 *   for the residual sum). The bias add and the activation are then not passes of their own in the
 *   forward, and the conv's pre-activation output is not kept for the backward pass.
 * - `AnatomyNetAddLeakyRelu`: the LeakyRelu gradient taken at the output, for both addends. For a
 *   slope alpha >= 0 the output is positive exactly where the sum is, so the sum need not be kept.
 * - `AnatomyNetSEGate`: `AnatomyNetSEGateGrad`, one kernel for the five gradients (the composed
 *   backward of the gate is 16 ops on a few dozen values: on webgpu a dispatch each).
 * Registered for all backends at once (tfjs's gradient registry is global); libs/model uses a fused
 * kernel in training only where the active backend has it and what its gradient runs.
 */
import {
  engine, getGradient, registerGradient, sum,
  type GradConfig, type NamedAttrMap, type Tensor,
} from '@tensorflow/tfjs-core';
import { ADD_LEAKY_RELU, FUSED_CONV3D, FUSED_NORM_INPUTS, SE_GATE, SE_GATE_GRAD, type FusedConv3dAttrs } from './fused-conv';

/** The LeakyRelu gradient in use (the fused kernel's where the backend has it), at x. */
function leakyReluGradAt(dy: Tensor, x: Tensor, alpha: number): Tensor {
  return getGradient('LeakyRelu').gradFunc(dy, [x], { alpha }).x();
}

const fusedConvGradConfig: GradConfig = {
  kernelName: FUSED_CONV3D,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const a = attrs as unknown as FusedConv3dAttrs;
    if (a.activation === 'leakyrelu' && !(a.alpha >= 0)) {
      throw new RangeError(`${FUSED_CONV3D}: the LeakyReLU gradient from the output needs alpha >= 0, got ${a.alpha}`);
    }
    const [x, filter, y] = saved;
    const d = a.activation === 'leakyrelu' ? leakyReluGradAt(dy as Tensor, y, a.alpha) : dy as Tensor;
    const conv = getGradient('Conv3D').gradFunc(d, [x, filter], { strides: a.strides, pad: a.pad, dilations: 1, dataFormat: 'NDHWC' });
    const noNorm = () => {
      throw new Error(`${FUSED_CONV3D}: no gradient for the norm inputs (${FUSED_NORM_INPUTS.join(', ')}); normalise with an op of its own in training`);
    };
    return {
      ...conv,
      bias: () => sum(d, [0, 1, 2, 3]),
      ...Object.fromEntries(FUSED_NORM_INPUTS.map((k) => [k, noNorm])),
    };
  },
};

const addLeakyReluGradConfig: GradConfig = {
  kernelName: ADD_LEAKY_RELU,
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const alpha = attrs.alpha as number;
    if (!(alpha >= 0)) throw new RangeError(`${ADD_LEAKY_RELU}: the gradient from the output needs alpha >= 0, got ${alpha}`);
    const g = leakyReluGradAt(dy as Tensor, saved[0], alpha);
    // two handles on one gradient: tfjs disposes an input's gradient when it accumulates into it
    return { a: () => g, b: () => g.clone() };
  },
};

/**
 * The gate's gradient. All five come from one kernel call, made here rather than in a closure:
 * tfjs runs each input's closure in its own tidy, which would free the other four.
 */
const seGateGradConfig: GradConfig = {
  kernelName: SE_GATE,
  inputsToSave: ['sums', 'w1', 'b1', 'w2', 'b2'],
  gradFunc: (dy, saved, attrs) => {
    const [sums, w1, b1, w2, b2] = saved;
    const inputs = { dgate: dy as Tensor, sums, w1, b1, w2, b2 };
    const [dsums, dw1, db1, dw2, db2] = engine().runKernel(SE_GATE_GRAD, inputs as never, attrs as NamedAttrMap) as unknown as Tensor[];
    return { sums: () => dsums, w1: () => dw1, b1: () => db1, w2: () => dw2, b2: () => db2 };
  },
};

/** Registers the fused kernels' gradients (global in tfjs; idempotent). */
export function registerFusionGradients(): void {
  for (const cfg of [fusedConvGradConfig, addLeakyReluGradConfig, seGateGradConfig]) registerGradient(cfg);
}
