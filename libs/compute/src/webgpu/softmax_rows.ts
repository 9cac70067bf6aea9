/**
 * Softmax over a short last axis on webgpu (the network's 10 class channels per voxel), and its
 * gradient (`AnatomyNetSoftmaxGrad`, ../fused-gradients.ts) over any last axis.
 *
 * Why: the stock program runs one 64-thread workgroup per row with workgroup-memory reductions, so
 * for 10 columns 54 of 64 threads idle and every row pays several barriers; a whole-volume output
 * has 12M rows. tfjs's gradient is four full passes (dy y, its row sums, their product with y, the
 * difference), three of them full-size temporaries: 1.5 GB at 178x302x225 and 10 classes, where the
 * training step's memory peaks. How: one thread per row, the row held in registers (max, exp, sum,
 * scale; the gradient y (dy - sum(dy y)) in two loops over the row). Longer rows of the forward go to
 * the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { SOFTMAX_GRAD } from '../fused-gradients';
import { release, requireFloat32, reshapeView, spreadWorkgroups, stockKernel, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';

/** Longest row this kernel takes (held in registers). */
export const SOFTMAX_MAX_COLS = 32;
const WG = 64;

/** A thread per row of `cols` values: `body` reads the row at `at` from `variableNames`, writes result. */
class RowsProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  uniforms = 'rows : i32,';

  constructor(readonly variableNames: string[], rows: number, cols: number, key: string, private body: string) {
    this.outputShape = [rows, cols];
    const [x, y] = spreadWorkgroups(Math.ceil(rows / WG));
    this.dispatch = [x, y, 1];
    this.shaderKey = `anatomynet_${key}_${cols}`;
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.rows) { return; }
        ${this.body}
      }`;
  }
}

/** Softmax of each row, held in registers: max, exp, sum, scale. */
function softmaxBody(c: number): string {
  const range = Array.from({ length: c }, (_, i) => i);
  return `let at = index * ${c};
        ${range.map((j) => `let v${j} = logits[at + ${j}];`).join('\n        ')}
        let m = ${range.map((j) => `v${j}`).reduce((a, b) => `max(${a}, ${b})`)};
        ${range.map((j) => `let e${j} = exp(v${j} - m);`).join('\n        ')}
        let inv = 1.0 / (${range.map((j) => `e${j}`).join(' + ')});
        ${range.map((j) => `result[at + ${j}] = e${j} * inv;`).join('\n        ')}`;
}

/** dlogits = y (dy - sum_j dy_j y_j) of each row, two loops over it (any row length). */
function softmaxGradBody(c: number): string {
  return `let at = index * ${c};
        var s = 0.0;
        for (var j = 0; j < ${c}; j = j + 1) { s = s + dy[at + j] * y[at + j]; }
        for (var j = 0; j < ${c}; j = j + 1) { result[at + j] = y[at + j] * (dy[at + j] - s); }`;
}

/** Runs `body` a thread per row over `inputs` of one shape [..., cols]; the result has their shape. */
function runRows(backend: WebGPUBackendLike, names: string[], inputs: TensorInfo[], key: string, body: (cols: number) => string): TensorInfo {
  const shape = inputs[0].shape;
  const cols = shape[shape.length - 1];
  const rows = tf.util.sizeFromShape(shape) / Math.max(cols, 1);
  const flat = inputs.map((t) => reshapeView(backend, t, [rows, cols]));
  const y = backend.runWebGPUProgram(new RowsProgram(names, rows, cols, key, body(cols)), flat, 'float32', [{ type: 'int32', data: [rows] }]);
  const out = reshapeView(backend, y, shape);
  release(backend, ...flat, y);
  return out;
}

export function softmaxRowsConfig(): tf.KernelConfig {
  const stock = stockKernel('Softmax');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { logits } = args.inputs as { logits: TensorInfo };
    const { dim } = args.attrs as unknown as { dim: number };
    const rank = logits.shape.length;
    const cols = logits.shape[rank - 1];
    const last = dim === -1 || dim === rank - 1;
    if (!last || logits.dtype !== 'float32' || cols > SOFTMAX_MAX_COLS || cols < 1) return stock.kernelFunc(args);
    return runRows(args.backend as unknown as WebGPUBackendLike, ['logits'], [logits], 'softmax_rows', softmaxBody);
  };
  return { kernelName: 'Softmax', backendName: 'webgpu', kernelFunc };
}

/** {@link SOFTMAX_GRAD} {dy, y} (one shape, float32; the softmax taken over the last axis) -> dlogits. */
export function softmaxGradRowsConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { dy, y } = args.inputs as { dy: TensorInfo; y: TensorInfo };
    requireFloat32(SOFTMAX_GRAD, [dy, y]);
    if (dy.shape.join() !== y.shape.join() || y.shape.length < 1) {
      throw new RangeError(`${SOFTMAX_GRAD}: dy [${dy.shape.join(',')}] and y [${y.shape.join(',')}] must be of one shape`);
    }
    return runRows(args.backend as unknown as WebGPUBackendLike, ['dy', 'y'], [dy, y], 'softmax_grad_rows', softmaxGradBody);
  };
  return { kernelName: SOFTMAX_GRAD, backendName: 'webgpu', kernelFunc };
}
