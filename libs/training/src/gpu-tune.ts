/**
 * cuDNN's benchmark mode for a run on the webgpu backend: the conv classes this model's training
 * and inference use (its forward in training and in eval mode, and its gradient), recorded at one
 * input size, each timed on the GPU with every kernel and tiling candidate (libs/compute
 * autotune.ts), the fastest kept. Tilings are keyed without the spatial size, so those tuned at one
 * size serve every case's volume; the Winograd kernels run only where tuned.
 */
import * as tf from '@tensorflow/tfjs';
import { recordConvClasses, tuneConvClasses, tunedTilings, type ClassTuneReport, type ConvTiling } from '@anatomynet/compute';
import { buildModel, forward, validateModelConfig } from '@anatomynet/model';

export interface ModelTuneOptions {
  /** Timed runs per candidate (default 2). */
  reps?: number;
  /** Leave the passes that have a tuned tiling (loaded from a file) as they are. */
  untunedOnly?: boolean;
  /** Narrows the candidates (tests on a software GPU). */
  keep?: (t: ConvTiling) => boolean;
  /** Hears each class as it ends (of `total`). */
  onClass?: (r: ClassTuneReport, done: number, total: number) => void;
}

/** Tunes the conv classes of the model `modelConfig` describes at input size `shape` [D, H, W]. */
export async function tuneModelConvs(modelConfig: unknown, shape: [number, number, number], o: ModelTuneOptions = {}): Promise<ClassTuneReport[]> {
  if (tf.getBackend() !== 'webgpu') throw new Error(`tuning GPU kernels needs the webgpu backend (active: ${tf.getBackend()})`);
  const cfg = validateModelConfig(modelConfig);
  const model = buildModel(cfg);
  const x = tf.randomUniform([1, ...shape, cfg.inChannels], -1, 1, 'float32', 1);
  try {
    const classes = await recordConvClasses(async () => {
      // a loss that depends on every output value, so that every conv's dx and dW run (summed over
      // rows first, as the Dice losses do: the gradient of a 5D mean broadcasts through tfjs-webgpu's
      // Tile, which reads back synchronously)
      const loss = () => {
        const probs = forward(model, x, { training: true });
        return tf.mean(tf.sum(tf.square(tf.reshape(probs, [-1, probs.shape[4]])), 0)) as tf.Scalar;
      };
      const { value, grads } = tf.variableGrads(loss, [...model.params.values()]);
      const probs = tf.tidy(() => forward(model, x, { training: false }));
      await value.data();
      tf.dispose([value, probs, ...Object.values(grads)]);
    });
    const tuned = tunedTilings();
    const todo = o.untunedOnly
      ? classes.map((c) => ({ ...c, passes: c.passes.filter((p) => !(`${p}|${c.key}` in tuned)) })).filter((c) => c.passes.length > 0)
      : classes;
    return await tuneConvClasses(todo, { reps: o.reps, keep: o.keep, onClass: (r, done) => o.onClass?.(r, done, todo.length) });
  } finally {
    x.dispose();
    model.dispose();
  }
}
