/**
 * Broadcasting binary ops (Add, Mul, ...) on the webgpu backend with their shapes collapsed to the
 * smallest equivalent rank before the stock kernel runs.
 *
 * Why: tfjs-backend-webgpu 4.22 emits invalid WGSL ("cannot index type vec5") for rank-5 broadcasts
 * such as a bias add on [1,D,H,W,C] + [C]; the stock shader then silently returns zeros. Adjacent
 * dimensions that broadcast the same way are merged (bias add becomes [D*H*W, C] + [C]), which is
 * the same arithmetic on the same buffers.
 *
 * A float32 Add, Sub, Multiply or RealDiv of a GPU tensor and a scalar still held in JavaScript
 * (`tf.mul(x, 0.5)`, and tfjs's gradients use many) runs with the scalar as a uniform: the stock
 * kernel uploads it through a staging buffer of its own, about 89 of them per reference training step.
 * One of a [rows, C] tensor and a per-channel [C] one, C a multiple of 4, runs four values a thread.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, release, reshapeView, stockKernel, storedAsFloat32, type TensorInfo, type WebGPUBackendLike } from './program';

/** The binary kernels wrapped; all take inputs {a, b}. */
export const COLLAPSED_BINARY_KERNELS = [
  'Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference', 'Pow', 'FloorDiv', 'Mod',
  'Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr', 'Atan2',
] as const;

/**
 * Merges adjacent dimensions that broadcast the same way and drops leading ones.
 * E.g. [1,4,8,8,32] with [32] gives a [256,32] and b [32]; out is the collapsed output shape.
 */
export function collapseBroadcast(aShape: number[], bShape: number[]): { a: number[]; b: number[]; out: number[] } {
  const out = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const r = out.length;
  const pa = [...new Array(r - aShape.length).fill(1), ...aShape];
  const pb = [...new Array(r - bShape.length).fill(1), ...bShape];
  const groups: { a: number; b: number; kind: string }[] = [];
  for (let i = 0; i < r; i++) {
    if (out[i] === 1) continue;
    const kind = `${pa[i] === out[i] ? 'a' : ''}${pb[i] === out[i] ? 'b' : ''}`;
    const last = groups[groups.length - 1];
    if (last && last.kind === kind) {
      last.a *= pa[i];
      last.b *= pb[i];
    } else groups.push({ a: pa[i], b: pb[i], kind });
  }
  if (groups.length === 0) groups.push({ a: 1, b: 1, kind: 'ab' });
  const trim = (s: number[]) => {
    let k = 0;
    while (k < s.length - 1 && s[k] === 1) k++;
    return s.slice(k);
  };
  const a = trim(groups.map((g) => g.a));
  const b = trim(groups.map((g) => g.b));
  return { a, b, out: groups.map((g) => Math.max(g.a, g.b)) };
}

/** The binary ops whose stock WGSL is `a OP b` on float32, without NaN handling (tfjs 4.22). */
const PLAIN_OPERATORS: Record<string, string> = { Add: '+', Sub: '-', Multiply: '*', RealDiv: '/' };

interface BackendWithTensorMap extends WebGPUBackendLike {
  tensorMap: { get(dataId: object): { values?: ArrayLike<number> | null; resource?: unknown } | undefined };
}

/** The value of `t` when it is a float32 scalar held only in JavaScript (not yet on the GPU). */
function cpuScalar(backend: BackendWithTensorMap, t: TensorInfo): number | undefined {
  if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== 1) return undefined;
  const data = backend.tensorMap.get(t.dataId);
  return data && data.resource == null && data.values ? data.values[0] : undefined;
}

/**
 * `x OP s` (or `s OP x` when the scalar comes first) with the scalar as a uniform; the same WGSL arithmetic as
 * the stock kernel. Undefined when the op or the operands do not qualify.
 */
function withScalarUniform(name: string, backend: BackendWithTensorMap, a: TensorInfo, b: TensorInfo, outShape: number[]): TensorInfo | undefined {
  const op = PLAIN_OPERATORS[name];
  if (!op || !storedAsFloat32(backend, [a, b])) return undefined;
  const sb = cpuScalar(backend, b);
  const sa = sb === undefined ? cpuScalar(backend, a) : undefined;
  const x = sb !== undefined ? a : b;
  const s = sb ?? sa;
  // a tensor on the CPU stays with the stock kernel, which may run the op there
  if (s === undefined || backend.tensorMap.get(x.dataId)?.resource == null) return undefined;
  const size = tf.util.sizeFromShape(outShape);
  const expr = sb !== undefined ? `x[index] ${op} uniforms.s` : `uniforms.s ${op} x[index]`;
  const key = `scalar_${name}_${sb !== undefined ? 'right' : 'left'}`;
  const program = new FlatProgram(['x'], 's : f32,', `result[index] = ${expr};`, key, size, size % 4 === 0 ? [true] : undefined);
  const flat = reshapeView(backend, x, [size]);
  const y = backend.runWebGPUProgram(program, [flat], 'float32', [{ type: 'float32', data: [s] }]);
  const out = reshapeView(backend, y, outShape);
  release(backend, flat, y);
  return out;
}

/**
 * `x OP v` (or `v OP x`) for x [rows, C] and a per-channel v [C] with C a multiple of 4 (the SE
 * scaling in training: [voxels, C] x [C]), four values a thread; the stock kernel stages v in
 * workgroup memory and runs a float a thread. Undefined when the op or the shapes do not qualify.
 */
function withChannelOperand(name: string, backend: WebGPUBackendLike, a: TensorInfo, b: TensorInfo, c: { a: number[]; b: number[]; out: number[] }, outShape: number[]): TensorInfo | undefined {
  const op = PLAIN_OPERATORS[name];
  if (!op || !storedAsFloat32(backend, [a, b]) || c.out.length !== 2) return undefined;
  const [rows, channels] = c.out;
  const full = (s: number[]) => s.length === 2 && s[0] === rows && s[1] === channels;
  const perChannel = (s: number[]) => s.length === 1 && s[0] === channels;
  const right = full(c.a) && perChannel(c.b);
  if (channels % 4 !== 0 || !(right || (perChannel(c.a) && full(c.b)))) return undefined;
  const size = rows * channels;
  const [x, v] = right ? [a, b] : [b, a];
  const expr = right ? `x[index] ${op} v[index % uniforms.channels]` : `v[index % uniforms.channels] ${op} x[index]`;
  const program = new FlatProgram(['x', 'v'], 'channels : i32,', `result[index] = ${expr};`, `channel_${name}_${right ? 'right' : 'left'}`, size, [true, true]);
  const flat = [reshapeView(backend, x, [size]), reshapeView(backend, v, [channels])];
  const y = backend.runWebGPUProgram(program, flat, 'float32', [{ type: 'int32', data: [channels / 4] }]);
  const out = reshapeView(backend, y, outShape);
  release(backend, ...flat, y);
  return out;
}

/**
 * A webgpu kernel config running the stock `name` kernel on collapsed shapes when the rank is 3 or
 * more, the plain arithmetic ops with a JavaScript scalar as a uniform, and with a per-channel
 * operand on vec4s.
 */
export function collapsedBinaryConfig(name: string): tf.KernelConfig {
  const stock = stockKernel(name);
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const backend = args.backend as unknown as BackendWithTensorMap;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const scalar = withScalarUniform(name, backend, a, b, outShape);
    if (scalar) return scalar;
    const c = collapseBroadcast(a.shape, b.shape);
    const channelwise = withChannelOperand(name, backend, a, b, c, outShape);
    if (channelwise) return channelwise;
    if (outShape.length < 3) return stock.kernelFunc(args);
    const av = reshapeView(backend, a, c.a);
    const bv = reshapeView(backend, b, c.b);
    const y = stock.kernelFunc({ ...args, inputs: { a: av, b: bv } }) as TensorInfo;
    const out = reshapeView(backend, y, outShape);
    release(backend, av, bv, y);
    return out;
  };
  return { kernelName: name, backendName: 'webgpu', kernelFunc };
}
