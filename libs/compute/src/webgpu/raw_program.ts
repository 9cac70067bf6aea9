/**
 * Shaders of this project's own that bind any buffer read-write, run through tfjs-backend-webgpu's
 * recordAndSubmit: for kernels that write several tensors in one dispatch (tfjs's programs write
 * one, and bind their inputs read-only).
 *
 * recordAndSubmit binds its `output` at 0 and its inputs after it, in order, then a uniform buffer
 * holding NaN, Infinity, each tensor's shape and strides (the inputs' first, the output's last; 1-D
 * views make those one i32 each), and the fields given. It keeps the dispatch in tfjs's command
 * stream, its submit batching and tf.profile's timers (the program's class name labels them).
 */
import * as tf from '@tensorflow/tfjs';
import { release, reshapeView, type ProgramUniform, type TensorInfo, type WebGPUBackendLike } from './program';

/** The parts of tfjs-backend-webgpu's WebGPUBackend used here beyond {@link WebGPUBackendLike}. */
export interface RawBackend extends WebGPUBackendLike {
  tensorMap: { get(dataId: object): { values: unknown; resource: unknown } | undefined };
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType): TensorInfo;
  recordAndSubmit(program: object, output: TensorInfo, inputs: TensorInfo[], uniforms: ProgramUniform[]): void;
}

/** A storage buffer of a raw shader, in binding order; its elements f32 unless `element` says (vec4<f32>). */
export interface RawBinding {
  name: string;
  written: boolean;
  element?: string;
}

/**
 * The WGSL of a raw shader: the bindings as `array<f32>` (or of their `element`) named as given, a `uniforms` struct
 * ending in `fields` (WGSL members, each followed by a comma), and `fn main` with `wid` (workgroup
 * id), `nwg` (workgroups) and `lid` (local index) around `body`. `prelude` goes before main
 * (workgroup variables, helper functions).
 */
export function rawShader(bindings: RawBinding[], fields: string, workgroupSize: number, body: string, prelude = ''): string {
  const n = bindings.length;
  const decls = bindings.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b.written ? 'read_write' : 'read'}> ${b.name} : array<${b.element ?? 'f32'}>;`);
  // recordAndSubmit lists binding 1's shape first and binding 0's last
  const shapes = Array.from({ length: n }, (_, i) => `shape${(i + 1) % n} : i32, stride${(i + 1) % n} : i32,`).join(' ');
  return `${decls.join('\n')}
    struct Uniforms { NAN : f32, INFINITY : f32, ${shapes} ${fields} };
    @group(0) @binding(${n}) var<uniform> uniforms : Uniforms;
    ${prelude}
    @compute @workgroup_size(${workgroupSize})
    fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
            @builtin(local_invocation_index) lid : u32) {
      ${body}
    }`;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** The compute pipeline of `code` under `key` (compiled once per device). */
export function rawPipeline(device: GPUDevice, key: string, code: () => string): GPUComputePipeline {
  let byKey = pipelines.get(device);
  if (!byKey) pipelines.set(device, (byKey = new Map()));
  let pipeline = byKey.get(key);
  if (!pipeline) {
    const module = device.createShaderModule({ code: code(), label: key });
    pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    byKey.set(key, pipeline);
  }
  return pipeline;
}

/** What recordAndSubmit reads of a program; subclasses name the dispatch in tf.profile. */
export class RawProgram {
  constructor(
    readonly pipeline: GPUComputePipeline,
    readonly dispatch: [number, number, number],
    readonly outputShape: number[],
  ) {}
}

/** A new float32 tensor of `shape` with its GPU buffer, for a raw shader to write. */
export function rawOutput(backend: RawBackend, shape: number[]): TensorInfo {
  const t = backend.makeTensorInfo(shape, 'float32');
  backend.uploadToGPU(t.dataId);
  return t;
}

/**
 * Records `program` over `tensors` in binding order (1-D views of them), with `uniforms` after
 * tfjs's own. Tensors a raw shader wrote in place keep no stale CPU copy: list them in `written`.
 */
export function runRaw(backend: RawBackend, program: RawProgram, tensors: TensorInfo[], uniforms: ProgramUniform[], written: TensorInfo[] = []): void {
  const views = tensors.map((t) => {
    backend.uploadToGPU(t.dataId);
    return reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]);
  });
  backend.recordAndSubmit(program, views[0], views.slice(1), uniforms);
  release(backend, ...views);
  // tfjs keeps a read-back copy on the CPU and would serve it instead of the new values
  for (const t of written) backend.tensorMap.get(t.dataId)!.values = null;
}
