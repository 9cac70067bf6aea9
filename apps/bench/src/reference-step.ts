// The training step the GPU benchmarks time and the memory tool replays: ref_anatomynet.py's
// network and optimizer, with the trainer's default loss against a fixed label pattern.
import * as tf from '@tensorflow/tfjs';
import { rmspropOptimizer } from '@anatomynet/compute';
import { buildLoss, type LossName } from '@anatomynet/losses';

export type Dhw = [number, number, number];

export function parseShapes(s: string): Dhw[] {
  return s.split(',').map((t) => {
    const v = t.trim().split('x').map(Number);
    if (v.length !== 3 || v.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`--shapes: "${t}" is not DxHxW`);
    return v as Dhw;
  });
}

/**
 * The loss the trainer optimises by default (libs/training's run config): the paper's Dice + focal
 * (libs/losses, with its defaults), here against `target` (voxels x classes); `name` another of
 * libs/losses' (bench:memory --loss). Before 2026-11-28 (session 24) the benchmarks stepped a
 * composed soft Dice instead.
 */
export const REFERENCE_LOSS = 'dice+focal (libs/losses defaults, the trainer\'s default loss)';
export function trainerLossTo(target: tf.Tensor2D, name: LossName = 'dice+focal') {
  const loss = buildLoss({ name });
  return (p: tf.Tensor5D): tf.Scalar => tf.tidy(() => loss(p.reshape([-1, p.shape[4]]), target));
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
