/**
 * Fused per-class voxel sums of the segmentation losses on 'cpu', under this project's kernel
 * names, with their gradients (libs/losses dispatches to them where the active backend has them):
 * - `AnatomyNetSoftCounts` {p [N,V,C], g [N,V,C]} -> [tp, sumP] ([N,C] each: sum p g, sum p);
 * - `AnatomyNetFocalSums` {p, g}, attrs {gamma, eps} -> [N,C] sum_v g (1-p)^gamma log(max(p, eps)).
 * Their backward kernels (`...Grad`, attr wrt 'p' | 'g') write the input gradient in one pass.
 */
import { type GradConfig, type NamedAttrMap, registerGradient, type Tensor, type TensorInfo } from '@tensorflow/tfjs-core';
import { runFused as run } from '../fused-gradients';
import { f32 } from './fused-kernels';
import { focalSums, focalSumsGrad, type FocalOptions, softCountSums, softCountSumsGrad } from './loss-sums';
import type { FastKernel } from './support-kernels';

export const SOFT_COUNTS = 'AnatomyNetSoftCounts';
export const SOFT_COUNTS_GRAD = 'AnatomyNetSoftCountsGrad';
export const FOCAL_SUMS = 'AnatomyNetFocalSums';
export const FOCAL_SUMS_GRAD = 'AnatomyNetFocalSumsGrad';

function cases(kernel: string, ...ts: TensorInfo[]): [number, number, number] {
  const s = ts[0].shape;
  if (s.length !== 3 || ts.some((t) => t.shape.join() !== s.join())) {
    throw new RangeError(`${kernel}: inputs must be [N, V, C] of one shape, got ${ts.map((t) => `[${t.shape.join(',')}]`).join(' ')}`);
  }
  return s as [number, number, number];
}

const focalOptions = (attrs: NamedAttrMap): FocalOptions => ({ gamma: attrs.gamma as number, eps: attrs.eps as number });

const softCounts: FastKernel = ({ p, g }, _attrs, backend) => {
  const [n, v, c] = cases(SOFT_COUNTS, p, g);
  const r = softCountSums(f32(backend, p), f32(backend, g), n, v, c);
  return [r.tp, r.sumP].map((x) => backend.makeTensorInfo([n, c], 'float32', x));
};

const softCountsGrad: FastKernel = ({ dtp, dsum, other }, _attrs, backend) => {
  const [n, v, c] = cases(SOFT_COUNTS_GRAD, other);
  return backend.makeTensorInfo([n, v, c], 'float32', softCountSumsGrad(f32(backend, dtp),
    dsum === undefined ? undefined : f32(backend, dsum), f32(backend, other), n, v, c));
};

const focal: FastKernel = ({ p, g }, attrs, backend) => {
  const [n, v, c] = cases(FOCAL_SUMS, p, g);
  return backend.makeTensorInfo([n, c], 'float32', focalSums(f32(backend, p), f32(backend, g), n, v, c, focalOptions(attrs)));
};

const focalGrad: FastKernel = ({ ds, p, g }, attrs, backend) => {
  const [n, v, c] = cases(FOCAL_SUMS_GRAD, p, g);
  return backend.makeTensorInfo([n, v, c], 'float32', focalSumsGrad(f32(backend, ds), f32(backend, p), f32(backend, g),
    n, v, c, focalOptions(attrs), attrs.wrt as 'p' | 'g'));
};

/** Kernel name -> implementation, for the 'cpu' backend. */
export const LOSS_KERNELS: Record<string, FastKernel> = {
  [SOFT_COUNTS]: softCounts,
  [SOFT_COUNTS_GRAD]: softCountsGrad,
  [FOCAL_SUMS]: focal,
  [FOCAL_SUMS_GRAD]: focalGrad,
};

const one = (name: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap): Tensor =>
  run(name, inputs, attrs) as unknown as Tensor;

const softCountsGradConfig: GradConfig = {
  kernelName: SOFT_COUNTS,
  inputsToSave: ['p', 'g'],
  gradFunc: (dys, saved) => {
    const [dtp, dsumP] = dys as Tensor[];
    const [p, g] = saved;
    return {
      p: () => one(SOFT_COUNTS_GRAD, { dtp, dsum: dsumP, other: g }, {}),
      g: () => one(SOFT_COUNTS_GRAD, { dtp, other: p }, {}),
    };
  },
};

const focalSumsGradConfig: GradConfig = {
  kernelName: FOCAL_SUMS,
  inputsToSave: ['p', 'g'],
  gradFunc: (dy, saved, attrs) => {
    const [p, g] = saved;
    const ds = dy as Tensor;
    return {
      p: () => one(FOCAL_SUMS_GRAD, { ds, p, g }, { ...attrs, wrt: 'p' }),
      g: () => one(FOCAL_SUMS_GRAD, { ds, p, g }, { ...attrs, wrt: 'g' }),
    };
  },
};

/** Registers the gradients of the loss kernels (global in tfjs; idempotent). */
export function registerLossGradients(): void {
  registerGradient(softCountsGradConfig);
  registerGradient(focalSumsGradConfig);
}
