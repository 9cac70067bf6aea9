/**
 * Kernels of this project's own (kernel names no stock backend has), registered on 'cpu' with
 * their gradients:
 * - `AnatomyNetGroupNorm` {x [G,R,C], gamma [C], beta [C]}, attrs {eps} -> [y [G,R,C],
 *   mean [G,1,C], variance [G,1,C]] (biased batch statistics, which carry no gradient), and its
 *   backward `AnatomyNetGroupNormGrad` {dy, x, mean, variance, gamma} -> [dx, dgamma, dbeta].
 *   Model code calls the forward only where `getKernel('AnatomyNetGroupNorm', backend)` exists
 *   and keeps its composed ops elsewhere (libs/model ops.ts normalizeGroups).
 * - `AnatomyNetLeakyReluGrad` {dy, x}, attrs {alpha}: the LeakyRelu gradient in one pass,
 *   installed in place of tfjs's where(x > 0, dy, dy * alpha), and `AnatomyNetSoftmaxGrad`
 *   {dy, y}: the last-axis Softmax gradient in one pass instead of mul/sum/mul/sub. Both replace
 *   tfjs's gradient functions while the cpu kernels are registered and only when the active
 *   backend is 'cpu' (other backends keep tfjs's gradients).
 */
import {
  engine, getBackend, getGradient, getKernel, registerGradient, tensor,
  type GradConfig, type NamedAttrMap, type Tensor, type TensorInfo,
} from '@tensorflow/tfjs-core';
import { leakyReluGrad, softmaxGradLastAxis } from './elementwise';
import { groupNormBackward, groupNormForward } from './norm';
import type { CpuBackendLike, FastKernel } from './support-kernels';

export const GROUP_NORM = 'AnatomyNetGroupNorm';
export const GROUP_NORM_GRAD = 'AnatomyNetGroupNormGrad';
export const LEAKY_RELU_GRAD = 'AnatomyNetLeakyReluGrad';
export const SOFTMAX_GRAD = 'AnatomyNetSoftmaxGrad';

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

export const run = (name: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap): Tensor[] =>
  engine().runKernel(name, inputs as never, attrs) as unknown as Tensor[];

/**
 * Gradient of the fused norm. tfjs asks for each input's gradient in its own tidy; the first
 * asked runs the backward kernel once and keeps dgamma and dbeta (C values) as plain arrays
 * for the others, so nothing is computed twice and no tensor outlives its scope.
 */
const groupNormGradConfig: GradConfig = {
  kernelName: GROUP_NORM,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const dy = (Array.isArray(dys) ? dys[0] : dys) as Tensor;
    const [x, gamma, mean, variance] = saved;
    let params: [Float32Array, Float32Array] | undefined;
    const backward = (): Tensor => {
      const [dx, dg, db] = run(GROUP_NORM_GRAD, { dy, x, mean, variance, gamma }, attrs);
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

/** Whether a replaced gradient may run `fused`: active backend 'cpu', kernel registered, float32 operands. */
const canFuse = (fused: string, ...ts: Tensor[]): boolean => getBackend() === 'cpu' && getKernel(fused, 'cpu') !== undefined
  && ts.every((t) => t.dtype === 'float32' && t.size === ts[0].size);

/** LeakyRelu's gradient: the fused kernel where possible, tfjs's otherwise. */
const leakyReluGradConfig = (fallback: GradConfig): GradConfig => ({
  ...fallback,
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved, d = dy as Tensor;
    if (!canFuse(LEAKY_RELU_GRAD, d, x)) return fallback.gradFunc(dy, saved, attrs);
    return { x: () => run(LEAKY_RELU_GRAD, { dy: d, x }, attrs) as unknown as Tensor };
  },
});

/** Softmax's gradient (last axis): the fused kernel where possible, tfjs's otherwise. */
const softmaxGradConfig = (fallback: GradConfig): GradConfig => ({
  ...fallback,
  gradFunc: (dy, saved, attrs) => {
    const [y] = saved, d = dy as Tensor;
    const dim = attrs.dim as number;
    if (!canFuse(SOFTMAX_GRAD, d, y) || (dim !== -1 && dim !== y.rank - 1)) return fallback.gradFunc(dy, saved, attrs);
    return { logits: () => run(SOFTMAX_GRAD, { dy: d, y }, attrs) as unknown as Tensor };
  },
});

/** tfjs's gradient configs this module replaced, by kernel name. */
const replaced = new Map<string, GradConfig>();
const REPLACEMENTS: Record<string, (fallback: GradConfig) => GradConfig> = {
  LeakyRelu: leakyReluGradConfig,
  Softmax: softmaxGradConfig,
};

/** Registers the fused kernels' gradients (idempotent) and routes LeakyRelu's and Softmax's through theirs. */
export function registerFusedGradients(): void {
  registerGradient(groupNormGradConfig);
  for (const [name, build] of Object.entries(REPLACEMENTS)) {
    if (replaced.has(name)) continue;
    const stock = getGradient(name);
    replaced.set(name, stock);
    registerGradient(build(stock));
  }
}

/** Puts tfjs's own LeakyRelu and Softmax gradients back. */
export function unregisterFusedGradients(): void {
  for (const cfg of replaced.values()) registerGradient(cfg);
  replaced.clear();
}
