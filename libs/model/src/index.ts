export {
  DEFAULT_MODEL_CONFIG,
  MODEL_CONFIGS_DIR,
  ModelConfigError,
  readModelConfigFile,
  validateModelConfig,
  type BlockType,
  type ModelConfig,
  type NormType,
  type SkipMerge,
} from './config';
export { buildModel, checkRecompute, createModel, forward, recomputeOption, segmentNames, type AnatomyNetModel, type ForwardOptions, type Recompute } from './model';
export { predict, trainStep, type ProbabilityLoss } from './train';
export { summarizeModel, parameterSpecs, type ModelSummary, type OpRecord, type ParamSpec } from './summary';
export { loadModel, saveModel, ModelFileError, type SavedModelManifest } from './io';
export { addBiasRows, cropStart5, depthToSpace2, normalizeGroups, padEnd5, scaleChannels, releaseKeptOnes, sumRows, updateRunningStats } from './ops';
export { formatSummary } from './format';
