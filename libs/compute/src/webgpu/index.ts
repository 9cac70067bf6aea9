export { installDawn, requestDawnAdapter, describeAdapter, dawnFlags, type AdapterReport } from './dawn';
export { registerWebgpuKernels, useStockWebgpuKernels, withoutOwnWebgpuKernels, WEBGPU_OWN_KERNELS, WEBGPU_REPLACEMENTS } from './register';
export { collapseBroadcast } from './binary_collapsed';
export { reductionRuns } from './reduce';
export {
  benchConvGflops, convFlops, referenceConvInput, REFERENCE_CONVS,
  type ConvBenchResult, type ConvBenchSpec, type ConvPass, type ConvPassResult, type ReferenceConv,
} from './conv_bench';
export { autotuneConv, tuneConvClasses, tuneSpecOf, type ClassTuneReport, type TuneResult, type TuneSpec } from './autotune';
export { clearTunedTilings, convTilingKey, recordConvClasses, loadTunedTilings, parseTunedTilings, TILING_KINDS, tilingKind, tunedTilings, type ConvTiling, type GemmPass, type RecordedConv } from './gemm_plan';
export { type DirectTiling } from './conv3d_direct';
export { type GemmTiling } from './conv3d_gemm';
export { bindGroupCacheStats, cacheBindGroups, type BindGroupCacheStats } from './bind_groups';
export { countDispatches, measureDispatchCost, type DispatchCost } from './dispatch_cost';
export { boundGpuBufferPool, capGpuBufferPool, gpuAllocationPeak, gpuMemoryPeaks, gpuPoolStats, limitGpuMemory, trimGpuBufferPool, useBestFitGpuBuffers, type GpuPoolStats } from './memory';
export { withoutGpuExecution, type DryRunReport } from './dry_run';
export { assumeBindingLimit } from './program';
