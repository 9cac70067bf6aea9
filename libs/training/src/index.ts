export { PUBLIC_CODE_AUGMENT, LR_LABEL_PAIRS, applyField, drawSamplingField, type AugmentConfig, type SamplingField } from './augment';
export { mulberry32, deriveSeed, type Rng } from './random';
export { resampledShape, resampleLinear, resampleNearest } from './resample';
export { windowHu, PUBLIC_CODE_WINDOW, type HuWindow } from './intensity';
export { DEFAULT_RUN_CONFIG, RunConfigError, mergeConfig, resolveRunConfig, runConfigDigest, type RunConfig, type DataConfig, type ScheduleConfig } from './run-config';
export { DatasetError, openDataset, prepareCase, trainingCases, manifestDigestOf, type Dataset, type PreparedCase } from './dataset';
export { trainRun, NonFiniteLossError, type TrainOptions, type TrainProgress, type TrainResult } from './trainer';
export { GridFileError, planGrid, readGridFile, runGrid, gridNameOf, type GridFile, type GridCellPlan, type CellOutcome } from './grid';
export { predictLabels, keepLargestComponents, evaluateOnSourceGrid } from './evaluate';
