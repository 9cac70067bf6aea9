/**
 * Concat, Slice and SplitV on the webgpu backend as copies of column ranges of [rows, width] views,
 * four floats a thread.
 *
 * Why: tfjs-backend-webgpu's concat runs a thread per value, each dividing its index into a row and a
 * column and choosing its input through a chain of comparisons; its slice (and SplitV, the slices
 * that make the concat's gradient) a thread per value with rank-5 coordinates. On the H100 the
 * decoder's three channel concats took 3.8 ms of the whole-volume forward (0.84 TB/s of 3.35), and in
 * training Concat and SplitV 5.8 and 5.9 ms (2026-11-28). How: along one axis every part is a range
 * of columns of the same rows (rows: the dimensions before the axis; columns: the axis times the
 * dimensions after it), so a thread copies a vec4 where every width and offset is a multiple of 4 (the
 * network's channel counts are). Anything else (other dtypes, several sliced axes, widths not
 * divisible by 4, tensors small enough for tfjs to keep on the CPU) goes to the stock kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, int32, release, reshapeView, stockKernel, storedAsFloat32, type TensorInfo, type WebGPUBackendLike } from './program';

interface ConcatBackend extends WebGPUBackendLike {
  shouldExecuteOnCPU(inputs: TensorInfo[]): boolean;
}

/** Rows and column widths of a concat of `shapes` along `axis` as [rows, width] views; undefined where the shapes do not fit. */
export function concatColumns(shapes: number[][], axis: number): { rows: number; widths: number[] } | undefined {
  const rank = shapes[0].length;
  if (axis < 0 || axis >= rank) return undefined;
  const fits = shapes.every((s) => s.length === rank && s.every((v, i) => i === axis || v === shapes[0][i]));
  if (!fits) return undefined;
  const inner = tf.util.sizeFromShape(shapes[0].slice(axis + 1));
  return { rows: tf.util.sizeFromShape(shapes[0].slice(0, axis)), widths: shapes.map((s) => s[axis] * inner) };
}

/**
 * The column range a slice of `shape` takes when it cuts one axis only: rows, the full width, the
 * first column and the range's width; undefined when it cuts several axes or none.
 */
export function sliceColumns(shape: number[], begin: number[], size: number[]): { rows: number; width: number; first: number; columns: number } | undefined {
  const cut = shape.map((v, i) => begin[i] !== 0 || size[i] !== v);
  const axis = cut.indexOf(true);
  if (axis < 0 || cut.lastIndexOf(true) !== axis) return undefined;
  const inner = tf.util.sizeFromShape(shape.slice(axis + 1));
  return { rows: tf.util.sizeFromShape(shape.slice(0, axis)), width: shape[axis] * inner, first: begin[axis] * inner, columns: size[axis] * inner };
}

const quads = (...vs: number[]) => vs.every((v) => v % 4 === 0);

/** The body of a concat of `n` inputs T0..: end_i (cumulative vec4 columns) picks the input, width_i its row length. */
function concatBody(n: number): string {
  const read = (i: number) => `T${i}[row * uniforms.width${i} + col${i === 0 ? '' : ` - uniforms.end${i - 1}`}]`;
  const branches = Array.from({ length: n - 1 }, (_, i) => `${i === 0 ? '' : 'else '}if (col < uniforms.end${i}) { result[index] = ${read(i)}; }`);
  return `let row = index / uniforms.columns; let col = index - row * uniforms.columns;
        ${branches.join('\n        ')}
        else { result[index] = ${read(n - 1)}; }`;
}

export function concatConfig(): tf.KernelConfig {
  const stock = stockKernel('Concat');
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as ConcatBackend;
    const inputs = args.inputs as unknown as TensorInfo[];
    const n = inputs.length;
    const axis = n > 0 ? tf.util.parseAxisParam((args.attrs as { axis: number | number[] }).axis, inputs[0].shape)[0] : -1;
    const plan = n > 1 ? concatColumns(inputs.map((t) => t.shape), axis) : undefined;
    // one storage binding is the output's
    const bindable = n < backend.device.limits.maxStorageBuffersPerShaderStage;
    if (!plan || !bindable || plan.rows === 0 || !quads(...plan.widths) || plan.widths.includes(0)
      || !storedAsFloat32(backend, inputs) || backend.shouldExecuteOnCPU(inputs)) return stock.kernelFunc(args);
    const columns = plan.widths.reduce((a, b) => a + b, 0);
    const size = plan.rows * columns;
    // each part's end column (in vec4s), but the last's: the width
    let end = 0;
    const ends = plan.widths.slice(0, -1).map((w) => (end += w / 4));
    const names = inputs.map((_, i) => `T${i}`);
    const uniforms = `columns : i32, ${ends.map((_, i) => `end${i} : i32, `).join('')}${names.map((_, i) => `width${i} : i32, `).join('')}`;
    const program = new FlatProgram(names, uniforms, concatBody(n), `concat_${n}`, size, names.map(() => true));
    const flat = inputs.map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
    const y = backend.runWebGPUProgram(program, flat, 'float32', [int32(columns / 4), ...ends.map(int32), ...plan.widths.map((w) => int32(w / 4))]);
    const out = reshapeView(backend, y, tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis));
    release(backend, ...flat, y);
    return out;
  };
  return { kernelName: 'Concat', backendName: 'webgpu', kernelFunc };
}

const SLICE_BODY = 'let row = index / uniforms.columns; result[index] = x[row * uniforms.width + uniforms.first + index - row * uniforms.columns];';

/** x[begin : begin + size] as a vec4 copy of a column range where it is one, else through `stock` (tfjs's Slice). */
function sliceOf(stock: tf.KernelConfig, backend: ConcatBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const c = storedAsFloat32(backend, [x]) && !backend.shouldExecuteOnCPU([x]) ? sliceColumns(x.shape, begin, size) : undefined;
  if (!c || c.rows === 0 || c.columns === 0 || !quads(c.width, c.first, c.columns)) {
    return stock.kernelFunc({ inputs: { x }, backend: backend as unknown as tf.KernelBackend, attrs: { begin, size } }) as TensorInfo;
  }
  const flat = reshapeView(backend, x, [tf.util.sizeFromShape(x.shape)]);
  const program = new FlatProgram(['x'], 'columns : i32, width : i32, first : i32,', SLICE_BODY, 'slice_columns', c.rows * c.columns, [true]);
  const y = backend.runWebGPUProgram(program, [flat], 'float32', [int32(c.columns / 4), int32(c.width / 4), int32(c.first / 4)]);
  const out = reshapeView(backend, y, size);
  release(backend, flat, y);
  return out;
}

export function sliceConfig(): tf.KernelConfig {
  const stock = stockKernel('Slice');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const attrs = args.attrs as { begin: number | number[]; size: number | number[] };
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
    tf.slice_util.assertParamsValid(x as tf.Tensor, begin, size);
    return sliceOf(stock, args.backend as unknown as ConcatBackend, x, begin, size);
  };
  return { kernelName: 'Slice', backendName: 'webgpu', kernelFunc };
}

export function splitVConfig(): tf.KernelConfig {
  const stockSlice = stockKernel('Slice');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const attrs = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
    const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits, axis);
    const begin = x.shape.map(() => 0);
    return sizes.map((s) => {
      const size = x.shape.map((v, i) => (i === axis ? s : v));
      const part = sliceOf(stockSlice, args.backend as unknown as ConcatBackend, x, [...begin], size);
      begin[axis] += s;
      return part;
    });
  };
  return { kernelName: 'SplitV', backendName: 'webgpu', kernelFunc };
}
