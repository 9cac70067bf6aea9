/**
 * Test fixture: a small head-neck-shoulders CT phantom with the nine organs as spheres (soft tissue, the
 * mandible bone), and writers
 * that put it on disk as a DICOM-RT case or a PDDCA case. Hand-checkable geometry: 4 mm voxels,
 * head k 34..59, neck k 25..33 (radius 24 mm), shoulders/chest k 0..24, a separate couch below.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { uidFromSeed, writeCtSeries, writeNrrd, type Vec3, type Volume } from '@anatomynet/data';
import { writeRtStruct } from '@anatomynet/rt';
import type { CurateResult } from '../cohort';
import type { CaseRecord } from '../manifest';
import { ORGANS, type OrganKey } from '../organs';

export const PHANTOM_SHAPE: Vec3 = [64, 64, 60];

export const ORGAN_SPHERES: Record<OrganKey, { c: Vec3; r: number }> = {
  BrainStem: { c: [32, 36, 44], r: 2 },
  Chiasm: { c: [32, 28, 47], r: 1 },
  Mandible: { c: [32, 22, 36], r: 3 },
  OpticNerve_L: { c: [35, 24, 47], r: 1 },
  OpticNerve_R: { c: [29, 24, 47], r: 1 },
  Parotid_L: { c: [41, 32, 39], r: 2 },
  Parotid_R: { c: [23, 32, 39], r: 2 },
  Submandibular_L: { c: [36, 26, 34], r: 2 },
  Submandibular_R: { c: [28, 26, 34], r: 2 },
};

export interface Phantom {
  ct: Volume<Int16Array>;
  masks: Map<OrganKey, Uint8Array>;
}

export function sphereMask(shape: Vec3, c: Vec3, r: number): Uint8Array {
  const m = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let k = 0; k < shape[2]; k++) for (let j = 0; j < shape[1]; j++) for (let i = 0; i < shape[0]; i++) {
    if ((i - c[0]) ** 2 + (j - c[1]) ** 2 + (k - c[2]) ** 2 <= r * r + 1e-9) m[i + shape[0] * (j + shape[1] * k)] = 1;
  }
  return m;
}

/** `seed` shifts HU slightly so different phantoms have different bytes. */
export function headNeckPhantom(seed = 0, organs: readonly OrganKey[] = ORGANS.map((o) => o.key)): Phantom {
  const shape = PHANTOM_SHAPE;
  const [nx, ny, nz] = shape;
  const data = new Int16Array(nx * ny * nz).fill(-1000);
  const cx = 32, cy = 32;
  for (let k = 0; k < nz; k++) {
    // Radii in voxels (x, y) of the body cross-section at slice k.
    let rx: number, ry: number;
    if (k >= 34) { const t = Math.min(1, (59.5 - k) / 8); rx = 10 * Math.sqrt(t); ry = 12 * Math.sqrt(t); }
    else if (k >= 25) { rx = 6; ry = 6; }
    else { rx = 27; ry = 15; }
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const p = i + nx * (j + ny * k);
      const e = ((i - cx) / rx) ** 2 + ((j - cy) / ry) ** 2;
      if (e <= 1) data[p] = 40 + ((i + j + k + seed) % 7);
      if (k < 25 && ((i - 20) / 6) ** 2 + ((j - cy) / 8) ** 2 <= 1) data[p] = -800; // lung
      if (j >= 58 && j <= 59) data[p] = 200; // couch, separate from the body
    }
  }
  // the mandible is bone, whether annotated or not (the annotation checks look for bone inside its contour)
  sphereMask(shape, ORGAN_SPHERES.Mandible.c, ORGAN_SPHERES.Mandible.r).forEach((v, p) => v && (data[p] = 700 + (seed % 7)));
  const ct: Volume<Int16Array> = { data, shape, spacing: [4, 4, 4], origin: [-128, -128, -200], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
  const masks = new Map<OrganKey, Uint8Array>();
  for (const key of organs) masks.set(key, sphereMask(shape, ORGAN_SPHERES[key].c, ORGAN_SPHERES[key].r));
  return { ct, masks };
}

/** Write a phantom as `<dir>/img.nrrd` + `<dir>/structures/<name>.nrrd` (names default to the keys). */
export function writePddcaCase(dir: string, ph: Phantom, names: Partial<Record<OrganKey, string>> = {}): void {
  mkdirSync(join(dir, 'structures'), { recursive: true });
  writeNrrd(join(dir, 'img.nrrd'), ph.ct);
  for (const [key, mask] of ph.masks) writeNrrd(join(dir, 'structures', `${names[key] ?? key}.nrrd`), { ...ph.ct, data: mask });
}

export interface DicomCaseOptions {
  patientId: string;
  /** Seed for the UIDs. */
  uidSeed: string;
  names?: Partial<Record<OrganKey, string>>;
  /** Write the CT series (default true). */
  writeCt?: boolean;
  /** Write the RTSTRUCT (default true). */
  writeRt?: boolean;
  /** RTSTRUCT references other (absent) images: pairing must fall back to the frame of reference. */
  absentReferences?: boolean;
  /** Use a frame of reference UID that no CT has. */
  foreignFrame?: boolean;
  identityRemoved?: boolean;
}

/** Write a phantom as a CT series under `<dir>/ct/` and its RTSTRUCT as `<dir>/rs.dcm`. */
export function writeDicomCase(dir: string, ph: Phantom, o: DicomCaseOptions): { seriesUid: string; rtPath: string } {
  const root = '2.25';
  const seriesUid = uidFromSeed(root, o.uidSeed, 'series');
  const studyUid = uidFromSeed(root, o.uidSeed, 'study');
  const forUid = uidFromSeed(root, o.uidSeed, 'for');
  let sops: string[] = ORGANS.length ? [] : [];
  const ctDir = join(dir, 'ct');
  if (o.writeCt !== false) {
    sops = writeCtSeries(ph.ct, {
      dir: ctDir, seriesInstanceUID: seriesUid, studyInstanceUID: studyUid, frameOfReferenceUID: forUid,
      patientId: o.patientId, patientName: `Doe^${o.patientId}`, patientIdentityRemoved: o.identityRemoved ?? true,
    }).sopInstanceUIDs;
  } else {
    sops = Array.from({ length: ph.ct.shape[2] }, (_, k) => uidFromSeed(root, o.uidSeed, 'sop', k));
  }
  const rtPath = join(dir, 'rs.dcm');
  if (o.writeRt !== false) {
    const refSops = o.absentReferences ? sops.map((_, k) => uidFromSeed(root, o.uidSeed, 'elsewhere', k)) : sops;
    const refSeries = o.absentReferences ? uidFromSeed(root, o.uidSeed, 'other-series') : seriesUid;
    const rois = ORGANS.filter((x) => ph.masks.has(x.key)).map((x) => ({ label: x.index, name: o.names?.[x.key] ?? x.tg263, color: [255, 0, 0] as [number, number, number] }));
    writeRtStruct(rtPath, { masks: rois.map((r) => ({ label: r.label, mask: ph.masks.get(ORGANS[r.label - 1].key)! })) }, {
      volume: ph.ct, seriesInstanceUID: refSeries, studyInstanceUID: studyUid,
      frameOfReferenceUID: o.foreignFrame ? uidFromSeed(root, o.uidSeed, 'foreign-for') : forUid,
      sopInstanceUIDs: refSops, patientId: o.patientId, patientName: `Doe^${o.patientId}`,
    }, rois);
  }
  return { seriesUid, rtPath };
}

/** The case of a curation `result` whose source lies under `inputDir`; none is an error naming what failed and was skipped. */
export function caseCuratedFrom(result: CurateResult, inputDir: string): CaseRecord {
  const c = result.manifest.cases.find((x) => result.sources[x.caseId]?.startsWith(inputDir));
  if (!c) throw new Error(`no case from ${inputDir}; failed: ${JSON.stringify(result.failed)}; skipped: ${JSON.stringify(result.skipped)}`);
  return c;
}
