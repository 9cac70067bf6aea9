export {
  registerCpuKernels, unregisterCpuKernels, cpuKernelsRegistered, stockCpuKernel, CONV3D_KERNEL_NAMES,
  SUPPORT_KERNEL_NAMES, FUSED_KERNEL_NAMES, type RegisterCpuKernelsOptions,
} from './kernels';
export { SOFT_COUNTS, SOFT_COUNTS_GRAD, FOCAL_SUMS, FOCAL_SUMS_GRAD } from '../loss-gradients';
export { softCountSums, softCountSumsGrad, focalSums, focalSumsGrad, type SoftCountSums, type FocalOptions } from './loss-sums';
export { groupNormForward, groupNormBackward, type GroupNormForward, type GroupNormBackward } from './norm';
export { reduceAxes, concatArrays, type ReduceOp } from './reduce';
export { unary, leakyRelu, leakyReluGrad, select, type UnaryOp } from './elementwise';
export { broadcastBinary, sliceBox, transposeArray, softmaxLastAxis, thinMatMul, type BinaryOp } from './layout';
export { Conv3dEngine, conv3dEngine, Conv3dTooLargeError, wasmModule } from './engine';
export {
  type Conv3dGeometry, conv3dGeometry, conv3dFlops, encodeGeometry, geometryFromConvInfo, GEO_LEN,
} from './geometry';
