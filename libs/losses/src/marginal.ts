/**
 * The marginal loss for partial annotations (Shi et al., "Marginal loss and exclusion loss for partially
 * supervised multi-organ segmentation", MedIA 2021), as an alternative to the paper's masks.
 *
 * The paper's mask (eq. 5) drops background from the loss of every case that misses any organ, because a
 * voxel labelled 0 there may belong to a missing organ. On random crops this leaves nothing to penalise an
 * organ predicted where no organ is (a crop without that organ gives its Dice no gradient), so false
 * positives far from the organs go unpunished. The marginal form keeps background: the probabilities of the
 * case's missing organs are added to background's, so "background or a missing organ" is what a voxel
 * labelled 0 is asked to be, which is exactly what the annotation says.
 */
import * as tf from '@tensorflow/tfjs';

/** m_i for the marginal form: background always, organs where annotated. [C] */
export function marginalMask(annotated: readonly boolean[]): number[] {
  return [1, ...annotated.map((a) => (a ? 1 : 0))];
}

/** [C, C] matrix M with p' = p M: missing organs' columns folded into column 0, the rest kept. */
export function marginalMergeMatrix(annotated: readonly boolean[]): number[][] {
  const c = annotated.length + 1;
  return Array.from({ length: c }, (_, from) =>
    Array.from({ length: c }, (_, to) => (from === 0 || annotated[from - 1] ? (to === from ? 1 : 0) : to === 0 ? 1 : 0)),
  );
}

/**
 * Probabilities [..., C] with each missing organ's probability moved into background (class 0); the
 * missing organs' own entries become 0. A matmul with a C x C matrix (any backend, any size; gradients
 * flow to the merged classes). With every organ annotated it returns the probabilities unchanged.
 */
export function mergeMissingIntoBackground(probs: tf.Tensor, annotated: readonly boolean[]): tf.Tensor {
  const c = probs.shape[probs.rank - 1];
  if (c !== annotated.length + 1) throw new RangeError(`mergeMissingIntoBackground: ${c} classes but ${annotated.length} organ flags`);
  if (annotated.every(Boolean)) return tf.clone(probs);
  return tf.tidy(() => tf.matMul(probs.reshape([-1, c]), tf.tensor2d(marginalMergeMatrix(annotated))).reshape(probs.shape));
}
