export * from './backend';
export * from './webgpu';
export * from './cpu';
export { kernelSeconds, settle, timeBatched, type BatchTiming, type KernelTiming } from './timing';
export { FusedMomentumOptimizer, FusedRmspropOptimizer, momentumOptimizer, rmspropOptimizer } from './optimizers';
export { exclusiveData, MOMENTUM_UPDATE, MOMENTUM_UPDATE_IN_PLACE, RMSPROP_UPDATE, RMSPROP_UPDATE_IN_PLACE } from './optimizer-kernels';
export { GROUP_NORM, GROUP_NORM_DX, GROUP_NORM_GRAD, GROUP_NORM_SUMS, RUNNING_STATS_IN_PLACE } from './group-norm';
export { LEAKY_RELU_GRAD, SOFTMAX_GRAD } from './fused-gradients';
export { ADD_LEAKY_RELU, FUSED_CONV3D, SCALE_ADD_LEAKY_RELU, SCALE_SHIFT, SE_GATE, SE_GATE_GRAD, SUM_PRODUCTS, UPSAMPLE_CONCAT, hasFusions, withoutFusions, type FusedConv3dAttrs } from './fused-conv';
