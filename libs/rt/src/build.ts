/**
 * Masks -> RTSTRUCT (naturalized dcmjs dataset). Contours are traced per slice so that rasterising them
 * with the pixel-centre rule gives back the same voxels (see trace.ts); points are in LPS mm through the
 * CT's geometry and per-slice positions; each contour references its CT slice.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_UID_ROOT, uidFromSeed, writeDicomFile } from '@anatomynet/data';
import { labelReader, type RtMaskSource } from './boxes';
import { formatDS } from './ds';
import { fromInPlane, sliceFrame, type SliceGeometry } from './geometry';
import { RT_STRUCTURE_SET_STORAGE } from './parse';
import { traceSlice } from './trace';
import { sliceImageReference } from './image-refs';

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
/** The SOP class RTReferencedStudySequence items conventionally name (retired Detached Study Management). */
const STUDY_COMPONENT_CLASS = '1.2.840.10008.3.1.2.3.1';

/** The CT series a structure set is drawn on (the shape of readCtSeries' result, plus patient fields). */
export interface RtCtReference {
  /** The CT grid; `slicePositionsMm` places each slice. */
  volume: SliceGeometry;
  seriesInstanceUID: string;
  studyInstanceUID: string;
  frameOfReferenceUID: string;
  /** SOPInstanceUID of slice k, one per slice (a multi-frame image's for each of its frames). */
  sopInstanceUIDs: readonly string[];
  /** For multi-frame (Enhanced CT) images: slice k's 1-based frame number in its image. */
  frameNumbers?: readonly number[];
  /** SOP class of the slices (default CT Image Storage). */
  sopClassUID?: string;
  patientId?: string;
  patientName?: string;
  patientBirthDate?: string;
  patientSex?: string;
  studyDate?: string;
  studyTime?: string;
  studyId?: string;
  accessionNumber?: string;
  referringPhysicianName?: string;
}

/** One ROI to write: its value in the labelmap (or its mask's label), name and display colour. */
export interface RtRoiSpec {
  label: number;
  name: string;
  color: [number, number, number];
  /** ROINumber (default: the label). */
  number?: number;
}

export type { RtMaskSource };

export interface BuildRtStructOptions {
  /**
   * UIDs of the new instance and series. By default they are derived (uidFromSeed under `uidRoot`)
   * from the CT series UID and a hash of the ROIs and their contours: the same masks on the same CT
   * give the same UIDs, different masks different ones.
   */
  sopInstanceUID?: string;
  seriesInstanceUID?: string;
  /** Root for derived UIDs (default DEFAULT_UID_ROOT of @anatomynet/data). */
  uidRoot?: string;
  structureSetLabel?: string;
  structureSetName?: string;
  seriesDescription?: string;
  seriesNumber?: number;
  instanceNumber?: number;
  manufacturer?: string;
  /** Written as ROIGenerationDescription of every ROI (e.g. the model and checkpoint). */
  generationDescription?: string;
  /** DICOM DA/TM of the structure set; empty by default (type 2), so outputs stay free of dates. */
  structureSetDate?: string;
  structureSetTime?: string;
  /** Called after each ROI is traced: (ROIs done, ROIs in all). */
  onProgress?: (done: number, total: number) => void;
}

type Item = Record<string, unknown>;

/**
 * Builds an RTSTRUCT dataset from masks on a CT grid.
 * @param source labelmap (nx*ny*nz, i fastest) or per-label 0/1 masks of the same size.
 * @param ct the CT series: geometry, UIDs, one SOPInstanceUID per slice, patient/study fields.
 * @param rois the ROIs to write, in order; an ROI with no voxels is listed without contours.
 * @returns a naturalized dataset (dcmjs), SOPClassUID RT Structure Set Storage, Modality RTSTRUCT.
 * @throws RangeError when sizes disagree, a mask is missing for an ROI, labels/numbers repeat, or a text
 *   is longer than its DICOM VR allows (SH 16, LO 64 characters).
 */
export function buildRtStruct(source: RtMaskSource, ct: RtCtReference, rois: readonly RtRoiSpec[], opts: BuildRtStructOptions = {}): Item {
  const f = sliceFrame(ct.volume);
  if (ct.sopInstanceUIDs.length !== f.nz) throw new RangeError(`buildRtStruct: ${ct.sopInstanceUIDs.length} SOP instance UIDs for ${f.nz} slices`);
  if (ct.frameNumbers && ct.frameNumbers.length !== f.nz) throw new RangeError(`buildRtStruct: ${ct.frameNumbers.length} frame numbers for ${f.nz} slices`);
  if (rois.length === 0) throw new RangeError('buildRtStruct: no ROIs to write (StructureSetROISequence needs at least one)');
  // Planning systems refuse a value longer than its VR allows (dciodvfy: "Length invalid for this VR").
  const texts: [string, string | undefined, number][] = [
    ['structureSetLabel (SH)', opts.structureSetLabel, 16], ['structureSetName (LO)', opts.structureSetName, 64],
    ['seriesDescription (LO)', opts.seriesDescription, 64], ['manufacturer (LO)', opts.manufacturer, 64],
    ['generationDescription (LO)', opts.generationDescription, 64], ...rois.map((r): [string, string, number] => [`ROI name (LO) ${JSON.stringify(r.name)}`, r.name, 64]),
  ];
  for (const [what, value, max] of texts) {
    if (value !== undefined && value.length > max) throw new RangeError(`buildRtStruct: ${what} has ${value.length} characters, more than the ${max} DICOM allows`);
  }
  const numbersSeen = new Set<number>();
  for (const r of rois) {
    const n = r.number ?? r.label;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`buildRtStruct: ROI ${r.name} has ROINumber ${n}`);
    if (numbersSeen.has(n)) throw new RangeError(`buildRtStruct: ROINumber ${n} given twice`);
    numbersSeen.add(n);
  }
  // Where each ROI lies, slice by slice (one pass per volume), so tracing visits only those boxes.
  const dataFor = labelReader(source, f.nx, f.ny, f.nz, 'buildRtStruct');
  const imageClass = ct.sopClassUID ?? CT_IMAGE_STORAGE;
  const imageRef = (k: number): Item => sliceImageReference(ct, k, imageClass);

  const contentHash = createHash('sha256');
  const structureSetRois: Item[] = [];
  const roiContours: Item[] = [];
  const observations: Item[] = [];
  rois.forEach((r, index) => {
    const number = r.number ?? r.label;
    const { data, match, boxes } = dataFor(r.label);
    const contours: Item[] = [];
    for (let k = 0; k < f.nz; k++) {
      const box = boxes[k];
      if (!box) continue;
      for (const loop of traceSlice(data, f.nx, f.ny, k * f.nx * f.ny, match, box)) {
        const lps = fromInPlane(f, loop, k);
        const contourData = Array.from(lps, (x) => formatDS(x));
        contentHash.update(`${number}|${k}|${contourData.join('\\')}\n`);
        contours.push({
          ContourImageSequence: [imageRef(k)],
          ContourGeometricType: 'CLOSED_PLANAR',
          NumberOfContourPoints: lps.length / 3,
          ContourNumber: contours.length + 1,
          ContourData: contourData,
        });
      }
    }
    contentHash.update(`roi ${number} ${r.name} ${r.color.join(',')}\n`);
    const ssRoi: Item = {
      ROINumber: number,
      ReferencedFrameOfReferenceUID: ct.frameOfReferenceUID,
      ROIName: r.name,
      ROIGenerationAlgorithm: 'AUTOMATIC',
    };
    if (opts.generationDescription) ssRoi.ROIGenerationDescription = opts.generationDescription;
    structureSetRois.push(ssRoi);
    const roiContour: Item = { ROIDisplayColor: r.color.map((c) => Math.max(0, Math.min(255, Math.round(c)))), ReferencedROINumber: number };
    if (contours.length) roiContour.ContourSequence = contours;
    roiContours.push(roiContour);
    observations.push({ ObservationNumber: index + 1, ReferencedROINumber: number, RTROIInterpretedType: 'ORGAN', ROIInterpreter: '' });
    opts.onProgress?.(index + 1, rois.length);
  });

  const digest = contentHash.digest('hex');
  const root = opts.uidRoot ?? DEFAULT_UID_ROOT;
  const seriesInstanceUID = opts.seriesInstanceUID ?? uidFromSeed(root, 'rtstruct-series', ct.seriesInstanceUID, digest);
  const sopInstanceUID = opts.sopInstanceUID ?? uidFromSeed(root, 'rtstruct-instance', ct.seriesInstanceUID, digest);
  const dataset: Item = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: RT_STRUCTURE_SET_STORAGE,
    SOPInstanceUID: sopInstanceUID,
    StudyDate: ct.studyDate ?? '',
    StudyTime: ct.studyTime ?? '',
    AccessionNumber: ct.accessionNumber ?? '',
    Modality: 'RTSTRUCT',
    Manufacturer: opts.manufacturer ?? 'anatomynet-ts',
    ReferringPhysicianName: ct.referringPhysicianName ?? '',
    SeriesDescription: opts.seriesDescription ?? 'Automatic OAR segmentation',
    OperatorsName: '',
    PatientName: ct.patientName ?? '',
    PatientID: ct.patientId ?? '',
    PatientBirthDate: ct.patientBirthDate ?? '',
    PatientSex: ct.patientSex ?? '',
    StudyInstanceUID: ct.studyInstanceUID,
    SeriesInstanceUID: seriesInstanceUID,
    StudyID: ct.studyId ?? '',
    // Frame of Reference module (required by current editions of the RT Structure Set IOD).
    FrameOfReferenceUID: ct.frameOfReferenceUID,
    PositionReferenceIndicator: '',
    SeriesNumber: opts.seriesNumber ?? 1,
    InstanceNumber: opts.instanceNumber ?? 1,
    StructureSetLabel: opts.structureSetLabel ?? 'AUTO',
    ...(opts.structureSetName ? { StructureSetName: opts.structureSetName } : {}),
    StructureSetDate: opts.structureSetDate ?? '',
    StructureSetTime: opts.structureSetTime ?? '',
    ReferencedFrameOfReferenceSequence: [
      {
        FrameOfReferenceUID: ct.frameOfReferenceUID,
        RTReferencedStudySequence: [
          {
            ReferencedSOPClassUID: STUDY_COMPONENT_CLASS,
            ReferencedSOPInstanceUID: ct.studyInstanceUID,
            RTReferencedSeriesSequence: [
              { SeriesInstanceUID: ct.seriesInstanceUID, ContourImageSequence: ct.sopInstanceUIDs.map((_, k) => imageRef(k)) },
            ],
          },
        ],
      },
    ],
    StructureSetROISequence: structureSetRois,
    ROIContourSequence: roiContours,
    RTROIObservationsSequence: observations,
  };
  return dataset;
}

/**
 * Builds an RTSTRUCT (see buildRtStruct) and writes it to `path` atomically, explicit VR little endian.
 * @returns the dataset written.
 * @throws VolumeIOError when the file cannot be written; RangeError as buildRtStruct.
 */
export function writeRtStruct(path: string, source: RtMaskSource, ct: RtCtReference, rois: readonly RtRoiSpec[], opts: BuildRtStructOptions = {}): Item {
  const dataset = buildRtStruct(source, ct, rois, opts);
  writeDicomFile(path, dataset);
  return dataset;
}
