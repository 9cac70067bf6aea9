export { LossInputError, sumVoxels, toCases, type LossContext, type MaskLike, type WeightsLike } from './inputs';
export { diceLoss, generalisedDiceLoss, tverskyLoss, type TverskyOptions } from './overlap';
export { crossEntropyLoss, expLogLoss, focalLoss, type ExpLogOptions } from './voxel';
export { buildLoss, resolveLossConfig, LOSSES, LOSS_NAMES, LossConfigError, type LossConfig, type LossFn, type LossName } from './registry';
export { caseMask, caseMasks, classWeights, type WeightNormalisation } from './availability';
export { hardDice, hardDiceFromLabels, type HardDice } from './metric';
export { marginalMask, marginalMergeMatrix, mergeMissingIntoBackground } from './marginal';
