export * from './backend';
export * from './webgpu';
export * from './cpu';
export { kernelSeconds, settle, timeBatched, type BatchTiming, type KernelTiming } from './timing';
