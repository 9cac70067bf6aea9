/**
 * `AnatomyNetLeakyReluGrad` (../fused-gradients.ts) on webgpu: dx = x > 0 ? dy : alpha dy.
 *
 * Why: tfjs's LeakyRelu gradient is where(x > 0, dy, dy * alpha): a Greater (a bool tensor), a
 * Multiply and a Select, three full-size passes per activation, 23 activations in the reference
 * network. How: one flat pass, the same select as tfjs's.
 */
import * as tf from '@tensorflow/tfjs';
import { LEAKY_RELU_GRAD } from '../fused-gradients';
import { release, reshapeView, spreadWorkgroups, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';

const WG = 64;

class LeakyReluGradProgram implements WebGPUProgram {
  variableNames = ['dy', 'x'];
  outputShape: number[];
  shaderKey = 'anatomynet_leaky_relu_grad';
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  size = true;
  uniforms = 'alpha : f32,';
  constructor(size: number) {
    this.outputShape = [size];
    const [x, y] = spreadWorkgroups(Math.ceil(size / WG));
    this.dispatch = [x, y, 1];
  }
  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let g = dy[index];
        result[index] = select(uniforms.alpha * g, g, x[index] > 0.0);
      }`;
  }
}

export function leakyReluGradConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
    const size = tf.util.sizeFromShape(x.shape);
    if (dy.dtype !== 'float32' || x.dtype !== 'float32' || tf.util.sizeFromShape(dy.shape) !== size) {
      throw new RangeError(`${LEAKY_RELU_GRAD}: dy ${dy.dtype} [${dy.shape.join(',')}] and x ${x.dtype} [${x.shape.join(',')}] must be float32 of one size`);
    }
    const flatDy = reshapeView(backend, dy, [size]), flatX = reshapeView(backend, x, [size]);
    const y = backend.runWebGPUProgram(new LeakyReluGradProgram(size), [flatDy, flatX], 'float32',
      [{ type: 'float32', data: [(args.attrs as { alpha: number }).alpha] }]);
    const out = reshapeView(backend, y, [...x.shape]);
    release(backend, flatDy, flatX, y);
    return out;
  };
  return { kernelName: LEAKY_RELU_GRAD, backendName: 'webgpu', kernelFunc };
}
