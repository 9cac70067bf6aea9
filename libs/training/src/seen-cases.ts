/**
 * Which cases a model has seen: a run folder records, when the run starts, the cases of its training and
 * validation splits by their input digests (the source files, contours included) and image digests (the
 * scan alone). Measuring a model on another dataset (a newer version of the same, a clinic's export of
 * the same patients) then finds the cases it trained on or was selected by, whatever their ids there:
 * their scores are not a test.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@anatomynet/data';
import { ORGANS, type OrganKey } from '@anatomynet/curation';
import type { Dataset } from './dataset';

/** Beside run-config.json in every run folder started since it was introduced. */
export const TRAINING_CASES_FILE = 'training-cases.json';

export interface SeenCase {
  caseId: string;
  inputDigest: string;
  imageDigest?: string;
  /** Each annotated organ's volume (mL): what `segment` judges a predicted organ's volume against. Absent before session 36. */
  volumeMl?: Partial<Record<OrganKey, number>>;
}

export interface TrainingCases {
  /** The dataset the run trained on (its manifest's digest). */
  manifestDigest: string;
  train: SeenCase[];
  validation: SeenCase[];
}

/**
 * A run's training and validation cases as its folder records them: `ids` those it used (`runCases`: the
 * part of the training split its `data.subset` keeps, or its cross-validation fold's), default the
 * dataset's splits.
 */
export function trainingCasesOf(ds: Dataset, ids: { train: readonly string[]; validation: readonly string[] } = ds.splits): TrainingCases {
  const record = (id: string): SeenCase => {
    const c = ds.cases.get(id)!;
    // (a manifest written by another tool may hold no volumes)
    const volumeMl = Object.fromEntries(ORGANS.filter((o) => c.availability[o.key] === 'annotated' && c.volumeMl?.[o.key] > 0).map((o) => [o.key, c.volumeMl[o.key]]));
    return { caseId: id, inputDigest: c.inputDigest, ...(c.imageDigest ? { imageDigest: c.imageDigest } : {}), volumeMl };
  };
  return { manifestDigest: ds.manifestDigest, train: [...ids.train].sort().map(record), validation: [...ids.validation].sort().map(record) };
}

export function writeTrainingCases(runDir: string, ds: Dataset, ids?: { train: readonly string[]; validation: readonly string[] }): void {
  writeFileAtomic(join(runDir, TRAINING_CASES_FILE), `${JSON.stringify(trainingCasesOf(ds, ids), null, 1)}\n`);
}

/** A run folder's record, or undefined for a run started before it was kept (or a damaged file). */
export function readTrainingCases(runDir: string): TrainingCases | undefined {
  const path = join(runDir, TRAINING_CASES_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const t = JSON.parse(readFileSync(path, 'utf8')) as TrainingCases;
    return Array.isArray(t.train) && Array.isArray(t.validation) ? t : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The organ volumes (mL) of the cases the models of `runDirs` trained on (their training splits; a case
 * two members share counted once), per organ: the cohort `segment` judges predicted volumes against.
 * Empty for runs whose records predate the volumes.
 */
export function trainingVolumes(runDirs: readonly string[]): Partial<Record<OrganKey, number[]>> {
  const cases = new Map<string, SeenCase>();
  for (const runDir of runDirs) for (const c of readTrainingCases(runDir)?.train ?? []) if (c.volumeMl) cases.set(c.inputDigest, c);
  const out: Partial<Record<OrganKey, number[]>> = {};
  for (const c of [...cases.values()].sort((a, b) => (a.inputDigest < b.inputDigest ? -1 : 1))) {
    for (const [organ, ml] of Object.entries(c.volumeMl!) as [OrganKey, number][]) (out[organ] ??= []).push(ml);
  }
  return out;
}

/** An evaluated case a model saw: in which split of which run, and by which digest it was recognised. */
export interface SeenMatch {
  caseId: string;
  split: 'train' | 'validation';
  runDir: string;
  /** The run's id for the case in its own dataset. */
  asCase: string;
  /** input: the same source files; image: the same scan under other contours. */
  by: 'input' | 'image';
}

export interface SeenCheck {
  /** Per evaluated case that some run saw: the first match, runs in order, each run's train before its validation. */
  seen: Map<string, SeenMatch>;
  /** Run folders without a record: which cases they saw is unknown. */
  unknown: string[];
}

/** Which of `caseIds` of `ds` the runs of `runDirs` trained on or were selected by. Pure but for reading the records. */
export function seenCases(ds: Dataset, caseIds: readonly string[], runDirs: readonly string[]): SeenCheck {
  const seen = new Map<string, SeenMatch>();
  const unknown: string[] = [];
  for (const runDir of runDirs) {
    const record = readTrainingCases(runDir);
    if (!record) {
      unknown.push(runDir);
      continue;
    }
    for (const split of ['train', 'validation'] as const) {
      const byInput = new Map(record[split].map((c) => [c.inputDigest, c.caseId]));
      const byImage = new Map(record[split].filter((c) => c.imageDigest).map((c) => [c.imageDigest!, c.caseId]));
      for (const id of caseIds) {
        const c = ds.cases.get(id);
        if (!c || seen.has(id)) continue;
        const asInput = byInput.get(c.inputDigest);
        const asImage = c.imageDigest ? byImage.get(c.imageDigest) : undefined;
        if (asInput !== undefined) seen.set(id, { caseId: id, split, runDir, asCase: asInput, by: 'input' });
        else if (asImage !== undefined) seen.set(id, { caseId: id, split, runDir, asCase: asImage, by: 'image' });
      }
    }
  }
  return { seen, unknown };
}
