import * as tf from '@tensorflow/tfjs';
import { casesOf, maskTimesWeights, softCounts, type LossContext } from './inputs';

/** Options of {@link tverskyLoss}. */
export interface TverskyOptions {
  /** Weight of false negatives (paper 0.5). */
  alpha?: number;
  /** Weight of false positives (paper 0.5). */
  beta?: number;
  /** Added to numerator and denominator so an absent, unpredicted class scores 1. Default 1e-5. */
  smooth?: number;
}

/**
 * Soft Tversky loss, the paper's eq. 3 and 6 (Dice when alpha = beta = 0.5), per case then averaged:
 * L_i = sum_c m_i(c) w(c) - sum_c m_i(c) w(c) (TP_c + s) / (TP_c + alpha FN_c + beta FP_c + s).
 * The constant is sum_c m w (C without mask and weights), so a perfect prediction scores 0 and a
 * masked class adds nothing. probs and target: [V, C] or [N, ..., C], target one-hot.
 */
export function tverskyLoss(probs: tf.Tensor, target: tf.Tensor, options: TverskyOptions = {}, ctx: LossContext = {}): tf.Scalar {
  const { alpha = 0.5, beta = 0.5, smooth = 1e-5 } = options;
  return tf.tidy(() => {
    const [p, g] = casesOf(probs, target);
    const [n, , c] = p.shape;
    const { tp, sumP, sumG } = softCounts(p, g);
    const fn = tf.sub(sumG, tp);
    const fp = tf.sub(sumP, tp);
    const index = tf.div(tf.add(tp, smooth), tf.add(tf.add(tf.add(tp, tf.mul(fn, alpha)), tf.mul(fp, beta)), smooth));
    const mw = maskTimesWeights(n, c, ctx);
    const perCase = tf.sub(tf.sum(mw, 1), tf.sum(tf.mul(mw, index), 1));
    return tf.mean(perCase) as tf.Scalar;
  });
}

/** Soft Dice loss: {@link tverskyLoss} with alpha = beta = 0.5. */
export function diceLoss(probs: tf.Tensor, target: tf.Tensor, options: { smooth?: number } = {}, ctx: LossContext = {}): tf.Scalar {
  return tverskyLoss(probs, target, { alpha: 0.5, beta: 0.5, smooth: options.smooth }, ctx);
}

/**
 * Generalised Dice loss (Sudre et al. 2017), per case then averaged:
 * L_i = 1 - (2 sum_c W_c TP_c + s) / (sum_c W_c (sumP_c + sumG_c) + s), W_c = m w / (sumG_c)^2.
 * A class absent from the target would get an infinite weight: it takes the largest finite weight of
 * the case instead (as MONAI does; 1 if none is finite). Weights depend on the target only.
 */
export function generalisedDiceLoss(probs: tf.Tensor, target: tf.Tensor, options: { smooth?: number } = {}, ctx: LossContext = {}): tf.Scalar {
  const smooth = options.smooth ?? 1e-5;
  return tf.tidy(() => {
    const [p, g] = casesOf(probs, target);
    const [n, , c] = p.shape;
    const { tp, sumP, sumG } = softCounts(p, g);
    const present = tf.greater(sumG, 0);
    const raw = tf.div(1, tf.square(tf.maximum(sumG, 1e-30)));
    const finite = tf.where(present, raw, tf.zerosLike(raw));
    const maxFinite = tf.max(finite, 1, true);
    const fill = tf.where(tf.greater(maxFinite, 0), maxFinite, tf.onesLike(maxFinite));
    const volumeWeights = tf.where(present, raw, tf.mul(tf.onesLike(raw), fill));
    const wc = tf.mul(volumeWeights, maskTimesWeights(n, c, ctx));
    const num = tf.add(tf.mul(2, tf.sum(tf.mul(wc, tp), 1)), smooth);
    const den = tf.add(tf.sum(tf.mul(wc, tf.add(sumP, sumG)), 1), smooth);
    return tf.mean(tf.sub(1, tf.div(num, den))) as tf.Scalar;
  });
}
