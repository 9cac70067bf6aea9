// The training step the GPU benchmarks time and the memory tool replays: ref_anatomynet.py's
// network and optimizer, with a soft Dice loss against a fixed label pattern.
import * as tf from '@tensorflow/tfjs';
import { rmspropOptimizer } from '@anatomynet/compute';

export type Dhw = [number, number, number];

export function parseShapes(s: string): Dhw[] {
  return s.split(',').map((t) => {
    const v = t.trim().split('x').map(Number);
    if (v.length !== 3 || v.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`--shapes: "${t}" is not DxHxW`);
    return v as Dhw;
  });
}

/** Soft Dice over the classes against `target` (voxels x classes): the loss the trainer optimises. */
export function softDiceTo(target: tf.Tensor2D) {
  return (p: tf.Tensor5D): tf.Scalar =>
    tf.tidy(() => {
      const pf = p.reshape([-1, p.shape[4]]);
      const inter = tf.sum(tf.mul(pf, target), 0);
      const denom = tf.add(tf.sum(pf, 0), tf.sum(target, 0));
      return tf.sub(1, tf.mean(tf.div(tf.mul(2, inter), tf.add(denom, 1e-5)))) as tf.Scalar;
    });
}

/** One-hot labels (voxels x classes) that follow the input's intensities, made on the active backend. */
export function referenceTarget(x: tf.Tensor, numClasses: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.cast(tf.mul(tf.sigmoid(x), numClasses - 0.01), 'int32').reshape([-1]), numClasses).toFloat()) as tf.Tensor2D;
}

/**
 * ref_anatomynet.py's optimizer: torch.optim.RMSprop(lr=2e-3), alpha 0.99, eps 1e-8 (the training
 * steps of 2026-11-26 and -27 in BENCHMARKS.md stepped plain SGD, a cheaper update).
 */
export function referenceOptimizer() {
  return rmspropOptimizer(2e-3, 0.99, 0, 1e-8);
}
export const REFERENCE_OPTIMIZER = 'RMSprop lr 2e-3 decay 0.99 eps 1e-8 (fused update)';
