/**
 * Inference for new CTs: a DICOM series folder, NIfTI or NRRD in; a NIfTI label map and (for DICOM input)
 * a DICOM RTSTRUCT, for planning systems, and a DICOM SEG, for viewers and archives that keep labels as
 * images, both referencing the input series and its frame of reference, with TG-263 names and colours.
 */
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { evenSlices, isVolumeIOError, notHounsfieldReason, pickSlices, readCtSeries, replaceNotNumbers, readDicomFile, readVolume, scanDicomTree, volumeFormatOf, writeFileAtomic, writeNifti, type CtSeries, type Volume } from '@anatomynet/data';
import { ANATOMICAL_STRUCTURE, writeDicomSeg, writeRtStruct, type RtCtReference, type RtRoiSpec, type SegSegmentSpec } from '@anatomynet/rt';
import { buildContourReview, countLabels, ORGAN_COLOURS, ORGANS, organMeasures, organSegmentCodes, predictionFindings, renderContourReviewHtml, type AnnotationFinding, type OrganKey } from '@anatomynet/curation';
import { toNetworkGrid } from './dataset';
import { keepLargestComponents, membersOf, predictOnSourceGrid, type Predictor } from './evaluate';
import type { HuWindow } from './intensity';
import type { TileOptions } from './sliding-window';

/** Display colours per organ (RGB): the curator's, so its review pictures and the RTSTRUCT agree. */
export { ORGAN_COLOURS };

export class SegmentInputError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'SegmentInputError';
  }
}

export interface LoadedInput {
  /** The CT on a uniform grid (a DICOM series whose slice steps vary: resampled, see `evenSlices`). */
  volume: Volume;
  /** Present when the input was a DICOM series (the RTSTRUCT references it), its slices as acquired. */
  series?: CtSeries;
  /** Per slice of `series`, its plane of `volume`, when the two differ (slice steps that vary). */
  seriesSlicePlanes?: Int32Array;
  /** What a person should know about the input (the series reader's warnings, a resampling). */
  warnings: string[];
  /** Voxels that were not numbers (NaN, outside the scan in float images), segmented as air. */
  notNumbers?: number;
}

/**
 * Reads a DICOM series folder (exactly one CT series, or the one named), an Enhanced CT file, a NIfTI or an NRRD volume, with
 * NaN voxels as air, and (unless `huCheck` is false) refuses one that does not look like a CT in
 * Hounsfield units.
 */
export function loadInputCt(path: string, seriesUid?: string, { huCheck = true, acceptLossy = false }: { huCheck?: boolean; acceptLossy?: boolean } = {}): LoadedInput {
  const read = readInput(path, seriesUid, acceptLossy);
  // NaN would run through the network as NaN, spreading over its receptive field
  const { data, count } = replaceNotNumbers(read.volume.data);
  const input = count ? { ...read, volume: { ...read.volume, data }, notNumbers: count } : read;
  const notHu = huCheck ? notHounsfieldReason(input.volume.data) : undefined;
  if (notHu) {
    throw new SegmentInputError(path, `does not look like a CT in Hounsfield units (${notHu}): a mask, an MR image, ` +
      'or stored values without RescaleSlope/Intercept applied? Its segmentation would be noise; --no-hu-check segments it anyway');
  }
  return input;
}

function readInput(path: string, seriesUid: string | undefined, acceptLossy: boolean): LoadedInput {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new SegmentInputError(path, 'does not exist');
  }
  if (!isDir) return isVolumeFile(path) ? { volume: readVolume(path), warnings: [] } : dicomFileInput(path, acceptLossy);
  const scan = scanDicomTree(path);
  const series = seriesUid ? scan.ctSeries.filter((s) => s.seriesInstanceUID === seriesUid) : scan.ctSeries;
  if (series.length === 0) throw new SegmentInputError(path, seriesUid ? `no CT series ${seriesUid}` : 'no CT series found in this folder');
  if (series.length > 1) {
    throw new SegmentInputError(path, `${series.length} CT series found; choose one with --series (${series.map((s) => s.seriesInstanceUID).join(', ')})`);
  }
  return seriesInput(readCtSeries(series[0].files, { acceptLossy }), path);
}

/** A DICOM series as input: the network runs on a uniform grid, the RTSTRUCT and SEG go on its slices. */
function seriesInput(ct: CtSeries, path: string): LoadedInput {
  const even = evenSlices(ct.volume, path);
  if (!even) return { volume: ct.volume, series: ct, warnings: [...ct.warnings] };
  return { volume: even.volume, series: ct, seriesSlicePlanes: even.grid.nearestPlane, warnings: [...ct.warnings, `${even.note}; the RTSTRUCT and SEG take each slice's labels from its nearest plane`] };
}

function isVolumeFile(path: string): boolean {
  try {
    volumeFormatOf(path);
    return true;
  } catch {
    return false;
  }
}

/** A file that is no NIfTI or NRRD volume: one DICOM CT image (an Enhanced CT holds the whole series). */
function dicomFileInput(path: string, acceptLossy: boolean): LoadedInput {
  let ct: CtSeries;
  try {
    ct = readCtSeries([path], { acceptLossy });
  } catch (e) {
    if (isVolumeIOError(e, 'NOT_DICOM')) throw new SegmentInputError(path, 'neither a NIfTI or NRRD volume (.nii, .nii.gz, .nrrd, .nhdr) nor a DICOM file; give a CT volume, a DICOM series folder or an Enhanced CT file');
    throw e;
  }
  return seriesInput(ct, path);
}

export interface SegmentOptions {
  huWindow: HuWindow;
  /** The training grid spacing the model expects (null: the input's own). */
  spacingMm: [number, number, number] | null;
  largestComponent: boolean;
  /** With largestComponent: also keep components of at least this share of the largest (default 1). */
  componentMinShare?: number;
  /** Average with the left-right mirrored CT's prediction (see `PredictOptions`). */
  mirror?: boolean;
  /** Sliding-window inference over tiles of the network grid (see `PredictOptions`). */
  tile?: TileOptions;
}

/** Label map on the input's own grid. */
export async function segmentVolume(model: Predictor, volume: Volume, o: SegmentOptions): Promise<Uint8Array> {
  // The same grid the network was trained on: windowed, canonical orientation, training spacing.
  const net = toNetworkGrid(volume, null, o);
  const labels = await predictOnSourceGrid(model, net.image, net.shape, volume.shape, net.orientation, { mirror: o.mirror, ...(o.tile ? { tile: o.tile } : {}) });
  return o.largestComponent ? keepLargestComponents(labels, volume.shape, membersOf(model)[0].config.numClasses, o.componentMinShare ?? 1) : labels;
}

/** The DICOM objects `writeSegmentation` can write for DICOM input. */
export type DicomOutput = 'rtstruct' | 'seg';

export interface SegmentationFiles {
  labelsPath: string;
  /** Present when the input was a DICOM series. */
  rtstructPath?: string;
  /** The DICOM SEG, present when the input was a DICOM series. */
  segPath?: string;
  /** Voxels per organ (TG-263 name), 0 for organs not found. */
  voxelsPerOrgan: Record<string, number>;
}

export interface SegmentFilesResult extends SegmentationFiles {
  seconds: number;
  findings: ContourFinding[];
  /** `review.html`, when asked for. */
  reviewPath?: string;
}

/** A reason to look at an automatic contour before using it (see {@link contourFindings}). */
export type ContourFinding = Omit<AnnotationFinding, 'caseId'>;

/**
 * The curator's per-case checks on a model's contours of one scan: a left organ to the patient's right of
 * its partner or across the midline organs, a piece far from the rest of its organ, a mean CT number
 * unlike the organ's tissue (the mandible off bone, a gland on air) and, given the organ volumes of the
 * model's training cases (seen-cases.ts `trainingVolumes`), a volume far from theirs. Findings change
 * nothing; they tell the physicist which contours to look at first.
 * @param labels organ index 0..9 per voxel on `volume`'s grid; `volume` holds HU.
 */
export function contourFindings(labels: Uint8Array, volume: Volume, trainingMl: Partial<Record<OrganKey, readonly number[]>> = {}): ContourFinding[] {
  const label = { data: labels, shape: volume.shape, spacing: volume.spacing, origin: volume.origin, direction: volume.direction };
  const measures = organMeasures(label, volume, { boneAlignment: false });
  return predictionFindings({ caseId: '', voxels: countLabels(labels), spacing: volume.spacing, measures }, trainingMl).map(({ caseId: _id, ...f }) => f);
}

/**
 * Writes a label map on the input's grid (`input.volume`) as `outDir/labels.nii.gz` (uint8, its geometry) and,
 * for DICOM input, `outDir/rtstruct.dcm`: one ROI per organ (TG-263 name, display colour; organs without
 * voxels listed without contours) that references the input series, its study and frame of reference, and
 * `outDir/seg.dcm`: a binary DICOM Segmentation of the same voxels, one segment per organ (TG-263 label,
 * SNOMED CT type and laterality, the same colour), a frame per organ per slice it occupies; `o.dicom`
 * chooses which of the two (default both). Both are drawn on the series' slices as acquired: where those
 * were resampled onto `input.volume`'s uniform grid, each takes the labels of its nearest plane.
 * @param labels organ index 0..9 per voxel, [nx, ny, nz] i fastest, on `input.volume`'s grid.
 * @throws RangeError when `labels` does not have one value per input voxel or holds a value above 9.
 */
export function writeSegmentation(labels: Uint8Array, input: LoadedInput, outDir: string, o: { generationDescription?: string; dicom?: readonly DicomOutput[] } = {}): SegmentationFiles {
  const v = input.volume;
  const voxels = v.shape[0] * v.shape[1] * v.shape[2];
  if (labels.length !== voxels) throw new RangeError(`writeSegmentation: ${labels.length} labels for ${v.shape.join('x')} = ${voxels} voxels`);
  const voxelsPerOrgan: Record<string, number> = {};
  for (const org of ORGANS) voxelsPerOrgan[org.tg263] = 0;
  for (const l of labels) {
    if (!l) continue;
    if (l > ORGANS.length) throw new RangeError(`writeSegmentation: label ${l} is not an organ (1..${ORGANS.length})`);
    voxelsPerOrgan[ORGANS[l - 1].tg263]++;
  }
  const labelsPath = join(outDir, 'labels.nii.gz');
  writeNifti(labelsPath, { data: labels, shape: v.shape, spacing: v.spacing, origin: v.origin, direction: v.direction });
  const dicom = new Set(o.dicom ?? ['rtstruct', 'seg']);
  if (!input.series || dicom.size === 0) return { labelsPath, voxelsPerOrgan };
  const s = input.series;
  const first = readDicomFile(s.files[0], { pixelData: false }).dataset;
  // the acquired slices' labels, where the network's grid is not theirs
  const onSlices = input.seriesSlicePlanes ? pickSlices(labels, v.shape[0] * v.shape[1], input.seriesSlicePlanes) : labels;
  const rois: RtRoiSpec[] = ORGANS.map((org) => ({ label: org.index, name: org.tg263, color: ORGAN_COLOURS[org.index] }));
  const ct: RtCtReference = {
    volume: s.volume,
    seriesInstanceUID: s.seriesInstanceUID,
    studyInstanceUID: s.studyInstanceUID,
    frameOfReferenceUID: s.frameOfReferenceUID,
    sopInstanceUIDs: s.sopInstanceUIDs,
    ...(s.frameNumbers ? { frameNumbers: s.frameNumbers } : {}),
    sopClassUID: s.sopClassUID,
    patientId: first.PatientID,
    patientName: typeof first.PatientName === 'string' ? first.PatientName : first.PatientName?.[0]?.Alphabetic,
    patientBirthDate: first.PatientBirthDate,
    patientSex: first.PatientSex,
    studyDate: first.StudyDate,
    studyTime: first.StudyTime,
    studyId: first.StudyID,
    accessionNumber: first.AccessionNumber,
    referringPhysicianName: typeof first.ReferringPhysicianName === 'string' ? first.ReferringPhysicianName : undefined,
  };
  const written: Pick<SegmentationFiles, 'rtstructPath' | 'segPath'> = {};
  if (dicom.has('rtstruct')) {
    written.rtstructPath = join(outDir, 'rtstruct.dcm');
    writeRtStruct(written.rtstructPath, { labelmap: onSlices }, ct, rois, {
      structureSetLabel: 'AnatomyNet',
      seriesDescription: 'AnatomyNet automatic contours',
      generationDescription: o.generationDescription,
    });
  }
  if (!dicom.has('seg')) return { labelsPath, ...written, voxelsPerOrgan };
  const segments: SegSegmentSpec[] = ORGANS.map((org) => ({
    label: org.index,
    name: org.tg263,
    color: ORGAN_COLOURS[org.index],
    category: ANATOMICAL_STRUCTURE,
    ...organSegmentCodes(org),
  }));
  written.segPath = join(outDir, 'seg.dcm');
  writeDicomSeg(written.segPath, { labelmap: onSlices }, ct, segments, {
    seriesDescription: 'AnatomyNet automatic segmentation',
    seriesNumber: 2,
    algorithmName: 'AnatomyNet',
    contentLabel: 'ANATOMYNET',
    ...(o.generationDescription ? { contentDescription: o.generationDescription } : {}),
  });
  return { labelsPath, ...written, voxelsPerOrgan };
}

/**
 * Segments one CT and writes `labels.nii.gz` (uint8, input geometry) and, for DICOM input, `rtstruct.dcm`
 * and `seg.dcm` (see writeSegmentation); returns them with the seconds the segmentation took and the
 * contours' findings ({@link contourFindings}). With `review`, also `review.html`: each finding's slices
 * and every organ drawn over the CT (curation's `buildContourReview`), one offline page.
 */
export async function segmentToFiles(
  model: Predictor, input: LoadedInput, outDir: string,
  o: SegmentOptions & { generationDescription?: string; dicom?: readonly DicomOutput[]; trainingVolumesMl?: Partial<Record<OrganKey, readonly number[]>>; review?: { input: string; models: readonly string[] } },
): Promise<SegmentFilesResult> {
  const t0 = performance.now();
  const labels = await segmentVolume(model, input.volume, o);
  const seconds = (performance.now() - t0) / 1000;
  const files = writeSegmentation(labels, input, outDir, { generationDescription: o.generationDescription, ...(o.dicom ? { dicom: o.dicom } : {}) });
  const findings = contourFindings(labels, input.volume, o.trainingVolumesMl);
  if (!o.review) return { ...files, seconds, findings };
  const reviewPath = join(outDir, 'review.html');
  writeFileAtomic(reviewPath, renderContourReviewHtml(o.review, buildContourReview(input.volume, labels, findings, basename(o.review.input))));
  return { ...files, seconds, findings, reviewPath };
}

/**
 * Output folder names for several inputs segmented in one command: each input's file or folder name
 * without its image extension, made safe for a path, and numbered `-2`, `-3` where two would coincide
 * (patientA/CT and patientB/CT).
 */
export function outputNamesFor(inputs: readonly string[]): string[] {
  const taken = new Set<string>();
  return inputs.map((input) => {
    const name = basename(input.replace(/[\\/]+$/, '')).replace(/\.(nii\.gz|nii|nrrd|nhdr)$/i, '').replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'input';
    let unique = name;
    for (let k = 2; taken.has(unique); k++) unique = `${name}-${k}`;
    taken.add(unique);
    return unique;
  });
}
