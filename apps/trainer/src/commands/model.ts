import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { formatSummary, MODEL_CONFIGS_DIR, readModelConfigFile, summarizeModel } from '@anatomynet/model';

const DEFAULT_CONFIG = join(MODEL_CONFIGS_DIR, 'anatomynet-ref.json');

interface ModelArgs {
  config: string;
  input: string;
  detail: boolean;
}

/** Parses "D,H,W" into three positive integers. */
export function parseInputShape(text: string): number[] {
  const parts = text.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((p) => !Number.isInteger(p) || p < 1)) {
    throw new Error(`--input must be D,H,W (three positive integers), got ${JSON.stringify(text)}`);
  }
  return parts;
}

/** `trainer model`: layers, output shapes, parameter count and memory estimates of a config. */
export const modelCommand: CommandModule<object, ModelArgs> = {
  command: 'model',
  describe: 'Print a model config: layers, output shapes for an input size, parameters, activation memory',
  builder: (y) =>
    y
      .option('config', { type: 'string', default: DEFAULT_CONFIG, describe: 'model config JSON (libs/model/configs/*.json)' })
      .option('input', { type: 'string', default: '178,302,225', describe: 'input size D,H,W in voxels (default: the paper average)' })
      .option('detail', { type: 'boolean', default: false, describe: 'one row per op instead of per module' }) as any,
  handler: (args) => {
    const cfg = readModelConfigFile(args.config);
    const summary = summarizeModel(cfg, parseInputShape(args.input));
    console.log(formatSummary(cfg, summary, args.detail));
  },
};
