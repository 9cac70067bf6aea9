/**
 * A run folder (`<runs>/<runId>/`): run-config.json, training-cases.json (seen-cases.ts), best/ (the
 * validation-selected checkpoint), checkpoints/epoch-N/, predictions/<case>.nii.gz. This reads the
 * trained model back for inference.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadModel, type AnatomyNetModel } from '@anatomynet/model';
import { configChanges, resolveRunConfig, type RunConfig } from './run-config';
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

/** What every member of an ensemble must share: one input grid and one output, measured one way. */
const SHARED_BY_ENSEMBLES = ['model.numClasses', 'data.huWindow', 'data.spacingMm', 'evaluation'];

/**
 * The best models of several run folders, as one ensemble (their class probabilities averaged): seed
 * replicates of a grid row, or any runs that see the same input grid. A folder whose config differs in
 * what the members must share (classes, HU window, training spacing, evaluation settings) is refused,
 * naming the fields; architectures and training may differ.
 */
export function loadRunEnsemble(runDirs: readonly string[]): { models: AnatomyNetModel[]; config: RunConfig; configs: RunConfig[]; runDirs: string[] } {
  if (!runDirs.length) throw new RangeError('loadRunEnsemble: no run folder');
  const loaded: { model: AnatomyNetModel; config: RunConfig }[] = [];
  try {
    for (const dir of runDirs) {
      const member = loadRunModel(dir);
      loaded.push(member);
      const differences = configChanges(loaded[0].config, member.config).filter((c) => SHARED_BY_ENSEMBLES.some((f) => c === f || c.startsWith(`${f}.`) || c.startsWith(`${f}:`)));
      if (differences.length) throw new RunFolderError(dir, `cannot join an ensemble with ${runDirs[0]}: its members must share ${SHARED_BY_ENSEMBLES.join(', ')} (${differences.join('; ')})`);
    }
  } catch (e) {
    for (const m of loaded) m.model.dispose();
    throw e;
  }
  return { models: loaded.map((m) => m.model), config: loaded[0].config, configs: loaded.map((m) => m.config), runDirs: [...runDirs] };
}

/**
 * Why test-time mirroring (`PredictOptions.mirror`) does not suit these runs, or undefined when it does: a
 * model trained without left-right flips never saw a mirrored head, nor learned that a mirrored left parotid
 * is a right one, so its view of the mirrored CT would drag the average down (nnU-Net likewise mirrors only
 * along the axes it trained with).
 */
export function mirrorRefusal(configs: readonly RunConfig[], runDirs: readonly string[]): string | undefined {
  const unflipped = runDirs.filter((_, i) => !((configs[i].data.augment?.flipLR ?? 0) > 0));
  if (!unflipped.length) return undefined;
  return `--mirror needs models trained with left-right flips (data.augment.flipLR above 0, as in experiments/fig6-final.json); trained without: ${unflipped.join(', ')}. Leave out --mirror for ${unflipped.length === runDirs.length ? 'this model' : 'this ensemble'}`;
}

/**
 * ROIGenerationDescription of a segmentation (DICOM LO: 64 characters at most): the run folder's name,
 * or the ensemble's, shortened to fit.
 */
export function generationDescriptionOf(runDirs: readonly string[]): string {
  const names = runDirs.map((d) => basename(d.replace(/[\\/]+$/, '')));
  const fit = (s: string) => (s.length <= 64 ? s : `${s.slice(0, 61)}...`);
  if (names.length === 1) return fit(`anatomynet-ts run ${names[0]}`);
  const full = `anatomynet-ts ensemble of ${names.length} runs: ${names.map((n) => n.slice(0, 8)).join(' ')}`;
  return full.length <= 64 ? full : `anatomynet-ts ensemble of ${names.length} runs`;
}
