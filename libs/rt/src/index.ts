/**
 * @anatomynet/rt: DICOM RTSTRUCT contours -> voxel masks, and masks -> RTSTRUCT.
 * Pixel-centre rule and even-odd holes when reading; exact round trip when writing.
 */
export { RtStructError } from './errors';
export { parseRtStruct, RT_STRUCTURE_SET_STORAGE, type RtRoi, type RtStructure } from './parse';
export { sliceImageReference, sliceLookup, type SliceImages, type SliceLookup } from './image-refs';
export { rasteriseRoi, type RtContour, type RasteriseStats } from './rasterise';
export { mergeLabels, type LabelledMask, type OverlapCount } from './merge';
export { traceSlice } from './trace';
export {
  buildRtStruct,
  writeRtStruct,
  type BuildRtStructOptions,
  type RtCtReference,
  type RtMaskSource,
  type RtRoiSpec,
} from './build';
export type { SliceGeometry } from './geometry';
export {
  ANATOMICAL_STRUCTURE,
  buildDicomSeg,
  SEGMENTATION_STORAGE,
  srgbToDicomLab,
  writeDicomSeg,
  type BuildSegOptions,
  type CodedConcept,
  type SegSegmentSpec,
} from './seg';
export { parseDicomSeg, segmentOnGrid, segmentsOnGrid, type ParsedSeg, type SegFrame, type SegOnGrid, type SegSegment } from './seg-parse';
