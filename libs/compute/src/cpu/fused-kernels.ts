/**
 * Kernels of this project's own (kernel names no stock backend has), registered on 'cpu' with
 * their gradients:
 * - `AnatomyNetGroupNorm` {x [G,R,C], gamma [C], beta [C]}, attrs {eps} -> [y [G,R,C],
 *   mean [G,1,C], variance [G,1,C]] (biased batch statistics, which carry no gradient), and its
 *   one-pass backward `AnatomyNetGroupNormGrad` {dy, x, mean, variance, gamma} -> [dx, dgamma,
 *   dbeta] (the gradient itself: ../group-norm.ts). Model code calls the forward only where
 *   `getKernel('AnatomyNetGroupNorm', backend)` exists and keeps its composed ops elsewhere
 *   (libs/model ops.ts normalizeGroups).
 * - `AnatomyNetLeakyReluGrad` and `AnatomyNetSoftmaxGrad`, the one-pass gradients that
 *   ../fused-gradients.ts routes tfjs's LeakyRelu and Softmax gradients through.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { LEAKY_RELU_GRAD, SOFTMAX_GRAD } from '../fused-gradients';
import { GROUP_NORM, GROUP_NORM_GRAD } from '../group-norm';
import { leakyReluGrad, softmaxGradLastAxis } from './elementwise';
import { groupNormBackward, groupNormForward } from './norm';
import type { CpuBackendLike, FastKernel } from './support-kernels';


/** float32 values of t, converted when tfjs keeps another array type under a float32 tensor. */
export function f32(backend: CpuBackendLike, t: TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values;
  if (v instanceof Float32Array) return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Float32Array.from(v as unknown as ArrayLike<number>);
  throw new TypeError(`expected numeric tensor data, got ${typeof v}`);
}

function groupShape(x: TensorInfo, kernel: string): [number, number, number] {
  if (x.shape.length !== 3) throw new RangeError(`${kernel}: x must be [G, R, C], got [${x.shape.join(',')}]`);
  return x.shape as [number, number, number];
}

const groupNorm: FastKernel = ({ x, gamma, beta }, attrs, backend) => {
  const [g, r, c] = groupShape(x, GROUP_NORM);
  const f = groupNormForward(f32(backend, x), g, r, c, f32(backend, gamma), f32(backend, beta), attrs.eps as number);
  return [
    backend.makeTensorInfo([g, r, c], 'float32', f.y),
    backend.makeTensorInfo([g, 1, c], 'float32', f.mean),
    backend.makeTensorInfo([g, 1, c], 'float32', f.variance),
  ];
};

const groupNormGrad: FastKernel = ({ dy, x, mean, variance, gamma }, attrs, backend) => {
  const [g, r, c] = groupShape(x, GROUP_NORM_GRAD);
  const b = groupNormBackward(f32(backend, dy), f32(backend, x), g, r, c, f32(backend, mean),
    f32(backend, variance), f32(backend, gamma), attrs.eps as number);
  return [
    backend.makeTensorInfo([g, r, c], 'float32', b.dx),
    backend.makeTensorInfo([c], 'float32', b.dgamma),
    backend.makeTensorInfo([c], 'float32', b.dbeta),
  ];
};

const leakyGrad: FastKernel = ({ dy, x }, attrs, backend) => backend.makeTensorInfo(
  [...x.shape], 'float32', leakyReluGrad(f32(backend, dy), f32(backend, x), attrs.alpha as number));

const softmaxGrad: FastKernel = ({ dy, y }, _attrs, backend) => backend.makeTensorInfo(
  [...y.shape], 'float32', softmaxGradLastAxis(f32(backend, dy), f32(backend, y), y.shape[y.shape.length - 1]));

/** Kernel name -> implementation, for the 'cpu' backend (no stock kernel to fall back to). */
export const FUSED_KERNELS: Record<string, FastKernel> = {
  [GROUP_NORM]: groupNorm,
  [GROUP_NORM_GRAD]: groupNormGrad,
  [LEAKY_RELU_GRAD]: leakyGrad,
  [SOFTMAX_GRAD]: softmaxGrad,
};
