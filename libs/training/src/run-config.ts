/**
 * The run config: everything a training run does, validated once before any compute. A grid row is a
 * small override of a base config (see grid.ts); the digest of the resolved config names the run.
 */
import { validateModelConfig, type ModelConfig } from '@anatomynet/model';
import { resolveLossConfig, type LossConfig, type WeightNormalisation } from '@anatomynet/losses';
import { configDigest } from '@anatomynet/tracking';
import { PUBLIC_CODE_AUGMENT, type AugmentConfig } from './augment';
import { type HuWindow } from './intensity';

/** The most cross-validation folds a run config (or `grid --folds`) may ask for. */
export const MAX_FOLDS = 10;

export interface DataConfig {
  /** HU -> [0, 1] window (the public code: -1024 .. 3071 after clipping below -1024). */
  huWindow: HuWindow;
  /** Resample every case to this spacing (mm, [x, y, z]) for training and prediction; null keeps each case's own. */
  spacingMm: [number, number, number] | null;
  /** Random crop of this size (voxels [nx, ny, nz]) per step, for small memory; null trains on whole volumes. */
  cropVoxels: [number, number, number] | null;
  /** Share of crops centred on a random organ voxel (nnU-Net's foreground oversampling: 0.33). */
  foregroundCrop: number;
  /** null disables augmentation. */
  augment: AugmentConfig | null;
  /** Which training cases: all, or only those from PDDCA (Table I). */
  subset: 'all' | 'pddca';
  /**
   * Cross-validation: fold `index` of `k` (dataset.ts `foldCases`) is the validation set and the other
   * folds of the training and validation splits are trained on; the test split is untouched. Absent: the
   * dataset's own training and validation splits (absent rather than null, so earlier configs keep their digests).
   */
  fold?: { k: number; index: number };
}

export interface ScheduleConfig {
  /** RMSprop phase (the paper: lr 2e-3). */
  rmspropEpochs: number;
  rmspropLr: number;
  /** RMSprop's moving-average decay (PyTorch's alpha, 0.99). */
  rmspropDecay: number;
  /** RMSprop's momentum (PyTorch's momentum; the paper's code: 0). Smooths batch-1 steps. */
  rmspropMomentum: number;
  /** SGD with momentum phase (the paper: lr 1e-3, momentum 0.9). */
  sgdEpochs: number;
  sgdLr: number;
  momentum: number;
  /**
   * Decay of an exponential moving average of the weights that validation, model selection and the
   * test evaluation use (weight-average.ts). Absent or 0: the trained weights themselves (the paper).
   */
  emaDecay?: number;
}

export interface RunConfig {
  seed: number;
  model: ModelConfig;
  loss: LossConfig;
  /** The paper's masked loss (eq. 4-5) and class weights (eq. 6-7). */
  masking: {
    masked: boolean;
    /**
     * With `masked`: the marginal form (missing organs folded into background, background always in the
     * loss; libs/losses marginal.ts) instead of the paper's eq. 5 (background only when all are annotated).
     */
    marginal: boolean;
    weighted: boolean;
    weightNormalisation: WeightNormalisation;
  };
  data: DataConfig;
  schedule: ScheduleConfig;
  /** Validate (and select the model) every N epochs, on the validation split only. */
  validateEveryEpochs: number;
  /**
   * largestComponent: clean each predicted organ up to its large connected components, on
   * validation and test; componentMinShare: the share of the largest component a piece needs to
   * stay (1: the largest only; 0.25 also keeps a mandible the prediction split in two).
   */
  evaluation: { surfaceToleranceMm: number; largestComponent: boolean; componentMinShare: number };
}

export const DEFAULT_RUN_CONFIG: RunConfig = {
  seed: 1,
  model: validateModelConfig({}),
  loss: resolveLossConfig({ name: 'dice+focal' }),
  masking: { masked: true, marginal: false, weighted: true, weightNormalisation: 'min-one' },
  data: { huWindow: { lo: -1024, hi: 3071 }, spacingMm: null, cropVoxels: null, foregroundCrop: 0.33, augment: PUBLIC_CODE_AUGMENT, subset: 'all' },
  schedule: { rmspropEpochs: 150, rmspropLr: 2e-3, rmspropDecay: 0.99, rmspropMomentum: 0, sgdEpochs: 50, sgdLr: 1e-3, momentum: 0.9 },
  validateEveryEpochs: 1,
  evaluation: { surfaceToleranceMm: 2, largestComponent: true, componentMinShare: 1 },
};

/** A run-config field with a bad value. */
export class RunConfigError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`run config field "${field}" = ${JSON.stringify(value)}: ${reason}`);
    this.name = 'RunConfigError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Deep merge for config overrides: objects merge key by key, anything else (arrays too) replaces. An
 * object with a `name` (a registry choice such as the loss) replaces as a whole, since options of one
 * named loss mean nothing to another.
 */
export function mergeConfig<T>(base: T, ...overrides: unknown[]): T {
  let out: unknown = base;
  for (const o of overrides) out = mergeTwo(out, o);
  return out as T;
}
function mergeTwo(a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if (!isObject(a) || !isObject(b) || 'name' in b) return structuredClone(b);
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = mergeTwo(a[k], v);
  return out;
}

function num(v: unknown, field: string, lo: number, hi: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw new RunConfigError(field, v, `must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}]`);
  }
  return v;
}
function triple(v: unknown, field: string, lo: number, hi: number, integer: boolean): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3) throw new RunConfigError(field, v, 'must be an array of 3 numbers [x, y, z]');
  return v.map((x, i) => num(x, `${field}[${i}]`, lo, hi, integer)) as [number, number, number];
}
function only(obj: Record<string, unknown>, field: string, keys: string[]): void {
  for (const k of Object.keys(obj)) if (!keys.includes(k)) throw new RunConfigError(field ? `${field}.${k}` : k, obj[k], 'unknown field');
}

/**
 * Fills defaults and validates every field (model and loss by their own validators).
 * @throws RunConfigError naming the field (model/loss errors are re-thrown with a `model.`/`loss.` prefix).
 */
export function resolveRunConfig(input: unknown): RunConfig {
  if (!isObject(input)) throw new RunConfigError('(root)', input, 'must be an object');
  only(input, '', Object.keys(DEFAULT_RUN_CONFIG).map((k) => k));
  const raw = mergeConfig(DEFAULT_RUN_CONFIG as unknown as Json, { ...input, model: undefined, loss: undefined }) as unknown as RunConfig;
  let model: ModelConfig, loss: LossConfig;
  try {
    model = validateModelConfig(input.model ?? {});
  } catch (e) {
    const err = e as { field?: string; value?: unknown; message: string };
    throw new RunConfigError(`model.${err.field ?? '?'}`, err.value, err.message);
  }
  try {
    loss = resolveLossConfig(input.loss ?? DEFAULT_RUN_CONFIG.loss);
  } catch (e) {
    const err = e as { field?: string; value?: unknown; message: string };
    throw new RunConfigError(`loss.${err.field ?? '?'}`, err.value, err.message);
  }
  num(raw.seed, 'seed', 0, 2 ** 32 - 1, true);
  only(raw.masking, 'masking', ['masked', 'marginal', 'weighted', 'weightNormalisation']);
  if (typeof raw.masking.masked !== 'boolean') throw new RunConfigError('masking.masked', raw.masking.masked, 'must be true or false');
  if (typeof raw.masking.marginal !== 'boolean') throw new RunConfigError('masking.marginal', raw.masking.marginal, 'must be true or false');
  if (raw.masking.marginal && !raw.masking.masked) throw new RunConfigError('masking.marginal', true, 'is a form of the masked loss: set masking.masked to true');
  if (typeof raw.masking.weighted !== 'boolean') throw new RunConfigError('masking.weighted', raw.masking.weighted, 'must be true or false');
  if (!['none', 'min-one', 'mean-one'].includes(raw.masking.weightNormalisation)) {
    throw new RunConfigError('masking.weightNormalisation', raw.masking.weightNormalisation, 'must be none, min-one or mean-one');
  }
  const d = raw.data;
  only(d as unknown as Record<string, unknown>, 'data', ['huWindow', 'spacingMm', 'cropVoxels', 'foregroundCrop', 'augment', 'subset', 'fold']);
  if (d.fold !== undefined) {
    if (d.fold === null || typeof d.fold !== 'object') throw new RunConfigError('data.fold', d.fold, 'must be {"k": folds, "index": 1..k}, or absent');
    only(d.fold as unknown as Record<string, unknown>, 'data.fold', ['k', 'index']);
    num(d.fold.k, 'data.fold.k', 2, MAX_FOLDS, true);
    num(d.fold.index, 'data.fold.index', 1, d.fold.k, true);
  }
  num(d.foregroundCrop, 'data.foregroundCrop', 0, 1);
  num(d.huWindow.lo, 'data.huWindow.lo', -32768, 32767);
  num(d.huWindow.hi, 'data.huWindow.hi', d.huWindow.lo + 1, 32767);
  if (d.spacingMm !== null) triple(d.spacingMm, 'data.spacingMm', 0.05, 50, false);
  if (d.cropVoxels !== null) triple(d.cropVoxels, 'data.cropVoxels', 4, 4096, true);
  if (!['all', 'pddca'].includes(d.subset)) throw new RunConfigError('data.subset', d.subset, 'must be all or pddca');
  if (d.augment !== null) {
    const a = d.augment;
    only(a as unknown as Record<string, unknown>, 'data.augment', Object.keys(PUBLIC_CODE_AUGMENT));
    num(a.probability, 'data.augment.probability', 0, 1);
    num(a.flipLR, 'data.augment.flipLR', 0, 1);
    num(a.rotationDeg, 'data.augment.rotationDeg', 0, 180);
    num(a.scale, 'data.augment.scale', 0, 0.9);
    num(a.shear, 'data.augment.shear', 0, 1);
    num(a.translate, 'data.augment.translate', 0, 0.5);
    num(a.elasticAlpha, 'data.augment.elasticAlpha', 0, 1e5);
    num(a.elasticSigma, 'data.augment.elasticSigma', 0.1, 1e3);
  }
  const s = raw.schedule;
  // emaDecay is optional so that the configs (and digests) of runs that leave it out stay as they were
  only(s as unknown as Record<string, unknown>, 'schedule', [...Object.keys(DEFAULT_RUN_CONFIG.schedule), 'emaDecay']);
  num(s.rmspropEpochs, 'schedule.rmspropEpochs', 0, 1e6, true);
  num(s.sgdEpochs, 'schedule.sgdEpochs', 0, 1e6, true);
  if (s.rmspropEpochs + s.sgdEpochs < 1) throw new RunConfigError('schedule', s, 'needs at least one epoch');
  num(s.rmspropLr, 'schedule.rmspropLr', 0, 10);
  num(s.rmspropDecay, 'schedule.rmspropDecay', 0, 1);
  num(s.rmspropMomentum, 'schedule.rmspropMomentum', 0, 0.999);
  num(s.sgdLr, 'schedule.sgdLr', 0, 10);
  num(s.momentum, 'schedule.momentum', 0, 1);
  if (s.emaDecay !== undefined) num(s.emaDecay, 'schedule.emaDecay', 0, 0.99999);
  num(raw.validateEveryEpochs, 'validateEveryEpochs', 1, 1e6, true);
  num(raw.evaluation.surfaceToleranceMm, 'evaluation.surfaceToleranceMm', 0, 100);
  if (typeof raw.evaluation.largestComponent !== 'boolean') {
    throw new RunConfigError('evaluation.largestComponent', raw.evaluation.largestComponent, 'must be true or false');
  }
  const share = raw.evaluation.componentMinShare;
  if (typeof share !== 'number' || !(share > 0 && share <= 1)) {
    throw new RunConfigError('evaluation.componentMinShare', share, 'must be a number in (0, 1]');
  }
  return { ...raw, model, loss };
}

/** SHA-256 of the resolved config's canonical JSON: equal configs, equal digests. */
export function runConfigDigest(cfg: RunConfig): string {
  return configDigest(cfg);
}

/** The dotted paths of the fields whose values differ between two JSON values (objects compared field by field). */
export function changedFields(before: unknown, after: unknown, path = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changedFields(before[k], after[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [path || '(whole value)'];
}

const valueAt = (v: unknown, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), v);

/** The fields that differ between two run configs, each as `path: before -> after` (values as JSON). */
export function configChanges(before: unknown, after: unknown): string[] {
  const show = (v: unknown, path: string) => JSON.stringify(valueAt(v, path)) ?? '(none)';
  return changedFields(before, after).map((p) => `${p}: ${show(before, p)} -> ${show(after, p)}`);
}

/**
 * Why a config will take days on a CPU backend (whole volumes at native spacing for the paper's 200
 * epochs), or undefined: `--profile full` is the default, and the first progress bar's ETA is a late way
 * to find out.
 */
export function slowOnCpuReason(cfg: RunConfig, backend: string): string | undefined {
  if (backend !== 'cpu' && backend !== 'wasm') return undefined;
  const epochs = cfg.schedule.rmspropEpochs + cfg.schedule.sgdEpochs;
  if (cfg.data.cropVoxels !== null || cfg.data.spacingMm !== null || epochs < 50) return undefined;
  return `${epochs} epochs on whole volumes at native spacing on the ${backend} backend take days per run; the smoke profile (--profile smoke) is sized for a CPU, the full one for a GPU (--backend webgpu)`;
}
