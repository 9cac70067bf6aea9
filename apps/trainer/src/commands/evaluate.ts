import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { createProgressBar } from '@anatomynet/cli';
import { checksFlagging, renderContourReviewHtml } from '@anatomynet/curation';
import { writeFileAtomic } from '@anatomynet/data';
import { csvText } from '@anatomynet/reporting';
import { evaluateDataset, summariseEvaluation, type CaseEvaluation, type DatasetEvaluation, type DatasetSplit } from '@anatomynet/training';
import { checkDatasetFiles, fewIds, loadModelsOf, makeOutputFolder, modelFoldersOf, startBackend, tileOptionsOf, withModelOptions, withBackendOption, type GpuArgs } from '../common';

interface EvaluateArgs extends GpuArgs {
  run?: string[];
  db?: string;
  model?: string[];
  rowSeeds?: string;
  dataset: string;
  split: DatasetSplit;
  out: string;
  predictions: boolean;
  review: boolean;
  excludeSeen: boolean;
  excludeFlagged: boolean;
  mirror: boolean;
  tile?: string;
  tileOverlap: number;
  backend?: string;
  threads?: number;
}

/** What the measurement says of cases the model has seen: none, their list, or why it cannot tell. */
function seenNote(ev: DatasetEvaluation): string {
  const unknown = ev.seenUnknown.length ? ` ${ev.seenUnknown.length} run folder(s) keep no record of their training cases (trained before it was kept): ${ev.seenUnknown.join(', ')}.` : '';
  if (!ev.seen.length) return `no measured case is one the model trained on or was selected by.${unknown}`;
  const list = (split: string) => ev.seen.filter((m) => m.split === split).map((m) => m.caseId);
  // a few ids per split; summary.json lists them all
  const named = ['train', 'validation'].filter((s) => list(s).length).map((s) => `${s}: ${fewIds(list(s))}`).join('; ');
  return ev.excludedSeen
    ? `left out ${ev.seen.length} case(s) the model trained on or was selected by (${named}).${unknown}`
    : `warning: ${ev.seen.length} measured case(s) are ones the model trained on or was selected by (${named}): their scores are not a test (metrics.csv marks them in "seen"; --exclude-seen leaves them out).${unknown}`;
}

/** A warning when the curator flagged measured cases' annotations: their scores may measure the label's error. */
function findingsNote(ev: DatasetEvaluation): string {
  if (ev.annotationFindings === null) return `note: ${ev.dataset} predates the curator's annotation checks (curate it again to run them).`;
  if (!ev.annotationFindings.length) return '';
  const listed = ev.annotationFindings.slice(0, 5).map((f) => `${f.caseId} ${f.check} (${f.organs.join(', ')})`).join('; ');
  const more = ev.annotationFindings.length > 5 ? ` and ${ev.annotationFindings.length - 5} more` : '';
  return ev.excludedFlagged
    ? `left out the case organs of ${ev.annotationFindings.length} annotation finding(s) (${listed}${more}).`
    : `warning: the curator's annotation checks flagged ${ev.annotationFindings.length} finding(s) in measured cases (${listed}${more}): their ground truth may be wrong, and so may their scores (metrics.csv "annotation_finding", summary.json; --exclude-flagged leaves them out).`;
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
        .option('review', { type: 'boolean', default: false, describe: 'also write review.html: each contour the checks flag (metrics.csv contour_finding) drawn over its CT, case by case' })
        .option('exclude-flagged', {
          type: 'boolean',
          default: false,
          describe: "leave out the case organs the curator's annotation checks flagged (their ground truth is in doubt); without it they are measured and marked",
        })
        .option('exclude-seen', {
          type: 'boolean',
          default: false,
          describe: "leave out the cases the model trained on or was selected by (its runs' training and validation cases, found by their source files or scan in this dataset); without it they are measured and marked",
        })
    ) as any,
  handler: async (a) => {
    const runDirs = await modelFoldersOf(a);
    // the files only: the splits' training warnings say nothing about a measurement
    checkDatasetFiles(a.dataset);
    await startBackend(a.backend, a.threads, a);
    const { models, config } = loadModelsOf(runDirs, a.mirror);
    makeOutputFolder(a.out, '--out');
    const bar = createProgressBar('evaluate');
    let ev;
    try {
      ev = await evaluateDataset(models, config, a.dataset, {
        split: a.split,
        predictionsDir: a.predictions ? join(a.out, 'predictions') : undefined,
        seenBy: runDirs,
        excludeSeen: a.excludeSeen,
        excludeFlagged: a.excludeFlagged,
        mirror: a.mirror,
        tile: tileOptionsOf(a),
        review: a.review,
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
    // seen: the split of the model's runs the case was in (train or validation), empty for an unseen case
    const seenAs = new Map(ev.seen.map((m) => [m.caseId, m.split]));
    // annotation_finding: the curator's checks that flagged this organ of this case (its ground truth may be wrong)
    const flagged = (caseId: string, organ: string) => checksFlagging((ev.annotationFindings ?? []).filter((f) => f.caseId === caseId), organ);
    // contour_finding: the same checks on the predicted contour of this organ (the prediction is implausible)
    const doubted = (c: CaseEvaluation, organ: string) => checksFlagging(c.contourFindings ?? [], organ);
    const header = ['case_id', 'organ', 'dsc', 'hd95_mm', 'surface_dice', 'msd_mm', 'tp', 'fp', 'fn', 'seen', 'annotation_finding', 'contour_finding'];
    const lines = ev.cases.flatMap((c) => c.rows.map((r) => [c.caseId, r.organ, r.dsc, r.hd95Mm, r.surfaceDice, r.meanSurfaceDistanceMm, r.tp, r.fp, r.fn, ev.excludedSeen ? '' : (seenAs.get(c.caseId) ?? ''), flagged(c.caseId, r.organ), doubted(c, r.organ)]));
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
      // cases the model's runs trained on or were selected by, measured unless excludedSeen
      seen: ev.seen.map((m) => ({ caseId: m.caseId, split: m.split, run: m.runDir, asCase: m.asCase, by: m.by })),
      excludedSeen: ev.excludedSeen,
      seenUnknown: ev.seenUnknown,
      // the curator's annotation checks' findings in the measured cases (null: the dataset predates them)
      annotationFindings: ev.annotationFindings,
      excludedFlagged: ev.excludedFlagged,
      // the same checks on the model's contours: which predictions to look at (every organ drawn)
      contourFindings: ev.cases.flatMap((c) => (c.contourFindings ?? []).map((f) => ({ caseId: c.caseId, ...f }))),
      // test-time mirroring: each prediction averaged with the left-right mirrored CT's
      mirror: ev.mirror,
      // sliding-window inference: the tiles (network grid voxels, x y z) and their overlap; null: whole volumes
      tile: ev.tile,
      surfaceToleranceMm: config.evaluation.surfaceToleranceMm,
      organs,
    };
    writeFileAtomic(join(a.out, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
    if (a.review) {
      const measured = ev.cases.filter((c) => !c.error).length;
      writeFileAtomic(join(a.out, 'review.html'), renderContourReviewHtml({ input: a.dataset, models: runDirs, cases: measured }, { findings: ev.cases.flatMap((c) => c.review ?? []), images: [] }));
    }
    for (const o of organs) {
      const inf = o.hd95Infinite ? ` (+${o.hd95Infinite} empty)` : '';
      console.error(`${o.organ.padEnd(16)} n=${String(o.n).padStart(3)}  DSC ${(100 * o.dscMean).toFixed(1)} ± ${Number.isFinite(o.dscSd) ? (100 * o.dscSd).toFixed(1) : '-'}  HD95 ${Number.isFinite(o.hd95MeanMm) ? `${o.hd95MeanMm.toFixed(1)} mm` : '-'}${inf}  surface Dice ${(100 * o.surfaceDiceMean).toFixed(1)}`);
    }
    for (const c of failed) console.error(`failed: ${c.caseId}: ${c.error}`);
    console.error(seenNote(ev));
    const findings = findingsNote(ev);
    if (findings) console.error(findings);
    const doubtful = summary.contourFindings;
    const doubtfulCases = [...new Set(doubtful.map((f) => f.caseId))];
    if (doubtful.length) console.error(`note: the curator's checks, run on the model's contours, found ${doubtful.length} to look at in ${doubtfulCases.length} case(s) (${fewIds(doubtfulCases)}): metrics.csv "contour_finding", summary.json "contourFindings".`);
    console.log(JSON.stringify(summary));
    if (failed.length) process.exitCode = 1;
  },
};
