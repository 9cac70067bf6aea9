import * as tf from '@tensorflow/tfjs';

/** Bad loss input: shapes that do not match, a mask or weights of the wrong length. */
export class LossInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LossInputError';
  }
}

/** Per-class mask m_i(c): one row per case ([N][C]), one row for all cases ([C]), or a tensor of either shape. */
export type MaskLike = number[] | number[][] | tf.Tensor;
/** Per-class weights w(c), length C. */
export type WeightsLike = number[] | tf.Tensor;

/** What a loss may be told about the cases besides probabilities and targets. */
export interface LossContext {
  /** m_i(c) in {0, 1} (eq. 4-5): 0 removes class c of case i from the loss and its gradient. */
  mask?: MaskLike;
  /** w(c) (eq. 6-7), e.g. from {@link classWeights}. */
  weights?: WeightsLike;
}

/**
 * Views probabilities or targets as cases [N, V, C]: [V, C] is one case, [N, V, C] is kept,
 * [N, D, H, W, C] (or any rank >= 3) flattens the voxels of each case.
 */
export function toCases(x: tf.Tensor): tf.Tensor3D {
  if (x.rank < 2) throw new LossInputError(`expected [V,C] or [N,...,C], got shape [${x.shape.join(',')}]`);
  const c = x.shape[x.rank - 1];
  if (x.rank === 2) return x.reshape([1, x.shape[0], c]);
  return x.reshape([x.shape[0], -1, c]);
}

/** Checks probs and target have the same shape; returns both as cases [N, V, C]. */
export function casesOf(probs: tf.Tensor, target: tf.Tensor): [tf.Tensor3D, tf.Tensor3D] {
  if (probs.shape.join(',') !== target.shape.join(',')) {
    throw new LossInputError(`probs [${probs.shape.join(',')}] and target [${target.shape.join(',')}] differ in shape`);
  }
  return [toCases(probs), toCases(target)];
}

/**
 * Sums over voxels: x [N, V, C] -> [N, C], as a batched matmul with ones (tfjs-webgpu's stock
 * reductions fail past ~4M rows). The ones come from tf.fill, a kernel, so the GPU writes them;
 * tf.ones would build and upload them from JavaScript on every call. The gradient is dy broadcast
 * over the voxels (one Tile): the matmul's own would be an outer product with a row per voxel, which
 * tfjs-webgpu runs as row blocks joined by a Concat.
 */
export function sumVoxels(x: tf.Tensor3D): tf.Tensor2D {
  const [n, v, c] = x.shape;
  const sum = tf.customGrad((xi: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.tidy(() => tf.matMul(tf.fill([n, 1, v], 1), xi as tf.Tensor3D).reshape([n, c])),
    gradFunc: (dy: tf.Tensor) => tf.broadcastTo(dy.reshape([n, 1, c]), [n, v, c]),
  }));
  return sum(x) as tf.Tensor2D;
}

function toTensor(x: number[] | number[][] | tf.Tensor): tf.Tensor {
  return x instanceof tf.Tensor ? x : tf.tensor(x as number[], undefined, 'float32');
}

/**
 * The factor m_i(c) w(c) as [N, C] (1 where mask and weights are not given).
 * @throws LossInputError if the mask is not [C] or [N, C] or the weights not [C].
 */
export function maskTimesWeights(n: number, c: number, ctx: LossContext = {}): tf.Tensor2D {
  return tf.tidy(() => {
    let mw: tf.Tensor = tf.ones([n, c]);
    if (ctx.mask !== undefined) {
      const m = toTensor(ctx.mask);
      const ok = (m.rank === 1 && m.shape[0] === c) || (m.rank === 2 && m.shape[0] === n && m.shape[1] === c);
      if (!ok) throw new LossInputError(`mask shape [${m.shape.join(',')}] must be [${c}] or [${n},${c}]`);
      mw = tf.mul(mw, m.rank === 1 ? m.reshape([1, c]) : m);
    }
    if (ctx.weights !== undefined) {
      const w = toTensor(ctx.weights);
      if (w.rank !== 1 || w.shape[0] !== c) throw new LossInputError(`weights shape [${w.shape.join(',')}] must be [${c}]`);
      mw = tf.mul(mw, w.reshape([1, c]));
    }
    return mw as tf.Tensor2D;
  });
}

/** Per-case, per-class soft counts (eq. 3), each [N, C]. */
export interface SoftCounts {
  tp: tf.Tensor2D;
  /** Sum of predicted probabilities (TP + FP). */
  sumP: tf.Tensor2D;
  /** Sum of the target (TP + FN). */
  sumG: tf.Tensor2D;
}

/**
 * Kernels a backend may provide to compute the voxel sums of the losses in one pass (with their
 * gradients registered): @anatomynet/compute registers them on 'cpu'. Inputs {p, g} [N, V, C]:
 * SOFT_COUNTS -> [tp, sumP] ([N, C] each); FOCAL_SUMS (attrs gamma, eps) -> [N, C]
 * sum_v g (1 - p)^gamma log(max(p, eps)). Elsewhere the losses use standard ops.
 */
export const FUSED_LOSS_KERNELS = { SOFT_COUNTS: 'AnatomyNetSoftCounts', FOCAL_SUMS: 'AnatomyNetFocalSums' } as const;

/** Whether the active backend has the fused kernel `name` (then p and g go to it as float32). */
export function hasFusedKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** g as float32 (one-hot targets may come as int32 from tf.oneHot). */
export const asFloat = (g: tf.Tensor3D): tf.Tensor3D => (g.dtype === 'float32' ? g : tf.cast(g, 'float32'));

/** TP = sum p g, sumP = sum p, sumG = sum g over each case's voxels; FN = sumG - TP, FP = sumP - TP. */
export function softCounts(p: tf.Tensor3D, g: tf.Tensor3D): SoftCounts {
  if (hasFusedKernel(FUSED_LOSS_KERNELS.SOFT_COUNTS) && p.dtype === 'float32') {
    const [tp, sumP] = tf.engine().runKernel(FUSED_LOSS_KERNELS.SOFT_COUNTS, { p, g: asFloat(g) }, {}) as tf.Tensor2D[];
    // sumG apart: as an output of the fused kernel it would sit on p's gradient path
    return { tp, sumP, sumG: sumVoxels(g) };
  }
  return { tp: sumVoxels(tf.mul(p, g) as tf.Tensor3D), sumP: sumVoxels(p), sumG: sumVoxels(g) };
}
