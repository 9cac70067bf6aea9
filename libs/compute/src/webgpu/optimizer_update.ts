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

export const RMS_UNIFORMS = 'lr : f32, decay : f32, keep : f32, momentum : f32, eps : f32,';
export const MOM_UNIFORMS = 'c : f32, m : f32,';
/** The uniform values of {@link RMS_UNIFORMS} and {@link MOM_UNIFORMS}, from the kernels' attrs. */
export const rmsUniforms = (a: Record<string, number>) => [a.lr, a.decay, 1 - a.decay, a.momentum, a.epsilon];
export const momUniforms = (a: Record<string, number>) => [-a.lr, a.momentum];

/**
 * The update's arithmetic, shared with the in-place kernels (inplace_updates.ts) so both round
 * alike; `at(name)` is the WGSL expression of that buffer's old value at the current element.
 * RMSprop leaves the new mean square in `s` and the new moment in `m`; momentum the new accumulation in `a`.
 */
export const newMeanSquare = (at: (name: string) => string) =>
  `let g = ${at('grad')}; let s = ${at('meanSquare')} * uniforms.decay + (g * g) * uniforms.keep;`;
export const newMoment = (at: (name: string) => string) =>
  `${newMeanSquare(at)} let m = ${at('moment')} * uniforms.momentum + (g * uniforms.lr) / sqrt(s + uniforms.eps);`;
export const newAccumulation = (at: (name: string) => string) => `let a = uniforms.m * ${at('accumulation')} + ${at('grad')};`;
/** The new value of momentum SGD, once `a` is known. */
export const newMomentumValue = (at: (name: string) => string) => `uniforms.c * a + ${at('value')}`;

const indexed = (name: string) => `${name}[index]`;

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
    { key: 'rms_value', inputs: ['value', 'moment', 'meanSquare', 'grad'], body: `${newMoment(indexed)} result[index] = value[index] - m;` },
    { key: 'rms_mean_square', inputs: ['meanSquare', 'grad'], body: `${newMeanSquare(indexed)} result[index] = s;` },
    { key: 'rms_moment', inputs: ['moment', 'meanSquare', 'grad'], body: `${newMoment(indexed)} result[index] = m;` },
  ], rmsUniforms, RMS_UNIFORMS);
}

/** [value', accumulation'] of tfjs's momentum optimizer. */
export function momentumUpdateConfig(): tf.KernelConfig {
  return updateKernel(MOMENTUM_UPDATE, [
    { key: 'mom_value', inputs: ['value', 'accumulation', 'grad'], body: `${newAccumulation(indexed)} result[index] = ${newMomentumValue(indexed)};` },
    { key: 'mom_accumulation', inputs: ['accumulation', 'grad'], body: `${newAccumulation(indexed)} result[index] = a;` },
  ], momUniforms, MOM_UNIFORMS);
}
