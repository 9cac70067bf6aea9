/**
 * The loss kernels of ../loss-gradients.ts on 'cpu': the per-class voxel sums of the segmentation
 * losses in one pass (./loss-sums.ts), and their backward kernels.
 */
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { FOCAL_SUMS, FOCAL_SUMS_GRAD, lossCases as cases, SOFT_COUNTS, SOFT_COUNTS_GRAD } from '../loss-gradients';
import { f32 } from './fused-kernels';
import { focalSums, focalSumsGrad, type FocalOptions, softCountSums, softCountSumsGrad } from './loss-sums';
import type { FastKernel } from './support-kernels';

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
