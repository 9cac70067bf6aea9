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
 * - `AnatomyNetUpsampleConcat`: the output block's transposed conv, bias, crop and concatenation.
 *   The composed forward keeps five full-resolution tensors on the tape (the products, two
 *   transposes, the bias sum, the crop) until its gradient runs; the fused one keeps only x.
 * Registered for all backends at once (tfjs's gradient registry is global); libs/model uses a fused
 * kernel in training only where the active backend has it and what its gradient runs.
 */
import {
  conv3d, engine, getGradient, matMul, pad, registerGradient, reshape, slice, sum, transpose,
  type GradConfig, type NamedAttrMap, type Tensor, type Tensor5D,
} from '@tensorflow/tfjs-core';
import { ADD_LEAKY_RELU, FUSED_CONV3D, FUSED_NORM_INPUTS, SE_GATE, SE_GATE_GRAD, UPSAMPLE_CONCAT, type FusedConv3dAttrs } from './fused-conv';

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

/**
 * The upsampled part of the gradient back in the products' layout [N*d*h*w, 8 Cout]: the first Cout
 * channels of dy, zero-padded where the kernel cropped, and each 2x2x2 block's voxels gathered into
 * the channels of its coarse voxel (channel sub * Cout + c, sub = ((D % 2) * 2 + H % 2) * 2 + W % 2).
 */
function productsGradient(dy: Tensor, xShape: number[], cout: number): Tensor {
  const [n, d, h, w] = xShape;
  const [, D, H, W] = dy.shape;
  let g = slice(dy, [0, 0, 0, 0, 0], [n, D, H, W, cout]);
  if (D < 2 * d || H < 2 * h || W < 2 * w) g = pad(g, [[0, 0], [0, 2 * d - D], [0, 2 * h - H], [0, 2 * w - W], [0, 0]]);
  // [n*d*2*h, 2 (H % 2), w, 2 Cout (W % 2, c)] -> [n*d*2*h, w, 2, 2 Cout]
  const s1 = transpose(reshape(g, [n * d * 2 * h, 2, w, 2 * cout]), [0, 2, 1, 3]);
  // [n*d, 2 (D % 2), h*w, 4 Cout] -> [n*d, h*w, 2, 4 Cout]
  const s2 = transpose(reshape(s1, [n * d, 2, h * w, 4 * cout]), [0, 2, 1, 3]);
  return reshape(s2, [n * d * h * w, 8 * cout]);
}

/**
 * The 2x2x2 transposed conv's gradients as those of a stride-2 conv (kernel 2, 'same' padding) over
 * dy, all of its channels read in place: the filter gets zero rows for the appended channels, so no
 * full-resolution tensor is sliced, padded or transposed. At 178x302x225 the layout shuffle of
 * {@link productsGradient} held about 5 GB of temporaries at the training step's peak. Applies where
 * each coarse voxel's 2x2x2 block starts inside dy (a crop of at most one voxel per axis, as 'same'
 * padding puts at the end); elsewhere the shuffle serves.
 */
function stridedConvGradients(g: Tensor, x: Tensor, w: Tensor, cout: number): { x: () => Tensor; w: () => Tensor } | undefined {
  const [, D, H, W, channels] = g.shape;
  const [, d, h, wd, cin] = x.shape;
  if (Math.ceil(D / 2) !== d || Math.ceil(H / 2) !== h || Math.ceil(W / 2) !== wd) return undefined;
  // w's column sub * cout + c (sub = (dz * 2 + dy) * 2 + dx) is the filter's [dz, dy, dx, c, ci]
  const filter = () => pad(transpose(reshape(w, [cin, 2, 2, 2, cout]), [1, 2, 3, 4, 0]), [[0, 0], [0, 0], [0, 0], [0, channels - cout], [0, 0]]);
  const attrs = { strides: 2, pad: 'same', dilations: 1, dataFormat: 'NDHWC' };
  return {
    x: () => conv3d(g as Tensor5D, filter() as Tensor5D, 2, 'same'),
    w: () => {
      // x is the strided conv's output: its gradient there is the filter's
      const df = getGradient('Conv3D').gradFunc(x, [g, filter()], attrs).filter();
      return reshape(transpose(slice(df, [0, 0, 0, 0, 0], [2, 2, 2, cout, cin]), [4, 0, 1, 2, 3]), [cin, 8 * cout]);
    },
  };
}

/**
 * Each input's gradient computes what it needs in its own closure (tfjs runs each in a tidy of its
 * own and skips inputs off the gradient's path, such as the appended CT).
 */
const upsampleConcatGradConfig: GradConfig = {
  kernelName: UPSAMPLE_CONCAT,
  inputsToSave: ['x', 'w'],
  gradFunc: (dy, saved) => {
    const [x, w] = saved;
    const g = dy as Tensor;
    const [cin, cols] = w.shape as [number, number];
    const cout = cols / 8;
    const [n, D, H, W, channels] = g.shape as [number, number, number, number, number];
    // where the strided conv does not apply, x and w both rebuild the products' gradient: two
    // transposes more than sharing it, and nothing kept alive
    const strided = stridedConvGradients(g, x, w, cout);
    return {
      x: strided?.x ?? (() => reshape(matMul(productsGradient(g, x.shape, cout), w, false, true), x.shape)),
      w: strided?.w ?? (() => matMul(reshape(x, [x.size / cin, cin]), productsGradient(g, x.shape, cout), true, false)),
      // summed over every channel, then cut: no full-resolution slice
      b: () => slice(sum(g, [0, 1, 2, 3]), [0], [cout]),
      append: () => slice(g, [0, 0, 0, 0, cout], [n, D, H, W, channels - cout]),
    };
  },
};

/** Registers the fused kernels' gradients (global in tfjs; idempotent). */
export function registerFusionGradients(): void {
  for (const cfg of [fusedConvGradConfig, addLeakyReluGradConfig, seGateGradConfig, upsampleConcatGradConfig]) registerGradient(cfg);
}
