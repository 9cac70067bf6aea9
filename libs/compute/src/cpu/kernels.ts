/**
 * Registration of this project's kernels on tfjs's 'cpu' backend: Conv3D,
 * Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 on the wasm SIMD engine (all cores), plus
 * the support kernels of support-kernels.ts. They replace the stock kernels in tfjs's
 * registry, so model code (tf.conv3d, tf.grad, layers) is unchanged. The fused kernels of
 * fused-kernels.ts (group norm, LeakyRelu gradient) are added under their own names.
 */
import {
  backend_util, getKernel, registerKernel, unregisterKernel,
  type KernelConfig, type TensorInfo,
} from '@tensorflow/tfjs-core';
import { conv3dEngine, Conv3dTooLargeError } from './engine';
import { registerFusedGradients, unregisterFusedGradients } from '../fused-gradients';
import { registerGroupNormGradient } from '../group-norm';
import { registerFusionGradients } from '../fusion-gradients';
import { FUSED_KERNELS } from './fused-kernels';
import { geometryFromConvInfo } from './geometry';
import { registerLossGradients } from '../loss-gradients';
import { LOSS_KERNELS } from './loss-kernels';
import { OPTIMIZER_KERNELS } from './optimizer-kernels';
import {
  type CpuBackendLike, type FastKernel, floatValues, SUPPORT_KERNELS, withStockFallback,
} from './support-kernels';

export const CONV3D_KERNEL_NAMES = ['Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2'] as const;
export const SUPPORT_KERNEL_NAMES = Object.keys(SUPPORT_KERNELS);
/**
 * Kernels under this project's own names (no stock kernel): the fused group norm, the LeakyRelu
 * and Softmax gradients, the loss sums (soft counts, focal), their backward kernels, and the
 * optimizer updates.
 */
export const FUSED_KERNEL_NAMES = [...Object.keys(FUSED_KERNELS), ...Object.keys(LOSS_KERNELS), ...Object.keys(OPTIMIZER_KERNELS)];
const BACKEND = 'cpu';

type Shape5 = [number, number, number, number, number];
interface ConvAttrs { strides: [number, number, number]; pad: 'same' | 'valid' }

const stock = new Map<string, KernelConfig>();
const fusedRegistered: string[] = [];

/** Too large for the 4 GiB wasm memory -> undefined (the stock kernel runs instead). */
function unlessTooLarge(f: FastKernel): FastKernel {
  return (inputs, attrs, backend) => {
    try {
      return f(inputs, attrs, backend);
    } catch (e) {
      if (e instanceof Conv3dTooLargeError) return undefined;
      throw e;
    }
  };
}

const conv3d: FastKernel = ({ x, filter }, attrs, backend) => {
  const { strides, pad, dilations, dataFormat } = attrs as unknown as ConvAttrs & {
    dilations: [number, number, number]; dataFormat?: string;
  };
  const xv = floatValues(backend, x), wv = floatValues(backend, filter);
  if (!xv || !wv || (dataFormat !== undefined && dataFormat !== 'NDHWC')) return undefined;
  const info = backend_util.computeConv3DInfo(x.shape as Shape5, filter.shape as Shape5, strides, dilations, pad);
  const y = conv3dEngine().conv3d(geometryFromConvInfo(info), xv, wv);
  return backend.makeTensorInfo(info.outShape, 'float32', y);
};

const conv3dBackpropInput: FastKernel = ({ dy, filter }, attrs, backend) => {
  const { strides, pad, inputShape } = attrs as unknown as ConvAttrs & { inputShape: Shape5 };
  const dyv = floatValues(backend, dy), wv = floatValues(backend, filter);
  if (!dyv || !wv) return undefined;
  const info = backend_util.computeConv3DInfo(inputShape, filter.shape as Shape5, strides, 1, pad);
  const dx = conv3dEngine().conv3dBackpropInput(geometryFromConvInfo(info), dyv, wv);
  return backend.makeTensorInfo(info.inShape, 'float32', dx);
};

const conv3dBackpropFilter: FastKernel = ({ x, dy }, attrs, backend) => {
  const { strides, pad, filterShape } = attrs as unknown as ConvAttrs & { filterShape: Shape5 };
  const xv = floatValues(backend, x), dyv = floatValues(backend, dy);
  if (!xv || !dyv) return undefined;
  const info = backend_util.computeConv3DInfo(x.shape as Shape5, filterShape, strides, 1, pad);
  const dw = conv3dEngine().conv3dBackpropFilter(geometryFromConvInfo(info), xv, dyv);
  return backend.makeTensorInfo(info.filterShape, 'float32', dw);
};

const CONV_KERNELS: Record<string, FastKernel> = {
  Conv3D: conv3d,
  Conv3DBackpropInputV2: conv3dBackpropInput,
  Conv3DBackpropFilterV2: conv3dBackpropFilter,
};

/** Whether this project's kernels are currently registered on the 'cpu' backend. */
export function cpuKernelsRegistered(): boolean {
  return stock.size > 0 || fusedRegistered.length > 0;
}

export interface RegisterCpuKernelsOptions {
  /** Threads of the conv pool, the caller's included (default: available cores). */
  threads?: number;
  /**
   * Also replace the support kernels (elementwise, reductions, slices, concat, transpose,
   * softmax, matmul) and add the fused ones (group norm, LeakyRelu gradient); default true.
   */
  support?: boolean;
  /** Register only these kernel names (a subset of the above; for comparisons). */
  only?: string[];
}

/**
 * Replace tfjs-cpu's Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 (and by default
 * the support kernels) with this project's. Idempotent: a second call only changes `threads`.
 * The pool starts on first use. Requires tfjs's cpu backend to be loaded (@tensorflow/tfjs does).
 * @returns the names of the kernels now registered.
 */
export function registerCpuKernels(options: RegisterCpuKernelsOptions = {}): string[] {
  if (options.threads !== undefined) conv3dEngine(options.threads);
  if (cpuKernelsRegistered()) return [...stock.keys(), ...fusedRegistered];
  const fast: Record<string, FastKernel> = {
    ...CONV_KERNELS,
    ...(options.support === false ? {} : SUPPORT_KERNELS),
  };
  const fused: Record<string, FastKernel> = options.support === false ? {} : { ...FUSED_KERNELS, ...LOSS_KERNELS, ...OPTIMIZER_KERNELS };
  if (options.only) {
    for (const name of Object.keys(fast)) if (!options.only.includes(name)) delete fast[name];
    for (const name of Object.keys(fused)) if (!options.only.includes(name)) delete fused[name];
  }
  for (const name of Object.keys(fast)) {
    const cfg = getKernel(name, BACKEND);
    if (!cfg) throw new Error(`registerCpuKernels: tfjs has no '${name}' kernel for '${BACKEND}'; import @tensorflow/tfjs first`);
  }
  for (const [name, f] of Object.entries(fast)) {
    const cfg = getKernel(name, BACKEND);
    stock.set(name, cfg);
    unregisterKernel(name, BACKEND);
    registerKernel({
      ...cfg,
      kernelFunc: withStockFallback(unlessTooLarge(f), () => cfg.kernelFunc),
    });
  }
  for (const [name, f] of Object.entries(fused)) {
    registerKernel({
      kernelName: name,
      backendName: BACKEND,
      kernelFunc: (args) => f(args.inputs as Record<string, TensorInfo>, args.attrs ?? {},
        args.backend as unknown as CpuBackendLike) as TensorInfo | TensorInfo[],
    });
    fusedRegistered.push(name);
  }
  if (fusedRegistered.length > 0) {
    registerGroupNormGradient();
    registerFusedGradients();
    registerFusionGradients();
    registerLossGradients();
  }
  return [...stock.keys(), ...fusedRegistered];
}

/** Put tfjs's stock kernels back (for comparisons and tests). */
export function unregisterCpuKernels(): void {
  for (const [name, cfg] of stock) {
    unregisterKernel(name, BACKEND);
    registerKernel(cfg);
  }
  stock.clear();
  for (const name of fusedRegistered) unregisterKernel(name, BACKEND);
  if (fusedRegistered.length > 0) unregisterFusedGradients();
  fusedRegistered.length = 0;
}

/** The stock tfjs-cpu kernel for `name` (whether or not this project's is registered). */
export function stockCpuKernel(name: string): KernelConfig {
  return stock.get(name) ?? getKernel(name, BACKEND);
}
