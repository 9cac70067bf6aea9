export * from './volume';
export { VolumeIOError, isVolumeIOError, type VolumeIOErrorCode } from './errors';
export { writeFileAtomic, gzipDeterministic, gunzipBounded, isGzip, DEFAULT_GZIP_LEVEL, MAX_VOLUME_BYTES } from './fileio';
export {
  readDicomFile,
  writeDicomFile,
  parseDicomBuffer,
  encodeDicom,
  scanDicomTree,
  listFilesRecursive,
  uidFromSeed,
  isLocalizer,
  isValidUid,
  DEFAULT_UID_ROOT,
  SOP_CT_IMAGE,
  SOP_ENHANCED_CT_IMAGE,
  SOP_LEGACY_ENHANCED_CT_IMAGE,
  SOP_RTSTRUCT,
  SOP_SEGMENTATION,
  TS_DEFLATED_LE,
  TS_EXPLICIT_BE,
  TS_EXPLICIT_LE,
  TS_IMPLICIT_LE,
  type DicomFile,
  type DicomScan,
  type CtSeriesInfo,
} from './dicom';
export { items as datasetItems, numbers as datasetNumbers, str as datasetString, type Item as DatasetItem } from './dataset-values';
export { imagePlanes, type ImagePlane } from './image-planes';
export { readCtSeries, writeCtSeries, type CtSeries, type WriteCtOptions } from './ct-series';
export { evenCtVolume, evenSliceGrid, evenSlices, hasUnevenSlices, pickSlices, type EvenSliceGrid, type EvenStack } from './even-slices';
export { writeEnhancedCt, type WriteEnhancedCtOptions } from './enhanced-ct';
export { formatDS } from './geometry';
export { readNifti, writeNifti, parseNifti, encodeNifti, type NiftiReadOptions, type NiftiWriteOptions } from './nifti';
export { readNrrd, writeNrrd, parseNrrd, type NrrdImage, type NrrdReadOptions, type NrrdWriteOptions } from './nrrd';
export { readVolume, writeVolume, volumeFormatOf, type VolumeFormat } from './volume-io';
export { notHounsfieldReason, replaceNotNumbers, NOT_A_NUMBER_HU } from './hounsfield';
export {
  decodeHtj2k, decodeJpeg2000, decodeJpeg2000Family, decodeJpegLs, decodeRle8, joinFragments, rleFrameCanHold, JPEG_2000_TRANSFER_SYNTAXES,
  TS_HTJ2K, TS_HTJ2K_LOSSLESS, TS_HTJ2K_LOSSLESS_RPCL, TS_JPEG_2000, TS_JPEG_2000_LOSSLESS, TS_JPEG_LS_LOSSLESS, TS_RLE_LOSSLESS,
} from './pixel-codecs';
