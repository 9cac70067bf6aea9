/**
 * Reads a published dataset folder (what the curator promises the trainer: nnU-Net v2 layout plus
 * manifest.json and splits.json; see libs/curation manifest.ts) and prepares cases for the network.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNifti, type Mat3, type Vec3, type Volume } from '@anatomynet/data';
import { ORGANS, openDataset as openPublishedDataset, type CaseRecord, type PublishedDataset } from '@anatomynet/curation';
import { windowHu, type HuWindow } from './intensity';
import { canonicalOrientation, canonicalShape, canonicalSpacing, toCanonical, type Orientation } from './orientation';
import { resampledShape, resampleLinear, resampleNearest } from './resample';
import type { RunConfig } from './run-config';

/** The dataset folder is missing a file, or a file is not what the curator writes. */
export class DatasetError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'DatasetError';
  }
}

export interface Dataset extends PublishedDataset {
  /** SHA-256 of manifest.json's bytes: a run records it, and refuses a dataset that changed under it. */
  manifestDigest: string;
}

export function manifestDigestOf(dir: string): string {
  return createHash('sha256').update(readFileSync(join(dir, 'manifest.json'))).digest('hex');
}

/** Opens a curated dataset (parsed and checked by libs/curation's reader) and digests its manifest. @throws CurationInputError. */
export function openDataset(dir: string): Dataset {
  return { ...openPublishedDataset(dir), manifestDigest: manifestDigestOf(dir) };
}

/**
 * organ index 1..9 -> annotated (m_i of the masked loss, and which organs are scored). An empty structure
 * counts as missing: in clinical structure sets it is almost always an unused template entry while the
 * organ is in the image, so treating it as "no organ here" would teach the network to erase a real organ
 * and score a correct prediction as 0.
 */
export function annotatedOrgans(c: CaseRecord): boolean[] {
  return ORGANS.map((o) => c.availability[o.key] === 'annotated');
}

/** A case ready for the network: windowed image in [0, 1] and labels on the (possibly resampled) training grid. */
export interface PreparedCase {
  caseId: string;
  /** [nx, ny, nz] of the training grid. */
  shape: Vec3;
  spacingMm: Vec3;
  image: Float32Array;
  labels: Uint8Array;
  /** Per organ 1..9, whether the case annotates it (m_i(c) of the masked loss). */
  annotated: boolean[];
  /** The published grid, for evaluation on the case's own voxels; its CT numbers when asked for (`keepSourceHu`). */
  source: { shape: Vec3; spacingMm: Vec3; origin: Vec3; direction: Mat3; labels: Uint8Array; hu?: Volume['data'] };
  /** How the source grid was turned to the canonical (LPS) axis order the network sees. */
  orientation: Orientation;
}

export interface PrepareOptions {
  huWindow: HuWindow;
  spacingMm: [number, number, number] | null;
  /** Keep the CT numbers on the published grid in `source.hu` (evaluation's contour checks; training does without). */
  keepSourceHu?: boolean;
}

/** The geometry of a prepared case's published grid, as a Volume's fields (to write or check volumes on it). */
export function sourceGrid(c: PreparedCase): Pick<Volume, 'shape' | 'spacing' | 'origin' | 'direction'> {
  return { shape: c.source.shape, spacing: c.source.spacingMm, origin: c.source.origin, direction: c.source.direction };
}

/** Reads one case's image and labels and puts them on the training grid. */
export function prepareCase(ds: Dataset, caseId: string, opts: PrepareOptions): PreparedCase {
  const rec = ds.cases.get(caseId);
  if (!rec) throw new DatasetError(join(ds.dir, 'manifest.json'), `no case "${caseId}"`);
  // Read here rather than with curation's loadCase, which insists on int16: float CT from other tools trains too.
  const img: Volume = readNifti(join(ds.dir, rec.image));
  const lab: Volume = readNifti(join(ds.dir, rec.label));
  if (img.shape.join() !== lab.shape.join()) {
    throw new DatasetError(join(ds.dir, rec.label), `shape ${lab.shape.join('x')} differs from the image's ${img.shape.join('x')}`);
  }
  const sourceLabels = lab.data instanceof Uint8Array ? lab.data : Uint8Array.from(lab.data as ArrayLike<number>);
  const source = { shape: img.shape, spacingMm: img.spacing, origin: img.origin, direction: img.direction, labels: sourceLabels, ...(opts.keepSourceHu ? { hu: img.data } : {}) };
  const { image, labels, shape, spacingMm, orientation } = toNetworkGrid(img, sourceLabels, opts);
  return { caseId, shape, spacingMm, image, labels, annotated: annotatedOrgans(rec), source, orientation };
}

/**
 * A volume as the network sees it: windowed to [0, 1], turned to the canonical LPS axis order, and
 * resampled to the training spacing when one is set. Training, validation and inference all use this.
 */
export function toNetworkGrid(img: Volume, labels: Uint8Array | null, opts: PrepareOptions) {
  const orientation = canonicalOrientation(img.direction);
  const cShape = canonicalShape(img.shape, orientation);
  const cSpacing = canonicalSpacing(img.spacing, orientation);
  const image = toCanonical(windowHu(img.data as ArrayLike<number>, opts.huWindow), img.shape, orientation);
  const cLabels = labels ? toCanonical(labels, img.shape, orientation) : new Uint8Array(0);
  if (!opts.spacingMm) return { image, labels: cLabels, shape: cShape, spacingMm: cSpacing, orientation, canonicalShape: cShape };
  const shape = resampledShape(cShape, cSpacing, opts.spacingMm);
  const spacingMm = [0, 1, 2].map((a) => (cShape[a] * cSpacing[a]) / shape[a]) as Vec3;
  return {
    image: resampleLinear(image, cShape, shape),
    labels: labels ? resampleNearest(cLabels, cShape, shape) : cLabels,
    shape,
    spacingMm,
    orientation,
    canonicalShape: cShape,
  };
}

/** Training case ids of the run's subset, sorted. */
export function trainingCases(ds: Dataset, subset: 'all' | 'pddca'): string[] {
  return keepSubset(ds, ds.splits.train, subset);
}

const keepSubset = (ds: Dataset, ids: readonly string[], subset: 'all' | 'pddca') => ids.filter((id) => subset === 'all' || ds.cases.get(id)!.sourceKind === 'pddca').sort();

/**
 * Cross-validation folds over the dataset's training and validation splits together, by patient (a
 * patient's cases share a fold): patients in the order of a hash of their pseudonym, dealt round-robin
 * into `k` folds, so fold sizes differ by one patient at most and the folds do not depend on case ids or
 * file order. Fold `index` (1..k) is returned as the validation cases, the others as training cases (of
 * `subset`). The test split never enters a fold.
 * @throws DatasetError when there are fewer patients than folds.
 */
export function foldCases(ds: Dataset, fold: { k: number; index: number }, subset: 'all' | 'pddca' = 'all'): { train: string[]; validation: string[] } {
  const pool = [...ds.splits.train, ...ds.splits.validation];
  const byPatient = new Map<string, string[]>();
  for (const id of pool) {
    const p = ds.cases.get(id)?.patientId ?? id;
    byPatient.set(p, [...(byPatient.get(p) ?? []), id]);
  }
  if (byPatient.size < fold.k) {
    throw new DatasetError(join(ds.dir, 'splits.json'), `${byPatient.size} patients in the training and validation splits cannot make ${fold.k} folds`);
  }
  const rank = new Map([...byPatient.keys()].map((p) => [p, `${createHash('sha256').update(`fold:${p}`).digest('hex')}:${p}`]));
  const patients = [...byPatient.keys()].sort((a, b) => (rank.get(a)! < rank.get(b)! ? -1 : 1));
  const inFold = (j: number) => j % fold.k === fold.index - 1;
  const ids = (keep: (j: number) => boolean) => patients.filter((_, j) => keep(j)).flatMap((p) => byPatient.get(p)!);
  return { train: keepSubset(ds, ids((j) => !inFold(j)), subset), validation: ids(inFold).sort() };
}

/** The cases a run trains on and selects its model by: its fold's (`data.fold`), or the dataset's splits. */
export function runCases(ds: Dataset, data: Pick<RunConfig['data'], 'subset' | 'fold'>): { train: string[]; validation: string[] } {
  if (data.fold) return foldCases(ds, data.fold, data.subset);
  return { train: trainingCases(ds, data.subset), validation: [...ds.splits.validation] };
}
