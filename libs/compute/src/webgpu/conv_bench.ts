/**
 * Conv3D throughput on the active tfjs backend (webgpu, cpu, wasm, tensorflow alike), for
 * apps/bench: forward (Conv3D), input gradient (Conv3DBackpropInputV2) and filter gradient
 * (Conv3DBackpropFilterV2), each timed over a batch of at least `reps` runs after one warm-up
 * (shader compile); see timing.ts for why short runs are batched.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelSeconds, timeBatched } from '../timing';

export type ConvPass = 'forward' | 'dx' | 'dw';

export interface ConvBenchSpec {
  /** Input spatial size [D, H, W] (batch 1). */
  input: [number, number, number];
  cin: number;
  cout: number;
  /** Cubic kernel size. Default 3. */
  k?: number;
  /** Stride on every axis. Default 1. */
  stride?: number;
  pad?: 'same' | 'valid';
  /** Timed runs after the warm-up. Default 3. */
  reps?: number;
  /** Passes to time. Default all three. */
  passes?: ConvPass[];
}

export interface ConvPassResult {
  /** Mean seconds per run. */
  seconds: number;
  /** Runs in the timed batch (at least `reps`; more for short runs, see timing.ts). */
  reps: number;
  /** 2 * multiply-adds / seconds / 1e9 (the same multiply-add count for all three passes). */
  gflops: number;
  /** Mean GPU kernel seconds per run from timestamp queries (webgpu with 'timestamp-query' only). */
  gpuSeconds?: number;
  /** GFLOP/s by GPU kernel time. */
  gpuGflops?: number;
}

export interface ConvBenchResult {
  backend: string;
  spec: Required<Omit<ConvBenchSpec, 'passes'>>;
  outShape: number[];
  /** Floating-point operations of one pass (2 per multiply-add). */
  flops: number;
  passes: Partial<Record<ConvPass, ConvPassResult>>;
}

/** 2 * output voxels * Cout * k^3 * Cin. */
export function convFlops(outShape: number[], cin: number, k: number): number {
  const [n, d, h, w, cout] = outShape;
  return 2 * n * d * h * w * cout * k * k * k * cin;
}

/** The geometry of one conv: input size and channels, cubic kernel, stride, padding. */
export type ConvShapeSpec = Omit<ConvBenchSpec, 'reps' | 'passes'>;

/**
 * Seeded random x, filter and dy for one conv, and a runner per pass on the active backend (the
 * kernels training calls); `dispose` frees the tensors.
 */
export function convPassRunners(spec: ConvShapeSpec) {
  const s = { k: 3, stride: 1, pad: 'same' as const, ...spec };
  const xShape = [1, ...s.input, s.cin] as [number, number, number, number, number];
  const fShape = [s.k, s.k, s.k, s.cin, s.cout] as [number, number, number, number, number];
  const x = tf.randomUniform(xShape, -1, 1, 'float32', 1) as tf.Tensor5D;
  const f = tf.randomUniform(fShape, -0.1, 0.1, 'float32', 2) as tf.Tensor5D;
  const conv = tf.backend_util.computeConv3DInfo(xShape, fShape, s.stride, 1, s.pad);
  const dy = tf.randomUniform(conv.outShape, -1, 1, 'float32', 3) as tf.Tensor5D;
  const attrs = { strides: [s.stride, s.stride, s.stride], pad: s.pad };
  const runs: Record<ConvPass, () => tf.Tensor> = {
    forward: () => tf.conv3d(x, f, s.stride, s.pad),
    dx: () => tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: f }, { ...attrs, inputShape: xShape }) as tf.Tensor,
    dw: () => tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy }, { ...attrs, filterShape: fShape }) as tf.Tensor,
  };
  return { spec: s, conv, runs, dispose: () => tf.dispose([x, f, dy]) };
}

/** Times the requested passes of one conv on the active backend. */
export async function benchConvGflops(spec: ConvBenchSpec): Promise<ConvBenchResult> {
  const minReps = spec.reps ?? 3;
  const passes = spec.passes ?? ['forward', 'dx', 'dw'];
  const { spec: s, conv, runs, dispose } = convPassRunners(spec);
  const flops = convFlops(conv.outShape, s.cin, s.k);
  const results: Partial<Record<ConvPass, ConvPassResult>> = {};
  try {
    for (const p of passes) {
      const { seconds, reps } = await timeBatched(runs[p], { minReps });
      results[p] = { seconds, gflops: flops / seconds / 1e9, reps };
      const gpu = tf.getBackend() === 'webgpu' ? await kernelSeconds(runs[p], minReps) : undefined;
      if (gpu) Object.assign(results[p]!, { gpuSeconds: gpu.mean, gpuGflops: flops / gpu.mean / 1e9 });
    }
  } finally {
    dispose();
  }
  const used = { input: s.input, cin: s.cin, cout: s.cout, k: s.k, stride: s.stride, pad: s.pad, reps: minReps };
  return { backend: tf.getBackend(), spec: used, outShape: conv.outShape, flops, passes: results };
}

/** A convolution of the reference AnatomyNet (shared/bench/ref_anatomynet.py). */
export interface ReferenceConv {
  name: string;
  /** 'full': at the input size; 'half': after the stride-2 down-sampling. */
  at: 'full' | 'half';
  cin: number;
  cout: number;
  k: number;
  stride: number;
}

/** Every distinct conv of the reference network (SE-residual blocks, decoder, output) and its training. */
export const REFERENCE_CONVS: readonly ReferenceConv[] = [
  { name: 'down 1->32 s2', at: 'full', cin: 1, cout: 32, k: 3, stride: 2 },
  { name: 'enc 32->32', at: 'half', cin: 32, cout: 32, k: 3, stride: 1 },
  { name: 'enc 32->40', at: 'half', cin: 32, cout: 40, k: 3, stride: 1 },
  { name: 'enc 40->40', at: 'half', cin: 40, cout: 40, k: 3, stride: 1 },
  { name: 'enc 40->48', at: 'half', cin: 40, cout: 48, k: 3, stride: 1 },
  { name: 'enc 48->48', at: 'half', cin: 48, cout: 48, k: 3, stride: 1 },
  { name: 'enc 48->56', at: 'half', cin: 48, cout: 56, k: 3, stride: 1 },
  { name: 'enc 56->56', at: 'half', cin: 56, cout: 56, k: 3, stride: 1 },
  { name: 'dec 104->48', at: 'half', cin: 104, cout: 48, k: 3, stride: 1 },
  { name: 'dec 88->40', at: 'half', cin: 88, cout: 40, k: 3, stride: 1 },
  { name: 'dec 72->32', at: 'half', cin: 72, cout: 32, k: 3, stride: 1 },
  { name: 'skip 104->48 1x1', at: 'half', cin: 104, cout: 48, k: 1, stride: 1 },
  { name: 'out 17->16', at: 'full', cin: 17, cout: 16, k: 3, stride: 1 },
  { name: 'out 16->10', at: 'full', cin: 16, cout: 10, k: 3, stride: 1 },
  // training only: the output upsampling's gradients, a stride-2 conv over its 17-channel dy (its
  // forward pass gives the input's gradient, its dW pass the weights'; fusion-gradients.ts)
  { name: 'upsampling gradient 17->32 k2 s2', at: 'full', cin: 17, cout: 32, k: 2, stride: 2 },
];

/** Spatial size a reference conv runs at for an input of [D, H, W]. */
export function referenceConvInput(c: ReferenceConv, dhw: [number, number, number]): [number, number, number] {
  return c.at === 'full' ? dhw : (dhw.map((v) => Math.ceil(v / 2)) as [number, number, number]);
}
