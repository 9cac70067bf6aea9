/**
 * Synthetic head-and-neck cohort: analytic anatomy in patient mm, sampled on varied scan grids and
 * written as DICOM CT + RTSTRUCT or PDDCA NRRD, with ground truth.
 */
export { writeSynthCohort, writeSynthCase, cohortFormats, type SynthCaseTask, SynthOutputError, SYNTH_TRUTH_FILE, type SynthCohortOptions, type SynthProgress, type SynthTruth } from './cohort';
export { generateCase, organMask, roiMask, dilateMask, type SynthCase, type SynthCaseOptions, type SynthFormat } from './case';
export { writeCase, type CaseTruth, type OrganTruth, type RoiTruth } from './write';
export { SYNTH_ORGANS, type SynthOrgan } from './tissues';
export { samplePatient, type Patient, type ExtraStructure } from './patient';
export { sampleScanGeometry, type ScanGeometry, type PatientPosition, type SynthSize } from './geometry';
export { drawAnnotated, planRois, type RoiPlan, type RoiRole, type RoiSource } from './rois';
export { STEM_VARIANTS, type NamingStyle } from './names';
export { rasteriseShape, shapeVolumeMm3, type Grid } from './raster';
export { Rng } from './prng';
export { plantAnnotationError, maskWithStray, movedMask, SYNTH_ANNOTATION_ERRORS, STRAY_CONTOUR_MM, MOVED_CONTOUR_MM, type SynthAnnotationError, type SynthAnnotationErrorKind } from './errors';
