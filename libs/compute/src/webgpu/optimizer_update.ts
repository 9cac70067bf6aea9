/**
 * The fused optimizer updates (../optimizer-kernels.ts) on webgpu.
 *
 * Why: tfjs updates each variable with about 11 dispatches (RMSprop) or 4 (momentum), each with its
 * own uniform upload and bind group, plus a scalar upload per constant: over 1,100 dispatches a step
 * for the reference network's 104 variables. How: one flat program per output (tfjs runs one output
 * per program), each recomputing the few flops it needs from the old state: 3 dispatches for
 * RMSprop, 2 for momentum, hyper-parameters as uniforms.
 */
import * as tf from '@tensorflow/tfjs';
import { MOMENTUM_UPDATE, RMSPROP_UPDATE } from '../optimizer-kernels';
import { FlatProgram, release, reshapeView, type TensorInfo, type WebGPUBackendLike } from './program';

const RMS_UNIFORMS = 'lr : f32, decay : f32, keep : f32, momentum : f32, eps : f32,';
const NEW_MEAN_SQUARE = 'let g = grad[index]; let s = meanSquare[index] * uniforms.decay + (g * g) * uniforms.keep;';
const NEW_MOMENT = `${NEW_MEAN_SQUARE} let m = moment[index] * uniforms.momentum + (g * uniforms.lr) / sqrt(s + uniforms.eps);`;
const MOM_UNIFORMS = 'c : f32, m : f32,';
const NEW_ACCUMULATION = 'let a = uniforms.m * accumulation[index] + grad[index];';

function updateKernel(
  kernelName: string,
  outputs: { key: string; inputs: string[]; body: string }[],
  uniformsOf: (attrs: Record<string, number>) => number[],
  uniforms: string,
): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const inputs = args.inputs as Record<string, TensorInfo>;
    const shape = inputs.grad.shape;
    const size = tf.util.sizeFromShape(shape);
    for (const [name, t] of Object.entries(inputs)) {
      if (t.shape.join() !== shape.join() || t.dtype !== 'float32') {
        throw new RangeError(`${kernelName}: ${name} is ${t.dtype} [${t.shape.join(',')}], grad float32 [${shape.join(',')}]`);
      }
    }
    const values = uniformsOf(args.attrs as unknown as Record<string, number>).map((v) => ({ type: 'float32' as const, data: [v] }));
    const flat = new Map(Object.entries(inputs).map(([name, t]) => [name, reshapeView(backend, t, [size])]));
    const results = outputs.map((o) => {
      const program = new FlatProgram(o.inputs, uniforms, o.body, `update_${o.key}`, size);
      const y = backend.runWebGPUProgram(program, o.inputs.map((n) => flat.get(n)!), 'float32', values);
      const out = reshapeView(backend, y, [...shape]);
      release(backend, y);
      return out;
    });
    release(backend, ...flat.values());
    return results;
  };
  return { kernelName, backendName: 'webgpu', kernelFunc };
}

/** [value', meanSquare', moment'] of tfjs's RMSprop. */
export function rmspropUpdateConfig(): tf.KernelConfig {
  return updateKernel(RMSPROP_UPDATE, [
    { key: 'rms_value', inputs: ['value', 'moment', 'meanSquare', 'grad'], body: `${NEW_MOMENT} result[index] = value[index] - m;` },
    { key: 'rms_mean_square', inputs: ['meanSquare', 'grad'], body: `${NEW_MEAN_SQUARE} result[index] = s;` },
    { key: 'rms_moment', inputs: ['moment', 'meanSquare', 'grad'], body: `${NEW_MOMENT} result[index] = m;` },
  ], (a) => [a.lr, a.decay, 1 - a.decay, a.momentum, a.epsilon], RMS_UNIFORMS);
}

/** [value', accumulation'] of tfjs's momentum optimizer. */
export function momentumUpdateConfig(): tf.KernelConfig {
  return updateKernel(MOMENTUM_UPDATE, [
    { key: 'mom_value', inputs: ['value', 'accumulation', 'grad'], body: `${NEW_ACCUMULATION} result[index] = uniforms.c * a + value[index];` },
    { key: 'mom_accumulation', inputs: ['accumulation', 'grad'], body: `${NEW_ACCUMULATION} result[index] = a;` },
  ], (a) => [-a.lr, a.momentum], MOM_UNIFORMS);
}
