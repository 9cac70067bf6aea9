/**
 * `AnatomyNetAddLeakyRelu` (../fused-conv.ts) on webgpu: leakyRelu(a + b) in one pass, where the
 * composed ops write the sum and read it back (the end of every residual block in eval mode); and
 * `AnatomyNetScaleAddLeakyRelu`: leakyRelu(a * scale + b), the SE scaling too (SE-residual blocks).
 */
import * as tf from '@tensorflow/tfjs';
import { ADD_LEAKY_RELU, SCALE_ADD_LEAKY_RELU, scaleAddShape } from '../fused-conv';
import { FlatProgram, perCaseChannelPass, release, requireFloat32, reshapeView, type TensorInfo, type WebGPUBackendLike } from './program';

export function addLeakyReluConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.join() !== b.shape.join()) {
      throw new RangeError(`${ADD_LEAKY_RELU}: a ${a.dtype} [${a.shape.join(',')}] and b ${b.dtype} [${b.shape.join(',')}] must be float32 of one shape`);
    }
    const size = tf.util.sizeFromShape(a.shape);
    const flat = [a, b].map((t) => reshapeView(backend, t, [size]));
    // tfjs's LeakyRelu: x < 0 ? alpha x : x
    const program = new FlatProgram(['a', 'b'], 'alpha : f32,',
      'let v = a[index] + b[index]; result[index] = select(v, uniforms.alpha * v, v < V(0.0));', 'add_leaky_relu', size, size % 4 === 0 ? [true, true] : undefined);
    const y = backend.runWebGPUProgram(program, flat, 'float32', [{ type: 'float32', data: [(args.attrs as { alpha: number }).alpha] }]);
    const out = reshapeView(backend, y, [...a.shape]);
    release(backend, ...flat, y);
    return out;
  };
  return { kernelName: ADD_LEAKY_RELU, backendName: 'webgpu', kernelFunc };
}

export function scaleAddLeakyReluConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { a, scale, b } = args.inputs as { a: TensorInfo; scale: TensorInfo; b: TensorInfo };
    requireFloat32(SCALE_ADD_LEAKY_RELU, [a, scale, b]);
    scaleAddShape(a.shape, scale.shape, b.shape);
    return perCaseChannelPass(backend, ['a', 's', 'b'], [a, scale, b], [...a.shape],
      'let v = a[index] * s[g] + b[index]; result[index] = select(v, uniforms.alpha * v, v < V(0.0));', 'scale_add_leaky_relu',
      { decl: 'alpha : f32, ', values: [{ type: 'float32', data: [(args.attrs as { alpha: number }).alpha] }] });
  };
  return { kernelName: SCALE_ADD_LEAKY_RELU, backendName: 'webgpu', kernelFunc };
}
