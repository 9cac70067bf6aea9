export * from './volume';
export { VolumeIOError, isVolumeIOError, type VolumeIOErrorCode } from './errors';
export { writeFileAtomic, gzipDeterministic, gunzipBounded, isGzip } from './fileio';
export {
  readDicomFile,
  writeDicomFile,
  parseDicomBuffer,
  encodeDicom,
  scanDicomTree,
  listFilesRecursive,
  uidFromSeed,
  isValidUid,
  DEFAULT_UID_ROOT,
  SOP_CT_IMAGE,
  SOP_RTSTRUCT,
  TS_EXPLICIT_LE,
  TS_IMPLICIT_LE,
  type DicomFile,
  type DicomScan,
  type CtSeriesInfo,
} from './dicom';
export { readCtSeries, writeCtSeries, type CtSeries, type WriteCtOptions } from './ct-series';
export { formatDS } from './geometry';
