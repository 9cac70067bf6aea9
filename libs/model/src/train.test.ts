import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateModelConfig } from './config';
import { buildModel } from './model';
import { predict, trainStep } from './train';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Mean cross-entropy against a one-hot target (the model lib has no loss of its own). */
const crossEntropy = (target: tf.Tensor) => (probs: tf.Tensor5D) =>
  tf.neg(tf.mean(tf.sum(tf.mul(target, tf.log(tf.add(probs, 1e-7))), 4))) as tf.Scalar;

function tinyProblem() {
  const cfg = validateModelConfig({ filters: [4, 6], pools: 1, outputUpFilters: 4, outputFilters: 4, seRatio: 2, numClasses: 3 });
  const x = tf.tidy(() => tf.randomUniform([1, 6, 6, 6, 1], 0, 1, 'float32', 11) as tf.Tensor5D);
  // Labels from the intensity: a learnable map.
  const target = tf.tidy(() => tf.oneHot(tf.cast(tf.mul(x, 2.999), 'int32').reshape([1, 6, 6, 6]), 3).cast('float32'));
  return { cfg, x, target };
}

describe('trainStep', () => {
  it('reduces the loss on a tiny input', async () => {
    const { cfg, x, target } = tinyProblem();
    const m = buildModel(cfg, { seed: 5 });
    const opt = tf.train.adam(0.01);
    const losses: number[] = [];
    for (let i = 0; i < 15; i++) losses.push(await trainStep(m, opt, x, crossEntropy(target)));
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[14]).toBeLessThan(0.8 * losses[0]);
    const evalLoss = tf.tidy(() => crossEntropy(target)(predict(m, x)).dataSync()[0]);
    expect(Number.isFinite(evalLoss)).toBe(true);
    tf.dispose([x, target]);
    opt.dispose();
    m.dispose();
  });

  it('leaks no tensors: the count after step 2 equals the count after step 10', async () => {
    const { cfg, x, target } = tinyProblem();
    const m = buildModel({ ...cfg, block: 'se-residual', norm: 'batch' }, { seed: 6 });
    const opt = tf.train.rmsprop(2e-3);
    const counts: number[] = [];
    for (let i = 1; i <= 10; i++) {
      await trainStep(m, opt, x, crossEntropy(target));
      tf.dispose(predict(m, x));
      counts[i] = tf.memory().numTensors;
    }
    expect(counts[10]).toBe(counts[2]);
    tf.dispose([x, target]);
    opt.dispose();
    m.dispose();
  });
});
