/**
 * Fusions around the convolutions, made for the eval-mode forward and usable in training through
 * their gradients (../fusion-gradients.ts: the conv with bias only, the residual sum and the SE
 * gate). In eval
 * mode a block of the network is conv -> bias -> BatchNorm with running statistics -> LeakyReLU and
 * ends with add -> LeakyReLU; composed, every arrow is a full pass over the activation (on the cpu
 * backend the Add, Multiply and LeakyRelu kernels took 35% of a 48x96x96 forward). Fused, the convolution
 * writes its final values and the residual sum is one pass:
 * - `AnatomyNetFusedConv3D` {x [N,D,H,W,Cin], filter [fD,fH,fW,Cin,Cout], bias [Cout], and for
 *   BatchNorm mean, variance, gamma, beta [Cout] (running statistics and affine; all four or none:
 *   the variables themselves, so no per-call stacking)}, attrs {strides, pad, eps,
 *   activation: 'linear' | 'leakyrelu', alpha} ->
 *   act((conv(x) + bias) * scale + shift), scale = gamma / sqrt(variance + eps),
 *   shift = beta - mean * scale (tfjs's own batchNorm formula, as libs/model's normalizeFixed);
 *   without norm, act(conv(x) + bias).
 * - `AnatomyNetAddLeakyRelu` {a, b} (same shape), attrs {alpha} -> leakyRelu(a + b, alpha).
 * - `AnatomyNetSEGate` {sums [N, C] (each channel's sum over the voxels), w1 [C, R], b1 [R], w2 [R, C],
 *   b2 [C]}, attrs {voxels, alpha} -> sigmoid(leakyRelu((sums / voxels) w1 + b1, alpha) w2 + b2), the
 *   squeeze-and-excitation gate [N, C]: seven tiny ops (a dispatch each on webgpu, where the
 *   forward's CPU time goes into such ops) as one.
 * - `AnatomyNetSEGateGrad` {dgate [N, C], sums, w1, b1, w2, b2}, attrs {voxels, alpha} -> [dsums
 *   [N, C], dw1, db1, dw2, db2] (each weight's gradient summed over the cases): the gate's backward,
 *   its forward run again ({@link seGateGrad}).
 * - `AnatomyNetSumProducts` {a [N, R, C], b [N, R, C]} -> [N, C], the sums over the rows of a * b,
 *   and `AnatomyNetScaleShift` {x [N, R, C], scale [N, C], shift [N, C]} -> x * scale + shift: the
 *   SE block's backward (libs/model squeezeExcite) at the voxels, dgate = sum(dy x) and
 *   dx = dy gate + dsums, without the product's full-size tensor and one pass for dx.
 * - `AnatomyNetScaleAddLeakyRelu` {a [N, ..., C], scale [N, C], b (a's shape)}, attrs {alpha} ->
 *   leakyRelu(a * scale + b, alpha), the scale per case and channel: an SE-residual block's end (the
 *   gate's scaling and the residual sum, composed two full passes) in eval mode only (no gradient).
 * - `AnatomyNetUpsampleConcat` {x [N,d,h,w,Cin], w [Cin, 8 Cout] (columns ordered (a, b, c, channel)),
 *   b [Cout], append [N,D,H,W,Ca]}, attrs {} -> [N,D,H,W,Cout+Ca]: the output block's transposed
 *   conv (kernel 2, stride 2) plus bias, cropped to the first D <= 2d, H <= 2h, W <= 2w voxels, with
 *   append's channels after its own (the input CT). Eval mode only (no gradient): composed it is a
 *   matmul, two transposes, a bias add, up to three slices and a concat, each a full-resolution pass.
 * cpu: cpu/fused-kernels.ts; webgpu: webgpu/conv3d.ts (the conv kernels' epilogue),
 * webgpu/add_leaky_relu.ts (both residual sums), webgpu/se_gate.ts, webgpu/se_backward.ts and webgpu/upsample_concat.ts. libs/model uses them where `getKernel(name, backend)`
 * exists.
 */

import { getBackend, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';

export const FUSED_CONV3D = 'AnatomyNetFusedConv3D';
export const ADD_LEAKY_RELU = 'AnatomyNetAddLeakyRelu';
export const SE_GATE = 'AnatomyNetSEGate';
export const SE_GATE_GRAD = 'AnatomyNetSEGateGrad';
export const UPSAMPLE_CONCAT = 'AnatomyNetUpsampleConcat';
export const SCALE_ADD_LEAKY_RELU = 'AnatomyNetScaleAddLeakyRelu';
export const SUM_PRODUCTS = 'AnatomyNetSumProducts';
export const SCALE_SHIFT = 'AnatomyNetScaleShift';

export type FusedActivation = 'linear' | 'leakyrelu';

/** The BatchNorm inputs of {@link FUSED_CONV3D}, in the order of {@link epilogueAffine}'s rows. */
export const FUSED_NORM_INPUTS = ['mean', 'variance', 'gamma', 'beta'] as const;

/** The fused conv's norm inputs in row order, or undefined without norm; refuses an incomplete set. */
export function fusedNormInputs<T>(inputs: Partial<Record<string, T>>): T[] | undefined {
  const rows = FUSED_NORM_INPUTS.map((k) => inputs[k]);
  if (rows.every((t) => t === undefined)) return undefined;
  if (rows.some((t) => t === undefined)) {
    throw new RangeError(`${FUSED_CONV3D}: give all of ${FUSED_NORM_INPUTS.join(', ')} or none; got ${FUSED_NORM_INPUTS.filter((k) => inputs[k] !== undefined).join(', ')}`);
  }
  return rows as T[];
}

/** Attributes of {@link FUSED_CONV3D}. */
export interface FusedConv3dAttrs {
  strides: number | [number, number, number];
  pad: 'same' | 'valid';
  eps: number;
  activation: FusedActivation;
  alpha: number;
}

/**
 * The epilogue as one affine map per channel, y = conv * scale + offset, with
 * scale = gamma / sqrt(variance + eps) and offset = bias * scale + beta - mean * scale. `norm` holds
 * the rows mean, variance, gamma, beta of the C = bias.length channels; without it the scale is 1.
 */
export function epilogueAffine(bias: Float32Array, norm: Float32Array | undefined, eps: number): { scale: Float32Array; offset: Float32Array } {
  const channels = bias.length;
  const scale = new Float32Array(channels).fill(1);
  const offset = Float32Array.from(bias);
  if (!norm) return { scale, offset };
  if (norm.length !== 4 * channels) throw new RangeError(`${FUSED_CONV3D}: norm must be [4, ${channels}], got ${norm.length} values`);
  for (let c = 0; c < channels; c++) {
    scale[c] = norm[2 * channels + c] / Math.sqrt(norm[channels + c] + eps);
    offset[c] = bias[c] * scale[c] + norm[3 * channels + c] - norm[c] * scale[c];
  }
  return { scale, offset };
}

/**
 * The SE gate of {@link SE_GATE} for one case: sums [C], w1 [C, R], b1 [R], w2 [R, C], b2 [C] -> [C].
 * Rounded as the composed ops are on this project's cpu backend (each product sum in float64, then
 * every op's result to float32), so that the fused and composed forwards agree bit for bit there.
 */
export function seGate(sums: Float32Array, w1: Float32Array, b1: Float32Array, w2: Float32Array, b2: Float32Array, voxels: number, alpha: number): Float32Array {
  const c = b2.length, r = b1.length;
  if (sums.length !== c || w1.length !== c * r || w2.length !== r * c) {
    throw new RangeError(`${SE_GATE}: sums [${sums.length}], w1 [${w1.length}], b1 [${r}], w2 [${w2.length}], b2 [${c}] do not fit C = ${c}, R = ${r}`);
  }
  const f = Math.fround;
  const z = sums.map((v) => v / voxels);
  const hidden = new Float32Array(r);
  for (let j = 0; j < r; j++) {
    let a = 0;
    for (let i = 0; i < c; i++) a += z[i] * w1[i * r + j];
    a = f(f(a) + b1[j]);
    hidden[j] = a < 0 ? alpha * a : a;
  }
  const gate = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    let a = 0;
    for (let j = 0; j < r; j++) a += hidden[j] * w2[j * c + k];
    gate[k] = 1 / (1 + Math.exp(-f(f(a) + b2[k])));
  }
  return gate;
}

/** The gradients of {@link SE_GATE} for one case, each [C], [C, R], [R], [R, C], [C] as the weights are. */
export interface SeGateGrads {
  dsums: Float32Array;
  dw1: Float32Array;
  db1: Float32Array;
  dw2: Float32Array;
  db2: Float32Array;
}

/**
 * The gradients of {@link seGate} for the gate's gradient dgate [C] of one case, with the forward run
 * again: dpre2 = dgate s (1 - s), dpre1 = (w2 dpre2) leakyRelu'(pre1) (alpha where pre1 <= 0, as
 * tfjs's LeakyRelu gradient), dsums = w1 dpre1 / voxels; the weights' gradients are outer products
 * (add them over cases). Each op rounded to float32 as tfjs's composed gradient is.
 */
export function seGateGrad(dgate: Float32Array, sums: Float32Array, w1: Float32Array, b1: Float32Array, w2: Float32Array, b2: Float32Array, voxels: number, alpha: number): SeGateGrads {
  const c = b2.length, r = b1.length;
  if (dgate.length !== c) throw new RangeError(`${SE_GATE_GRAD}: dgate [${dgate.length}] does not fit C = ${c}`);
  const gate = seGate(sums, w1, b1, w2, b2, voxels, alpha);
  const f = Math.fround;
  const z = sums.map((v) => v / voxels);
  const pre1 = new Float32Array(r);
  const hidden = new Float32Array(r);
  for (let j = 0; j < r; j++) {
    let a = 0;
    for (let i = 0; i < c; i++) a += z[i] * w1[i * r + j];
    pre1[j] = f(f(a) + b1[j]);
    hidden[j] = pre1[j] < 0 ? alpha * pre1[j] : pre1[j];
  }
  const db2 = gate.map((s, k) => dgate[k] * f(s * f(1 - s)));
  const dw2 = new Float32Array(r * c);
  const db1 = new Float32Array(r);
  for (let j = 0; j < r; j++) {
    let a = 0;
    for (let k = 0; k < c; k++) {
      dw2[j * c + k] = hidden[j] * db2[k];
      a += w2[j * c + k] * db2[k];
    }
    db1[j] = pre1[j] > 0 ? a : f(a) * alpha;
  }
  const dw1 = new Float32Array(c * r);
  const dsums = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    let a = 0;
    for (let j = 0; j < r; j++) {
      dw1[i * r + j] = z[i] * db1[j];
      a += w1[i * r + j] * db1[j];
    }
    dsums[i] = f(a) / voxels;
  }
  return { dsums, dw1, db1, dw2, db2 };
}

/** Whether the active backend registers the fusions. */
/** Checks the operands of {@link SUM_PRODUCTS} (`perCase` absent) or {@link SCALE_SHIFT}: [N, R, C] and [N, C]. */
export function rowsShape(kernel: string, full: number[][], perCase: number[][]): { n: number; r: number; c: number } {
  const [n, r, c] = full[0];
  if (full.some((s) => s.length !== 3 || s.join() !== full[0].join()) || perCase.some((s) => s.join() !== `${n},${c}`)) {
    throw new RangeError(`${kernel}: [${full.map((s) => `[${s}]`).join(', ')}] and [${perCase.map((s) => `[${s}]`).join(', ')}] do not fit ([N, R, C] and [N, C])`);
  }
  return { n, r, c };
}

/** Checks {@link SCALE_ADD_LEAKY_RELU}'s operands; returns the cases N and channels C. */
export function scaleAddShape(a: number[], scale: number[], b: number[]): { n: number; c: number } {
  const n = a[0], c = a[a.length - 1];
  if (a.join() !== b.join() || a.length < 2 || scale.join() !== `${n},${c}`) {
    throw new RangeError(`${SCALE_ADD_LEAKY_RELU}: a [${a}], scale [${scale}] and b [${b}] do not fit (a and b of one shape [N, ..., C], scale [N, C])`);
  }
  return { n, c };
}

/** Shapes of {@link UPSAMPLE_CONCAT}'s operands, checked: x [N,d,h,w,Cin], append [N,D,H,W,Ca]. */
export function upsampleConcatShape(x: number[], w: number[], b: number[], append: number[]): number[] {
  const [n, d, h, wd, cin] = x;
  const cout = b[0];
  const [an, D, H, W, ca] = append;
  if (x.length !== 5 || append.length !== 5 || w.join() !== `${cin},${8 * cout}` || b.length !== 1
    || an !== n || D > 2 * d || H > 2 * h || W > 2 * wd) {
    throw new RangeError(`${UPSAMPLE_CONCAT}: x [${x}], w [${w}], b [${b}] and append [${append}] do not fit `
      + '(w [Cin, 8 Cout], b [Cout], append of x\'s batch and at most twice its size)');
  }
  return [n, D, H, W, cout + ca];
}

/**
 * {@link UPSAMPLE_CONCAT} from the products p = x w ([N*d*h*w, 8 Cout], a matmul's result):
 * out[n, D, H, W] = (p[n, D/2, H/2, W/2][sub] + b, append[n, D, H, W]), sub = ((D % 2) * 2 + H % 2) * 2
 * + W % 2, the bias added in float32 as the composed Add rounds it. One pass over the output.
 */
export function upsampleConcat(
  products: Float32Array, xShape: number[], b: Float32Array, append: Float32Array, appendShape: number[],
): Float32Array {
  const cout = b.length, cols = 8 * cout;
  const [n, D, H, W, oc] = upsampleConcatShape(xShape, [xShape[4], cols], [cout], appendShape);
  const [, d, h, wd] = xShape;
  const ca = oc - cout;
  const out = new Float32Array(n * D * H * W * oc);
  for (let i = 0; i < n; i++) {
    for (let z = 0; z < D; z++) {
      for (let y = 0; y < H; y++) {
        const row = ((i * d + (z >> 1)) * h + (y >> 1)) * wd;
        const sub0 = ((z & 1) * 2 + (y & 1)) * 2;
        for (let v = 0; v < W; v++) {
          const vox = ((i * D + z) * H + y) * W + v;
          const src = (row + (v >> 1)) * cols + (sub0 + (v & 1)) * cout;
          const o = vox * oc;
          for (let c = 0; c < cout; c++) out[o + c] = products[src + c] + b[c];
          for (let c = 0; c < ca; c++) out[o + cout + c] = append[vox * ca + c];
        }
      }
    }
  }
  return out;
}

export const hasFusions = (): boolean => getKernel(FUSED_CONV3D, getBackend()) !== undefined;

/**
 * Runs `f` with the fusions unregistered on the active backend (libs/model then composes the ops, in
 * eval mode and in training), and registers them again afterwards: for benchmarks and tests that
 * compare both ways in one process.
 */
export async function withoutFusions<T>(f: () => T | Promise<T>): Promise<T> {
  const backend = getBackend();
  const saved = [FUSED_CONV3D, ADD_LEAKY_RELU, SE_GATE, SE_GATE_GRAD, UPSAMPLE_CONCAT, SCALE_ADD_LEAKY_RELU, SUM_PRODUCTS, SCALE_SHIFT].map((n) => getKernel(n, backend)).filter((k) => k !== undefined);
  for (const k of saved) unregisterKernel(k.kernelName, backend);
  try {
    return await f();
  } finally {
    for (const k of saved) registerKernel(k);
  }
}
