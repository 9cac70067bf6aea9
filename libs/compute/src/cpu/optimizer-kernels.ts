/** The fused optimizer updates (../optimizer-kernels.ts) on 'cpu', over optimizer-updates.ts. */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { MOMENTUM_UPDATE, RMSPROP_UPDATE } from '../optimizer-kernels';
import { f32 } from './fused-kernels';
import { momentumUpdate, rmspropUpdate } from './optimizer-updates';
import type { FastKernel } from './support-kernels';

function sameShape(kernel: string, ...ts: TensorInfo[]): number[] {
  const s = ts[0].shape;
  if (ts.some((t) => t.shape.join() !== s.join())) {
    throw new RangeError(`${kernel}: operands must share one shape, got ${ts.map((t) => `[${t.shape.join(',')}]`).join(' ')}`);
  }
  return [...s];
}

const rmsprop: FastKernel = ({ value, meanSquare, moment, grad }, attrs, backend) => {
  const shape = sameShape(RMSPROP_UPDATE, value, meanSquare, moment, grad);
  const r = rmspropUpdate(
    { value: f32(backend, value), meanSquare: f32(backend, meanSquare), moment: f32(backend, moment) },
    f32(backend, grad),
    { lr: attrs.lr as number, decay: attrs.decay as number, momentum: attrs.momentum as number, epsilon: attrs.epsilon as number },
  );
  return [r.value, r.meanSquare, r.moment].map((v) => backend.makeTensorInfo(shape, 'float32', v));
};

const momentum: FastKernel = ({ value, accumulation, grad }, attrs, backend) => {
  const shape = sameShape(MOMENTUM_UPDATE, value, accumulation, grad);
  const r = momentumUpdate(f32(backend, value), f32(backend, accumulation), f32(backend, grad),
    { lr: attrs.lr as number, momentum: attrs.momentum as number });
  return [r.value, r.accumulation].map((v) => backend.makeTensorInfo(shape, 'float32', v));
};

/** Kernel name -> implementation, for the 'cpu' backend. */
export const OPTIMIZER_KERNELS: Record<string, FastKernel> = {
  [RMSPROP_UPDATE]: rmsprop,
  [MOMENTUM_UPDATE]: momentum,
};
