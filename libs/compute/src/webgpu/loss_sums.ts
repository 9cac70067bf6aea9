/**
 * The segmentation losses' per-class voxel sums on webgpu (../loss-gradients.ts has the contracts):
 * `AnatomyNetSoftCounts` and `AnatomyNetFocalSums` as reduce.ts's row passes with each voxel's term
 * taken as they read, and their gradients as one pass each over [N, V, C] with the per-(case,
 * class) factors.
 *
 * Why: composed, every sum over voxels is a matmul with a row of ones (libs/losses sumVoxels), whose
 * gradient is an outer product with a row per voxel (12M at 178x302x225): tfjs's matmul in row
 * blocks, then a Concat of them, a full-resolution tensor of each (480 MB at 10 classes), for each
 * of the sums, then the products and sums that combine them. Here the forward reads p and g, and a
 * gradient reads what it needs and writes once.
 */
import * as tf from '@tensorflow/tfjs';
import { FOCAL_SUMS, FOCAL_SUMS_GRAD, lossCases, SOFT_COUNTS, SOFT_COUNTS_GRAD } from '../loss-gradients';
import { perCaseChannelPass, release, requireFloat32, reshapeView, type TensorInfo, type WebGPUBackendLike } from './program';
import { sumRowsOf, type RowTerm } from './reduce';

// Operands are named prob and gold: reduce.ts's passes name their own locals p, g, o. Each is read
// as V(...): tfjs-webgpu casts int32 and bool to float32 without a pass (the buffer stays i32, the
// tensor is relabelled), which is what a one-hot target from tf.oneHot(...).toFloat() is.
const TRUE_POSITIVES: RowTerm = { key: 'p_g', inputs: ['prob', 'gold'], preamble: '', value: 'V(prob[at]) * V(gold[at])' };
const PROBABILITIES: RowTerm = { key: 'p', inputs: ['prob'], preamble: '', value: 'V(prob[at])' };

/** A JavaScript number as a WGSL f32 literal (`2` would be an integer). */
const f32Literal = (x: number): string => (Number.isInteger(x) ? x.toFixed(1) : String(x));

function assertGamma(gamma: number): void {
  if (!(gamma >= 0) || !Number.isFinite(gamma)) throw new RangeError(`focal gamma must be finite and >= 0, got ${gamma}`);
}

/**
 * WGSL for (1 - p)^gamma (`m`) and its derivative in p (`slope`), of `q` = 1 - p, as the cpu kernel
 * and libs/losses `modulation` define them: repeated products for integer gamma <= 4, otherwise
 * pow(max(q, 1e-12), gamma), whose slope is 0 where the clamp holds. Either type, f32 or vec4 (`V`).
 */
export function modulationWgsl(gamma: number, q: string): { m: string; slope: string } {
  assertGamma(gamma);
  if (gamma === 0) return { m: 'V(1.0)', slope: 'V(0.0)' };
  if (Number.isInteger(gamma) && gamma <= 4) {
    const power = (k: number) => (k === 0 ? 'V(1.0)' : Array.from({ length: k }, () => q).join(' * '));
    return { m: power(gamma), slope: `-(${f32Literal(gamma)} * ${power(gamma - 1)})` };
  }
  return {
    m: `pow(max(${q}, V(1e-12)), V(${f32Literal(gamma)}))`,
    slope: `select(-${f32Literal(gamma)} * pow(${q}, V(${f32Literal(gamma - 1)})), V(0.0), ${q} < V(1e-12))`,
  };
}

/** sum_v g (1 - p)^gamma log(max(p, eps)); a voxel where g is 0 adds nothing, whatever p is. */
function focalTerm(gamma: number): RowTerm {
  const { m } = modulationWgsl(gamma, '(V(1.0) - V(prob[at]))');
  return {
    key: `focal_${f32Literal(gamma).replace('.', '_')}`,
    inputs: ['prob', 'gold'],
    preamble: '',
    value: `select(V(gold[at]) * ${m} * log(max(V(prob[at]), V(uniforms.eps))), V(0.0), V(gold[at]) == V(0.0))`,
  };
}

const gammaOf = (kernel: string, attrs: tf.NamedAttrMap): { gamma: number; eps: number } => {
  const gamma = attrs.gamma as number, eps = attrs.eps as number;
  if (!(eps > 0)) throw new RangeError(`${kernel}: eps must be > 0 (the logarithm's clamp), got ${eps}`);
  assertGamma(gamma);
  return { gamma, eps };
};

/** [N, C] sums over the voxels of [N, V, C] operands, of `term`. */
function sumOverVoxels(backend: WebGPUBackendLike, inputs: TensorInfo[], term: RowTerm, eps = 0): TensorInfo {
  const [n, v, c] = inputs[0].shape;
  const flat = inputs.map((t) => reshapeView(backend, t, [n * v * c]));
  const sums = sumRowsOf(backend, flat, n, v, c, term, 1, eps);
  const out = reshapeView(backend, sums, [n, c]);
  release(backend, ...flat, sums);
  return out;
}

/** A forward kernel of {p, g} [N, V, C] (float32 operands of one shape): `sums` of them, [N, C] each. */
function voxelSumsConfig(
  name: string, sums: (backend: WebGPUBackendLike, p: TensorInfo, g: TensorInfo, attrs: tf.NamedAttrMap) => TensorInfo | TensorInfo[],
): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { p, g } = args.inputs as { p: TensorInfo; g: TensorInfo };
    lossCases(name, p, g);
    requireFloat32(name, [p, g]);
    return sums(args.backend as unknown as WebGPUBackendLike, p, g, args.attrs ?? {});
  };
  return { kernelName: name, backendName: 'webgpu', kernelFunc };
}

export const softCountsConfig = (): tf.KernelConfig => voxelSumsConfig(SOFT_COUNTS, (backend, p, g) =>
  [sumOverVoxels(backend, [p, g], TRUE_POSITIVES), sumOverVoxels(backend, [p], PROBABILITIES)]);

/** dtp other + dsum (d/dp: other = g), or dtp other (d/dg: other = p), per case and class. */
export function softCountsGradConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { dtp, dsum, other } = args.inputs as { dtp: TensorInfo; dsum?: TensorInfo; other: TensorInfo };
    const [n, , c] = lossCases(SOFT_COUNTS_GRAD, other);
    const perCase = dsum ? [dtp, dsum] : [dtp];
    requireFloat32(SOFT_COUNTS_GRAD, [other, ...perCase]);
    if (perCase.some((t) => t.shape.join() !== `${n},${c}`)) {
      throw new RangeError(`${SOFT_COUNTS_GRAD}: dtp and dsum must be [${n}, ${c}], got ${perCase.map((t) => `[${t.shape.join(',')}]`).join(' ')}`);
    }
    return dsum
      ? perCaseChannelPass(backend, ['o', 'a', 'b'], [other, dtp, dsum], [...other.shape], 'result[index] = V(o[index]) * a[g] + b[g];', 'soft_counts_grad')
      : perCaseChannelPass(backend, ['o', 'a'], [other, dtp], [...other.shape], 'result[index] = V(o[index]) * a[g];', 'soft_counts_grad_nosum');
  };
  return { kernelName: SOFT_COUNTS_GRAD, backendName: 'webgpu', kernelFunc };
}

export const focalSumsConfig = (): tf.KernelConfig => voxelSumsConfig(FOCAL_SUMS, (backend, p, g, attrs) => {
  const { gamma, eps } = gammaOf(FOCAL_SUMS, attrs);
  return sumOverVoxels(backend, [p, g], focalTerm(gamma), eps);
});

/**
 * d/dp = dS g (m' log p~ + m [p >= eps] / p), 0 where g is 0; d/dg = dS m log p~ (m = (1 - p)^gamma,
 * p~ = max(p, eps)), per case and class dS.
 */
export function focalSumsGradConfig(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as unknown as WebGPUBackendLike;
    const { ds, p, g } = args.inputs as { ds: TensorInfo; p: TensorInfo; g: TensorInfo };
    const [n, , c] = lossCases(FOCAL_SUMS_GRAD, p, g);
    requireFloat32(FOCAL_SUMS_GRAD, [ds, p, g]);
    if (ds.shape.join() !== `${n},${c}`) throw new RangeError(`${FOCAL_SUMS_GRAD}: ds must be [${n}, ${c}], got [${ds.shape.join(',')}]`);
    const attrs = args.attrs ?? {};
    const { gamma, eps } = gammaOf(FOCAL_SUMS_GRAD, attrs);
    const wrt = attrs.wrt;
    if (wrt !== 'p' && wrt !== 'g') throw new RangeError(`${FOCAL_SUMS_GRAD}: wrt must be 'p' or 'g', got ${String(wrt)}`);
    const { m, slope } = modulationWgsl(gamma, 'q');
    const common = `let a = V(prob[index]); let q = V(1.0) - a; let m = ${m}; let logp = log(max(a, V(uniforms.eps)));`;
    const body = wrt === 'g'
      ? `${common} result[index] = ds[g] * m * logp;`
      : `${common} let b = V(gold[index]);
         let dp = ds[g] * b * ((${slope}) * logp + select(V(0.0), m / a, a >= V(uniforms.eps)));
         result[index] = select(dp, V(0.0), b == V(0.0));`;
    const key = `focal_grad_${wrt}_${f32Literal(gamma).replace('.', '_')}`;
    // an operand the shader does not read must not be bound (the pipeline's layout leaves it out)
    const [names, operands] = wrt === 'g' ? [['prob', 'ds'], [p, ds]] : [['prob', 'gold', 'ds'], [p, g, ds]];
    return perCaseChannelPass(backend, names, operands, [...p.shape], body, key,
      { decl: 'eps : f32,', values: [{ type: 'float32', data: [eps] }] });
  };
  return { kernelName: FOCAL_SUMS_GRAD, backendName: 'webgpu', kernelFunc };
}
