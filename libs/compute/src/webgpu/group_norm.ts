/**
 * The fused group normalisation on webgpu: `AnatomyNetGroupNorm` {x [G,R,C], gamma, beta}, attrs
 * {eps} -> [y, mean [G,1,C], variance [G,1,C]] (the contract of cpu/fused-kernels.ts), and the two
 * kernels its gradient runs on backends without a one-pass backward (../group-norm.ts):
 * `AnatomyNetGroupNormSums` {dy, x, mean, variance}, attrs {eps} -> [sum dy, sum dy xhat] ([G,1,C])
 * and `AnatomyNetGroupNormDx` {dy, x, mean, variance, gamma, sumDy, sumDyXhat}, attrs {eps} -> dx.
 *
 * Why: the composed norm (libs/model normalizeGroupsComposed) is about 11 dispatches forward and 12
 * backward, most of them full-size elementwise passes that also allocate (x - mean, its square,
 * xhat, xhat gamma); the reference network has 14 norms. How: the sums over rows are reduce.ts's
 * passes with the centring or the dy xhat product applied as they read (the means scaled in their
 * last pass); the rest is one flat pass each. The variance is the two-pass centred one, like the
 * composed ops'. The gradient's two sums share one pass (a shader of our own with two outputs). Up
 * to 2,048 rows per group, a forward is three dispatches and a backward two.
 */
import * as tf from '@tensorflow/tfjs';
import { GROUP_NORM, GROUP_NORM_DX, GROUP_NORM_SUMS } from '../group-norm';
import { LANE_THREADS, LANES_MAX_INNER, reduceOnGpu, sumRowsOf, WIDE_CHUNK, type RowTerm } from './reduce';
import { FlatProgram, release, reshapeView, spreadWorkgroups, type TensorInfo, type WebGPUBackendLike } from './program';
import { rawOutput, rawPipeline, RawProgram, rawShader, runRaw, type RawBackend } from './raw_program';

/** The normalised value of x[at], channel c, statistics at gc: one expression wherever it is recomputed. */
const normalised = (at: string, gc: string, c: string) => `(x[${at}] - mean[${gc}]) * inverseSqrt(variance[${gc}] + uniforms.eps) * gamma[${c}] + beta[${c}]`;

/** dy at `at` through a LeakyReLU of slope alpha after the norm (alpha undefined: dy itself). */
const dyThrough = (alpha: number | undefined, at: string, gc: string, c: string, zero = 'V(0.0)') => (alpha === undefined
  ? `dy[${at}]` : `select(dy[${at}] * f32(${Math.fround(alpha)}), dy[${at}], ${normalised(at, gc, c)} > ${zero})`);

/** What the first folding pass sums per row: x, (x - mean)^2, dy, or dy xhat (dy through the LeakyReLU, if any). */
const TERMS = {
  x: { key: 'x', inputs: ['x'], preamble: '', value: 'x[at]' },
  centredSquare: { key: 'centred_square', inputs: ['x', 'mean'], preamble: 'let m = mean[oi];', value: '(x[at] - m) * (x[at] - m)' },
  dy: (alpha?: number): RowTerm => (alpha === undefined
    ? { key: 'dy', inputs: ['dy'], preamble: '', value: 'dy[at]' }
    : { key: `dy_act_${Math.fround(alpha)}`, inputs: ['dy', 'x', 'mean', 'variance', 'gamma', 'beta'], preamble: '', value: dyThrough(alpha, 'at', 'oi', 'i') }),
  dyXhat: (alpha?: number): RowTerm => ({
    key: alpha === undefined ? 'dy_xhat' : `dy_xhat_act_${Math.fround(alpha)}`,
    inputs: ['dy', 'x', 'mean', 'variance', ...(alpha === undefined ? [] : ['gamma', 'beta'])],
    preamble: 'let m = mean[oi]; let inv = inverseSqrt(variance[oi] + uniforms.eps);',
    value: `${dyThrough(alpha, 'at', 'oi', 'i')} * (x[at] - m) * inv`,
  }),
} satisfies Record<string, RowTerm | ((alpha?: number) => RowTerm)>;

interface Dims {
  g: number;
  r: number;
  c: number;
}

function dimsOf(kernel: string, x: TensorInfo): Dims {
  if (x.shape.length !== 3 || x.dtype !== 'float32') throw new RangeError(`${kernel}: x must be float32 [G, R, C], got ${x.dtype} [${x.shape.join(',')}]`);
  const [g, r, c] = x.shape;
  return { g, r, c };
}

/** The named input of a kernel call, or an error naming what is missing (beta, when alpha is given). */
function operand(kernel: string, inputs: Record<string, TensorInfo>, name: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new RangeError(`${kernel}: input ${name} missing${name === 'beta' ? ' (the LeakyReLU gradient recomputes the norm\'s output)' : ''}`);
  return t;
}

/** Uniforms of the programs, in their declaration order. */
const rowsUniforms = (d: Dims, eps: number, r = d.r) => [
  { type: 'int32' as const, data: [r] }, { type: 'int32' as const, data: [d.c] },
  { type: 'float32' as const, data: [eps] }, { type: 'float32' as const, data: [1 / d.r] },
];

/** [G, 1, C] sums over each group's rows of `term`, times `scale` (1 / R for a mean). */
function rowSums(backend: WebGPUBackendLike, d: Dims, term: RowTerm, inputs: TensorInfo[], eps: number, scale = 1): TensorInfo {
  return sumRowsOf(backend, inputs, d.g, d.r, d.c, term, scale, eps);
}

/** A flat pass producing `size` values; flat views of the inputs are made and released here. */
function rowsPass(backend: WebGPUBackendLike, d: Dims, names: string[], inputs: TensorInfo[], body: string, key: string,
  outShape: number[], eps: number, r = d.r): TensorInfo {
  const size = tf.util.sizeFromShape(outShape);
  const flat = inputs.map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
  // per-(g, c) operands at gc, per-c ones at c, of the row's group and channel; with C a multiple of 4
  // every operand is a vec4 array, C counts vec4s (FlatProgram's V), invR stays 1 / R
  const lanes = d.c % 4 === 0 ? 4 : 1;
  const code = `let C = uniforms.C; let c = index % C; let gc = (index / (uniforms.R * C)) * C + c; ${body}`;
  const program = new FlatProgram(names, 'R : i32, C : i32, eps : f32, invR : f32,', code, `groupnorm_${key}`, size, lanes === 4 ? names.map(() => true) : undefined);
  const y = backend.runWebGPUProgram(program, flat, 'float32', rowsUniforms({ ...d, c: d.c / lanes }, eps, r));
  const out = reshapeView(backend, y, outShape);
  release(backend, y, ...flat);
  return out;
}

const normalise = (alpha?: number) => `let y = ${normalised('index', 'gc', 'c')};
        result[index] = ${alpha === undefined ? 'y' : `select(y, f32(${Math.fround(alpha)}) * y, y < V(0.0))`};`;
const dxBody = (alpha?: number) => `let inv = inverseSqrt(variance[gc] + uniforms.eps);
        let xhat = (x[index] - mean[gc]) * inv;
        let d = ${dyThrough(alpha, 'index', 'gc', 'c')};
        result[index] = gamma[c] * inv * (d - sumDy[gc] * uniforms.invR - xhat * sumDyXhat[gc] * uniforms.invR);`;
/** The LeakyReLU slope of a norm's attrs, if it has one; its literal goes into the shader (and its key). */
const alphaOf = (attrs: unknown): number | undefined => (attrs as { alpha?: number }).alpha;
const actKey = (alpha?: number) => (alpha === undefined ? '' : `_act_${Math.fround(alpha)}`);

export function groupNormConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { x, gamma, beta } = args.inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const eps = (args.attrs as { eps: number }).eps;
    const alpha = alphaOf(args.attrs);
    const d = dimsOf(GROUP_NORM, x);
    const mean = rowSums(backend, d, TERMS.x, [x], eps, 1 / d.r);
    const variance = rowSums(backend, d, TERMS.centredSquare, [x, mean], eps, 1 / d.r);
    const y = rowsPass(backend, d, ['x', 'mean', 'variance', 'gamma', 'beta'], [x, mean, variance, gamma, beta], normalise(alpha),
      `normalise${actKey(alpha)}`, [...x.shape], eps);
    return [y, mean, variance];
  };
  return { kernelName: GROUP_NORM, backendName: 'webgpu', kernelFunc };
}

/** The class name labels tf.profile's timers. */
class GroupNormSumsProgram extends RawProgram {}

/**
 * sum dy and sum dy xhat over each group's rows in one lanes pass (reduce.ts's LanesReduceProgram,
 * with two accumulators and two outputs): [G, parts, C] each. Eight storage buffers at most, WebGPU's
 * minimum. For C <= LANES_MAX_INNER; with C a multiple of 4 on vec4s, as the lanes pass.
 */
function bothSumsOnePass(backend: RawBackend, d: Dims, inputs: Record<string, TensorInfo>, eps: number, alpha?: number): TensorInfo[] {
  const parts = Math.ceil(d.r / WIDE_CHUNK);
  const quad = d.c % 4 === 0;
  const V = quad ? 'vec4<f32>' : 'f32';
  // columns in the shader's units
  const c = quad ? d.c / 4 : d.c;
  const lanes = Math.floor(LANE_THREADS / c);
  const operands = ['dy', 'x', 'mean', 'variance', ...(alpha === undefined ? [] : ['gamma', 'beta'])];
  const outputs = [rawOutput(backend, [d.g, parts, d.c]), rawOutput(backend, [d.g, parts, d.c])];
  const pipeline = rawPipeline(backend.device, `anatomynet_groupnorm_sums_${d.c}${actKey(alpha)}${quad ? '_vec4' : ''}`, () => rawShader(
    [{ name: 'sumDy', written: true }, { name: 'sumDyXhat', written: true }, ...operands.map((name) => ({ name, written: false }))].map((b) => ({ ...b, element: V })),
    'R : i32, parts : i32, groups : i32, eps : f32,', LANE_THREADS, `
      // spare workgroups of the grid fold group 0 again without writing (barriers need uniform control flow)
      let id = i32(wid.y * nwg.x + wid.x);
      let spare = id >= uniforms.groups;
      let g = select(id, 0, spare);
      let o = g / uniforms.parts;
      let p = g - o * uniforms.parts;
      let tid = i32(lid);
      let i = tid % ${c};
      let lane = tid / ${c};
      var a1 = ${V}(0.0);
      var a2 = ${V}(0.0);
      if (lane < ${lanes}) {
        let oi = o * ${c} + i;
        let m = mean[oi];
        let inv = inverseSqrt(variance[oi] + uniforms.eps);
        let r1 = min((p + 1) * ${WIDE_CHUNK}, uniforms.R);
        for (var r = p * ${WIDE_CHUNK} + lane; r < r1; r = r + ${lanes}) {
          let at = (o * uniforms.R + r) * ${c} + i;
          let dv = ${dyThrough(alpha, 'at', 'oi', 'i', `${V}(0.0)`)};
          a1 = a1 + dv;
          a2 = a2 + dv * (x[at] - m) * inv;
        }
      }
      part1[tid] = a1;
      part2[tid] = a2;
      workgroupBarrier();
      if (tid < ${c} && !spare) {
        a1 = part1[tid];
        a2 = part2[tid];
        for (var l = 1; l < ${lanes}; l = l + 1) {
          a1 = a1 + part1[l * ${c} + tid];
          a2 = a2 + part2[l * ${c} + tid];
        }
        sumDy[(o * uniforms.parts + p) * ${c} + tid] = a1;
        sumDyXhat[(o * uniforms.parts + p) * ${c} + tid] = a2;
      }`, `var<workgroup> part1 : array<${V}, ${LANE_THREADS}>;
    var<workgroup> part2 : array<${V}, ${LANE_THREADS}>;`));
  const [x, y] = spreadWorkgroups(d.g * parts);
  runRaw(backend, new GroupNormSumsProgram(pipeline, [x, y, 1], [d.g, parts, d.c]),
    [...outputs, ...operands.map((n) => operand(GROUP_NORM_SUMS, inputs, n))], [
      { type: 'int32', data: [d.r] }, { type: 'int32', data: [parts] }, { type: 'int32', data: [d.g * parts] }, { type: 'float32', data: [eps] },
    ]);
  if (parts === 1) return outputs;
  const sums = outputs.map((t) => reduceOnGpu(backend, t, [1], [d.g, 1, d.c], 'sum'));
  release(backend, ...outputs);
  return sums;
}

export function groupNormSumsConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const inputs = args.inputs as Record<string, TensorInfo>;
    const eps = (args.attrs as { eps: number }).eps;
    const alpha = alphaOf(args.attrs);
    const d = dimsOf(GROUP_NORM_SUMS, inputs.x);
    if (d.c <= LANES_MAX_INNER) return bothSumsOnePass(backend as RawBackend, d, inputs, eps, alpha);
    const sumOf = (term: RowTerm) => rowSums(backend, d, term, term.inputs.map((n) => operand(GROUP_NORM_SUMS, inputs, n)), eps);
    return [sumOf(TERMS.dy(alpha)), sumOf(TERMS.dyXhat(alpha))];
  };
  return { kernelName: GROUP_NORM_SUMS, backendName: 'webgpu', kernelFunc };
}

export function groupNormDxConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const inputs = args.inputs as Record<string, TensorInfo>;
    const eps = (args.attrs as { eps: number }).eps;
    const alpha = alphaOf(args.attrs);
    const d = dimsOf(GROUP_NORM_DX, inputs.x);
    const names = ['dy', 'x', 'mean', 'variance', 'gamma', 'sumDy', 'sumDyXhat', ...(alpha === undefined ? [] : ['beta'])];
    return rowsPass(backend, d, names, names.map((n) => operand(GROUP_NORM_DX, inputs, n)), dxBody(alpha), `dx${actKey(alpha)}`, [...inputs.x.shape], eps);
  };
  return { kernelName: GROUP_NORM_DX, backendName: 'webgpu', kernelFunc };
}
