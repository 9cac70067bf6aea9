import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Folder of the shipped configs: anatomynet-ref.json (default), anatomynet-paper.json, anatomynet-public.json. */
export const MODEL_CONFIGS_DIR = fileURLToPath(new URL('../configs', import.meta.url));

/** Residual unit used in every encoder and decoder stage. */
export type BlockType = 'plain' | 'residual' | 'se-residual';
/** How a decoder stage joins the up-coming features with the encoder skip. */
export type SkipMerge = 'concat' | 'sum';
/** Normalisation after each convolution inside the blocks. */
export type NormType = 'batch' | 'instance' | 'none';

/**
 * Everything that defines the network's architecture. Validated by {@link validateModelConfig}
 * before any tensor is created. Channels-last (NDHWC) throughout.
 */
export interface ModelConfig {
  /** Free text shown by `trainer model`. */
  description?: string;
  /** Image channels (1 for CT). */
  inChannels: number;
  /** Output classes including background (10 = 9 organs + background). */
  numClasses: number;
  /** Stride-2 down-sampling layers, in the first `pools` encoder stages (1-4; AnatomyNet: 1). */
  pools: number;
  /** Output channels of each encoder stage (length = number of stages, >= pools). */
  filters: number[];
  /** Blocks per encoder stage and per decoder stage (paper 1; public code 2). */
  blocksPerStage: number;
  block: BlockType;
  /** SE reduction ratio r: hidden units = max(floor(C / r), 1). Used by `se-residual` only. */
  seRatio: number;
  norm: NormType;
  /** Normalise after the stride-2 down-sampling convolutions too (ref_anatomynet.py: no). */
  downsampleNorm: boolean;
  merge: SkipMerge;
  /** Negative slope of every LeakyReLU. */
  leakySlope: number;
  /** Channels of the output block's transposed convolution back to full resolution (paper 16). */
  outputUpFilters: number;
  /** Channels of the output block's 3x3x3 convolution after concatenating the input (paper 16). */
  outputFilters: number;
  /** BatchNorm running-statistics momentum, PyTorch convention (new = (1-m) old + m batch). */
  bnMomentum: number;
  /** Epsilon added to the variance in batch and instance normalisation. */
  normEps: number;
}

/** Defaults: the architecture of shared/bench/ref_anatomynet.py (871,748 parameters). */
export const DEFAULT_MODEL_CONFIG: Readonly<ModelConfig> = Object.freeze({
  inChannels: 1,
  numClasses: 10,
  pools: 1,
  filters: [32, 40, 48, 56],
  blocksPerStage: 1,
  block: 'se-residual',
  seRatio: 4,
  norm: 'batch',
  downsampleNorm: false,
  merge: 'concat',
  leakySlope: 0.01,
  outputUpFilters: 16,
  outputFilters: 16,
  bnMomentum: 0.1,
  normEps: 1e-5,
});

/** A configuration field with a bad value; `field` and `value` say which. */
export class ModelConfigError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ''}model config field "${field}" = ${JSON.stringify(value)}: ${reason}`);
    this.name = 'ModelConfigError';
  }
}

const KEYS = Object.keys(DEFAULT_MODEL_CONFIG).concat('description');

function int(raw: Record<string, unknown>, field: string, lo: number, hi: number): void {
  const v = raw[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ModelConfigError(field, v, `must be an integer in [${lo}, ${hi}]`);
  }
}

function real(raw: Record<string, unknown>, field: string, lo: number, hi: number, loOpen = false): void {
  const v = raw[field];
  const bad = typeof v !== 'number' || !Number.isFinite(v) || v > hi || (loOpen ? v <= lo : v < lo);
  if (bad) throw new ModelConfigError(field, v, `must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}]`);
}

function oneOf(raw: Record<string, unknown>, field: string, options: readonly unknown[]): void {
  if (!options.includes(raw[field])) {
    throw new ModelConfigError(field, raw[field], `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}`);
  }
}

/**
 * Fills defaults into a partial config and validates every field.
 * @throws ModelConfigError naming the first bad field and its value (unknown fields included).
 */
export function validateModelConfig(input: unknown): ModelConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ModelConfigError('(root)', input, 'must be a JSON object');
  }
  for (const key of Object.keys(input)) {
    if (!KEYS.includes(key)) throw new ModelConfigError(key, (input as any)[key], 'unknown field');
  }
  const raw: Record<string, unknown> = { ...DEFAULT_MODEL_CONFIG, ...input };
  if (raw.description !== undefined && typeof raw.description !== 'string') {
    throw new ModelConfigError('description', raw.description, 'must be a string');
  }
  int(raw, 'inChannels', 1, 64);
  int(raw, 'numClasses', 2, 256);
  int(raw, 'pools', 1, 4);
  const filters = raw.filters;
  if (!Array.isArray(filters) || filters.length < 1 || filters.length > 8) {
    throw new ModelConfigError('filters', filters, 'must be an array of 1 to 8 channel counts');
  }
  filters.forEach((f, i) => {
    if (typeof f !== 'number' || !Number.isInteger(f) || f < 1 || f > 4096) {
      throw new ModelConfigError(`filters[${i}]`, f, 'must be an integer in [1, 4096]');
    }
  });
  if ((raw.pools as number) > filters.length) {
    throw new ModelConfigError('pools', raw.pools, `must not exceed the number of stages (filters.length = ${filters.length})`);
  }
  int(raw, 'blocksPerStage', 1, 8);
  oneOf(raw, 'block', ['plain', 'residual', 'se-residual']);
  int(raw, 'seRatio', 1, 4096);
  oneOf(raw, 'norm', ['batch', 'instance', 'none']);
  oneOf(raw, 'downsampleNorm', [true, false]);
  oneOf(raw, 'merge', ['concat', 'sum']);
  real(raw, 'leakySlope', 0, 1);
  int(raw, 'outputUpFilters', 1, 4096);
  int(raw, 'outputFilters', 1, 4096);
  real(raw, 'bnMomentum', 0, 1, true);
  real(raw, 'normEps', 0, 1, true);
  return { ...(raw as unknown as ModelConfig), filters: [...filters] };
}

/**
 * Reads and validates a model config JSON file.
 * @throws ModelConfigError with the file name (bad JSON is reported as field "(root)").
 */
export function readModelConfigFile(file: string): ModelConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelConfigError('(root)', null, `cannot read JSON: ${(e as Error).message}`, file);
  }
  try {
    return validateModelConfig(parsed);
  } catch (e) {
    if (e instanceof ModelConfigError) throw new ModelConfigError(e.field, e.value, e.reason, file);
    throw e;
  }
}
