/**
 * A trained model on another curated dataset (external validation: a clinic's own contours, PDDCA for a
 * model trained elsewhere), measured as the test split is at the end of a run: each case on its own grid,
 * organs the case annotates only, the run config's tolerance and component filtering.
 */
import { buildContourReview, type AnnotationFinding, type ReviewEntry } from '@anatomynet/curation';
import { writeNifti } from '@anatomynet/data';
import { join } from 'node:path';
import { openDataset, prepareCase, sourceGrid, type Dataset } from './dataset';
import { evaluateCase, nanMean, type OrganResult, type Predictor } from './evaluate';
import type { RunConfig } from './run-config';
import { seenCases, trainingVolumes, type SeenMatch } from './seen-cases';
import { contourFindings, type ContourFinding } from './segment';
import type { TileOptions } from './sliding-window';

export type DatasetSplit = 'all' | 'train' | 'validation' | 'test';

export interface CaseEvaluation {
  caseId: string;
  /** One row per organ the case annotates. */
  rows: OrganResult[];
  /** The prediction written on the case's grid, when asked for. */
  predictionPath?: string;
  /** The curator's per-case checks on the predicted contours (every organ drawn, annotated or not). */
  contourFindings?: ContourFinding[];
  /** With `review`: each finding with its images (curation `buildContourReview`). */
  review?: ReviewEntry[];
  error?: string;
}

export interface DatasetEvaluation {
  dataset: string;
  /** SHA-256 of the dataset's manifest: which dataset version was measured. */
  manifestDigest: string;
  split: DatasetSplit;
  cases: CaseEvaluation[];
  /** Cases of the split the model's runs trained on or were selected by (`seenBy`), measured or, with `excludeSeen`, left out. */
  seen: SeenMatch[];
  excludedSeen: boolean;
  /** Run folders that keep no record of their training cases (started before it was kept). */
  seenUnknown: string[];
  /**
   * What the curator's annotation checks found in the measured cases: their ground truth may be wrong
   * (sides swapped, a stray contour...), so their scores may be too. Null when the dataset predates the checks.
   */
  annotationFindings: AnnotationFinding[] | null;
  /** Whether the flagged case organs were left out of `cases`' rows (`excludeFlagged`). */
  excludedFlagged: boolean;
  /** Whether each prediction averaged the left-right mirrored CT's (test-time mirroring). */
  mirror: boolean;
  /** The tiles of sliding-window inference, or null for whole volumes. */
  tile: TileOptions | null;
}

/** The case ids of a split, sorted ("all": every case of the manifest). */
export function splitCases(ds: Dataset, split: DatasetSplit): string[] {
  const ids = split === 'all' ? [...ds.cases.keys()] : ds.splits[split];
  return [...ids].sort();
}

/**
 * Segments and scores every case of `split`. A case that cannot be read is recorded with its error and the
 * others go on; `predictionsDir` receives `<caseId>.nii.gz` on each case's grid.
 */
export async function evaluateDataset(
  model: Predictor,
  cfg: RunConfig,
  datasetDir: string,
  o: {
    split?: DatasetSplit;
    predictionsDir?: string;
    onCase?: (done: number, total: number, c: CaseEvaluation) => void;
    /** The model's run folders (an ensemble's all): their training cases are looked for in the split, and their organ volumes judge the predicted ones. */
    seenBy?: readonly string[];
    /** Leave out the cases they saw, rather than measure them. */
    excludeSeen?: boolean;
    /** Leave out the case organs the curator's annotation checks flagged (their ground truth is in doubt). */
    excludeFlagged?: boolean;
    /** Average each prediction with the left-right mirrored CT's (see `PredictOptions`). */
    mirror?: boolean;
    /** Sliding-window inference over tiles of the network grid (see `PredictOptions`). */
    tile?: TileOptions;
    /** Draw each contour finding (its slices over the CT) for a review page. */
    review?: boolean;
  } = {},
): Promise<DatasetEvaluation> {
  const ds = openDataset(datasetDir);
  const split = o.split ?? 'all';
  const inSplit = splitCases(ds, split);
  const check = seenCases(ds, inSplit, o.seenBy ?? []);
  const ids = inSplit.filter((id) => !(o.excludeSeen && check.seen.has(id)));
  if (!ids.length && check.seen.size) {
    throw new Error(`${datasetDir}: every case of the ${split} split (${check.seen.size}) is one the model trained on or was selected by; nothing is left to measure (another split, or evaluate without --exclude-seen to measure them marked)`);
  }
  const prep = { huWindow: cfg.data.huWindow, spacingMm: cfg.data.spacingMm, keepSourceHu: true };
  const trainingMl = trainingVolumes(o.seenBy ?? []);
  const cases: CaseEvaluation[] = [];
  for (const [i, id] of ids.entries()) {
    let result: CaseEvaluation;
    try {
      const c = prepareCase(ds, id, prep);
      const { rows, labels } = await evaluateCase(model, c, cfg, { mirror: o.mirror, ...(o.tile ? { tile: o.tile } : {}) });
      const grid = sourceGrid(c);
      const ct = { data: c.source.hu!, ...grid };
      const findings = contourFindings(labels, ct, trainingMl);
      result = { caseId: id, rows, contourFindings: findings, ...(o.review && findings.length ? { review: buildContourReview(ct, labels, findings, id).findings } : {}) };
      if (o.predictionsDir) {
        result.predictionPath = join(o.predictionsDir, `${id}.nii.gz`);
        writeNifti(result.predictionPath, { data: labels, ...grid });
      }
    } catch (e) {
      result = { caseId: id, rows: [], error: (e as Error).message };
    }
    cases.push(result);
    o.onCase?.(i + 1, ids.length, result);
  }
  const seen = [...check.seen.values()].sort((a, b) => a.caseId.localeCompare(b.caseId));
  const measured = new Set(ids);
  const annotationFindings = ds.manifest.annotationFindings?.filter((f) => measured.has(f.caseId)) ?? null;
  const flagged = new Set((annotationFindings ?? []).flatMap((f) => f.organs.map((organ) => `${f.caseId} ${organ}`)));
  const kept = o.excludeFlagged ? cases.map((c) => ({ ...c, rows: c.rows.filter((r) => !flagged.has(`${c.caseId} ${r.organ}`)) })) : cases;
  return { dataset: datasetDir, manifestDigest: ds.manifestDigest, split, cases: kept, seen, excludedSeen: Boolean(o.excludeSeen), seenUnknown: check.unknown, annotationFindings, excludedFlagged: Boolean(o.excludeFlagged), mirror: Boolean(o.mirror), tile: o.tile ?? null };
}

export interface OrganSummary {
  organ: string;
  /** Cases that annotate the organ. */
  n: number;
  dscMean: number;
  /** Sample SD over cases; NaN below two. */
  dscSd: number;
  /** Over finite values; an empty prediction's infinite HD95 is counted apart. */
  hd95MeanMm: number;
  hd95Infinite: number;
  surfaceDiceMean: number;
}

/** Sample SD over finite values; NaN below two. */
const nanSd = (v: readonly number[]) => {
  const f = v.filter(Number.isFinite);
  const mean = nanMean(f);
  return f.length > 1 ? Math.sqrt(f.reduce((a, b) => a + (b - mean) ** 2, 0) / (f.length - 1)) : NaN;
};

/** Per organ, over the cases that annotate it: DSC mean and SD, HD95 and surface Dice means. */
export function summariseEvaluation(ev: DatasetEvaluation): OrganSummary[] {
  const byOrgan = new Map<string, OrganResult[]>();
  for (const c of ev.cases) for (const r of c.rows) byOrgan.set(r.organ, [...(byOrgan.get(r.organ) ?? []), r]);
  return [...byOrgan].sort(([, a], [, b]) => a[0].label - b[0].label).map(([organ, rows]) => {
    const dsc = rows.map((r) => r.dsc);
    return {
      organ,
      n: rows.length,
      dscMean: nanMean(dsc),
      dscSd: nanSd(dsc),
      hd95MeanMm: nanMean(rows.map((r) => r.hd95Mm)),
      hd95Infinite: rows.filter((r) => r.hd95Mm === Infinity).length,
      surfaceDiceMean: nanMean(rows.map((r) => r.surfaceDice)),
    };
  });
}
