/**
 * @anatomynet/curation: raw DICOM-RT / PDDCA folders -> a published nnU-Net v2 style dataset.
 * Name table, pairing, chest crop, availability, publishing, validation; and the synthetic cohort.
 */
export { ORGANS, ORGAN_KEYS, ORGAN_COLOURS, SNOMED_LATERALITY, findOrgan, organSegmentCodes, nnunetLabels, type Organ, type OrganKey } from './organs';
export {
  mapName,
  isPlanningStructure,
  nameTokens,
  parseNamesFile,
  caseOverrides,
  namesReport,
  type NameMapping,
  type NameOverrides,
  type NamesFile,
  type NameReportRow,
  type RawStructureName,
  type NameStatus,
} from './names';
export {
  computeCropBox,
  cropVolume,
  findBody,
  bodyAreaProfile,
  findShoulders,
  ensureOrgansInside,
  maskBounds,
  boxContains,
  type CropBox,
  type CropOptions,
  type CropResult,
} from './crop';
export { parseCropFile } from './cropfile';
export {
  availabilityOf,
  buildLabelMap,
  countLabels,
  maskToOffsets,
  offsetsBounds,
  voxelsToMl,
  type Availability,
  type LabelMap,
  type Overlap,
} from './labels';
export { pairStructureSets, extentInside, type CtSeriesRef, type RtStructRef, type Pair, type PairingResult, type Extent } from './pairing';
export { makeSplits, MICCAI2015_OFFSITE_TEST, type Splits, type SplitCase, type SplitOptions } from './splits';
export { sha256File, sha256Hex, formatSha256Sums, parseSha256Sums } from './hashing';
export {
  MANIFEST_SCHEMA_VERSION,
  TOOL_NAME,
  TOOL_VERSION,
  FILE_ENDING,
  checkManifestShape,
  type Manifest,
  type CaseRecord,
  type StructureRecord,
  type SkippedInput,
  type SourceKind,
} from './manifest';
export { organMeasures, type OrganMeasures } from './organ-measures';
export {
  annotationFindings,
  checksFlagging,
  predictionFindings,
  type ContourSource,
  BONE_MIN_HU,
  SOFT_TISSUE_HU,
  MIDLINE_TOLERANCE_MM,
  STRAY_GAP_MM,
  VOLUME_MIN_CASES,
  VOLUME_MODIFIED_Z,
  VOLUME_RATIO,
  type AnnotationCheck,
  type AnnotationFinding,
} from './annotation-checks';
export { buildAnnotationReview, buildContourReview, renderAnnotationReviewHtml, renderContourReviewHtml, type CaseGalleryEntry, type ReviewEntry, type ReviewImage } from './review';
export { discoverInputs, type Discovery, type PlannedCase, type SkippedItem } from './discover';
export { curateCase, imagePath, labelPath, type CaseTask, type CaseOutcome } from './case';
export { curateCohort, type CurateOptions, type CurateProgress, type CurateResult } from './cohort';
export { PUBLISHED_FILES } from './publish';
export { validateDataset, type ValidationReport } from './validate';
export { openDataset, loadCase, type PublishedDataset, type NnunetDatasetJson } from './dataset';
export { CurationInputError, NothingToPublishError } from './errors';
export { scrub } from './scrub';
export * from './synth';
