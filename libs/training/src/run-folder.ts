/**
 * A run folder (`<runs>/<runId>/`): run-config.json, best/ (the validation-selected checkpoint),
 * checkpoints/epoch-N/, predictions/<case>.nii.gz. This reads the trained model back for inference.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type AnatomyNetModel } from '@anatomynet/model';
import { resolveRunConfig, type RunConfig } from './run-config';
import { RUN_CONFIG_FILE } from './trainer';

export class RunFolderError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'RunFolderError';
  }
}

/** The best (validation-selected) model of a run folder and the config it was trained with. */
export function loadRunModel(runDir: string): { model: AnatomyNetModel; config: RunConfig } {
  const cfgPath = join(runDir, RUN_CONFIG_FILE);
  if (!existsSync(cfgPath)) throw new RunFolderError(runDir, `no ${RUN_CONFIG_FILE}: not a run folder written by \`trainer train\``);
  const bestModel = join(runDir, 'best', 'model');
  if (!existsSync(bestModel)) throw new RunFolderError(runDir, 'no best/ checkpoint yet: the run has not validated once (is it still running, or did it fail early?)');
  const config = resolveRunConfig(JSON.parse(readFileSync(cfgPath, 'utf8')));
  return { model: loadModel(bestModel), config };
}
