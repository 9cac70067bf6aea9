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
  release, reshapeView, spreadWorkgroups, threadIndex, stockKernel,
  type ProgramUniform, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram,
} from './program';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

/** Rows folded by one invocation per pass. */
export const CHUNK = 128;
const WG = 64;

/**
 * What a first pass folds per row instead of x itself (group_norm.ts): `value` over the inputs
 * named in `inputs`, at element `at`, after `preamble`, which may read the per-(outer, inner)
 * operands at `oi`, the per-column ones at `i`, and the uniform `eps`. Where the columns are a
 * multiple of 4 the pass may run on vec4s (every input then a vec4 array, and `V` the value type:
 * write a literal's comparison as `V(0.0)`).
 */
export interface RowTerm {
  key: string;
  inputs: string[];
  preamble: string;
  value: string;
}

/** WGSL pieces of a fold of `op`: the value type, its start, one step `acc op= v`, and the result. */
function foldCode(op: ReduceOp, dtype: 'float32' | 'int32', acc = 'acc', v = 'v') {
  const t = dtype === 'int32' ? 'i32' : 'f32';
  const init = op === 'max' ? (t === 'f32' ? '-uniforms.INFINITY' : 'i32(-2147483647)')
    : op === 'min' ? (t === 'f32' ? 'uniforms.INFINITY' : 'i32(2147483647)') : `${t}(0)`;
  const fold = op === 'max' ? `${acc} = max(${acc}, ${v});` : op === 'min' ? `${acc} = min(${acc}, ${v});` : `${acc} = ${acc} + ${v};`;
  const finish = t === 'f32' ? `${acc} * uniforms.scale` : acc;
  return { t, init, fold, finish };
}

/** Rows one workgroup of {@link LanesReduceProgram} folds. */
export const WIDE_CHUNK = 2048;
export const LANE_THREADS = 256;
/** The most kept values per row (inner) for which {@link LanesReduceProgram} runs: two lanes at least. */
export const LANES_MAX_INNER = LANE_THREADS / 2;

/**
 * The first pass over many rows of few columns (a bias gradient: [voxels, C] summed over the voxels):
 * one workgroup per (outer, chunk of {@link WIDE_CHUNK} rows), its threads spread over (row lane,
 * column) so that neighbouring threads read neighbouring values, and the lanes folded in workgroup
 * memory. Up to 2,048 rows this is the only pass (ChunkReduceProgram needs two past 128 rows); for
 * 12M rows it leaves 5,900 partial rows where chunks of 128 leave 95,000. With `vec4` (float32,
 * columns a multiple of 4) a column is four: every operand of the term, and the result, are vec4
 * arrays, so a thread loads 16 bytes a row and four times as many lanes share the chunk.
 */
export class LanesReduceProgram implements WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  // a y axis makes tfjs emit `fn main()` with workgroup ids (not the flat main(index))
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [LANE_THREADS, 1, 1];
  uniforms: string;
  outputComponent?: number;
  variableComponents?: number[];
  constructor(
    private outer: number, readonly parts: number, private inner: number, private op: ReduceOp, private dtype: 'float32' | 'int32', private term?: RowTerm,
    private vec4 = false,
  ) {
    if (vec4 && (dtype !== 'float32' || inner % 4 !== 0)) throw new RangeError(`LanesReduceProgram: vec4 needs float32 and columns divisible by 4 (${dtype}, ${inner})`);
    this.variableNames = term ? term.inputs : ['x'];
    this.uniforms = `R : i32, parts : i32, groups : i32, scale : f32,${term ? ' eps : f32,' : ''}`;
    this.outputShape = [outer, parts, inner];
    const [x, y] = spreadWorkgroups(outer * parts);
    this.dispatch = [x, y, 1];
    this.shaderKey = `anatomynet_lanesreduce_${op}_${dtype}_${inner}${term ? `_${term.key}` : ''}${vec4 ? '_vec4' : ''}`;
    if (vec4) {
      this.outputComponent = 4;
      this.variableComponents = this.variableNames.map(() => 4);
    }
  }
  /** The uniforms' values for R rows, scaling the folded values by `scale`, and `eps` for a term. */
  uniformValues(R: number, scale: number, eps = 0): ProgramUniform[] {
    return [
      { type: 'int32', data: [R] }, { type: 'int32', data: [this.parts] }, { type: 'int32', data: [this.outer * this.parts] },
      { type: 'float32', data: [scale] }, ...(this.term ? [{ type: 'float32' as const, data: [eps] }] : []),
    ];
  }
  getUserCode(): string {
    // columns in the shader's units: floats, or vec4s
    const inner = this.vec4 ? this.inner / 4 : this.inner, lanes = Math.floor(LANE_THREADS / inner);
    const code = foldCode(this.op, this.dtype);
    const t = this.vec4 ? 'vec4<f32>' : code.t;
    const { fold, finish } = code;
    const init = this.vec4 ? `${t}(${code.init})` : code.init;
    return `
      alias V = ${t};
      var<workgroup> partial : array<${t}, ${LANE_THREADS}>;
      fn main() {
        // spare workgroups of the grid fold group 0 again without writing (barriers need uniform control flow)
        let id = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let spare = id >= uniforms.groups;
        let g = select(id, 0, spare);
        let o = g / uniforms.parts;
        let p = g - o * uniforms.parts;
        let tid = ${threadIndex(LANE_THREADS)};
        let i = tid % ${inner};
        let lane = tid / ${inner};
        var acc : ${t} = ${init};
        if (lane < ${lanes}) {
          ${this.term ? `let oi = o * ${inner} + i; ${this.term.preamble}` : ''}
          let r1 = min((p + 1) * ${WIDE_CHUNK}, uniforms.R);
          for (var r = p * ${WIDE_CHUNK} + lane; r < r1; r = r + ${lanes}) {
            let at = (o * uniforms.R + r) * ${inner} + i;
            let v = ${this.term ? this.term.value : `${t}(x[at])`};
            ${fold}
          }
        }
        partial[tid] = acc;
        workgroupBarrier();
        if (tid < ${inner} && !spare) {
          acc = partial[tid];
          for (var l = 1; l < ${lanes}; l = l + 1) {
            let v = partial[l * ${inner} + tid];
            ${fold}
          }
          result[(o * uniforms.parts + p) * ${inner} + tid] = ${finish};
        }
      }`;
  }
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
    const { t, init, fold, finish } = foldCode(this.op, this.dtype);
    return `
      alias V = ${t};
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

/**
 * One pass over x viewed as [outer, R, inner] of `term` (or x), folding R to ceil(R / chunk)
 * partial rows ([outer, parts, inner]; lanes over 2,048-row chunks for few columns, else 128-row
 * chunks), times `scale` where that leaves one.
 */
export function foldPass(
  backend: WebGPUBackendLike, inputs: TensorInfo[], outer: number, R: number, inner: number, op: ReduceOp,
  dtype: 'float32' | 'int32', scale = 1, term?: RowTerm, eps = 0,
): { partial: TensorInfo; parts: number } {
  if (R > CHUNK && inner <= LANES_MAX_INNER) {
    const program = new LanesReduceProgram(outer, Math.ceil(R / WIDE_CHUNK), inner, op, dtype, term, dtype === 'float32' && inner % 4 === 0);
    const s = program.parts === 1 ? scale : 1;
    return { partial: backend.runWebGPUProgram(program, inputs, dtype, program.uniformValues(R, s, eps)), parts: program.parts };
  }
  const parts = Math.ceil(R / CHUNK);
  const partial = backend.runWebGPUProgram(new ChunkReduceProgram(outer, parts, inner, op, dtype, term), inputs, dtype, [
    { type: 'int32', data: [R] }, { type: 'int32', data: [inner] }, { type: 'int32', data: [parts] },
    { type: 'float32', data: [parts === 1 ? scale : 1] }, ...(term ? [{ type: 'float32' as const, data: [eps] }] : []),
  ]);
  return { partial, parts };
}

/**
 * [outer, 1, inner] sums over the R rows of x viewed as [outer, R, inner] of `term` (read from
 * `inputs`), times `scale`: the term's pass, then plain folds while more than one partial row is left.
 */
export function sumRowsOf(
  backend: WebGPUBackendLike, inputs: TensorInfo[], outer: number, R: number, inner: number, term: RowTerm, scale = 1, eps = 0,
): TensorInfo {
  const { partial, parts } = foldPass(backend, inputs, outer, R, inner, 'sum', 'float32', scale, term, eps);
  if (parts === 1) return partial;
  const sums = reduceOnGpu(backend, partial, [1], [outer, 1, inner], 'sum', scale);
  release(backend, partial);
  return sums;
}

/**
 * Reduces `axes` of x; returns a new tensor of shape `outShape`. A float32 result is multiplied by
 * `scale` (after the division of a mean).
 */
export function reduceOnGpu(
  backend: WebGPUBackendLike, x: TensorInfo, axes: number[], outShape: number[], op: ReduceOp, scale = 1,
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
      const last = lastRun ? (op === 'mean' ? scale / count : scale) : 1;
      const { partial, parts } = foldPass(backend, [cur], outer, R, inner, op, dtype, last);
      release(backend, cur);
      cur = partial;
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
    const { partial } = foldPass(backend, [cur], 1, 1, Math.max(tf.util.sizeFromShape(x.shape), 1), op, dtype, scale);
    release(backend, cur);
    cur = partial;
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
