import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { createProgressBar } from '@anatomynet/cli';
import { writeFileAtomic } from '@anatomynet/data';
import { csvText } from '@anatomynet/reporting';
import { evaluateDataset, loadRunEnsemble, summariseEvaluation, type DatasetSplit } from '@anatomynet/training';
import { checkDatasetFiles, makeOutputFolder, modelFoldersOf, startBackend, withModelOptions, withBackendOption, type GpuArgs } from '../common';

interface EvaluateArgs extends GpuArgs {
  run?: string[];
  db?: string;
  model?: string[];
  rowSeeds?: string;
  dataset: string;
  split: DatasetSplit;
  out: string;
  predictions: boolean;
  backend?: string;
  threads?: number;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: 'evaluate',
  describe: "Measure a trained model on a curated dataset (another clinic's contours, PDDCA): per case and organ Dice, HD95, surface Dice on each case's own grid",
  builder: (y) =>
    withBackendOption(
      withModelOptions(y)
        .option('dataset', { type: 'string', demandOption: true, describe: 'curated dataset folder (curator curate --out)' })
        .option('split', { type: 'string', choices: ['all', 'train', 'validation', 'test'], default: 'all', describe: "the dataset's cases to measure (all: external validation on every case)" })
        .option('out', { type: 'string', demandOption: true, describe: 'folder for metrics.csv, summary.json and predictions/' })
        .option('predictions', { type: 'boolean', default: true, describe: 'write each prediction as predictions/<case>.nii.gz (--no-predictions: metrics only)' })
    ) as any,
  handler: async (a) => {
    const runDirs = await modelFoldersOf(a);
    // the files only: the splits' training warnings say nothing about a measurement
    checkDatasetFiles(a.dataset);
    await startBackend(a.backend, a.threads, a);
    const { models, config } = loadRunEnsemble(runDirs);
    if (models.length > 1) console.error(`ensemble of ${models.length} models (class probabilities averaged): ${runDirs.join(', ')}`);
    makeOutputFolder(a.out, '--out');
    const bar = createProgressBar('evaluate');
    let ev;
    try {
      ev = await evaluateDataset(models, config, a.dataset, {
        split: a.split,
        predictionsDir: a.predictions ? join(a.out, 'predictions') : undefined,
        onCase: (done, total, c) => {
          if (c.error) bar.log(`skipped ${c.caseId}: ${c.error}`);
          bar.update(done, total, c.caseId);
        },
      });
    } finally {
      for (const m of models) m.dispose();
    }
    const failed = ev.cases.filter((c) => c.error);
    bar.finish(`${ev.cases.length - failed.length} of ${ev.cases.length} cases measured`);
    const header = ['case_id', 'organ', 'dsc', 'hd95_mm', 'surface_dice', 'msd_mm', 'tp', 'fp', 'fn'];
    const lines = ev.cases.flatMap((c) => c.rows.map((r) => [c.caseId, r.organ, r.dsc, r.hd95Mm, r.surfaceDice, r.meanSurfaceDistanceMm, r.tp, r.fp, r.fn]));
    writeFileAtomic(join(a.out, 'metrics.csv'), csvText([header, ...lines]));
    const organs = summariseEvaluation(ev);
    const summary = {
      // one run folder, or the ensemble's
      model: runDirs.length === 1 ? runDirs[0] : runDirs,
      dataset: ev.dataset,
      manifestDigest: ev.manifestDigest,
      split: ev.split,
      cases: ev.cases.length,
      failed: failed.map((c) => ({ caseId: c.caseId, error: c.error })),
      surfaceToleranceMm: config.evaluation.surfaceToleranceMm,
      organs,
    };
    writeFileAtomic(join(a.out, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
    for (const o of organs) {
      const inf = o.hd95Infinite ? ` (+${o.hd95Infinite} empty)` : '';
      console.error(`${o.organ.padEnd(16)} n=${String(o.n).padStart(3)}  DSC ${(100 * o.dscMean).toFixed(1)} ± ${Number.isFinite(o.dscSd) ? (100 * o.dscSd).toFixed(1) : '-'}  HD95 ${Number.isFinite(o.hd95MeanMm) ? `${o.hd95MeanMm.toFixed(1)} mm` : '-'}${inf}  surface Dice ${(100 * o.surfaceDiceMean).toFixed(1)}`);
    }
    for (const c of failed) console.error(`failed: ${c.caseId}: ${c.error}`);
    console.log(JSON.stringify(summary));
    if (failed.length) process.exitCode = 1;
  },
};
