export { installDawn, requestDawnAdapter, describeAdapter, type AdapterReport } from './dawn';
export { registerWebgpuKernels, WEBGPU_REPLACEMENTS } from './register';
export { collapseBroadcast } from './binary_collapsed';
export { reductionRuns } from './reduce';
