/**
 * Transpose on the webgpu backend without the 2D tiled shader's dispatch limit.
 *
 * Why: the stock kernel runs a [1,0] permutation of a rank-2 tensor with a 16x16-tiled program whose
 * y dispatch is rows/16; past ~1M rows (a [voxels, C] view of a volume) it throws "Dispatch size
 * exceeds WebGPU limits in Y or Z dimension". Large rank-2 transposes run as the rank-3 permutation
 * [0,2,1] of a [1,rows,cols] view, which the stock kernel dispatches flat.
 */
import * as tf from '@tensorflow/tfjs';
import { MAX_WORKGROUPS_PER_DIM, release, reshapeView, stockKernel, type TensorInfo, type WebGPUBackendLike } from './program';

export function transpose2dConfig(): tf.KernelConfig {
  const stock = stockKernel('Transpose');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const perm = (args.attrs as { perm: number[] }).perm;
    const backend = args.backend as unknown as WebGPUBackendLike;
    const tiles = Math.ceil(Math.max(...x.shape, 1) / 16);
    if (x.shape.length !== 2 || perm[0] !== 1 || tiles <= MAX_WORKGROUPS_PER_DIM) return stock.kernelFunc(args);
    const [r, c] = x.shape;
    const xv = reshapeView(backend, x, [1, r, c]);
    const y = stock.kernelFunc({ ...args, inputs: { x: xv }, attrs: { perm: [0, 2, 1] } }) as TensorInfo;
    const out = reshapeView(backend, y, [c, r]);
    release(backend, xv, y);
    return out;
  };
  return { kernelName: 'Transpose', backendName: 'webgpu', kernelFunc };
}
