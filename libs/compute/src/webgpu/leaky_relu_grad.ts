/**
 * `AnatomyNetLeakyReluGrad` (../fused-gradients.ts) on webgpu: dx = x > 0 ? dy : alpha dy.
 *
 * Why: tfjs's LeakyRelu gradient is where(x > 0, dy, dy * alpha): a Greater (a bool tensor), a
 * Multiply and a Select, three full-size passes per activation, 23 activations in the reference
 * network. How: one flat pass, the same select as tfjs's.
 */
import * as tf from '@tensorflow/tfjs';
import { LEAKY_RELU_GRAD } from '../fused-gradients';
import { FlatProgram, release, reshapeView, type TensorInfo, type WebGPUBackendLike } from './program';

export function leakyReluGradConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
    const size = tf.util.sizeFromShape(x.shape);
    if (dy.dtype !== 'float32' || x.dtype !== 'float32' || tf.util.sizeFromShape(dy.shape) !== size) {
      throw new RangeError(`${LEAKY_RELU_GRAD}: dy ${dy.dtype} [${dy.shape.join(',')}] and x ${x.dtype} [${x.shape.join(',')}] must be float32 of one size`);
    }
    const flatDy = reshapeView(backend, dy, [size]), flatX = reshapeView(backend, x, [size]);
    const program = new FlatProgram(['dy', 'x'], 'alpha : f32,', 'let g = dy[index]; result[index] = select(uniforms.alpha * g, g, x[index] > V(0.0));', 'leaky_relu_grad', size,
      size % 4 === 0 ? [true, true] : undefined);
    const y = backend.runWebGPUProgram(program, [flatDy, flatX], 'float32',
      [{ type: 'float32', data: [(args.attrs as { alpha: number }).alpha] }]);
    const out = reshapeView(backend, y, [...x.shape]);
    release(backend, flatDy, flatX, y);
    return out;
  };
  return { kernelName: LEAKY_RELU_GRAD, backendName: 'webgpu', kernelFunc };
}
