/**
 * Discovery: walk the input folders, find PDDCA cases and DICOM CT series with their RTSTRUCT or SEG,
 * and account for every file (used by a case, or skipped with a reason). No pixel data is read here.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { imagePlanes, listFilesRecursive, readDicomFile, scanDicomTree, type DicomFile, type ImagePlane, type Vec3 } from '@anatomynet/data';
import { parseDicomSeg, parseRtStruct, type ParsedSeg } from '@anatomynet/rt';
import { compareStrings, mapName, mapSegmentName, type NameOverrides, type RawStructureName } from './names';
import { pairStructureSets, type CtSeriesRef, type Extent, type RtStructRef } from './pairing';
import type { SourceKind } from './manifest';
import { SYNTH_TRUTH_FILE } from './synth';
import { CurationInputError } from './errors';
import { segmentCodedName, segmentNames } from './load';

export interface PlannedCase {
  sourceKind: SourceKind;
  /** Stable key of the source (pddca:<folder name> or dicom:<CT series UID>): private. */
  sourceKey: string;
  /** Identifies the patient (PDDCA folder name, DICOM PatientID or study UID): private. */
  patientKey: string;
  /** PDDCA case id (0522c0555) for the benchmark split (never for synthetic cases). */
  pddcaId?: string;
  /** From a synthetic cohort (its folder holds synth-truth.json). */
  synthetic: boolean;
  /** Where the case lives, for people (private). */
  label: string;
  /** Input files with their role; all are accounted to this case. */
  files: { path: string; role: string }[];
  pddca?: { image: string; structures: string[] };
  dicom?: { ctFiles: string[]; rtPath: string; pairing: 'reference' | 'frame-of-reference'; pairingWarnings: string[] };
  /** Raw structure names, a SEG segment's with its codes' name (for the names report, failed cases too). */
  structureNames: RawStructureName[];
}

export interface SkippedItem {
  kind: 'file' | 'ct-series' | 'rtstruct' | 'seg' | 'pddca-case';
  /** Files of the item (private); the first one names it. */
  paths: string[];
  reason: string;
}

export interface Discovery {
  cases: PlannedCase[];
  skipped: SkippedItem[];
  /** Every file found under the inputs, sorted. */
  files: string[];
}

const PDDCA_IMAGE = 'img.nrrd';

/** Folders under `root` (any depth) holding a PDDCA `img.nrrd`. */
function pddcaFolders(files: readonly string[]): string[] {
  return files.filter((f) => basename(f) === PDDCA_IMAGE).map((f) => dirname(f)).sort(compareStrings);
}

/** Plans the cases under `inputs`; throws {@link CurationInputError} for an input that is not a folder. */
export function discoverInputs(inputs: readonly string[], overrides?: NameOverrides): Discovery {
  const cases: PlannedCase[] = [];
  const skipped: SkippedItem[] = [];
  const all: string[] = [];
  const seenPddca = new Set<string>();
  for (const input of [...new Set(inputs.map((p) => resolve(p)))].sort(compareStrings)) {
    // A named input that is missing is a mistake to stop at, not an item to skip: the dataset
    // published without it would drop its cases.
    if (!existsSync(input)) throw new CurationInputError(input, 'no such input folder (check --input)');
    if (!statSync(input).isDirectory()) throw new CurationInputError(input, 'the input is a file, not a folder of DICOM-RT or PDDCA cases');
    const files = listFilesRecursive(input);
    all.push(...files);
    const claimed = new Set<string>();
    const truthFile = join(input, SYNTH_TRUTH_FILE);
    const synthetic = files.includes(truthFile);
    if (synthetic) {
      claimed.add(truthFile);
      skipped.push({ kind: 'file', paths: [truthFile], reason: 'ground truth of a synthetic cohort (not an input image)' });
    }
    for (const dir of pddcaFolders(files)) {
      const id = basename(dir);
      const inCase = files.filter((f) => f.startsWith(dir + '/'));
      const structDir = join(dir, 'structures');
      const structures = inCase.filter((f) => dirname(f) === structDir && /\.nrrd$/i.test(f)).sort(compareStrings);
      inCase.forEach((f) => claimed.add(f));
      if (seenPddca.has(id)) {
        skipped.push({ kind: 'pddca-case', paths: inCase, reason: `a PDDCA case named ${id} was already found` });
        continue;
      }
      seenPddca.add(id);
      const used = new Set([join(dir, PDDCA_IMAGE), ...structures]);
      for (const f of inCase) if (!used.has(f)) skipped.push({ kind: 'file', paths: [f], reason: 'not part of the PDDCA layout (img.nrrd, structures/*.nrrd)' });
      if (structures.length === 0) {
        skipped.push({ kind: 'pddca-case', paths: [...used], reason: 'PDDCA case without structures/*.nrrd' });
        continue;
      }
      cases.push({
        sourceKind: 'pddca',
        sourceKey: `pddca:${id}`,
        patientKey: `pddca:${id}`,
        ...(/^0522c\d{4}$/.test(id) && !synthetic ? { pddcaId: id } : {}),
        synthetic,
        label: dir,
        files: [{ path: join(dir, PDDCA_IMAGE), role: 'image' }, ...structures.map((s) => ({ path: s, role: `structure:${basename(s)}` }))],
        pddca: { image: join(dir, PDDCA_IMAGE), structures },
        structureNames: structures.map((s) => ({ name: basename(s).replace(/\.nrrd$/i, '') })),
      });
    }
    if (files.some((f) => !claimed.has(f))) discoverDicom(input, claimed, cases, skipped, synthetic, overrides);
  }
  all.sort(compareStrings);
  // The same CT series under two inputs (a copied export) is one case: keep the first found.
  const seen = new Set<string>();
  const unique = cases.filter((c) => {
    if (!seen.has(c.sourceKey)) return seen.add(c.sourceKey), true;
    skipped.push({ kind: 'ct-series', paths: c.files.map((f) => f.path), reason: 'the same CT series was already found under another input' });
    return false;
  });
  unique.sort((a, b) => compareStrings(a.sourceKey, b.sourceKey));
  return { cases: unique, skipped, files: [...new Set(all)] };
}

function discoverDicom(root: string, claimed: Set<string>, cases: PlannedCase[], skipped: SkippedItem[], synthetic: boolean, overrides?: NameOverrides): void {
  const scan = scanDicomTree(root);
  for (const f of scan.failures) {
    if (!claimed.has(f.path)) skipped.push({ kind: 'file', paths: [f.path], reason: `unreadable as DICOM: ${f.reason}` });
  }
  for (const o of scan.other) skipped.push({ kind: 'file', paths: [o.path], reason: o.note ? `DICOM ${o.modality ?? 'object'}: ${o.note}` : `DICOM ${o.modality ?? 'object'} that is neither a CT image, an RTSTRUCT nor a SEG` });
  const rtRefs: RtStructRef[] = [];
  const rtNames = new Map<string, RawStructureName[]>();
  for (const rt of scan.rtStructs) {
    try {
      const s = parseRtStruct(rt.dataset, rt.path);
      const organs = new Set(s.rois.map((r) => mapName(r.name, overrides).organ).filter((o) => o !== null));
      rtNames.set(rt.path, s.rois.map((r) => ({ name: r.name })));
      rtRefs.push({
        path: rt.path,
        ...(s.frameOfReferenceUIDs[0] ? { frameOfReferenceUID: s.frameOfReferenceUIDs[0] } : {}),
        referencedSeriesUIDs: s.referencedSeriesUIDs,
        referencedSopInstanceUIDs: s.referencedSOPInstanceUIDs,
        extent: contourExtent(s.rois.flatMap((r) => r.contours.map((c) => c.points))),
        score: organs.size,
      });
    } catch (e) {
      skipped.push({ kind: 'rtstruct', paths: [rt.path], reason: `unusable RTSTRUCT: ${(e as Error).message}` });
    }
  }
  for (const f of scan.segmentations) {
    try {
      const seg = parseDicomSeg(f.dataset, f.path, f.transferSyntaxUID);
      const names = segmentNames(seg);
      const raw = names.map((name, i) => {
        const coded = segmentCodedName(seg.segments[i]!);
        return coded !== undefined && coded !== name ? { name, codedName: coded } : { name };
      });
      const organs = new Set(raw.map((n) => mapSegmentName(n.name, n.codedName, overrides).organ).filter((o) => o !== null));
      rtNames.set(f.path, raw);
      rtRefs.push({
        path: f.path,
        kind: 'SEG',
        ...(seg.frameOfReferenceUID ? { frameOfReferenceUID: seg.frameOfReferenceUID } : {}),
        referencedSeriesUIDs: seg.referencedSeriesUIDs,
        referencedSopInstanceUIDs: seg.referencedSOPInstanceUIDs,
        extent: segExtent(seg),
        score: organs.size,
      });
    } catch (e) {
      skipped.push({ kind: 'seg', paths: [f.path], reason: `unusable SEG: ${(e as Error).message}` });
    }
  }
  const cts: CtSeriesRef[] = scan.ctSeries.map((s) => ({ seriesInstanceUID: s.seriesInstanceUID, frameOfReferenceUID: s.frameOfReferenceUID, sopInstanceUIDs: s.sopInstanceUIDs }));
  // Geometry is only needed where pairing falls back to the frame of reference.
  const needFallback = rtRefs.filter((r) => !scan.ctSeries.some((c) => r.referencedSopInstanceUIDs.length > 0 && r.referencedSopInstanceUIDs.every((u) => c.sopInstanceUIDs.includes(u))));
  const fors = new Set(needFallback.map((r) => r.frameOfReferenceUID));
  for (const [i, s] of scan.ctSeries.entries()) if (fors.has(s.frameOfReferenceUID)) cts[i].extent = ctExtentFromHeaders(s.files) ?? undefined;
  const result = pairStructureSets(cts, rtRefs);
  const isSeg = new Set(rtRefs.filter((r) => r.kind === 'SEG').map((r) => r.path));
  for (const u of result.unpairedRt) skipped.push({ kind: isSeg.has(u.path) ? 'seg' : 'rtstruct', paths: [u.path], reason: u.reason });
  const byUid = new Map(scan.ctSeries.map((s) => [s.seriesInstanceUID, s]));
  for (const u of result.unpairedCt) skipped.push({ kind: 'ct-series', paths: byUid.get(u.seriesInstanceUID)!.files, reason: u.reason });
  for (const p of result.pairs) {
    const s = byUid.get(p.seriesInstanceUID)!;
    const head = readDicomFile(s.files[0], { pixelData: false }).dataset;
    const patientId = String(head.PatientID ?? '').trim();
    cases.push({
      sourceKind: 'dicom',
      synthetic,
      sourceKey: `dicom:${s.seriesInstanceUID}`,
      patientKey: patientId ? `dicom-patient:${patientId}` : `dicom-study:${s.studyInstanceUID}`,
      label: dirname(s.files[0]),
      files: [...s.files.map((f) => ({ path: f, role: 'ct' })), { path: p.rtPath, role: isSeg.has(p.rtPath) ? 'seg' : 'rtstruct' }],
      dicom: { ctFiles: s.files, rtPath: p.rtPath, pairing: p.method, pairingWarnings: p.warnings },
      structureNames: rtNames.get(p.rtPath) ?? [],
    });
  }
}

/** Bounds of a SEG's frames' pixel centres (LPS mm), or null when no frame has a position and orientation. */
export function segExtent(seg: ParsedSeg): Extent | null {
  const corners: Float64Array[] = [];
  for (const f of seg.frames) {
    if (!f.position || !f.orientation || !f.pixelSpacing) continue;
    const pts = new Float64Array(12);
    [[0, 0], [seg.columns - 1, 0], [0, seg.rows - 1], [seg.columns - 1, seg.rows - 1]].forEach(([c, r], q) => {
      for (let a = 0; a < 3; a++) pts[q * 3 + a] = f.position![a] + f.orientation![a] * f.pixelSpacing![1] * c + f.orientation![3 + a] * f.pixelSpacing![0] * r;
    });
    corners.push(pts);
  }
  return contourExtent(corners);
}

/** Bounds of all contour points (LPS mm), or null without points. */
export function contourExtent(pointLists: readonly Float64Array[]): Extent | null {
  const min: Vec3 = [Infinity, Infinity, Infinity], max: Vec3 = [-Infinity, -Infinity, -Infinity];
  let any = false;
  for (const pts of pointLists) {
    for (let p = 0; p + 2 < pts.length; p += 3) {
      any = true;
      for (let a = 0; a < 3; a++) { if (pts[p + a] < min[a]) min[a] = pts[p + a]; if (pts[p + a] > max[a]) max[a] = pts[p + a]; }
    }
  }
  return any ? { min, max } : null;
}

/** LPS bounds of a CT series' voxel centres from its headers, every frame of a multi-frame image (null if the headers lack geometry). */
export function ctExtentFromHeaders(files: readonly string[]): Extent | null {
  const min: Vec3 = [Infinity, Infinity, Infinity], max: Vec3 = [-Infinity, -Infinity, -Infinity];
  for (const f of files) {
    let head: DicomFile;
    try { head = readDicomFile(f, { pixelData: false }); } catch { continue; }
    let planes: ImagePlane[];
    try { planes = imagePlanes(head); } catch { return null; }
    const rows = Number(head.dataset.Rows), cols = Number(head.dataset.Columns);
    if (!(rows > 0) || !(cols > 0)) return null;
    for (const { position: ipp, orientation: iop, pixelSpacing: ps } of planes) {
      // Corners of the slice: columns step along the row cosine by PixelSpacing[1], rows along the column cosine by [0].
      for (const [ci, rj] of [[0, 0], [cols - 1, 0], [0, rows - 1], [cols - 1, rows - 1]]) {
        for (let a = 0; a < 3; a++) {
          const x = ipp[a] + iop[a] * ps[1] * ci + iop[3 + a] * ps[0] * rj;
          if (x < min[a]) min[a] = x; if (x > max[a]) max[a] = x;
        }
      }
    }
  }
  return Number.isFinite(min[0]) ? { min, max } : null;
}

