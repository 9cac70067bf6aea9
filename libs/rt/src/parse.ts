/**
 * Naturalized RTSTRUCT dataset (dcmjs) -> ROIs with their contours in LPS mm, and what the structure set
 * references. Optional parts may be missing (ContourImageSequence, RTROIObservationsSequence,
 * ReferencedFrameOfReferenceSequence, ROIDisplayColor); a file missing what makes it a structure set,
 * or with unreadable contour data, raises an RtStructError naming the file.
 */
import { datasetItems as items, datasetNumbers as numbers, datasetString as str } from '@anatomynet/data';
import { RtStructError } from './errors';
import type { RtContour } from './rasterise';

export const RT_STRUCTURE_SET_STORAGE = '1.2.840.10008.5.1.4.1.1.481.3';

/** One ROI of a structure set. */
export interface RtRoi {
  /** ROINumber. */
  number: number;
  /** ROIName, trimmed ('' when absent). */
  name: string;
  /** ROIDisplayColor [r, g, b] 0..255, when given. */
  color?: [number, number, number];
  /** RTROIInterpretedType (ORGAN, PTV, ...), when an observation gives it. */
  interpretedType?: string;
  /** ReferencedFrameOfReferenceUID of the ROI, when given. */
  frameOfReferenceUID?: string;
  contours: RtContour[];
}

/** A parsed structure set. */
export interface RtStructure {
  path: string;
  sopInstanceUID?: string;
  structureSetLabel?: string;
  /** Frames of reference named by ReferencedFrameOfReferenceSequence and by the ROIs, sorted, unique. */
  frameOfReferenceUIDs: string[];
  /** Studies named by RTReferencedStudySequence, sorted, unique. */
  referencedStudyUIDs: string[];
  /** Series named by RTReferencedSeriesSequence, sorted, unique. */
  referencedSeriesUIDs: string[];
  /** Every SOP instance referenced (series' ContourImageSequence and each contour's), sorted, unique. */
  referencedSOPInstanceUIDs: string[];
  /** ROIs in StructureSetROISequence order. */
  rois: RtRoi[];
  /** Oddities that did not stop the parse (a contour for an unknown ROI, a point count mismatch, ...). */
  warnings: string[];
}

/**
 * Reads an RTSTRUCT's ROIs and references.
 * @param dataset a dcmjs naturalized dataset (e.g. `readDicomFile(path).dataset`).
 * @param path the file, for messages.
 * @throws RtStructError when the dataset is not an RT Structure Set, has no StructureSetROISequence,
 *   an ROI without a usable ROINumber, a repeated ROINumber, or ContourData that is not a list of
 *   finite numbers in groups of three.
 */
export function parseRtStruct(dataset: Record<string, unknown>, path: string): RtStructure {
  const sopClass = str(dataset.SOPClassUID);
  const modality = str(dataset.Modality);
  if (sopClass !== RT_STRUCTURE_SET_STORAGE && modality !== 'RTSTRUCT') {
    throw new RtStructError(path, `not an RT Structure Set (SOPClassUID ${sopClass ?? 'missing'}, Modality ${modality ?? 'missing'})`);
  }
  if (!('StructureSetROISequence' in dataset)) throw new RtStructError(path, 'StructureSetROISequence is missing');
  const warnings: string[] = [];
  const frames = new Set<string>(), studies = new Set<string>(), series = new Set<string>(), sops = new Set<string>();

  for (const fr of items(dataset.ReferencedFrameOfReferenceSequence)) {
    const uid = str(fr.FrameOfReferenceUID);
    if (uid) frames.add(uid);
    for (const st of items(fr.RTReferencedStudySequence)) {
      const studyUid = str(st.ReferencedSOPInstanceUID);
      if (studyUid) studies.add(studyUid);
      for (const se of items(st.RTReferencedSeriesSequence)) {
        const seriesUid = str(se.SeriesInstanceUID);
        if (seriesUid) series.add(seriesUid);
        for (const im of items(se.ContourImageSequence)) {
          const sop = str(im.ReferencedSOPInstanceUID);
          if (sop) sops.add(sop);
        }
      }
    }
  }

  const rois: RtRoi[] = [];
  const byNumber = new Map<number, RtRoi>();
  items(dataset.StructureSetROISequence).forEach((it, index) => {
    const number = numbers(it.ROINumber)[0];
    if (number === undefined || !Number.isInteger(number)) {
      throw new RtStructError(path, `StructureSetROISequence item ${index + 1} has no integer ROINumber`);
    }
    if (byNumber.has(number)) throw new RtStructError(path, `ROINumber ${number} is used twice in StructureSetROISequence`);
    const roi: RtRoi = { number, name: str(it.ROIName) ?? '', contours: [] };
    const fr = str(it.ReferencedFrameOfReferenceUID);
    if (fr) {
      roi.frameOfReferenceUID = fr;
      frames.add(fr);
    }
    byNumber.set(number, roi);
    rois.push(roi);
  });

  items(dataset.ROIContourSequence).forEach((it, index) => {
    const number = numbers(it.ReferencedROINumber)[0];
    const roi = number === undefined ? undefined : byNumber.get(number);
    if (!roi) {
      warnings.push(`ROIContourSequence item ${index + 1} refers to ROI ${number ?? '(none)'} not in StructureSetROISequence; skipped`);
      return;
    }
    const color = numbers(it.ROIDisplayColor);
    if (color.length === 3 && color.every((c) => Number.isFinite(c))) roi.color = [color[0], color[1], color[2]];
    items(it.ContourSequence).forEach((c, ci) => {
      const where = `ROI ${roi.number} (${roi.name}) contour ${ci + 1}`;
      const raw = numbers(c.ContourData);
      if (raw.length % 3 !== 0) throw new RtStructError(path, `${where}: ContourData has ${raw.length} values, not a multiple of 3`);
      if (!raw.every((x) => Number.isFinite(x))) throw new RtStructError(path, `${where}: ContourData holds a value that is not a number`);
      const declared = numbers(c.NumberOfContourPoints)[0];
      if (declared !== undefined && declared !== raw.length / 3) {
        warnings.push(`${where}: NumberOfContourPoints ${declared} but ${raw.length / 3} points given; the points are used`);
      }
      const contour: RtContour = { geometricType: str(c.ContourGeometricType) ?? '', points: Float64Array.from(raw) };
      const images = items(c.ContourImageSequence);
      const refs = images.map((im) => str(im.ReferencedSOPInstanceUID)).filter((s): s is string => !!s);
      for (const r of refs) sops.add(r);
      if (refs.length) contour.referencedSOPInstanceUID = refs[0];
      const frame = numbers(images[0]?.ReferencedFrameNumber)[0];
      if (refs.length && Number.isInteger(frame)) contour.referencedFrameNumber = frame;
      roi.contours.push(contour);
    });
  });

  for (const ob of items(dataset.RTROIObservationsSequence)) {
    const roi = byNumber.get(numbers(ob.ReferencedROINumber)[0]);
    const type = str(ob.RTROIInterpretedType);
    if (roi && type && roi.interpretedType === undefined) roi.interpretedType = type;
  }

  const sorted = (s: Set<string>) => [...s].sort();
  return {
    path,
    ...(str(dataset.SOPInstanceUID) ? { sopInstanceUID: str(dataset.SOPInstanceUID) } : {}),
    ...(str(dataset.StructureSetLabel) ? { structureSetLabel: str(dataset.StructureSetLabel) } : {}),
    frameOfReferenceUIDs: sorted(frames),
    referencedStudyUIDs: sorted(studies),
    referencedSeriesUIDs: sorted(series),
    referencedSOPInstanceUIDs: sorted(sops),
    rois,
    warnings,
  };
}
