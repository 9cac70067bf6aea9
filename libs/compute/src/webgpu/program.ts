/**
 * The small part of tfjs-backend-webgpu's program contract this project's kernels use, plus helpers
 * shared by the kernel files (reshape views, dispatch sizes within WebGPU's per-dimension limit).
 *
 * A program is run with `backend.runWebGPUProgram(program, inputs, dtype, uniforms)`: tfjs prepends
 * the buffer bindings (`result`, one array per variable name) and a `uniforms` struct holding the
 * input/output shapes, `size` (when `size` is true) and the fields in `uniforms`, then calls our
 * `fn main(index : i32)` (flat layout) or `fn main()` (layout with y/z).
 */
import * as tf from '@tensorflow/tfjs';

export type TensorInfo = tf.TensorInfo;

/** The subset of tfjs-backend-webgpu's WebGPUBackend the kernels call. */
export interface WebGPUBackendLike {
  runWebGPUProgram(program: WebGPUProgram, inputs: TensorInfo[], dtype: tf.DataType, uniforms?: ProgramUniform[]): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  readSync(dataId: object): ArrayLike<number>;
  device: GPUDevice;
}

export interface ProgramUniform {
  type: 'int32' | 'float32' | 'uint32';
  data: number[];
}

export interface WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size?: boolean;
  uniforms?: string;
  outputComponent?: number;
  variableComponents?: number[];
  getUserCode(): string;
}

/** WebGPU's guaranteed minimum of maxComputeWorkgroupsPerDimension; adapters may allow more. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Spreads `count` workgroups over x and y so neither exceeds the per-dimension limit; shaders
 * rebuild the linear id as `workgroupId.y * numWorkgroups.x + workgroupId.x` and must ignore ids
 * at or past `count` (the grid may be slightly larger).
 */
export function spreadWorkgroups(count: number): [number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIM) return [Math.max(count, 1), 1];
  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIM);
  if (y > MAX_WORKGROUPS_PER_DIM) throw new Error(`dispatch of ${count} workgroups exceeds WebGPU limits`);
  return [Math.ceil(count / y), y];
}

/**
 * WGSL of the thread's index within a workgroup of `threads` (tfjs's programs see `localId` through
 * a module variable). The min is always a no-op, but it gives Tint's integer range analysis the
 * index's bounds: without them every workgroup-memory read indexed from it gets a bounds clamp
 * (robustness), an extra instruction and an address the compiler cannot fold, in the GEMM's
 * innermost loop too.
 */
export const threadIndex = (threads: number): string => `i32(min(localId.x, ${threads - 1}u))`;

let assumedBindingBytes: number | undefined;

/** The largest storage binding chunked kernels plan for: the device's, or one assumed for a recording. */
export function deviceBindingBytes(backend: WebGPUBackendLike): number {
  return assumedBindingBytes ?? backend.device.limits.maxStorageBufferBindingSize;
}

/**
 * Plans chunked kernels (conv3d_winograd.ts) for another device's storage-binding limit, for dry
 * runs (dry_run.ts) that record another GPU's allocations; undefined: the device's own again.
 */
export function assumeBindingLimit(bytes: number | undefined): void {
  assumedBindingBytes = bytes;
}

/** Workgroup memory the device grants (tfjs-webgpu asks for the adapter's limit). */
export function deviceSharedBytes(backend: WebGPUBackendLike): number {
  return backend.device.limits.maxComputeWorkgroupStorageSize;
}

/** A reshaped view of `x` on the webgpu backend (shares the buffer); dispose it with {@link release}. */
export function reshapeView(backend: WebGPUBackendLike, x: TensorInfo, shape: number[]): TensorInfo {
  const reshape = tf.getKernel('Reshape', 'webgpu');
  if (!reshape) throw new Error('webgpu backend has no Reshape kernel registered');
  return reshape.kernelFunc({ inputs: { x }, backend: backend as any, attrs: { shape } }) as TensorInfo;
}

/** Releases intermediate tensors created inside a kernel. */
export function release(backend: WebGPUBackendLike, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** The stock kernel tfjs-backend-webgpu registered under `name`, captured before it is replaced. */
export function stockKernel(name: string): tf.KernelConfig {
  const k = tf.getKernel(name, 'webgpu');
  if (!k) throw new Error(`tfjs-backend-webgpu registers no ${name} kernel`);
  return k;
}

/**
 * One thread per output value of a flat float32 output of `size` values: `body` is the code of
 * `main(index)` after the bounds check, writing `result[index]`, with the inputs named by
 * `variableNames` and the fields of `uniforms` (tfjs adds `size`).
 *
 * With `vec4` (one flag per input; `size` a multiple of 4) each thread writes a vec4<f32>: `index`
 * counts vec4s, the flagged inputs are bound as vec4 arrays, the others as f32. `V` is the value
 * type either way (`V(0.0)` a zero of it), so one body serves both. A vec4 a thread moves 16 bytes a
 * load and divides its index once for four values: these passes are memory-bound, and on a GPU an
 * integer division costs tens of instructions a thread.
 */
export class FlatProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  outputComponent?: number;
  variableComponents?: number[];
  constructor(
    readonly variableNames: string[],
    readonly uniforms: string,
    private body: string,
    key: string,
    size: number,
    vec4?: readonly boolean[],
  ) {
    if (variableNames.includes('V')) throw new RangeError(`FlatProgram ${key}: V names the value type, not an input`);
    if (vec4 && (vec4.length !== variableNames.length || size % 4 !== 0)) {
      throw new RangeError(`FlatProgram ${key}: vec4 needs a flag per input (${variableNames.length}) and a size divisible by 4 (${size})`);
    }
    this.outputShape = [size];
    const [x, y] = spreadWorkgroups(Math.ceil(size / (vec4 ? 4 : 1) / 64));
    this.dispatch = [x, y, 1];
    this.shaderKey = `anatomynet_flat_${key}`;
    if (vec4) {
      this.outputComponent = 4;
      this.variableComponents = vec4.map((v) => (v ? 4 : 1));
      this.shaderKey += `_vec4_${this.variableComponents.join('')}`;
    }
  }
  getUserCode(): string {
    return `
      alias V = ${this.outputComponent === 4 ? 'vec4<f32>' : 'f32'};
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        ${this.body}
      }`;
  }
}

/**
 * One pass over a float32 result of `shape` [N, ..., C]: `body` writes result[index], with `g` the
 * index of its (case, channel) in the per-case operands [N, C] among `inputs` (bound as `names`).
 * `uniforms` come first in the declaration, then perCase and channels. Where C is a multiple of 4
 * (the reference network's blocks) the pass runs on vec4s ({@link FlatProgram}: `V`, `index` and
 * `g` count vec4s), every operand then bound as vec4.
 */
export function perCaseChannelPass(
  backend: WebGPUBackendLike, names: string[], inputs: TensorInfo[], shape: number[], body: string, key: string,
  uniforms: { decl: string; values: ProgramUniform[] } = { decl: '', values: [] },
): TensorInfo {
  const size = tf.util.sizeFromShape(shape);
  const channels = shape[shape.length - 1];
  const lanes = channels % 4 === 0 ? 4 : 1;
  const flat = inputs.map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
  const program = new FlatProgram(names, `${uniforms.decl}perCase : i32, channels : i32,`,
    `let g = (index / uniforms.perCase) * uniforms.channels + index % uniforms.channels; ${body}`, key, size,
    lanes === 4 ? names.map(() => true) : undefined);
  const y = backend.runWebGPUProgram(program, flat, 'float32', [
    ...uniforms.values, int32(size / shape[0] / lanes), int32(channels / lanes),
  ]);
  const out = reshapeView(backend, y, shape);
  release(backend, ...flat, y);
  return out;
}

/** The parts of tfjs-backend-webgpu's WebGPUBackend that submit what is recorded. */
export interface SubmittingBackend {
  commandEncoder: GPUCommandEncoder | null;
  submitQueue(): void;
  endComputePassEncoder(): void;
}

/**
 * Submits the dispatches recorded so far (tfjs submits every 15 by itself). Tensors released since
 * the last submit return their buffers to tfjs's pool only at a submit, so a kernel that makes and
 * releases large temporaries in a loop submits after each round to reuse them.
 */
export function submitRecorded(backend: object): void {
  const b = backend as SubmittingBackend;
  b.endComputePassEncoder();
  if (b.commandEncoder) b.submitQueue();
}

/** One int32 uniform value. */
export const int32 = (v: number): ProgramUniform => ({ type: 'int32', data: [v] });

/** Refuses operands of `kernel` that are not float32, naming their dtypes. */
export function requireFloat32(kernel: string, ts: TensorInfo[]): void {
  if (ts.some((t) => t.dtype !== 'float32')) throw new RangeError(`${kernel}: float32 operands expected, got ${ts.map((t) => t.dtype).join(', ')}`);
}

/** The dtype tfjs-webgpu's buffer of `t` holds (its tensor map's), which may differ from t's label. */
function storedDtype(backend: object, t: TensorInfo): string {
  const map = (backend as { tensorMap?: { get(dataId: object): { dtype: string } | undefined } }).tensorMap;
  return map?.get(t.dataId)?.dtype ?? t.dtype;
}

/**
 * Whether every tensor is float32 in its buffer too. tfjs-webgpu casts int32 and bool to float32 by
 * relabelling the tensor (tf.oneHot(...).toFloat() keeps an i32 buffer), and a shader that reads the
 * buffer itself sees i32: kernels that do check this and take tfjs's path (whose reads convert), or
 * wrap themselves in {@link withFloatInputs}.
 */
export function storedAsFloat32(backend: object, ts: TensorInfo[]): boolean {
  return ts.every((t) => t.dtype === 'float32' && storedDtype(backend, t) === 'float32');
}

/**
 * `kernelFunc` with its named float32 inputs whose buffers hold another type copied into float32
 * buffers first (one pass each; see {@link storedAsFloat32}), the copies released after.
 */
export function withFloatInputs(kernelFunc: tf.KernelFunc, names: readonly string[]): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const inputs = args.inputs as Record<string, TensorInfo>;
    const relabelled = names.filter((n) => inputs[n] !== undefined && inputs[n].dtype === 'float32' && storedDtype(backend, inputs[n]) !== 'float32');
    if (relabelled.length === 0) return kernelFunc(args);
    const copies = relabelled.map((n) => {
      const t = inputs[n];
      const size = tf.util.sizeFromShape(t.shape);
      const flat = reshapeView(backend, t, [size]);
      const y = backend.runWebGPUProgram(new FlatProgram(['x'], '', 'result[index] = f32(x[index]);', 'to_float', size), [flat], 'float32');
      const out = reshapeView(backend, y, t.shape);
      release(backend, flat, y);
      return out;
    });
    try {
      return kernelFunc({ ...args, inputs: { ...inputs, ...Object.fromEntries(relabelled.map((n, i) => [n, copies[i]])) } });
    } finally {
      release(backend, ...copies);
    }
  };
}
