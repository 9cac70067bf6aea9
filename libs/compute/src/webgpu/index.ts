export { installDawn, requestDawnAdapter, describeAdapter, type AdapterReport } from './dawn';
export { registerWebgpuKernels, useStockWebgpuKernels, WEBGPU_REPLACEMENTS } from './register';
export { collapseBroadcast } from './binary_collapsed';
export { reductionRuns } from './reduce';
export {
  benchConvGflops, convFlops, referenceConvInput, REFERENCE_CONVS,
  type ConvBenchResult, type ConvBenchSpec, type ConvPass, type ConvPassResult, type ReferenceConv,
} from './conv_bench';
