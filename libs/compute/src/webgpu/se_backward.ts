/**
 * The SE block's backward at the voxels on webgpu (../fused-conv.ts): `AnatomyNetSumProducts`, the
 * sums over the rows of a * b as reduce.ts's passes with the product taken as they read (composed: a
 * full-size Multiply, then the sum), and `AnatomyNetScaleShift`, x * scale + shift per case and
 * channel in one pass (composed: a Multiply and an Add, each a full pass).
 */
import * as tf from '@tensorflow/tfjs';
import { rowsShape, SCALE_SHIFT, SUM_PRODUCTS } from '../fused-conv';
import { perCaseChannelPass, release, requireFloat32, reshapeView, type TensorInfo, type WebGPUBackendLike } from './program';
import { sumRowsOf, type RowTerm } from './reduce';

const PRODUCT: RowTerm = { key: 'a_b', inputs: ['a', 'b'], preamble: '', value: 'a[at] * b[at]' };

export function sumProductsConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    requireFloat32(SUM_PRODUCTS, [a, b]);
    const { n, r, c } = rowsShape(SUM_PRODUCTS, [a.shape, b.shape], []);
    const flat = [a, b].map((t) => reshapeView(backend, t, [n * r * c]));
    const sums = sumRowsOf(backend, flat, n, r, c, PRODUCT);
    const out = reshapeView(backend, sums, [n, c]);
    release(backend, ...flat, sums);
    return out;
  };
  return { kernelName: SUM_PRODUCTS, backendName: 'webgpu', kernelFunc };
}

export function scaleShiftConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { x, scale, shift } = args.inputs as { x: TensorInfo; scale: TensorInfo; shift: TensorInfo };
    requireFloat32(SCALE_SHIFT, [x, scale, shift]);
    rowsShape(SCALE_SHIFT, [x.shape], [scale.shape, shift.shape]);
    return perCaseChannelPass(backend, ['x', 's', 't'], [x, scale, shift], [...x.shape], 'result[index] = x[index] * s[g] + t[g];', 'scale_shift');
  };
  return { kernelName: SCALE_SHIFT, backendName: 'webgpu', kernelFunc };
}
