// The reference network's memory-bound passes (no conv) timed alone at a given input size, with the
// bytes each must move, so a GPU run reads their effective bandwidth beside the device's: the
// decoder's channel concat and its gradient's split (ours and tfjs-webgpu's stock kernels), the
// SE-residual end, the output block's upsampling, the group norm, the LeakyReLU gradient, and the
// trainer's loss with its gradient (ours and tfjs's composed ops).
import * as tf from '@tensorflow/tfjs';
import {
  GROUP_NORM, LEAKY_RELU_GRAD, registerWebgpuKernels, SCALE_ADD_LEAKY_RELU, timeBatched, trimGpuBufferPool, UPSAMPLE_CONCAT, useStockWebgpuKernels,
  withoutOwnWebgpuKernels,
} from '@anatomynet/compute';
import { trainerLossTo, type Dhw } from './reference-step';

interface PassCase {
  name: string;
  /** Bytes the pass must read and write at least (each float once). */
  bytes: number;
  make: () => { run: () => tf.Tensor; inputs: tf.Tensor[] };
  /** tfjs-webgpu's kernels to time the same pass on as well. */
  stock?: string[];
  /** On webgpu, time it also without the kernels under this project's own names (tfjs's composed ops). */
  composed?: boolean;
}

/** The reference network's classes (the loss's channels). */
const CLASSES = 10;

const rand = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);

/** The cases at input size `shape` (half resolution: the encoder and decoder; full: the output block). */
export function memoryPassCases(shape: Dhw): PassCase[] {
  const half = shape.map((v) => Math.ceil(v / 2));
  const full = tf.util.sizeFromShape(shape);
  const voxels = tf.util.sizeFromShape(half);
  const at = (c: number) => [1, ...half, c];
  return [
    {
      name: 'concat 56 + 48 (decoder)', bytes: 2 * 104 * voxels * 4, stock: ['Concat'],
      make: () => {
        const a = rand(at(56), 1), b = rand(at(48), 2);
        return { run: () => tf.concat([a, b], 4), inputs: [a, b] };
      },
    },
    {
      name: 'split 104 -> 56 + 48 (the concat\'s gradient)', bytes: 2 * 104 * voxels * 4, stock: ['SplitV'],
      make: () => {
        const x = rand(at(104), 3);
        return {
          run: () => {
            const [p, q] = tf.split(x, [56, 48], 4);
            q.dispose();
            return p;
          },
          inputs: [x],
        };
      },
    },
    {
      name: 'SE-residual end leakyRelu(x * gate + skip), 48', bytes: 3 * 48 * voxels * 4,
      make: () => {
        const a = rand(at(48), 4), s = rand([1, 48], 5), b = rand(at(48), 6);
        return { run: () => tf.engine().runKernel(SCALE_ADD_LEAKY_RELU, { a, scale: s, b }, { alpha: 0.01 }) as tf.Tensor, inputs: [a, s, b] };
      },
    },
    {
      name: 'output upsampling 32 -> 16 + CT', bytes: (32 * voxels + 18 * full) * 4,
      make: () => {
        const x = rand(at(32), 7), w = rand([32, 128], 8), b = rand([16], 9), append = rand([1, ...shape, 1], 10);
        return { run: () => tf.engine().runKernel(UPSAMPLE_CONCAT, { x, w, b, append }, {}) as tf.Tensor, inputs: [x, w, b, append] };
      },
    },
    {
      // the mean and the centred variance read x once each, the normalisation reads it again and writes y
      name: 'group norm + LeakyReLU (training), 48', bytes: 4 * 48 * voxels * 4,
      make: () => {
        const x = rand([1, voxels, 48], 11), gamma = rand([48], 12), beta = rand([48], 13);
        return {
          run: () => {
            const [y, mean, variance] = tf.engine().runKernel(GROUP_NORM, { x, gamma, beta }, { eps: 1e-5, alpha: 0.01 }) as tf.Tensor[];
            tf.dispose([mean, variance]);
            return y;
          },
          inputs: [x, gamma, beta],
        };
      },
    },
    {
      name: 'LeakyReLU gradient, 48', bytes: 3 * 48 * voxels * 4,
      make: () => {
        const dy = rand(at(48), 14), x = rand(at(48), 15);
        return { run: () => tf.engine().runKernel(LEAKY_RELU_GRAD, { dy, x }, { alpha: 0.01 }) as tf.Tensor, inputs: [dy, x] };
      },
    },
    {
      // the sums read p and g; the gradients read them again and write d/dp. The labels are one-hot
      // int32 relabelled float32, as the benchmark's training step makes them
      name: `trainer loss (Dice + focal) and its gradient, ${CLASSES} classes`, bytes: 5 * CLASSES * full * 4, composed: true,
      make: () => {
        const p = tf.tidy(() => tf.softmax(rand([1, ...shape, CLASSES], 16))) as tf.Tensor5D;
        const g = tf.tidy(() => tf.oneHot(tf.randomUniform([full], 0, CLASSES, 'int32', 17), CLASSES).toFloat()) as tf.Tensor2D;
        const loss = trainerLossTo(g);
        return { run: () => tf.grad((q: tf.Tensor) => loss(q as tf.Tensor5D))(p), inputs: [p, g] };
      },
    },
  ];
}

/** Times each case (ours, and on webgpu the stock kernels where named): milliseconds and GB/s of its bytes. */
export async function benchMemoryPasses(shape: Dhw, progress: (line: string) => void): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const c of memoryPassCases(shape)) {
    const row: Record<string, unknown> = { name: c.name, bytes: c.bytes };
    let made: ReturnType<PassCase['make']> | undefined;
    try {
      made = c.make();
      const webgpu = tf.getBackend() === 'webgpu';
      const variants = ['own', ...(webgpu && c.stock ? ['stock'] : []), ...(webgpu && c.composed ? ['composed'] : [])];
      for (const variant of variants) {
        if (variant === 'stock') useStockWebgpuKernels(c.stock!);
        if (variant === 'composed') withoutOwnWebgpuKernels();
        try {
          const t = await timeBatched(made.run, { minReps: 3, minSeconds: 0.1 });
          row[`${variant}_ms`] = t.seconds * 1e3;
          row[`${variant}_GBps`] = c.bytes / t.seconds / 1e9;
        } finally {
          if (variant !== 'own') registerWebgpuKernels();
        }
      }
      const fmt = (v: string) => (row[`${v}_ms`] === undefined ? '' : `, ${v} ${(row[`${v}_ms`] as number).toFixed(3)} ms (${(row[`${v}_GBps`] as number).toFixed(0)} GB/s)`);
      progress(`pass ${c.name} @${shape.join('x')}${variants.map(fmt).join('')}`);
    } catch (e) {
      row.error = (e as Error).message;
      progress(`pass ${c.name} failed: ${row.error}`);
    } finally {
      if (made) tf.dispose(made.inputs);
      trimGpuBufferPool();
    }
    rows.push(row);
  }
  return rows;
}
