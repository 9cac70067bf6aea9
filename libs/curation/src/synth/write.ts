/**
 * Writes one synthetic case to a folder: a DICOM CT series (a file per slice, or one Enhanced CT image) +
 * RTSTRUCT (or DICOM SEG), or a PDDCA folder
 * (`img.nrrd` + `structures/<Organ>.nrrd`), and returns its ground truth.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_UID_ROOT, formatDS, pointToIndex, SOP_CT_IMAGE, SOP_ENHANCED_CT_IMAGE, uidFromSeed, writeCtSeries, writeDicomFile, writeEnhancedCt, writeNrrd, type Vec3, type Volume } from '@anatomynet/data';
import { ANATOMICAL_STRUCTURE, buildDicomSeg, buildRtStruct, sliceImageReference, type RtCtReference, type SegSegmentSpec } from '@anatomynet/rt';
import { dilateMask, organMask, roiMask, type SynthCase } from './case';
import { Rng } from './prng';
import { boxMaskToFull, countSet, shapeVolumeMm3, subGrid, type BoxMask, type Grid } from './raster';
import type { RoiPlan, RoiRole } from './rois';
import type { SynthAnnotationError } from './errors';
import { SYNTH_ORGANS, type SynthOrgan } from './tissues';
import { ORGANS, organSegmentCodes } from '../organs';

/** Ground truth of one organ in one case (the anatomy exists whether or not it is annotated). */
export interface OrganTruth {
  annotated: boolean;
  /** The ROI (DICOM) or file stem (PDDCA) that holds it; null when not annotated. */
  roiName: string | null;
  /** Voxels of the true mask on the case's grid (voxel-centre rule). */
  voxels: number;
  ml: number;
  /** Volume of the analytic shape, independent of the grid (mL). */
  analyticMl: number;
  /** Mean CT number inside the mask and in a 3 mm shell around it (HU). */
  meanHu: number;
  shellMeanHu: number;
  /** Bounding box of the mask, voxel-centre LPS mm. */
  boxMm: { min: Vec3; max: Vec3 } | null;
}

export interface RoiTruth {
  name: string;
  role: RoiRole;
  organ: SynthOrgan | null;
  interpretedType: string;
  /** Voxels of the written mask (0 for POINT and empty ROIs). */
  voxels: number;
}

export interface CaseTruth {
  caseId: string;
  format: 'dicom' | 'pddca';
  /** Case folder relative to the cohort root. */
  dir: string;
  patientId: string;
  patientPosition: string;
  /** null when the attribute is absent from the files. */
  patientIdentityRemoved: boolean | null;
  namingStyle: string | null;
  geometry: Pick<Volume, 'shape' | 'spacing' | 'origin' | 'direction'>;
  voxelVolumeMm3: number;
  noiseSdHu: number;
  organs: Record<SynthOrgan, OrganTruth>;
  rois: RoiTruth[];
  /** ROI name -> organ, for the organ ROIs only. */
  nameToOrgan: Record<string, SynthOrgan>;
  landmarks: {
    vertexZMm: number;
    lungApexZMm: number;
    /** Box of all nine organs (annotated or not), LPS mm. */
    organsBoxMm: { min: Vec3; max: Vec3 };
  };
  /** `seg`: present (instead of `rtstruct`) for a case whose annotations are a DICOM SEG. */
  files: { ct: string[]; rtstruct: string | null; image: string | null; structures: string[]; seg?: string };
  /** True for a case whose CT is one Enhanced CT image (`files.ct` its one file), absent otherwise. */
  enhancedCt?: boolean;
  /** The annotation error planted in its structure set (`annotationErrors`), absent in the others. */
  annotationError?: SynthAnnotationError;
}

const ORGAN_COLOURS: Record<SynthOrgan, [number, number, number]> = {
  BrainStem: [255, 0, 0],
  Chiasm: [0, 255, 0],
  Mandible: [255, 255, 0],
  OpticNerve_L: [0, 255, 255],
  OpticNerve_R: [0, 128, 255],
  Parotid_L: [255, 0, 255],
  Parotid_R: [200, 0, 120],
  Submandibular_L: [255, 128, 0],
  Submandibular_R: [128, 255, 0],
};

const r3 = (x: number) => Math.round(x * 1000) / 1000;

function maskStats(m: BoxMask, c: SynthCase): Pick<OrganTruth, 'voxels' | 'meanHu' | 'boxMm' | 'shellMeanHu'> {
  const grid = c.geometry.grid;
  const [nx, ny] = grid.shape;
  const [bx, by, bz] = m.shape;
  const ctAt = (i: number, j: number, k: number) => c.ct.data[i + nx * (j + ny * k)]!;
  let voxels = 0, sum = 0;
  const lo: Vec3 = [Infinity, Infinity, Infinity], hi: Vec3 = [-Infinity, -Infinity, -Infinity];
  for (let k = 0; k < bz; k++) {
    for (let j = 0; j < by; j++) {
      for (let i = 0; i < bx; i++) {
        if (!m.data[i + bx * (j + by * k)]) continue;
        voxels++;
        const idx: Vec3 = [i + m.lo[0], j + m.lo[1], k + m.lo[2]];
        sum += ctAt(idx[0], idx[1], idx[2]);
        for (let a = 0; a < 3; a++) {
          lo[a] = Math.min(lo[a]!, idx[a]!);
          hi[a] = Math.max(hi[a]!, idx[a]!);
        }
      }
    }
  }
  if (voxels === 0) return { voxels, meanHu: NaN, shellMeanHu: NaN, boxMm: null };
  // Mean HU in a 3 mm shell around the organ (its surroundings).
  const shell = dilateMask(m, grid, 3);
  let ss = 0, sn = 0;
  const [sx, sy, sz] = shell.shape;
  for (let k = 0; k < sz; k++) {
    for (let j = 0; j < sy; j++) {
      for (let i = 0; i < sx; i++) {
        if (!shell.data[i + sx * (j + sy * k)]) continue;
        const gi = i + shell.lo[0], gj = j + shell.lo[1], gk = k + shell.lo[2];
        const mi = gi - m.lo[0], mj = gj - m.lo[1], mk = gk - m.lo[2];
        const inside = mi >= 0 && mj >= 0 && mk >= 0 && mi < bx && mj < by && mk < bz && m.data[mi + bx * (mj + by * mk)];
        if (inside) continue;
        ss += ctAt(gi, gj, gk);
        sn++;
      }
    }
  }
  const a = toMm(grid, lo), b = toMm(grid, hi);
  return {
    voxels,
    meanHu: r3(sum / voxels),
    shellMeanHu: sn ? r3(ss / sn) : NaN,
    boxMm: { min: [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.min(a[2], b[2])], max: [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.max(a[2], b[2])] },
  };
}

function toMm(grid: Grid, idx: Vec3): Vec3 {
  const d = grid.direction, s = grid.spacing, o = grid.origin;
  return [0, 1, 2].map((r) => r3(o[r]! + d[r * 3]! * s[0] * idx[0] + d[r * 3 + 1]! * s[1] * idx[1] + d[r * 3 + 2]! * s[2] * idx[2])) as Vec3;
}

/** Analytic volume with a step fine enough for the organ's size (mL). */
function analyticMl(c: SynthCase, organ: SynthOrgan): number {
  const b = c.patient.organs[organ].bounds;
  const boxMm3 = (b.max[0] - b.min[0]) * (b.max[1] - b.min[1]) * (b.max[2] - b.min[2]);
  const step = Math.min(1.5, Math.max(0.25, Math.cbrt(boxMm3 / 150_000)));
  return r3(shapeVolumeMm3(c.patient.organs[organ], step) / 1000);
}

/**
 * Writes case `c` under `dir` (which must exist and be empty) and returns its truth; `relDir` is the
 * folder's name relative to the cohort root, recorded in the truth.
 * @param seed the cohort seed (UIDs derive from it and the case id).
 */
export function writeCase(c: SynthCase, dir: string, relDir: string, seed: number | string): CaseTruth {
  const grid = c.geometry.grid;
  const voxelMm3 = grid.spacing[0] * grid.spacing[1] * grid.spacing[2];
  const organs = {} as Record<SynthOrgan, OrganTruth>;
  const masks: Partial<Record<SynthOrgan, BoxMask>> = {};
  const organBox = { min: [Infinity, Infinity, Infinity] as Vec3, max: [-Infinity, -Infinity, -Infinity] as Vec3 };
  for (const o of SYNTH_ORGANS) {
    const m = organMask(c, o);
    masks[o] = m;
    const st = maskStats(m, c);
    organs[o] = { annotated: c.annotated[o], roiName: null, voxels: st.voxels, ml: r3((st.voxels * voxelMm3) / 1000), analyticMl: analyticMl(c, o), meanHu: st.meanHu, shellMeanHu: st.shellMeanHu, boxMm: st.boxMm };
    if (st.boxMm) {
      for (let a = 0; a < 3; a++) {
        organBox.min[a] = Math.min(organBox.min[a]!, st.boxMm.min[a]!);
        organBox.max[a] = Math.max(organBox.max[a]!, st.boxMm.max[a]!);
      }
    }
  }
  const files: CaseTruth['files'] = { ct: [], rtstruct: null, image: null, structures: [] };
  const rois: RoiTruth[] = [];
  const nameToOrgan: Record<string, SynthOrgan> = {};
  if (c.format === 'pddca') {
    writeNrrd(join(dir, 'img.nrrd'), c.ct);
    files.image = 'img.nrrd';
    mkdirSync(join(dir, 'structures'), { recursive: true });
    for (const o of SYNTH_ORGANS) {
      if (!c.annotated[o]) continue;
      const vol: Volume<Uint8Array> = { data: boxMaskToFull(grid, masks[o]!), shape: [...grid.shape], spacing: [...grid.spacing], origin: [...grid.origin], direction: [...grid.direction] };
      writeNrrd(join(dir, 'structures', `${o}.nrrd`), vol);
      files.structures.push(`structures/${o}.nrrd`);
      organs[o].roiName = o;
      nameToOrgan[o] = o;
      rois.push({ name: o, role: 'organ', organ: o, interpretedType: 'ORGAN', voxels: organs[o].voxels });
    }
  } else {
    writeDicomCase(c, dir, seed, masks, organs, rois, nameToOrgan, files);
  }
  return {
    caseId: c.caseId,
    format: c.format,
    dir: relDir,
    patientId: c.patientId,
    patientPosition: c.geometry.patientPosition,
    patientIdentityRemoved: c.patientIdentityRemoved ?? null,
    namingStyle: c.namingStyle,
    geometry: { shape: [...grid.shape], spacing: [...grid.spacing], origin: [...grid.origin], direction: [...grid.direction] },
    voxelVolumeMm3: r3(voxelMm3),
    noiseSdHu: r3(c.noiseSdHu),
    organs,
    rois,
    nameToOrgan,
    ...(c.annotationError ? { annotationError: c.annotationError } : {}),
    ...(c.enhancedCt ? { enhancedCt: true } : {}),
    landmarks: { vertexZMm: r3(c.patient.landmarks.vertex[2]), lungApexZMm: r3(c.patient.landmarks.lungApexZ), organsBoxMm: organBox },
    files,
  };
}

function writeDicomCase(
  c: SynthCase,
  dir: string,
  seed: number | string,
  masks: Partial<Record<SynthOrgan, BoxMask>>,
  organs: Record<SynthOrgan, OrganTruth>,
  rois: RoiTruth[],
  nameToOrgan: Record<string, SynthOrgan>,
  files: CaseTruth['files'],
): void {
  const layout = Rng.from('anatomynet-synth', seed, 'case', c.index, 'layout');
  const split = layout.chance(0.7);
  const ctDir = split ? join(dir, 'CT') : dir;
  const rsDir = split ? join(dir, 'RTSTRUCT') : dir;
  mkdirSync(ctDir, { recursive: true });
  mkdirSync(rsDir, { recursive: true });
  const uid = (...parts: string[]) => uidFromSeed(DEFAULT_UID_ROOT, 'anatomynet-synth', String(seed), c.caseId, ...parts);
  const studyInstanceUID = uid('study'), seriesInstanceUID = uid('ct-series'), frameOfReferenceUID = uid('frame');
  const sopPrefix = uid('ct-sop');
  // File names: by SOP UID (40%), or numbered from the head down (30%) or from the feet up; readers must
  // order slices by position, never by name.
  const uidNames = layout.chance(0.4);
  const topDown = layout.chance(0.5);
  const nz = c.ct.shape[2];
  const width = Math.max(4, String(nz).length);
  const headFirst = (k: number) => (c.geometry.grid.direction[8] > 0 ? nz - k : k + 1); // 1 = most superior
  const series = {
    dir: ctDir,
    seriesInstanceUID,
    studyInstanceUID,
    frameOfReferenceUID,
    patientId: c.patientId,
    patientName: c.patientName,
    patientPosition: c.geometry.patientPosition,
    seriesDescription: 'Synthetic head and neck CT',
    ...(c.patientIdentityRemoved !== undefined ? { patientIdentityRemoved: c.patientIdentityRemoved } : {}),
  };
  // An Enhanced CT's frames are shuffled: readers must order slices by position, never by frame number.
  const frameOrder = c.enhancedCt ? layout.shuffle(Array.from({ length: nz }, (_, k) => k + 1)) : [];
  const written: { files: string[]; sopInstanceUIDs: string[]; frameNumbers?: number[] } = c.enhancedCt
    ? writeEnhancedCt(c.ct, { ...series, fileName: `CT.${c.caseId}.dcm`, sopInstanceUID: uid('ct-enhanced-sop'), frameOfSlice: (k) => frameOrder[k]! })
    : writeCtSeries(c.ct, {
      ...series,
      sopInstanceUIDPrefix: sopPrefix,
      ...(uidNames
        ? { fileName: (k: number) => `CT.${sopPrefix}.${k + 1}.dcm` }
        : topDown
          ? { fileName: (k: number) => `CT${String(headFirst(k)).padStart(width, '0')}.dcm` }
          : {}),
    });
  const rel = (p: string) => p.slice(dir.length + 1);
  files.ct = written.files.map(rel);

  const ct: RtCtReference = {
    volume: c.ct,
    seriesInstanceUID,
    studyInstanceUID,
    frameOfReferenceUID,
    sopInstanceUIDs: written.sopInstanceUIDs,
    ...(written.frameNumbers ? { frameNumbers: written.frameNumbers, sopClassUID: SOP_ENHANCED_CT_IMAGE } : {}),
    patientId: c.patientId,
    patientName: c.patientName,
  };
  if (c.seg) {
    writeSegCase(c, join(rsDir, `SEG.${c.caseId}.dcm`), ct, uid, masks, organs, rois, nameToOrgan);
    files.seg = rel(join(rsDir, `SEG.${c.caseId}.dcm`));
    return;
  }
  const rsSop = uid('rtstruct-sop'), rsSeries = uid('rtstruct-series');
  const ssRois: unknown[] = [], contours: unknown[] = [], observations: unknown[] = [];
  c.rois.forEach((roi, idx) => {
    const number = idx + 1;
    const colour = roi.organ ? ORGAN_COLOURS[roi.organ] : roiColour(roi);
    let voxels = 0;
    const ss = { ROINumber: number, ReferencedFrameOfReferenceUID: frameOfReferenceUID, ROIName: roi.name, ROIGenerationAlgorithm: 'MANUAL' };
    const obs = { ObservationNumber: number, ReferencedROINumber: number, RTROIInterpretedType: roi.interpretedType, ROIInterpreter: '' };
    if (roi.source.kind === 'point' || roi.source.kind === 'empty') {
      const item: Record<string, unknown> = { ROIDisplayColor: colour, ReferencedROINumber: number };
      if (roi.source.kind === 'point') item.ContourSequence = [pointContour(c, roi.source.at, ct)];
      ssRois.push(ss);
      contours.push(item);
      observations.push(obs);
    } else {
      const mask = roiMask(c, roi, masks)!;
      voxels = countSet(mask);
      // Trace only the mask's box: a CT reference cropped to it gives the same LPS contours and the
      // same slice references as the whole grid would, at a fraction of the cost.
      const crop = cropReference(ct, mask);
      const ds = buildRtStruct({ masks: [{ label: 1, mask: crop.data }] }, crop.ref, [{ label: 1, number, name: roi.name, color: colour }], {
        sopInstanceUID: rsSop,
        seriesInstanceUID: rsSeries,
        manufacturer: 'anatomynet-ts synth',
        seriesDescription: 'Synthetic structure set',
        structureSetLabel: 'SYNTH',
      });
      ssRois.push({ ...(ds.StructureSetROISequence as any[])[0], ROIGenerationAlgorithm: 'MANUAL' });
      contours.push((ds.ROIContourSequence as any[])[0]);
      observations.push(obs);
    }
    rois.push({ name: roi.name, role: roi.role, organ: roi.organ, interpretedType: roi.interpretedType, voxels });
    if (roi.role === 'organ' && roi.organ) {
      nameToOrgan[roi.name] = roi.organ;
      organs[roi.organ].roiName = roi.name;
    }
  });
  // The dataset's frame (patient, study, referenced series with every slice) from the whole grid.
  const emptyRef: RtCtReference = { ...ct, volume: { ...c.ct, shape: [1, 1, c.ct.shape[2]] } };
  const base = buildRtStruct({ masks: [{ label: 1, mask: new Uint8Array(c.ct.shape[2]) }] }, emptyRef, [{ label: 1, name: 'frame', color: [0, 0, 0] }], {
    sopInstanceUID: rsSop,
    seriesInstanceUID: rsSeries,
    manufacturer: 'anatomynet-ts synth',
    seriesDescription: 'Synthetic structure set',
    structureSetLabel: 'SYNTH',
  });
  const dataset: Record<string, any> = {
    ...base,
    StructureSetROISequence: ssRois,
    ROIContourSequence: contours,
    RTROIObservationsSequence: observations,
  };
  if (c.patientIdentityRemoved !== undefined) {
    dataset.PatientIdentityRemoved = c.patientIdentityRemoved ? 'YES' : 'NO';
    if (c.patientIdentityRemoved) dataset.DeidentificationMethod = 'anatomynet-ts: identifiers replaced';
  }
  const rsName = `RS.${c.caseId}.dcm`;
  writeDicomFile(join(rsDir, rsName), dataset);
  files.rtstruct = rel(join(rsDir, rsName));
}

/**
 * The case's annotations as a DICOM SEG: a segment per ROI with voxels or none (an empty ROI keeps its
 * segment, without frames); point ROIs, which a SEG cannot hold, are left out.
 */
function writeSegCase(
  c: SynthCase,
  path: string,
  ct: RtCtReference,
  uid: (...parts: string[]) => string,
  masks: Partial<Record<SynthOrgan, BoxMask>>,
  organs: Record<SynthOrgan, OrganTruth>,
  rois: RoiTruth[],
  nameToOrgan: Record<string, SynthOrgan>,
): void {
  const grid = c.geometry.grid;
  let empty: Uint8Array | undefined;
  const specs: SegSegmentSpec[] = [];
  const segMasks: { label: number; mask: Uint8Array }[] = [];
  for (const roi of c.rois) {
    if (roi.source.kind === 'point') continue;
    const label = specs.length + 1;
    const mask = roi.source.kind === 'empty' ? (empty ??= new Uint8Array(grid.shape[0] * grid.shape[1] * grid.shape[2])) : boxMaskToFull(grid, roiMask(c, roi, masks)!);
    // Coded as what it is; the label, written in the cohort's naming style, is what the curator maps.
    const organ = roi.organ ? ORGANS.find((o) => o.key === roi.organ) : undefined;
    const codes = organ ? organSegmentCodes(organ) : { type: ANATOMICAL_STRUCTURE };
    specs.push({ label, name: roi.name, color: roi.organ ? ORGAN_COLOURS[roi.organ] : roiColour(roi), ...codes });
    segMasks.push({ label, mask });
    rois.push({ name: roi.name, role: roi.role, organ: roi.organ, interpretedType: roi.interpretedType, voxels: roi.source.kind === 'empty' ? 0 : countSet({ data: mask }) });
    if (roi.role === 'organ' && roi.organ) {
      nameToOrgan[roi.name] = roi.organ;
      organs[roi.organ].roiName = roi.name;
    }
  }
  const dataset = buildDicomSeg({ masks: segMasks }, ct, specs, {
    sopInstanceUID: uid('seg-sop'),
    seriesInstanceUID: uid('seg-series'),
    manufacturer: 'anatomynet-ts synth',
    seriesDescription: 'Synthetic segmentation',
    contentDate: '20000101',
    contentTime: '000000',
  });
  if (c.patientIdentityRemoved !== undefined) {
    dataset.PatientIdentityRemoved = c.patientIdentityRemoved ? 'YES' : 'NO';
    if (c.patientIdentityRemoved) dataset.DeidentificationMethod = 'anatomynet-ts: identifiers replaced';
  }
  writeDicomFile(path, dataset);
}

/** The CT reference and mask restricted to the mask's index box. */
function cropReference(ct: RtCtReference, m: BoxMask): { ref: RtCtReference; data: Uint8Array } {
  if (m.shape[0] === 0) {
    // An empty ROI: one voxel of nothing on the first slice.
    const g = subGrid(ct.volume, [0, 0, 0], [1, 1, 1]);
    return { ref: { ...ct, volume: g, ...slicesOf(ct, 0, 1) }, data: new Uint8Array(1) };
  }
  const g = subGrid(ct.volume, m.lo, m.shape);
  return { ref: { ...ct, volume: g, ...slicesOf(ct, m.lo[2], m.lo[2] + m.shape[2]) }, data: m.data };
}

/** The images of slices [from, to). */
function slicesOf(ct: RtCtReference, from: number, to: number): Pick<RtCtReference, 'sopInstanceUIDs' | 'frameNumbers'> {
  return { sopInstanceUIDs: ct.sopInstanceUIDs.slice(from, to), ...(ct.frameNumbers ? { frameNumbers: ct.frameNumbers.slice(from, to) } : {}) };
}

function roiColour(roi: RoiPlan): [number, number, number] {
  const h = Rng.from('colour', roi.name);
  return [h.int(40, 255), h.int(40, 255), h.int(40, 255)];
}

/** A POINT contour at `at`, referencing the nearest CT slice. */
function pointContour(c: SynthCase, at: Vec3, ct: RtCtReference): Record<string, unknown> {
  const k = Math.min(ct.sopInstanceUIDs.length - 1, Math.max(0, Math.round(pointToIndex(c.ct, at)[2])));
  const idx = pointToIndex(c.ct, at);
  // Put the point exactly on the slice plane it references.
  const d = c.ct.direction, s = c.ct.spacing, o = c.ct.origin;
  const p = [0, 1, 2].map((r) => o[r]! + d[r * 3]! * s[0] * idx[0] + d[r * 3 + 1]! * s[1] * idx[1] + d[r * 3 + 2]! * s[2] * k);
  return {
    ContourImageSequence: [sliceImageReference(ct, k, ct.sopClassUID ?? SOP_CT_IMAGE)],
    ContourGeometricType: 'POINT',
    NumberOfContourPoints: 1,
    ContourNumber: 1,
    ContourData: p.map((x) => formatDS(x)),
  };
}
