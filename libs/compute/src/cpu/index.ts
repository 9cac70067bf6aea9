export {
  registerCpuKernels, unregisterCpuKernels, cpuKernelsRegistered, stockCpuKernel, CONV3D_KERNEL_NAMES,
  SUPPORT_KERNEL_NAMES, type RegisterCpuKernelsOptions,
} from './kernels';
export { broadcastBinary, sliceBox, transposeArray, softmaxLastAxis, thinMatMul, type BinaryOp } from './layout';
export { Conv3dEngine, conv3dEngine, Conv3dTooLargeError, wasmModule } from './engine';
export {
  type Conv3dGeometry, conv3dGeometry, conv3dFlops, encodeGeometry, geometryFromConvInfo, GEO_LEN,
} from './geometry';
