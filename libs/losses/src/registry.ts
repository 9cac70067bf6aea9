import * as tf from '@tensorflow/tfjs';
import { type LossContext } from './inputs';
import { diceLoss, generalisedDiceLoss, tverskyLoss } from './overlap';
import { crossEntropyLoss, expLogLoss, focalLoss } from './voxel';

/** A loss ready to use: probabilities and one-hot target of the same shape -> scalar. */
export type LossFn = (probs: tf.Tensor, target: tf.Tensor, ctx?: LossContext) => tf.Scalar;

/** The loss chosen by a run config: a name and that loss's options (all optional). */
export interface LossConfig {
  name: LossName;
  alpha?: number;
  beta?: number;
  gamma?: number;
  lambda?: number;
  smooth?: number;
  gammaDice?: number;
  gammaCross?: number;
  wDice?: number;
  wCross?: number;
}

/** A config key with a bad value; `field` and `value` say which. */
export class LossConfigError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`loss config field "${field}" = ${JSON.stringify(value)}: ${reason}`);
    this.name = 'LossConfigError';
  }
}

type Opts = Omit<LossConfig, 'name'>;
interface Entry {
  /** Option keys the loss accepts, with their defaults (the paper's where it gives one). */
  defaults: Partial<Opts>;
  build: (o: Required<Opts>) => LossFn;
}

/** Sum of named parts, lambda-weighted: the paper's hybrid losses. */
const hybrid =
  (first: LossFn, second: LossFn, lambda: number): LossFn =>
  (p, g, ctx) =>
    tf.tidy(() => tf.add(first(p, g, ctx), tf.mul(second(p, g, ctx), lambda)) as tf.Scalar);

/** Every named loss, its options and defaults. Chosen by `LossConfig.name`. */
export const LOSSES = {
  dice: { defaults: { smooth: 1e-5 }, build: (o) => (p, g, ctx) => diceLoss(p, g, o, ctx) },
  tversky: {
    defaults: { alpha: 0.5, beta: 0.5, smooth: 1e-5 },
    build: (o) => (p, g, ctx) => tverskyLoss(p, g, o, ctx),
  },
  focal: { defaults: { gamma: 2 }, build: (o) => (p, g, ctx) => focalLoss(p, g, o, ctx) },
  'cross-entropy': { defaults: {}, build: () => (p, g, ctx) => crossEntropyLoss(p, g, ctx) },
  'dice+focal': {
    defaults: { alpha: 0.5, beta: 0.5, smooth: 1e-5, gamma: 2, lambda: 0.5 },
    build: (o) =>
      hybrid(
        (p, g, ctx) => tverskyLoss(p, g, o, ctx),
        (p, g, ctx) => focalLoss(p, g, o, ctx),
        o.lambda,
      ),
  },
  'dice+ce': {
    defaults: { alpha: 0.5, beta: 0.5, smooth: 1e-5, lambda: 0.1 },
    build: (o) =>
      hybrid(
        (p, g, ctx) => tverskyLoss(p, g, o, ctx),
        (p, g, ctx) => crossEntropyLoss(p, g, ctx),
        o.lambda,
      ),
  },
  'exp-log': {
    defaults: { gammaDice: 0.3, gammaCross: 0.3, wDice: 0.8, wCross: 0.2, smooth: 1 },
    build: (o) => (p, g, ctx) => expLogLoss(p, g, o, ctx),
  },
  'generalised-dice': { defaults: { smooth: 1e-5 }, build: (o) => (p, g, ctx) => generalisedDiceLoss(p, g, o, ctx) },
} satisfies Record<string, Entry>;

export type LossName = keyof typeof LOSSES;
export const LOSS_NAMES = Object.keys(LOSSES) as LossName[];

/** Allowed range of each option. */
const RANGES: Record<keyof Opts, [number, number]> = {
  alpha: [0, 10],
  beta: [0, 10],
  gamma: [0, 10],
  lambda: [0, 1000],
  smooth: [0, 1000],
  gammaDice: [0, 10],
  gammaCross: [0, 10],
  wDice: [0, 1000],
  wCross: [0, 1000],
};

/**
 * Validates a loss config (unknown name, option foreign to the loss, value out of range) and fills
 * the defaults. @throws LossConfigError naming the field and value.
 */
export function resolveLossConfig(input: unknown): LossConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new LossConfigError('(root)', input, 'must be an object with a "name"');
  }
  const raw = input as Record<string, unknown>;
  if (!LOSS_NAMES.includes(raw.name as LossName)) {
    throw new LossConfigError('name', raw.name, `must be one of ${LOSS_NAMES.join(', ')}`);
  }
  const name = raw.name as LossName;
  const defaults = LOSSES[name].defaults as Partial<Opts>;
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'name') continue;
    if (!(key in defaults)) throw new LossConfigError(key, value, `is not an option of "${name}" (options: ${Object.keys(defaults).join(', ') || 'none'})`);
    const [lo, hi] = RANGES[key as keyof Opts];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) {
      throw new LossConfigError(key, value, `must be a number in [${lo}, ${hi}]`);
    }
  }
  return { ...defaults, ...raw, name } as LossConfig;
}

/** Builds the named loss from a config. @throws LossConfigError. */
export function buildLoss(config: unknown): LossFn {
  const cfg = resolveLossConfig(config);
  const { name, ...options } = cfg;
  return (LOSSES[name] as Entry).build(options as Required<Opts>);
}
