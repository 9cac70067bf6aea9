/**
 * An exponential moving average of a model's weights and BatchNorm statistics (Polyak averaging, as
 * TensorFlow's ExponentialMovingAverage and timm's ModelEma keep it). Validation, model selection and
 * the test evaluation then see the average rather than the last step's weights. With batch-1 crops and
 * RMSprop the raw weights swing from epoch to epoch: in the 154-step smoke pool1 cell the brainstem's
 * validation Dice went 0.29 -> 0.53 -> 0.86 at epochs 7, 9 and 11, the average's (decay 0.95)
 * 0.83 -> 0.83 -> 0.84. It lags a run that is still improving fast (README: Weight averaging), so the
 * short smoke profiles leave it out, as the paper does; fig6-final's longer smoke profile uses it. Off
 * unless a config sets `schedule.emaDecay`.
 */
import * as tf from '@tensorflow/tfjs';
import type { AnatomyNetModel } from '@anatomynet/model';

/** The average's decay after `step` updates: warms up from 0.1 so early weights do not linger (TF's num_updates rule). */
export const averageDecayAt = (decay: number, step: number) => Math.min(decay, (1 + step) / (10 + step));

/** The averaged tensors as plain arrays, by variable name (checkpoints store them). */
export type AverageValues = Map<string, Float32Array>;

export class WeightAverage {
  private readonly average = new Map<string, tf.Variable>();

  /** Starts from the model's current weights, or from `initial` (a resumed run's saved average). */
  constructor(
    private readonly model: AnatomyNetModel,
    readonly decay: number,
    initial?: AverageValues,
  ) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`emaDecay ${decay}: must be in (0, 1)`);
    for (const [name, v] of this.tracked()) {
      const saved = initial?.get(name);
      if (initial && (!saved || saved.length !== v.size)) throw new Error(`weight average: no saved values of size ${v.size} for ${name}`);
      const init = saved ? tf.tensor(saved, v.shape) : v.clone();
      this.average.set(name, tf.variable(init, false));
      init.dispose();
    }
  }

  private tracked(): [string, tf.Variable][] {
    return [...this.model.params, ...this.model.buffers];
  }

  /** Folds the model's current weights in; `step` counts the updates before this one. */
  update(step: number): void {
    const d = averageDecayAt(this.decay, step);
    tf.tidy(() => {
      const keep = tf.scalar(d), take = tf.scalar(1 - d);
      for (const [name, v] of this.tracked()) {
        const a = this.average.get(name)!;
        a.assign(a.mul(keep).add(v.mul(take)));
      }
    });
  }

  /** Runs `fn` with the averaged weights in the model, then puts the trained weights back (exact copies both ways). */
  async applied<T>(fn: () => Promise<T>): Promise<T> {
    this.swap();
    try {
      return await fn();
    } finally {
      this.swap();
    }
  }

  private swap(): void {
    for (const [name, v] of this.tracked()) {
      const a = this.average.get(name)!;
      const live = v.clone();
      v.assign(a);
      a.assign(live);
      live.dispose();
    }
  }

  async values(): Promise<AverageValues> {
    const out: AverageValues = new Map();
    for (const [name, a] of this.average) out.set(name, new Float32Array((await a.data()) as Float32Array));
    return out;
  }

  dispose(): void {
    for (const a of this.average.values()) a.dispose();
    this.average.clear();
  }
}
