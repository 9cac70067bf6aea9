/**
 * BatchMatMul on webgpu for more than a million rows of A, and for sums over millions of voxels
 * (small output, long K: matmul_splitk.ts).
 *
 * Why: the stock matmul programs put the rows of the output on the y dimension of the dispatch
 * (32 rows per workgroup), so past ~2.1M rows ("[voxels, C] x [C, C']", or the gradient of a
 * ones-vector sum over voxels, an outer product with one row per voxel) they throw "Dispatch size
 * exceeds WebGPU limits in Y or Z dimension".
 * How: A is cut into blocks of {@link matmulRowBlock} rows, each multiplied by the stock kernel, and
 * the blocks are concatenated; smaller products go straight to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { splitKApplies, splitKMatmul } from './matmul_splitk';
import { release, reshapeView, stockKernel, type TensorInfo, type WebGPUBackendLike } from './program';

/**
 * Rows per block: at 16 rows per workgroup, 62,500 workgroups (under 65,535); and the shortest K
 * that takes the split-K path. Tests lower both to exercise them on small matrices.
 */
export const matmulRowBlock = { rows: 1_000_000, minSplitK: 16384 };

export function matmulRowsConfig(): tf.KernelConfig {
  const stock = stockKernel('BatchMatMul');
  const slice = stockKernel('Slice');
  const concat = stockKernel('Concat');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const ROW_BLOCK = matmulRowBlock.rows;
    if (ra > 3 || rb > 3 || a.dtype !== 'float32' || b.dtype !== 'float32') return stock.kernelFunc(args);
    const backend = args.backend as unknown as WebGPUBackendLike;
    const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const batchA = ra === 3 ? a.shape[0] : 1;
    const batch = Math.max(batchA, rb === 3 ? b.shape[0] : 1);
    const outShape = ra === 2 && rb === 2 ? [M, N] : [batch, M, N];
    if (splitKApplies(batch, M, N, K, transposeA || transposeB, matmulRowBlock.minSplitK)) {
      const y = splitKMatmul(backend, a, b, batch, M, N, K);
      const out = reshapeView(backend, y, outShape);
      release(backend, y);
      return out;
    }
    if (M <= ROW_BLOCK) return stock.kernelFunc(args);
    const a3 = reshapeView(backend, a, transposeA ? [batchA, K, M] : [batchA, M, K]);
    const parts: TensorInfo[] = [];
    for (let r0 = 0; r0 < M; r0 += ROW_BLOCK) {
      const len = Math.min(ROW_BLOCK, M - r0);
      const attrs = transposeA ? { begin: [0, 0, r0], size: [batchA, K, len] } : { begin: [0, r0, 0], size: [batchA, len, K] };
      const part = slice.kernelFunc({ inputs: { x: a3 }, backend: args.backend, attrs }) as TensorInfo;
      const y = stock.kernelFunc({ ...args, inputs: { a: part, b } }) as TensorInfo;
      parts.push(reshapeView(backend, y, [batch, len, N]));
      release(backend, part, y);
    }
    const joined = concat.kernelFunc({ inputs: parts as any, backend: args.backend, attrs: { axis: 1 } }) as TensorInfo;
    const out = reshapeView(backend, joined, outShape);
    release(backend, a3, joined, ...parts);
    return out;
  };
  return { kernelName: 'BatchMatMul', backendName: 'webgpu', kernelFunc };
}
