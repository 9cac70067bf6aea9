import * as tf from '@tensorflow/tfjs';

/*
 * Tensor primitives of the network, written with standard tfjs ops only so that any backend's kernels
 * (and the project's own Conv3D / MatMul kernels) plug in underneath. Two WebGPU limits shape them
 * (shared/FACTS.md): rank-5 broadcasting emits invalid WGSL, and reductions over more than ~4M rows
 * fail. So elementwise work runs on rank-2 [rows, C] or rank-3 [G, rows, C] views, and every sum over
 * voxels (forward means and the broadcast gradients) is a matmul with a ones vector.
 */

/** Forward of a custom-gradient op: inputs (then tfjs's save function) -> value and backward. */
type CustomOp = (...args: any[]) => { value: tf.Tensor; gradFunc: (dy: any, saved: tf.Tensor[]) => tf.Tensor[] };
/** tf.customGrad with loose input typing (its declared type mixes tensors and the save function). */
const custom = (f: CustomOp): ((...inputs: tf.Tensor[]) => tf.Tensor) => tf.customGrad(f as any) as any;

/** Whether the active backend registers a kernel (this project's fused kernels are optional per backend). */
export const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/**
 * Fusions that @anatomynet/compute registers on cpu and webgpu (its fused-conv.ts has the contracts,
 * its fusion-gradients.ts the gradients): conv + bias (+ running-statistics BatchNorm + LeakyReLU in
 * eval mode) as one kernel, leakyRelu(a + b), the squeeze-and-excitation gate from the voxel sums
 * with its backward; in eval mode also the output block's upsampling with what follows it and the
 * SE-residual block's end. Other backends run the composed ops.
 */
export const FUSED_CONV3D = 'AnatomyNetFusedConv3D';
export const ADD_LEAKY_RELU = 'AnatomyNetAddLeakyRelu';
export const SE_GATE = 'AnatomyNetSEGate';
export const SE_GATE_GRAD = 'AnatomyNetSEGateGrad';
/** The output block's upsample + bias + crop + concat of the input, eval mode only (no gradient). */
export const UPSAMPLE_CONCAT = 'AnatomyNetUpsampleConcat';
/** leakyRelu(a * scale + b): an SE-residual block's end, eval mode only (no gradient). */
export const SCALE_ADD_LEAKY_RELU = 'AnatomyNetScaleAddLeakyRelu';
/** Sums over the rows of a * b, and x * scale + shift per case and channel: the SE backward's voxel-sized work. */
export const SUM_PRODUCTS = 'AnatomyNetSumProducts';
export const SCALE_SHIFT = 'AnatomyNetScaleShift';

/** The ones of {@link sumRows}, kept per backend and shape, the most recently used last. */
const onesKept = new Map<string, tf.Tensor3D>();
/** Enough for a training run (two resolutions, a few shapes); inference on changing sizes cycles them. */
const ONES_KEPT = 4;

/**
 * A [G, 1, R] tensor of ones, kept between calls: a training step sums over the same row counts
 * dozens of times (38 sums at 8x16x16), each a fill dispatch of its own when made anew. Made with
 * tf.fill, a kernel: tf.ones builds them in JavaScript, and on webgpu uploads them (48 MB per
 * full-resolution sum at 178x302x225). The tape saves clones, so freeing saved tensors leaves these.
 */
function onesRows(g: number, r: number): tf.Tensor3D {
  const key = `${tf.getBackend()}:${g}x${r}`;
  const kept = onesKept.get(key);
  onesKept.delete(key);
  if (kept && !kept.isDisposed) {
    onesKept.set(key, kept);
    return kept;
  }
  const ones = tf.tidy(() => tf.keep(tf.fill([g, 1, r], 1) as tf.Tensor3D));
  onesKept.set(key, ones);
  for (const [k, t] of onesKept) {
    if (onesKept.size <= ONES_KEPT) break;
    onesKept.delete(k);
    t.dispose();
  }
  return ones;
}

/** Frees the ones {@link sumRows} keeps (they come back on the next sum); returns how many were kept. */
export function releaseKeptOnes(): number {
  const n = onesKept.size;
  for (const t of onesKept.values()) t.dispose();
  onesKept.clear();
  return n;
}

/** Sums over the rows of each group: x [G, R, C] -> [G, 1, C], as a batched matmul with ones. */
export function sumRows(x: tf.Tensor3D): tf.Tensor3D {
  const [g, r] = x.shape;
  return tf.matMul(onesRows(g, r), x) as tf.Tensor3D;
}

/** Adds a per-channel bias to x [R, C] (bias [C]); its bias gradient is a ones-matmul, not a reduction. */
export const addBiasRows = custom((x: tf.Tensor, bias: tf.Tensor) => {
  const x2 = x as tf.Tensor2D;
  return {
    value: tf.add(x2, bias),
    gradFunc: (dy: tf.Tensor) => {
      const d = dy as tf.Tensor2D;
      return [d, sumRows(d.reshape([1, d.shape[0], d.shape[1]])).reshape(bias.shape)];
    },
  };
}) as (x: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor2D;

/** Multiplies x [G, R, C] by a per-group, per-channel scale s [G, 1, C] (the SE recalibration). */
export const scaleChannels = custom((x: tf.Tensor, s: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ss] = saved;
      const d = dy as tf.Tensor3D;
      return [tf.mul(d, ss), sumRows(tf.mul(d, xs) as tf.Tensor3D)];
    },
  };
}) as (x: tf.Tensor3D, s: tf.Tensor3D) => tf.Tensor3D;

/**
 * Squeeze-and-excitation on x [N, R, C] with the backend's gate kernel and its backward
 * ({@link SE_GATE}, {@link SE_GATE_GRAD}): x * gate(sums of x over the rows), under one gradient.
 * The gate's input gradient dsums goes straight into dx = dy s + dsums (broadcast over the rows),
 * where autodiff through {@link sumRows} and {@link scaleChannels} makes an outer product with ones
 * and adds it: the same values, one full-size pass and one dispatch fewer. Where the backend has
 * {@link SUM_PRODUCTS} and {@link SCALE_SHIFT}, dgate = sum(dy x) and dx are one kernel each.
 */
export function squeezeExcite(x: tf.Tensor3D, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor, alpha: number): tf.Tensor3D {
  const [n, r, c] = x.shape;
  const attrs = { voxels: r, alpha };
  const f = custom((xi: tf.Tensor, v1: tf.Tensor, c1: tf.Tensor, v2: tf.Tensor, c2: tf.Tensor, save: tf.GradSaveFunc) => {
    const sums = sumRows(xi as tf.Tensor3D).reshape([n, c]);
    const gate = (tf.engine().runKernel(SE_GATE, { sums, w1: v1, b1: c1, w2: v2, b2: c2 }, attrs) as tf.Tensor).reshape([n, 1, c]);
    save([xi, sums, gate]);
    return {
      value: tf.mul(xi, gate),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, sumsSaved, gateSaved] = saved;
        const dgate = hasKernel(SUM_PRODUCTS)
          ? tf.engine().runKernel(SUM_PRODUCTS, { a: dy, b: xs }) as tf.Tensor
          : sumRows(tf.mul(dy, xs) as tf.Tensor3D).reshape([n, c]);
        const inputs = { dgate, sums: sumsSaved, w1: v1, b1: c1, w2: v2, b2: c2 };
        const [dsums, dw1, db1, dw2, db2] = tf.engine().runKernel(SE_GATE_GRAD, inputs, attrs) as tf.Tensor[];
        const dx = hasKernel(SCALE_SHIFT)
          ? tf.engine().runKernel(SCALE_SHIFT, { x: dy, scale: gateSaved.reshape([n, c]), shift: dsums }) as tf.Tensor
          : tf.add(tf.mul(dy, gateSaved), dsums.reshape([n, 1, c]));
        return [dx, dw1, db1, dw2, db2];
      },
    };
  });
  return f(x, w1, b1, w2, b2) as tf.Tensor3D;
}

/** The SE gate [N, C] of x [N, R, C] by the backend's {@link SE_GATE} kernel, without a gradient (eval mode). */
export function seGateOf(x: tf.Tensor3D, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor, alpha: number): tf.Tensor2D {
  const [n, r, c] = x.shape;
  return tf.tidy(() => {
    const sums = sumRows(x).reshape([n, c]);
    return tf.engine().runKernel(SE_GATE, { sums, w1, b1, w2, b2 }, { voxels: r, alpha }) as tf.Tensor2D;
  });
}

/** Result of {@link normalizeGroups}: the output and the (biased) batch statistics per group. */
export interface NormResult {
  y: tf.Tensor3D;
  /** [G, 1, C] mean over the rows of each group. */
  mean: tf.Tensor3D;
  /** [G, 1, C] biased variance over the rows of each group. */
  variance: tf.Tensor3D;
}

/**
 * A backend kernel computing normalizeGroups in one pass (with its gradient registered): inputs
 * {x [G,R,C], gamma [C], beta [C]}, attrs {eps, alpha (optional: a LeakyReLU of that slope after)},
 * outputs [y, mean [G,1,C], variance [G,1,C]]. @anatomynet/compute registers it on 'cpu' and 'webgpu'.
 */
export const FUSED_GROUP_NORM = 'AnatomyNetGroupNorm';

/** A backend's in-place BatchNorm running-statistics update (@anatomynet/compute group-norm.ts has the contract). */
export const RUNNING_STATS_IN_PLACE = 'AnatomyNetRunningStatsInPlace';

/**
 * PyTorch's running statistics: running = running (1 - momentum) + momentum batch, with the unbiased
 * batch variance (times rows / (rows - 1)). Written in place by the backend's kernel where it has
 * one and both running tensors alone hold their data (one dispatch on webgpu instead of six);
 * otherwise assigned from composed ops.
 */
export function updateRunningStats(
  runningMean: tf.Variable, runningVar: tf.Variable, mean: tf.Tensor1D, variance: tf.Tensor1D, momentum: number, rows: number,
): void {
  const correction = rows / Math.max(rows - 1, 1);
  // @anatomynet/compute's exclusiveData; this library does not depend on that one
  const exclusive = (t: tf.Tensor) => tf.backend().refCount(t.dataId) === 1;
  if (hasKernel(RUNNING_STATS_IN_PLACE) && exclusive(runningMean) && exclusive(runningVar)) {
    tf.engine().runKernel(RUNNING_STATS_IN_PLACE, { runningMean0: runningMean, runningVar0: runningVar, mean0: mean, variance0: variance }, { momentum, correction, count: 1 });
    return;
  }
  tf.tidy(() => {
    runningMean.assign(runningMean.mul(1 - momentum).add(mean.mul(momentum)));
    runningVar.assign(runningVar.mul(1 - momentum).add(variance.mul(correction).mul(momentum)));
  });
}

/**
 * Normalises x [G, R, C] with the statistics of each group's rows, then applies gamma/beta [C] and,
 * given a slope `alpha`, a LeakyReLU. Batch norm is G = 1 over all N*D*H*W rows; instance norm is
 * G = N. Runs the backend's fused {@link FUSED_GROUP_NORM} kernel where the active backend has one
 * (the activation inside it), otherwise {@link normalizeGroupsComposed}: one custom gradient with
 * the closed-form backward (dx = gamma/sigma * (dy - mean(dy) - xhat * mean(dy * xhat))), then
 * tf.leakyRelu. The statistics carry no gradient.
 */
export function normalizeGroups(x: tf.Tensor3D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, alpha?: number): NormResult {
  if (hasKernel(FUSED_GROUP_NORM)) {
    const attrs: tf.NamedAttrMap = alpha === undefined ? { eps } : { eps, alpha };
    const [y, mean, variance] = tf.engine().runKernel(FUSED_GROUP_NORM, { x, gamma, beta }, attrs) as tf.Tensor3D[];
    return { y, mean, variance };
  }
  const r = normalizeGroupsComposed(x, gamma, beta, eps);
  if (alpha === undefined) return r;
  return { ...r, y: tf.tidy(() => tf.leakyRelu(r.y, alpha)) as tf.Tensor3D };
}

/** {@link normalizeGroups} from standard tfjs ops (every backend; the reference for the fused kernel). */
export function normalizeGroupsComposed(x: tf.Tensor3D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): NormResult {
  const rows = x.shape[1];
  let mean!: tf.Tensor3D;
  let variance!: tf.Tensor3D;
  const f = custom((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const m = tf.div(sumRows(xi as tf.Tensor3D), rows) as tf.Tensor3D;
    const xc = tf.sub(xi, m);
    const v = tf.div(sumRows(tf.square(xc) as tf.Tensor3D), rows) as tf.Tensor3D;
    const inv = tf.rsqrt(tf.add(v, eps));
    const xhat = tf.mul(xc, inv);
    mean = tf.keep(m);
    variance = tf.keep(v);
    save([xhat, inv, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, iv, gm] = saved;
        const d = dy as tf.Tensor3D;
        const sumDy = sumRows(d);
        const sumDyXhat = sumRows(tf.mul(d, xh) as tf.Tensor3D);
        const inner = tf.sub(tf.sub(d, tf.div(sumDy, rows)), tf.mul(xh, tf.div(sumDyXhat, rows)));
        const dx = tf.mul(inner, tf.mul(iv, gm));
        const c = gm.shape[0];
        return [dx, tf.sum(sumDyXhat, [0, 1]).reshape([c]), tf.sum(sumDy, [0, 1]).reshape([c])];
      },
    };
  });
  const y = f(x, gamma, beta) as tf.Tensor3D;
  return { y, mean, variance };
}

/** Normalises x [G, R, C] with fixed per-channel statistics (BatchNorm in eval mode). */
export function normalizeFixed(
  x: tf.Tensor3D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
    const shift = tf.sub(beta, tf.mul(mean, scale));
    return tf.add(tf.mul(x, scale), shift) as tf.Tensor3D;
  });
}

/**
 * Depth-to-space for the k=2, s=2 transposed convolution: y [N,D,H,W,8*C] whose channel axis is
 * ordered (a, b, c, channel) -> [N,2D,2H,2W,C] with out[n,2d+a,2h+b,2w+c] = y[n,d,h,w,a,b,c].
 * Two rank-4 transposes (WebGPU handles rank <= 4 everywhere).
 */
export function depthToSpace2(y: tf.Tensor5D): tf.Tensor5D {
  return tf.tidy(() => {
    const [n, d, h, w, c8] = y.shape;
    const c = c8 / 8;
    // [n*d, h*w, a, b*c*ch] -> [n*d, a, h*w, b*c*ch]
    const s1 = tf.transpose(y.reshape([n * d, h * w, 2, 4 * c]), [0, 2, 1, 3]);
    // [n*d*a*h, w, b, c*ch] -> [n*d*a*h, b, w, c*ch]
    const s2 = tf.transpose(s1.reshape([n * d * 2 * h, w, 2, 2 * c]), [0, 2, 1, 3]);
    return s2.reshape([n, 2 * d, 2 * h, 2 * w, c]);
  });
}

/**
 * Zero-pads x [N,D,H,W,C] at the end of D, H and W up to dhw, as up to three rank-2 pads (tfjs-webgpu's
 * rank-5 pad shader is invalid WGSL; the gradient of a pad is a slice, of the same rank).
 */
export function padEnd5(x: tf.Tensor5D, dhw: number[]): tf.Tensor5D {
  return tf.tidy(() => {
    const [n, d, h, w, c] = x.shape;
    let y: tf.Tensor = x;
    if (dhw[2] > w) y = tf.pad(y.reshape([n * d * h, w * c]), [[0, 0], [0, (dhw[2] - w) * c]]);
    if (dhw[1] > h) y = tf.pad(y.reshape([n * d, h * dhw[2] * c]), [[0, 0], [0, (dhw[1] - h) * dhw[2] * c]]);
    if (dhw[0] > d) y = tf.pad(y.reshape([n, d * dhw[1] * dhw[2] * c]), [[0, 0], [0, (dhw[0] - d) * dhw[1] * dhw[2] * c]]);
    return y.reshape([n, dhw[0], dhw[1], dhw[2], c]);
  });
}

/** Keeps the first dhw voxels of x [N,D,H,W,C], as up to three rank-2 slices (see {@link padEnd5}). */
export function cropStart5(x: tf.Tensor5D, dhw: number[]): tf.Tensor5D {
  return tf.tidy(() => {
    const [n, d, h, w, c] = x.shape;
    let y: tf.Tensor = x;
    if (dhw[0] < d) y = tf.slice(y.reshape([n, d * h * w * c]), [0, 0], [n, dhw[0] * h * w * c]);
    if (dhw[1] < h) y = tf.slice(y.reshape([n * dhw[0], h * w * c]), [0, 0], [n * dhw[0], dhw[1] * w * c]);
    if (dhw[2] < w) y = tf.slice(y.reshape([n * dhw[0] * dhw[1], w * c]), [0, 0], [n * dhw[0] * dhw[1], dhw[2] * c]);
    return y.reshape([n, dhw[0], dhw[1], dhw[2], c]);
  });
}
