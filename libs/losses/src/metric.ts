import * as tf from '@tensorflow/tfjs';
import { toCases } from './inputs';

/** Per-class hard counts and Dice over all voxels given. Arrays of length C. */
export interface HardDice {
  /** 2 TP / (2 TP + FP + FN); NaN when the class is absent from both prediction and target. */
  dice: number[];
  tp: number[];
  fp: number[];
  fn: number[];
}

/**
 * Hard Dice from label arrays (values 0..C-1) of equal length. Convention for empty classes:
 * absent from both -> NaN (nothing to score; skip it when averaging), absent from the target but
 * predicted -> 0. @throws RangeError on unequal lengths or a label outside [0, C).
 */
export function hardDiceFromLabels(pred: ArrayLike<number>, truth: ArrayLike<number>, numClasses: number): HardDice {
  if (pred.length !== truth.length) throw new RangeError(`hardDice: ${pred.length} predicted vs ${truth.length} true labels`);
  const tp = new Array<number>(numClasses).fill(0);
  const fp = new Array<number>(numClasses).fill(0);
  const fn = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i];
    const t = truth[i];
    if (!(p >= 0 && p < numClasses && t >= 0 && t < numClasses)) throw new RangeError(`hardDice: label ${p}/${t} at ${i} outside [0, ${numClasses})`);
    if (p === t) tp[p]++;
    else {
      fp[p]++;
      fn[t]++;
    }
  }
  const dice = tp.map((x, c) => (2 * x + fp[c] + fn[c] === 0 ? NaN : (2 * x) / (2 * x + fp[c] + fn[c])));
  return { dice, tp, fp, fn };
}

/**
 * Training-time validation metric: argmax of probs [V, C] or [N, ..., C] against a one-hot target of
 * the same shape (or integer labels of shape probs.shape without C), per-class hard Dice over all
 * voxels. Reads back asynchronously (works on every backend).
 */
export async function hardDice(probs: tf.Tensor, target: tf.Tensor): Promise<HardDice> {
  const c = probs.shape[probs.rank - 1];
  const [pred, truth] = tf.tidy(() => {
    const p = tf.argMax(toCases(probs), 2);
    const t = target.rank === probs.rank ? tf.argMax(toCases(target), 2) : target.reshape(p.shape).toInt();
    return [p, t];
  });
  try {
    return hardDiceFromLabels(await pred.data(), await truth.data(), c);
  } finally {
    tf.dispose([pred, truth]);
  }
}
