/**
 * Kernels that update variables where they are, on webgpu: the in-place optimizer updates
 * (../optimizer-kernels.ts; one dispatch updates several variables, value and optimizer state) and
 * the BatchNorm running statistics (../group-norm.ts; mean and variance in one dispatch).
 *
 * Why: the per-variable kernels (optimizer_update.ts) need one dispatch per output, because a
 * tfjs program writes one buffer: 312 of a reference training step's ~1,000 dispatches (104
 * variables x 3) and 312 new buffers a step. Here a shader of our own binds each variable's value
 * and state read-write (two variables fill WebGPU's default 8 storage buffers for RMSprop; the
 * device asks for the adapter's limit, dawn.ts), so the update is 52 dispatches at 8 buffers, 26
 * at 16, and allocates nothing.
 *
 * How: tfjs's programs bind their inputs read-only, so the shader is our own (raw_program.ts),
 * recorded through the backend's recordAndSubmit.
 */
import * as tf from '@tensorflow/tfjs';
import { RUNNING_STATS_IN_PLACE } from '../group-norm';
import { MOMENTUM_UPDATE_IN_PLACE, RMSPROP_UPDATE_IN_PLACE } from '../optimizer-kernels';
import { MOM_UNIFORMS, momUniforms, newAccumulation, newMoment, newMomentumValue, RMS_UNIFORMS, rmsUniforms } from './optimizer_update';
import { spreadWorkgroups, type ProgramUniform, type TensorInfo } from './program';
import { rawPipeline, RawProgram, rawShader, runRaw, type RawBackend } from './raw_program';

const THREADS = 256;
/** The most variables one dispatch updates, whatever the device allows: a bound on the shader's size. */
const MAX_PER_DISPATCH = 16;

/**
 * Variables per dispatch: as many as the device's storage buffers allow (RMSprop binds four per
 * variable; WebGPU's default limit of 8 gives two, the 16 of lavapipe's adapter four), at most
 * {@link MAX_PER_DISPATCH}.
 */
export const variablesPerDispatch = (device: GPUDevice, buffersPerVariable: number): number =>
  Math.min(MAX_PER_DISPATCH, Math.max(1, Math.floor(device.limits.maxStorageBuffersPerShaderStage / buffersPerVariable)));

interface UpdateSpec {
  kernelName: string;
  /** Each variable's buffers in binding order; the first is the program's "output". */
  buffers: { name: string; written: boolean }[];
  uniformFields: string;
  uniformsOf: (attrs: Record<string, number>) => number[];
  /** Statements for one element `i` of slot `k`'s buffers, named `${name}${k}`. */
  body: (k: number) => string;
}

const RMSPROP: UpdateSpec = {
  kernelName: RMSPROP_UPDATE_IN_PLACE,
  buffers: [{ name: 'value', written: true }, { name: 'meanSquare', written: true }, { name: 'moment', written: true }, { name: 'grad', written: false }],
  uniformFields: RMS_UNIFORMS,
  uniformsOf: rmsUniforms,
  body: (k) => `${newMoment((n) => `${n}${k}[i]`)} meanSquare${k}[i] = s; moment${k}[i] = m; value${k}[i] = value${k}[i] - m;`,
};

const MOMENTUM: UpdateSpec = {
  kernelName: MOMENTUM_UPDATE_IN_PLACE,
  buffers: [{ name: 'value', written: true }, { name: 'accumulation', written: true }, { name: 'grad', written: false }],
  uniformFields: MOM_UNIFORMS,
  uniformsOf: momUniforms,
  body: (k) => {
    const at = (n: string) => `${n}${k}[i]`;
    return `${newAccumulation(at)} value${k}[i] = ${newMomentumValue(at)}; accumulation${k}[i] = a;`;
  },
};

/**
 * running = running (1 - m) + m batch, the variance's batch value times rows / (rows - 1) first:
 * the composed ops' order (libs/model updateRunningStats).
 */
const RUNNING_STATS: UpdateSpec = {
  kernelName: RUNNING_STATS_IN_PLACE,
  buffers: [{ name: 'runningMean', written: true }, { name: 'runningVar', written: true }, { name: 'mean', written: false }, { name: 'variance', written: false }],
  uniformFields: 'keep : f32, m : f32, correction : f32,',
  uniformsOf: (a) => [1 - a.momentum, a.momentum, a.correction],
  body: (k) => `runningMean${k}[i] = runningMean${k}[i] * uniforms.keep + mean${k}[i] * uniforms.m;
    runningVar${k}[i] = runningVar${k}[i] * uniforms.keep + (variance${k}[i] * uniforms.correction) * uniforms.m;`,
};

/** The WGSL of one dispatch over `slots` variables. */
export function inPlaceShader(spec: UpdateSpec, slots: number): string {
  const bindings = Array.from({ length: slots }, (_, k) => spec.buffers.map((b) => ({ name: `${b.name}${k}`, written: b.written }))).flat();
  const sizes = Array.from({ length: slots }, (_, k) => `size${k} : i32, start${k} : i32,`).join(' ');
  const branches = Array.from({ length: slots }, (_, k) => {
    const test = k === slots - 1 ? '' : `if (g < uniforms.start${k + 1}) `;
    return `${k ? 'else ' : ''}${test}{
          let i = (g - uniforms.start${k}) * ${THREADS} + t;
          if (i < uniforms.size${k}) { ${spec.body(k)} }
        }`;
  }).join(' ');
  return rawShader(bindings, `${spec.uniformFields} ${sizes}`, THREADS, `
      let g = i32(wid.y * nwg.x + wid.x);
      let t = i32(lid);
      ${branches}`);
}

/** The class name labels tf.profile's timers. */
class InPlaceUpdateProgram extends RawProgram {}

function inPlaceConfig(spec: UpdateSpec): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as RawBackend;
    const inputs = args.inputs as Record<string, TensorInfo>;
    const attrs = args.attrs as unknown as Record<string, number>;
    const count = attrs.count;
    const hyper = spec.uniformsOf(attrs).map((v) => ({ type: 'float32' as const, data: [v] }));
    const variables = Array.from({ length: count }, (_, v) => {
      const ts = spec.buffers.map((b) => {
        const t = inputs[`${b.name}${v}`];
        if (!t) throw new RangeError(`${spec.kernelName}: input ${b.name}${v} missing (count ${count})`);
        return t;
      });
      const shape = ts[0].shape;
      for (const [j, t] of ts.entries()) {
        if (t.dtype !== 'float32' || t.shape.join() !== shape.join()) {
          throw new RangeError(`${spec.kernelName}: ${spec.buffers[j].name}${v} is ${t.dtype} [${t.shape.join(',')}], value float32 [${shape.join(',')}]`);
        }
      }
      return ts;
    });
    const perDispatch = variablesPerDispatch(backend.device, spec.buffers.length);
    for (let first = 0; first < count; first += perDispatch) {
      const group = variables.slice(first, first + perDispatch);
      const uniforms: ProgramUniform[] = [...hyper];
      let groups = 0;
      for (const ts of group) {
        const size = tf.util.sizeFromShape(ts[0].shape);
        uniforms.push({ type: 'int32', data: [size] }, { type: 'int32', data: [groups] });
        groups += Math.ceil(size / THREADS);
      }
      const [x, y] = spreadWorkgroups(groups);
      const slots = group.length;
      const pipeline = rawPipeline(backend.device, `${spec.kernelName}_${slots}`, () => inPlaceShader(spec, slots));
      const written = group.flatMap((ts) => ts.filter((_, j) => spec.buffers[j].written));
      runRaw(backend, new InPlaceUpdateProgram(pipeline, [x, y, 1], [1]), group.flat(), uniforms, written);
    }
    return [];
  };
  return { kernelName: spec.kernelName, backendName: 'webgpu', kernelFunc };
}

export const rmspropInPlaceConfig = () => inPlaceConfig(RMSPROP);
export const momentumInPlaceConfig = () => inPlaceConfig(MOMENTUM);
export const runningStatsInPlaceConfig = () => inPlaceConfig(RUNNING_STATS);
