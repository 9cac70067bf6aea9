export * from './backend';
export * from './webgpu';
export * from './cpu';
export { kernelSeconds, settle, timeBatched, type BatchTiming, type KernelTiming } from './timing';
export { FusedMomentumOptimizer, FusedRmspropOptimizer, momentumOptimizer, rmspropOptimizer } from './optimizers';
export { MOMENTUM_UPDATE, RMSPROP_UPDATE } from './optimizer-kernels';
