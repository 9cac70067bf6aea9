/**
 * Replaces tfjs-backend-webgpu kernels with this project's (unregister first: registerKernel only
 * warns and keeps the old entry otherwise). Idempotent: the stock kernels are captured once.
 */
import * as tf from '@tensorflow/tfjs';
import { COLLAPSED_BINARY_KERNELS, collapsedBinaryConfig } from './binary_collapsed';
import { conv3dConfig, fusedConv3dConfig } from './conv3d';
import { addLeakyReluConfig, scaleAddLeakyReluConfig } from './add_leaky_relu';
import { ADD_LEAKY_RELU, FUSED_CONV3D, SCALE_ADD_LEAKY_RELU, SCALE_SHIFT, SE_GATE, SE_GATE_GRAD, SUM_PRODUCTS, UPSAMPLE_CONCAT } from '../fused-conv';
import { registerFusionGradients } from '../fusion-gradients';
import { seGateConfig, seGateGradConfig } from './se_gate';
import { upsampleConcatConfig } from './upsample_concat';
import { scaleShiftConfig, sumProductsConfig } from './se_backward';
import { conv3dBackpropFilterConfig } from './conv3d_backprop_filter';
import { conv3dBackpropInputConfig } from './conv3d_backprop_input';
import { matmulRowsConfig } from './matmul_rows';
import { LEAKY_RELU_GRAD, registerFusedGradients, SOFTMAX_GRAD } from '../fused-gradients';
import { GROUP_NORM, GROUP_NORM_DX, GROUP_NORM_SUMS, registerGroupNormGradient, RUNNING_STATS_IN_PLACE } from '../group-norm';
import { groupNormConfig, groupNormDxConfig, groupNormSumsConfig } from './group_norm';
import { MOMENTUM_UPDATE, MOMENTUM_UPDATE_IN_PLACE, RMSPROP_UPDATE, RMSPROP_UPDATE_IN_PLACE } from '../optimizer-kernels';
import { leakyReluGradConfig } from './leaky_relu_grad';
import { momentumInPlaceConfig, rmspropInPlaceConfig, runningStatsInPlaceConfig } from './inplace_updates';
import { momentumUpdateConfig, rmspropUpdateConfig } from './optimizer_update';
import { padConfig } from './pad';
import { reduceConfig } from './reduce';
import { softmaxGradRowsConfig, softmaxRowsConfig } from './softmax_rows';
import { transpose2dConfig } from './transpose_2d';
import { concatConfig, sliceConfig, splitVConfig } from './concat_slice';
import { FOCAL_SUMS, FOCAL_SUMS_GRAD, registerLossGradients, SOFT_COUNTS, SOFT_COUNTS_GRAD } from '../loss-gradients';
import { focalSumsConfig, focalSumsGradConfig, softCountsConfig, softCountsGradConfig } from './loss_sums';

/** Our configs and the stock ones they replaced, built once (the stock kernels are captured first). */
let ours: tf.KernelConfig[] | undefined;
/**
 * Kernels under this project's own names (nothing to replace): optimizer updates (per variable and in place), BatchNorm running statistics (in place), LeakyRelu and softmax gradients,
 * group norm, and the fused conv, residual sum and SE gate (with the gate's backward), the output block's upsample + concat, and the losses' voxel sums (with their backward).
 */
let added: tf.KernelConfig[] | undefined;
export const WEBGPU_OWN_KERNELS = [RMSPROP_UPDATE, MOMENTUM_UPDATE, RMSPROP_UPDATE_IN_PLACE, MOMENTUM_UPDATE_IN_PLACE, LEAKY_RELU_GRAD, GROUP_NORM, GROUP_NORM_SUMS, GROUP_NORM_DX, RUNNING_STATS_IN_PLACE, FUSED_CONV3D, ADD_LEAKY_RELU, SE_GATE, SE_GATE_GRAD, UPSAMPLE_CONCAT, SCALE_ADD_LEAKY_RELU, SUM_PRODUCTS, SCALE_SHIFT,
  SOFT_COUNTS, SOFT_COUNTS_GRAD, FOCAL_SUMS, FOCAL_SUMS_GRAD, SOFTMAX_GRAD];
const stock = new Map<string, tf.KernelConfig>();

function install(c: tf.KernelConfig): void {
  tf.unregisterKernel(c.kernelName, 'webgpu');
  tf.registerKernel(c);
}


/** The kernels {@link registerWebgpuKernels} replaces, with the reason for each group. */
export const WEBGPU_REPLACEMENTS: { kernels: string[]; why: string }[] = [
  { kernels: [...COLLAPSED_BINARY_KERNELS], why: 'rank-5 broadcasts emit invalid WGSL (vec5); shapes are collapsed first' },
  { kernels: ['Sum', 'Mean', 'Max', 'Min'], why: 'transpose-based reductions overflow the dispatch limit past ~1M rows' },
  { kernels: ['Transpose'], why: 'rank-2 tiled transpose overflows the y dispatch past ~1M rows' },
  { kernels: ['PadV2'], why: 'rank-5 pad emits invalid WGSL (vec5); the gradient of a crop is a pad' },
  { kernels: ['BatchMatMul'], why: 'matmul overflows the y dispatch past ~2.1M rows of A (A is split into row blocks); sums over millions of voxels ran on one workgroup per output element (split-K)' },
  { kernels: ['Concat', 'Slice', 'SplitV'], why: 'a thread per value with index divisions (0.84 TB/s on an H100); copies of column ranges four floats a thread instead' },
  { kernels: ['Softmax'], why: 'one 64-thread workgroup per row idles 54 threads on 10 classes; one thread per row instead' },
  { kernels: ['Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2'], why: 'implicit-GEMM WGSL kernels with workgroup tiling replace the naive stock shaders' },
];

/**
 * Registers this project's webgpu kernels; call after tfjs-backend-webgpu is imported. Idempotent,
 * and re-installs any that {@link useStockWebgpuKernels} swapped out. Returns the kernel names now
 * served by this project.
 */
export function registerWebgpuKernels(): string[] {
  if (!ours) {
    ours = [
      ...COLLAPSED_BINARY_KERNELS.filter((n) => tf.getKernel(n, 'webgpu')).map((n) => collapsedBinaryConfig(n)),
      ...(['Sum', 'Mean', 'Max', 'Min'] as const).map((n) => reduceConfig(n)),
      transpose2dConfig(),
      padConfig(),
      matmulRowsConfig(),
      softmaxRowsConfig(),
      concatConfig(),
      sliceConfig(),
      splitVConfig(),
      conv3dConfig(),
      conv3dBackpropInputConfig(),
      conv3dBackpropFilterConfig(),
    ];
    for (const c of ours) stock.set(c.kernelName, tf.getKernel(c.kernelName, 'webgpu')!);
  }
  for (const c of ours) if (tf.getKernel(c.kernelName, 'webgpu') !== c) install(c);
  added ??= [rmspropUpdateConfig(), momentumUpdateConfig(), rmspropInPlaceConfig(), momentumInPlaceConfig(), leakyReluGradConfig(), groupNormConfig(), groupNormSumsConfig(), groupNormDxConfig(), runningStatsInPlaceConfig(),
    fusedConv3dConfig(), addLeakyReluConfig(), seGateConfig(), seGateGradConfig(), upsampleConcatConfig(), scaleAddLeakyReluConfig(), sumProductsConfig(), scaleShiftConfig(),
    softCountsConfig(), softCountsGradConfig(), focalSumsConfig(), focalSumsGradConfig(), softmaxGradRowsConfig()];
  for (const c of added) if (!tf.getKernel(c.kernelName, 'webgpu')) tf.registerKernel(c);
  registerFusedGradients();
  registerGroupNormGradient();
  registerFusionGradients();
  registerLossGradients();
  return [...ours, ...added].map((c) => c.kernelName);
}

/**
 * Puts tfjs-backend-webgpu's own kernels back for `names`, so a benchmark can compare them with
 * ours in one process (`useStockWebgpuKernels(['Conv3D'])`, then `registerWebgpuKernels()`).
 * Returns the names restored.
 */
export function useStockWebgpuKernels(names: string[]): string[] {
  const done: string[] = [];
  for (const n of names) {
    const k = stock.get(n);
    if (!k) continue;
    install(k);
    done.push(n);
  }
  return done;
}

/**
 * Unregisters the kernels under this project's own names ({@link WEBGPU_OWN_KERNELS}), so that
 * optimizers, gradients, norms and the eval-mode fusions take tfjs's composed paths: for benchmarks
 * that compare both in one process. {@link registerWebgpuKernels} adds them back. Returns the names
 * removed.
 */
export function withoutOwnWebgpuKernels(): string[] {
  const removed = WEBGPU_OWN_KERNELS.filter((n) => tf.getKernel(n, 'webgpu'));
  for (const n of removed) tf.unregisterKernel(n, 'webgpu');
  return removed;
}
