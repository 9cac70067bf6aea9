import * as tf from '@tensorflow/tfjs';
import { forward, type AnatomyNetModel, type Recompute } from './model';
import { freeGradientsEarly } from './tape';

/** A loss over the network's output probabilities [N, D, H, W, C]; must return a scalar. */
export type ProbabilityLoss = (probs: tf.Tensor5D) => tf.Scalar;

/**
 * One optimisation step: forward in training mode (batch statistics, running statistics updated),
 * loss, gradients of every trainable variable, optimizer update. Frees everything it creates, so
 * tf.memory().numTensors is stable from the second step on (the optimizer creates its slots at the
 * first). Returns the loss before the update. `recompute` trades compute for memory (see ForwardOptions).
 */
export async function trainStep(
  model: AnatomyNetModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor,
  lossFn: ProbabilityLoss,
  options: { recompute?: Recompute } = {},
): Promise<number> {
  const vars = [...model.params.values()];
  const { value, grads } = tf.variableGrads(() => {
    const loss = lossFn(forward(model, x, { training: true, recompute: options.recompute }));
    freeGradientsEarly();
    return loss;
  }, vars);
  optimizer.applyGradients(grads);
  const loss = (await value.data())[0];
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}

/** Eval-mode forward inside a tidy: probabilities [N, D, H, W, C]. */
export function predict(model: AnatomyNetModel, x: tf.Tensor): tf.Tensor5D {
  return tf.tidy(() => forward(model, x, { training: false }));
}
