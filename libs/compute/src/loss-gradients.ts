/**
 * The fused per-class voxel sums of the segmentation losses (libs/losses dispatches to them where
 * the active backend has them: cpu/loss-kernels.ts, webgpu/loss_sums.ts), their contracts and
 * their gradients, registered for all backends at once (tfjs's gradient registry is global):
 * - `AnatomyNetSoftCounts` {p [N,V,C], g [N,V,C]} -> [tp, sumP] ([N,C] each: sum p g, sum p);
 * - `AnatomyNetFocalSums` {p, g}, attrs {gamma, eps} -> [N,C] sum_v g (1-p)^gamma log(max(p, eps)).
 * Their backward kernels (`...Grad`, attr wrt 'p' | 'g' for the focal sums) write an input's
 * gradient in one pass: `AnatomyNetSoftCountsGrad` {dtp, dsum?, other} -> dtp other + dsum,
 * `AnatomyNetFocalSumsGrad` {ds, p, g}. Composed, the sums' gradient is an outer product with ones
 * over every voxel (a matmul's), then products and sums of full-size tensors.
 */
import { type GradConfig, type NamedAttrMap, registerGradient, type Tensor, type TensorInfo } from '@tensorflow/tfjs-core';
import { runFused } from './fused-gradients';

export const SOFT_COUNTS = 'AnatomyNetSoftCounts';
export const SOFT_COUNTS_GRAD = 'AnatomyNetSoftCountsGrad';
export const FOCAL_SUMS = 'AnatomyNetFocalSums';
export const FOCAL_SUMS_GRAD = 'AnatomyNetFocalSumsGrad';

/** [N, V, C] of a loss kernel's full-size operands, checked to be rank 3 and of one shape. */
export function lossCases(kernel: string, ...ts: TensorInfo[]): [number, number, number] {
  const s = ts[0].shape;
  if (s.length !== 3 || ts.some((t) => t.shape.join() !== s.join())) {
    throw new RangeError(`${kernel}: inputs must be [N, V, C] of one shape, got ${ts.map((t) => `[${t.shape.join(',')}]`).join(' ')}`);
  }
  return s as [number, number, number];
}

const one = (name: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap): Tensor =>
  runFused(name, inputs, attrs) as unknown as Tensor;

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
