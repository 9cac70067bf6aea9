/**
 * One case, end to end: load -> map names -> crop -> labels -> write image and label (staged, then
 * renamed into place) -> its manifest record. Runs in a worker or in-process; everything it needs
 * travels in a plain, serialisable CaseTask.
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodeNifti, gzipDeterministic, notHounsfieldReason, writeFileAtomic, type Vec3 } from '@anatomynet/data';
import { CurationInputError } from './errors';
import { computeCropBox, cropVolume, ensureOrgansInside, type CropBox, type CropOptions } from './crop';
import { availabilityOf, buildLabelMap, countLabels, offsetsBounds, unionOffsets, voxelsToMl } from './labels';
import { loadDicomCase, loadPddcaCase, type LoadedCase } from './load';
import { FILE_ENDING, type CaseRecord, type SourceKind, type StructureRecord } from './manifest';
import { mapName, mapSegmentName } from './names';
import { organMeasures } from './organ-measures';
import { ORGANS, type OrganKey } from './organs';
import { sha256Hex } from './hashing';
import { scrub } from './scrub';

export interface CaseTask {
  caseId: string;
  patientId: string;
  sourceKind: SourceKind;
  synthetic: boolean;
  inputDigest: string;
  imageDigest: string;
  /** Digest of everything that determines this case's outputs (inputs, config, tool version). */
  taskDigest: string;
  pddca?: { image: string; structures: string[] };
  dicom?: { ctFiles: string[]; rtPath: string; pairing: 'reference' | 'frame-of-reference'; pairingWarnings: string[] };
  manualCrop?: CropBox;
  /** Names-file overrides as entries (raw name -> organ key, or null to ignore). */
  nameOverrides: [string, OrganKey | null][];
  cropOptions: CropOptions;
  /** Lossy-compressed CT images are read (with a warning) instead of failing the case. */
  acceptLossy?: boolean;
  /** The dataset folder; outputs go to imagesTr/ and labelsTr/ inside it. */
  outDir: string;
  /** A folder for staging files before they are renamed into place (same file system as outDir). */
  stagingDir: string;
}

export type CaseOutcome =
  | { ok: true; caseId: string; record: CaseRecord; outputs: { path: string; sha256: string }[] }
  | { ok: false; caseId: string; reason: string };

export function imagePath(caseId: string): string {
  return `imagesTr/${caseId}_0000${FILE_ENDING}`;
}
export function labelPath(caseId: string): string {
  return `labelsTr/${caseId}${FILE_ENDING}`;
}

/** Curate one case; never throws for bad input (the outcome says why it failed). */
export function curateCase(task: CaseTask): CaseOutcome {
  try {
    return { ok: true, caseId: task.caseId, ...runCase(task) };
  } catch (e) {
    return { ok: false, caseId: task.caseId, reason: (e as Error).message ?? String(e) };
  }
}

function loadCase(task: CaseTask, wanted: (n: string) => boolean): LoadedCase {
  const loaded = task.pddca ? loadPddcaCase(task.pddca.image, task.pddca.structures, wanted)
    : task.dicom ? loadDicomCase(task.dicom.ctFiles, task.dicom.rtPath, wanted, { acceptLossy: task.acceptLossy === true }) : undefined;
  if (!loaded) throw new Error(`case ${task.caseId}: task names no source`);
  // the crop's body threshold and the network's HU window would turn anything else into noise
  const notHu = notHounsfieldReason(loaded.ct.data);
  if (notHu) {
    const where = task.pddca ? task.pddca.image : dirname(task.dicom!.ctFiles[0]);
    throw new CurationInputError(where, `the image does not look like a CT in Hounsfield units (${notHu}): a mask, an MR image, or stored values without their rescale?`);
  }
  return loaded;
}

function runCase(task: CaseTask): { record: CaseRecord; outputs: { path: string; sha256: string }[] } {
  const overrides = new Map(task.nameOverrides);
  const mapped = (n: string) => mapName(n, overrides);
  const loaded = loadCase(task, (n) => mapped(n).organ !== null);
  const { ct } = loaded;
  const warnings = [...loaded.warnings, ...(task.dicom?.pairingWarnings ?? [])];
  const skipped: CaseRecord['skipped'] = [];

  // Names -> organ masks (two structures for one organ are united, with a warning).
  const masks = new Map<OrganKey, Int32Array>();
  const structures: StructureRecord[] = [];
  for (const s of loaded.structures) {
    const m = mapSegmentName(s.name, s.codedName, overrides);
    const rec: StructureRecord = { name: s.name, organ: m.organ, status: m.status, reason: m.reason, voxels: 0 };
    if (m.organ !== null && s.error) {
      rec.status = 'error';
      rec.reason = s.error;
      skipped.push({ item: `structure ${s.name}`, reason: s.error });
    } else if (m.organ !== null && s.offsets) {
      rec.voxels = s.offsets.length;
      if (s.note) warnings.push(`${s.name}: ${s.note}`);
      const prev = masks.get(m.organ);
      if (prev) warnings.push(`${m.organ}: several structures map to it; their union is used`);
      masks.set(m.organ, prev ? unionOffsets(prev, s.offsets) : s.offsets);
    }
    structures.push(rec);
  }
  for (const o of ORGANS) {
    if (masks.get(o.key)?.length === 0) warnings.push(`${o.key}: annotated but empty`);
  }

  // Crop: automatic unless a manual box is given; either way every organ must be inside.
  const organBoxes = new Map<string, CropBox>();
  for (const [k, offs] of masks) {
    const b = offsetsBounds(offs, ct.shape);
    if (b) organBoxes.set(k, b);
  }
  let box: CropBox;
  if (task.manualCrop) {
    const manual = loaded.sourceSlicePlanes ? boxOnPlanes(task.manualCrop, loaded.sourceSlicePlanes) : task.manualCrop;
    const clamped = clampBox(manual, ct.shape);
    if (JSON.stringify(clamped) !== JSON.stringify(manual)) warnings.push('manual crop box clamped to the image');
    const marginVox = ct.spacing.map((s) => Math.ceil((task.cropOptions.marginMm ?? 5) / s)) as Vec3;
    const w = ensureOrgansInside(clamped, organBoxes, marginVox, ct.shape);
    box = w.box;
    warnings.push(...w.warnings);
  } else {
    const r = computeCropBox(ct, organBoxes, task.cropOptions);
    box = r.box;
    warnings.push(...r.warnings);
  }

  const full = buildLabelMap(ct.shape, masks);
  const image = cropVolume(ct, box);
  const label = cropVolume({ ...ct, data: full.labels }, box);
  const voxels = countLabels(label.data);
  const volumeMl = {} as Record<OrganKey, number>;
  for (const o of ORGANS) volumeMl[o.key] = voxelsToMl(voxels[o.key], image.spacing);

  // Stage both files, then rename into place: a case is either wholly there or not at all.
  const stage = join(task.stagingDir, task.caseId);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const outputs: { path: string; sha256: string }[] = [];
  const files: [string, Uint8Array][] = [
    [imagePath(task.caseId), gzipDeterministic(encodeNifti(image))],
    [labelPath(task.caseId), gzipDeterministic(encodeNifti(label))],
  ];
  for (const [rel, bytes] of files) {
    writeFileAtomic(join(stage, rel), bytes);
    outputs.push({ path: rel, sha256: sha256Hex(bytes) });
  }
  for (const [rel] of files) {
    mkdirSync(join(task.outDir, rel, '..'), { recursive: true });
    renameSync(join(stage, rel), join(task.outDir, rel));
  }
  rmSync(stage, { recursive: true, force: true });

  const record: CaseRecord = {
    caseId: task.caseId,
    patientId: task.patientId,
    sourceKind: task.sourceKind,
    synthetic: task.synthetic,
    inputDigest: task.inputDigest,
    imageDigest: task.imageDigest,
    image: imagePath(task.caseId),
    label: labelPath(task.caseId),
    shape: image.shape,
    spacing: image.spacing,
    origin: image.origin.map((x) => round6(x)) as Vec3,
    direction: image.direction,
    sourceShape: [...ct.shape] as Vec3,
    cropBox: box,
    cropMethod: task.manualCrop ? 'manual' : 'auto',
    ...(task.dicom ? { pairing: task.dicom.pairing } : {}),
    identityRemoved: loaded.identityRemoved,
    availability: availabilityOf(masks),
    voxels,
    volumeMl,
    overlaps: full.overlaps,
    measures: organMeasures(label, image),
    structures: structures.map((s) => ({ ...s, name: scrub(s.name), reason: scrub(s.reason) })),
    warnings: warnings.map(scrub),
    skipped: skipped.map((s) => ({ item: scrub(s.item), reason: scrub(s.reason) })),
  };
  return { record, outputs };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** A crop box in acquired slices (the crop file's) on the uniform grid's planes. */
function boxOnPlanes(b: CropBox, planeOfSlice: Int32Array): CropBox {
  const n = planeOfSlice.length;
  // past the last slice stays past the last plane, so that clamping still says so
  const plane = (k: number) => (k < n ? planeOfSlice[Math.max(0, k)] : planeOfSlice[n - 1] + k - (n - 1));
  return { start: [b.start[0], b.start[1], plane(b.start[2])], end: [b.end[0], b.end[1], plane(b.end[2] - 1) + 1] };
}

function clampBox(b: CropBox, shape: Vec3): CropBox {
  const start = b.start.map((s, a) => Math.min(Math.max(0, Math.floor(s)), shape[a] - 1)) as Vec3;
  const end = b.end.map((e, a) => Math.max(start[a] + 1, Math.min(shape[a], Math.ceil(e)))) as Vec3;
  return { start, end };
}
