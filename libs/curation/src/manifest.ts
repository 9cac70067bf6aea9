/**
 * The published dataset folder: what the curator promises the trainer. nnU-Net v2 raw layout plus a
 * manifest, splits, a datasheet and checksums. Nothing here names a patient: case and patient ids are
 * pseudonyms; the map back to the sources lives outside the folder.
 *
 * ```
 * <out>/dataset.json                    nnU-Net v2: channel_names, labels, numTraining, file_ending
 * <out>/imagesTr/<caseId>_0000.nii.gz   CT, int16 HU, cropped
 * <out>/labelsTr/<caseId>.nii.gz        uint8 labels 0..9 on the image grid
 * <out>/manifest.json                   Manifest (below)
 * <out>/splits.json                     Splits: train / validation / test case ids, by patient
 * <out>/names.json                      NameReportRow[]: every raw structure name, cases, mapping
 * <out>/DATASHEET.md                    sources, counts per organ, availability, known issues
 * <out>/SHA256SUMS                      sha256 of every other file above, sorted by path
 * <out>.private/                        source map, per-file accounting, case cache (not for publishing)
 * ```
 */
import type { Mat3, Vec3 } from '@anatomynet/data';
import type { Availability, Overlap } from './labels';
import type { OrganKey } from './organs';
import type { CropBox } from './crop';
import type { NameStatus } from './names';

export const MANIFEST_SCHEMA_VERSION = 1;
export const TOOL_NAME = '@anatomynet/curator';
/** Bump when outputs for the same inputs change: every case is then curated again. */
export const TOOL_VERSION = '0.1.0';
export const FILE_ENDING = '.nii.gz';

export type SourceKind = 'dicom' | 'pddca';

export interface StructureRecord {
  /** Raw structure name as found in the source. */
  name: string;
  organ: OrganKey | null;
  status: NameStatus | 'error';
  /** Why it was not used (unmapped, multi-valued mask, rasterised empty...). */
  reason: string;
  /** Voxels of this structure before overlaps were resolved (0 when not used). */
  voxels: number;
}

export interface CaseRecord {
  caseId: string;
  /** Pseudonymous patient id: cases of one patient share it (splits are by patient). */
  patientId: string;
  sourceKind: SourceKind;
  /** sha256 over the case's input files' contents (and roles). */
  inputDigest: string;
  /** Relative paths inside the dataset folder. */
  image: string;
  label: string;
  /** Geometry of the published image and label (identical): [nx, ny, nz], mm, LPS. */
  shape: Vec3;
  spacing: Vec3;
  origin: Vec3;
  direction: Mat3;
  /** Shape of the source CT before the crop. */
  sourceShape: Vec3;
  /** The crop in source voxel indices (start inclusive, end exclusive). */
  cropBox: CropBox;
  cropMethod: 'auto' | 'manual';
  /** How the RTSTRUCT was paired with its CT (DICOM only). */
  pairing?: 'reference' | 'frame-of-reference';
  /** PatientIdentityRemoved=YES in the source (DICOM); null when the source format cannot say. */
  identityRemoved: boolean | null;
  availability: Record<OrganKey, Availability>;
  /** Voxels per organ in the published label volume. */
  voxels: Record<OrganKey, number>;
  volumeMl: Record<OrganKey, number>;
  /** Voxels claimed by two organs before the smaller-organ-wins rule. */
  overlaps: Overlap[];
  structures: StructureRecord[];
  warnings: string[];
  /** Items of this case not used, with the reason (e.g. a structure whose mask is multi-valued). */
  skipped: { item: string; reason: string }[];
}

/** An input item that produced no case (no paths: `ref` indexes the private inputs list). */
export interface SkippedInput {
  ref: string;
  kind: 'file' | 'ct-series' | 'rtstruct' | 'pddca-case';
  reason: string;
}

export interface Manifest {
  schemaVersion: typeof MANIFEST_SCHEMA_VERSION;
  tool: { name: string; version: string };
  /** sha256 over every case's inputDigest and the configuration (names file, crop file, options). */
  inputsDigest: string;
  configDigest: string;
  labels: Record<string, number>;
  organs: { index: number; key: OrganKey; tg263: string }[];
  numCases: number;
  /** Every input file, counted: used by a case, or skipped (see `skipped`). */
  inputs: { files: number; used: number; skipped: number };
  /** Cases sorted by caseId. */
  cases: CaseRecord[];
  skipped: SkippedInput[];
  /** Sources flagged because PatientIdentityRemoved is not YES (case ids). */
  identityNotRemoved: string[];
}

/** A small structural check of a parsed manifest (used by validate and by readers). */
export function checkManifestShape(m: unknown): string[] {
  const problems: string[] = [];
  const o = m as Partial<Manifest>;
  if (!o || typeof o !== 'object') return ['manifest is not a JSON object'];
  if (o.schemaVersion !== MANIFEST_SCHEMA_VERSION) problems.push(`schemaVersion ${String(o.schemaVersion)} is not ${MANIFEST_SCHEMA_VERSION}`);
  if (!Array.isArray(o.cases)) return [...problems, 'cases is not an array'];
  for (const c of o.cases) {
    for (const k of ['caseId', 'patientId', 'image', 'label', 'inputDigest'] as const) {
      if (typeof c?.[k] !== 'string') problems.push(`case ${String(c?.caseId)}: ${k} missing`);
    }
    for (const k of ['shape', 'spacing', 'origin'] as const) {
      if (!Array.isArray(c?.[k]) || c[k].length !== 3) problems.push(`case ${String(c?.caseId)}: ${k} is not 3 numbers`);
    }
    if (!c?.availability || typeof c.availability !== 'object') problems.push(`case ${String(c?.caseId)}: availability missing`);
  }
  return problems;
}
