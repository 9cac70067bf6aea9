/**
 * Reading a published dataset folder: what the trainer calls. `openDataset` parses and checks the
 * index files; `loadCase` reads one case's image and label (use `validateDataset` for a full check).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNifti, type Volume } from '@anatomynet/data';
import { CurationInputError } from './errors';
import { checkManifestShape, type CaseRecord, type Manifest } from './manifest';
import type { Splits } from './splits';

/** dataset.json as written by the curator (nnU-Net v2 raw). */
export interface NnunetDatasetJson {
  channel_names: Record<string, string>;
  labels: Record<string, number>;
  numTraining: number;
  file_ending: string;
  name?: string;
  description?: string;
}

export interface PublishedDataset {
  dir: string;
  dataset: NnunetDatasetJson;
  manifest: Manifest;
  splits: Splits & { schemaVersion: number };
  /** Case records by id. */
  cases: ReadonlyMap<string, CaseRecord>;
}

function readJson<T>(path: string): T {
  if (!existsSync(path)) throw new CurationInputError(path, 'missing (not a published dataset folder?)');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new CurationInputError(path, `not valid JSON (${(e as Error).message})`);
  }
}

/** @throws CurationInputError when an index file is missing or malformed. */
export function openDataset(dir: string): PublishedDataset {
  const dataset = readJson<NnunetDatasetJson>(join(dir, 'dataset.json'));
  const manifest = readJson<Manifest>(join(dir, 'manifest.json'));
  const splits = readJson<PublishedDataset['splits']>(join(dir, 'splits.json'));
  const problems = checkManifestShape(manifest);
  if (problems.length) throw new CurationInputError(join(dir, 'manifest.json'), problems.join('; '));
  const cases = new Map(manifest.cases.map((c) => [c.caseId, c]));
  for (const set of ['train', 'validation', 'test'] as const) {
    if (!Array.isArray(splits[set])) throw new CurationInputError(join(dir, 'splits.json'), `${set} is not a list`);
    for (const id of splits[set]) if (!cases.has(id)) throw new CurationInputError(join(dir, 'splits.json'), `${set} names unknown case ${id}`);
  }
  return { dir, dataset, manifest, splits, cases };
}

/**
 * One case's CT (int16 HU) and labels (uint8, 0 background, 1..9 organs) on the same grid.
 * @throws CurationInputError for an unknown case id or a file of the wrong type; VolumeIOError from the reader.
 */
export function loadCase(ds: PublishedDataset, caseId: string): { record: CaseRecord; image: Volume<Int16Array>; label: Volume<Uint8Array> } {
  const record = ds.cases.get(caseId);
  if (!record) throw new CurationInputError(ds.dir, `no case ${caseId} in the manifest`);
  const image = readNifti(join(ds.dir, record.image));
  const label = readNifti(join(ds.dir, record.label));
  if (!(image.data instanceof Int16Array)) throw new CurationInputError(join(ds.dir, record.image), 'image is not int16');
  if (!(label.data instanceof Uint8Array)) throw new CurationInputError(join(ds.dir, record.label), 'label is not uint8');
  return { record, image: image as Volume<Int16Array>, label: label as Volume<Uint8Array> };
}
