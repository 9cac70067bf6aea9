/**
 * The run config's loss for one case: the chosen loss with the case's annotation mask, in the paper's
 * form (eq. 4-5) or the marginal one (missing organs folded into background). Training and the smoke
 * benchmark both build their step's loss here, so the two cannot drift apart.
 */
import type * as tf from '@tensorflow/tfjs';
import { buildLoss, caseMask, marginalMask, mergeMissingIntoBackground } from '@anatomynet/losses';
import type { RunConfig } from './run-config';

/** m_i of the run's masking form, from which organs a case annotates. */
export const maskOfRun = (masking: RunConfig['masking']) => (masking.marginal ? marginalMask : caseMask);

/** (probs, one-hot target, the case's annotated organs) -> scalar loss, with the class weights given. */
export function caseLoss(cfg: Pick<RunConfig, 'loss' | 'masking'>, weights?: number[]) {
  const lossFn = buildLoss(cfg.loss);
  const { masked, marginal } = cfg.masking;
  const maskOf = maskOfRun(cfg.masking);
  return (probs: tf.Tensor, target: tf.Tensor, annotated: readonly boolean[]): tf.Scalar =>
    lossFn(marginal ? mergeMissingIntoBackground(probs, annotated) : probs, target, { mask: masked ? [maskOf(annotated)] : undefined, weights });
}
