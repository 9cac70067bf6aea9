/**
 * Sum, Mean, Max and Min on the webgpu backend for any number of rows.
 *
 * Why: the stock kernels transpose non-innermost reduction axes with a 2D-tiled program whose y
 * dispatch overflows past ~1M rows ("Dispatch size exceeds WebGPU limits in Y or Z dimension"),
 * which breaks the mean over voxels and the sum inside the bias-add gradient of a 3D U-Net.
 *
 * How: the reduced axes are grouped into runs; each run is reduced in place as an [outer, R, inner]
 * view (no transpose) by passes that fold chunks of {@link CHUNK} rows, until R is 1. Reading is
 * coalesced along `inner` (the channels).
 */
import * as tf from '@tensorflow/tfjs';
import {
  release, reshapeView, spreadWorkgroups, stockKernel,
  type TensorInfo, type WebGPUBackendLike, type WebGPUProgram,
} from './program';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

/** Rows folded by one invocation per pass. */
export const CHUNK = 128;
const WG = 64;

/**
 * What a first pass folds per row instead of x itself (group_norm.ts): `value` over the inputs
 * named in `inputs`, at element `at`, after `preamble`, which may read the per-(outer, inner)
 * operands at `oi` and the uniform `eps`.
 */
export interface RowTerm {
  key: string;
  inputs: string[];
  preamble: string;
  value: string;
}

/** Folds chunks of rows: x viewed as [outer, R, inner] gives [outer, ceil(R/CHUNK), inner]. */
export class ChunkReduceProgram implements WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0, 1, 2] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  size = true;
  uniforms: string;
  constructor(outer: number, parts: number, inner: number, private op: ReduceOp, private dtype: 'float32' | 'int32', private term?: RowTerm) {
    this.variableNames = term ? term.inputs : ['x'];
    this.uniforms = `R : i32, inner : i32, parts : i32, scale : f32,${term ? ' eps : f32,' : ''}`;
    this.outputShape = [outer, parts, inner];
    const [x, y] = spreadWorkgroups(Math.ceil((outer * parts * inner) / WG));
    this.dispatch = [x, y, 1];
    this.shaderKey = `anatomynet_chunkreduce_${op}_${dtype}${term ? `_${term.key}` : ''}`;
  }
  getUserCode(): string {
    const t = this.dtype === 'int32' ? 'i32' : 'f32';
    const init = this.op === 'max' ? (t === 'f32' ? '-uniforms.INFINITY' : 'i32(-2147483647)')
      : this.op === 'min' ? (t === 'f32' ? 'uniforms.INFINITY' : 'i32(2147483647)') : `${t}(0)`;
    const fold = this.op === 'max' ? 'acc = max(acc, v);' : this.op === 'min' ? 'acc = min(acc, v);' : 'acc = acc + v;';
    const finish = t === 'f32' ? 'acc * uniforms.scale' : 'acc';
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let inner = uniforms.inner;
        let perOuter = uniforms.parts * inner;
        let o = index / perOuter;
        let rem = index - o * perOuter;
        let p = rem / inner;
        let i = rem - p * inner;
        ${this.term ? `let oi = o * inner + i; ${this.term.preamble}` : ''}
        let r0 = p * ${CHUNK};
        let r1 = min(r0 + ${CHUNK}, uniforms.R);
        var acc : ${t} = ${init};
        var at = (o * uniforms.R + r0) * inner + i;
        for (var r = r0; r < r1; r = r + 1) {
          let v = ${this.term ? this.term.value : `${t}(x[at])`};
          ${fold}
          at = at + inner;
        }
        result[index] = ${finish};
      }`;
  }
}

/** Runs of reduced (true) and kept (false) dimensions, size-1 dimensions dropped. */
export function reductionRuns(shape: number[], axes: number[]): { size: number; reduced: boolean }[] {
  const runs: { size: number; reduced: boolean }[] = [];
  shape.forEach((n, d) => {
    if (n === 1) return;
    const reduced = axes.includes(d);
    const last = runs[runs.length - 1];
    if (last && last.reduced === reduced) last.size *= n;
    else runs.push({ size: n, reduced });
  });
  return runs;
}

/** Reduces `axes` of x; returns a new tensor of shape `outShape`. */
export function reduceOnGpu(
  backend: WebGPUBackendLike, x: TensorInfo, axes: number[], outShape: number[], op: ReduceOp,
): TensorInfo {
  const dtype = x.dtype === 'int32' ? 'int32' : 'float32';
  let runs = reductionRuns(x.shape, axes);
  const count = axes.reduce((p, a) => p * x.shape[a], 1);
  let cur = reshapeView(backend, x, [Math.max(tf.util.sizeFromShape(x.shape), 1)]);
  let passes = 0;
  while (runs.some((r) => r.reduced)) {
    let k = runs.length - 1;
    while (!runs[k].reduced) k--;
    const outer = runs.slice(0, k).reduce((p, r) => p * r.size, 1);
    const inner = runs.slice(k + 1).reduce((p, r) => p * r.size, 1);
    let R = runs[k].size;
    const lastRun = runs.slice(0, k).every((r) => !r.reduced);
    while (R > 1) {
      const parts = Math.ceil(R / CHUNK);
      const scale = op === 'mean' && lastRun && parts === 1 ? 1 / count : 1;
      const program = new ChunkReduceProgram(outer, parts, inner, op, dtype);
      const next = backend.runWebGPUProgram(program, [cur], dtype, [
        { type: 'int32', data: [R] }, { type: 'int32', data: [inner] },
        { type: 'int32', data: [parts] }, { type: 'float32', data: [scale] },
      ]);
      release(backend, cur);
      cur = next;
      R = parts;
      passes++;
    }
    runs = [...runs.slice(0, k), ...runs.slice(k + 1)];
    runs = runs.reduce<{ size: number; reduced: boolean }[]>((acc, r) => {
      const last = acc[acc.length - 1];
      if (last && last.reduced === r.reduced) last.size *= r.size;
      else acc.push({ ...r });
      return acc;
    }, []);
  }
  if (passes === 0) {
    // Only size-1 axes were reduced: the values are unchanged (a mean over one element is itself).
    const y = backend.runWebGPUProgram(new ChunkReduceProgram(1, 1, Math.max(tf.util.sizeFromShape(x.shape), 1), op, dtype),
      [cur], dtype, [{ type: 'int32', data: [1] }, { type: 'int32', data: [Math.max(tf.util.sizeFromShape(x.shape), 1)] },
        { type: 'int32', data: [1] }, { type: 'float32', data: [1] }]);
    release(backend, cur);
    cur = y;
  }
  const out = reshapeView(backend, cur, outShape);
  release(backend, cur);
  return out;
}

/** Kernel config for `Sum`, `Mean`, `Max` or `Min`; dtypes other than float32/int32 go to the stock kernel. */
export function reduceConfig(name: 'Sum' | 'Mean' | 'Max' | 'Min'): tf.KernelConfig {
  const op = name.toLowerCase() as ReduceOp;
  const stock = stockKernel(name);
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const attrs = args.attrs as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims?: boolean };
    const ok = x.dtype === 'float32' || (x.dtype === 'int32' && op !== 'mean');
    if (!ok || tf.util.sizeFromShape(x.shape) === 0) return stock.kernelFunc(args);
    const axes = tf.util.parseAxisParam(attrs.axis ?? attrs.reductionIndices ?? null as any, x.shape);
    const kept = x.shape.filter((_, d) => !axes.includes(d));
    const outShape = attrs.keepDims ? x.shape.map((n, d) => (axes.includes(d) ? 1 : n)) : kept;
    return reduceOnGpu(args.backend as unknown as WebGPUBackendLike, x, axes, outShape, op);
  };
  return { kernelName: name, backendName: 'webgpu', kernelFunc };
}
