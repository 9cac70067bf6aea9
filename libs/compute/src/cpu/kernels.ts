/**
 * tfjs kernels Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 for the 'cpu'
 * backend, computed by the wasm SIMD engine on all cores. They replace the stock kernels
 * in tfjs's registry, so model code (tf.conv3d, tf.grad, layers) is unchanged.
 */
import {
  backend_util, getKernel, registerKernel, unregisterKernel,
  type KernelConfig, type KernelFunc, type TensorInfo,
} from '@tensorflow/tfjs-core';
import { conv3dEngine, Conv3dTooLargeError } from './engine';
import { geometryFromConvInfo } from './geometry';

export const CONV3D_KERNEL_NAMES = ['Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2'] as const;
const BACKEND = 'cpu';

type Shape5 = [number, number, number, number, number];
interface CpuBackendLike {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

const stock = new Map<string, KernelConfig>();

function floatValues(backend: CpuBackendLike, t: TensorInfo): Float32Array | undefined {
  const v = backend.data.get(t.dataId).values;
  return t.dtype === 'float32' && v instanceof Float32Array ? v : undefined;
}

/** Run `fast`, or the stock kernel when inputs are not plain float32 or too large for wasm32. */
function withFallback(name: string, fast: (b: CpuBackendLike) => TensorInfo | undefined): KernelFunc {
  return (args) => {
    const backend = args.backend as unknown as CpuBackendLike;
    try {
      const out = fast(backend);
      if (out) return out;
    } catch (e) {
      if (!(e instanceof Conv3dTooLargeError)) throw e;
    }
    return stock.get(name)!.kernelFunc(args);
  };
}

const conv3d: KernelFunc = (args) => withFallback('Conv3D', (backend) => {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dilations, dataFormat } = args.attrs as unknown as {
    strides: [number, number, number]; pad: 'same' | 'valid'; dilations: [number, number, number];
    dataFormat?: string;
  };
  if (dataFormat !== undefined && dataFormat !== 'NDHWC') return undefined;
  const xv = floatValues(backend, x), wv = floatValues(backend, filter);
  if (!xv || !wv) return undefined;
  const info = backend_util.computeConv3DInfo(x.shape as Shape5, filter.shape as Shape5, strides, dilations, pad);
  const y = conv3dEngine().conv3d(geometryFromConvInfo(info), xv, wv);
  return backend.makeTensorInfo(info.outShape, 'float32', y);
})(args);

const conv3dBackpropInput: KernelFunc = (args) => withFallback('Conv3DBackpropInputV2', (backend) => {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, inputShape } = args.attrs as unknown as {
    strides: [number, number, number]; pad: 'same' | 'valid'; inputShape: Shape5;
  };
  const dyv = floatValues(backend, dy), wv = floatValues(backend, filter);
  if (!dyv || !wv) return undefined;
  const info = backend_util.computeConv3DInfo(inputShape, filter.shape as Shape5, strides, 1, pad);
  const dx = conv3dEngine().conv3dBackpropInput(geometryFromConvInfo(info), dyv, wv);
  return backend.makeTensorInfo(info.inShape, 'float32', dx);
})(args);

const conv3dBackpropFilter: KernelFunc = (args) => withFallback('Conv3DBackpropFilterV2', (backend) => {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, filterShape } = args.attrs as unknown as {
    strides: [number, number, number]; pad: 'same' | 'valid'; filterShape: Shape5;
  };
  const xv = floatValues(backend, x), dyv = floatValues(backend, dy);
  if (!xv || !dyv) return undefined;
  const info = backend_util.computeConv3DInfo(x.shape as Shape5, filterShape, strides, 1, pad);
  const dw = conv3dEngine().conv3dBackpropFilter(geometryFromConvInfo(info), xv, dyv);
  return backend.makeTensorInfo(info.filterShape, 'float32', dw);
})(args);

const FAST: Record<(typeof CONV3D_KERNEL_NAMES)[number], KernelFunc> = {
  Conv3D: conv3d,
  Conv3DBackpropInputV2: conv3dBackpropInput,
  Conv3DBackpropFilterV2: conv3dBackpropFilter,
};

/** Whether the fast kernels are currently registered on the 'cpu' backend. */
export function cpuKernelsRegistered(): boolean {
  return stock.size > 0;
}

/**
 * Replace tfjs-cpu's Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 with the wasm
 * SIMD kernels (idempotent). `threads` sets the pool size (default: available cores); the
 * pool starts on first use. Requires the 'cpu' backend package to be loaded (tfjs does it).
 */
export function registerCpuKernels(options: { threads?: number } = {}): void {
  if (options.threads !== undefined) conv3dEngine(options.threads);
  if (stock.size > 0) return;
  for (const name of CONV3D_KERNEL_NAMES) {
    const cfg = getKernel(name, BACKEND);
    if (!cfg) throw new Error(`registerCpuKernels: tfjs has no '${name}' kernel for '${BACKEND}'; import @tensorflow/tfjs first`);
    stock.set(name, cfg);
  }
  for (const name of CONV3D_KERNEL_NAMES) {
    unregisterKernel(name, BACKEND);
    registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: FAST[name] });
  }
}

/** Put tfjs's stock kernels back (for comparisons and tests). */
export function unregisterCpuKernels(): void {
  for (const [name, cfg] of stock) {
    unregisterKernel(name, BACKEND);
    registerKernel(cfg);
  }
  stock.clear();
}

/** The stock tfjs-cpu kernel for `name` (whether or not the fast one is registered). */
export function stockCpuKernel(name: (typeof CONV3D_KERNEL_NAMES)[number]): KernelConfig {
  return stock.get(name) ?? getKernel(name, BACKEND);
}
