/**
 * Matmuls with a tiny output and a long K on webgpu: [b, M, K] x [b, K, N] with b*M*N <= 128 and
 * K in the millions. Those are the network's sums over voxels (the SE means, and in training the
 * bias, norm and SE gradients), written as a ones-row times [voxels, C] (libs/model ops.ts).
 *
 * Why: for these shapes tfjs-webgpu runs MatMulReduceProgram, one workgroup per output element, so
 * a sum of 1.5M voxels x 32 channels occupies 32 workgroups of a GPU that has room for thousands.
 * How: K is cut into chunks; one workgroup per (batch, row, chunk) sums its chunk with threads
 * spread over (k lane, column), so a warp reads whole rows of B; the partial sums [b, chunks, M, N]
 * are then folded by reduce.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { release, reshapeView, spreadWorkgroups, threadIndex, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';
import { reduceOnGpu } from './reduce';

/** K per workgroup. */
export const SPLITK_CHUNK = 2048;
const THREADS = 256;

/** Whether a product takes the split-K path (non-transposed, small output, long K). */
export function splitKApplies(batch: number, M: number, N: number, K: number, transposed: boolean, minK: number): boolean {
  return !transposed && batch * M * N <= 128 && N <= THREADS && K >= minK;
}

class SplitKProgram implements WebGPUProgram {
  variableNames = ['A', 'B'];
  outputShape: number[];
  shaderKey: string;
  // a y axis makes tfjs emit `fn main()` with workgroup ids (not the flat main(index))
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  uniforms = 'M : i32, N : i32, K : i32, chunks : i32, groups : i32, aBatch : i32, bBatch : i32,';
  readonly chunks: number;

  constructor(private batch: number, private M: number, private N: number, private K: number, private aBatched: boolean, private bBatched: boolean) {
    this.chunks = Math.ceil(K / SPLITK_CHUNK);
    this.outputShape = [1, batch * this.chunks * M * N];
    const [x, y] = spreadWorkgroups(batch * M * this.chunks);
    this.dispatch = [x, y, 1];
    this.shaderKey = `anatomynet_splitk_${N}`;
  }

  uniformValues() {
    const { M, N, K } = this;
    return [M, N, K, this.chunks, this.batch * M * this.chunks, this.aBatched ? M * K : 0, this.bBatched ? K * N : 0]
      .map((v) => ({ type: 'int32' as const, data: [v] }));
  }

  getUserCode(): string {
    const lanes = Math.floor(THREADS / this.N);
    return `
      var<workgroup> partial : array<f32, ${THREADS}>;
      fn main() {
        // spare workgroups of the grid compute group 0 again without writing (barriers need
        // uniform control flow)
        let id = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let spare = id >= uniforms.groups;
        let g = select(id, 0, spare);
        let s = g % uniforms.chunks;
        let bm = g / uniforms.chunks;
        let m = bm % uniforms.M;
        let b = bm / uniforms.M;
        let t = ${threadIndex(THREADS)};
        let n = t % ${this.N};
        let lane = t / ${this.N};
        var acc = 0.0;
        if (lane < ${lanes}) {
          let k1 = min((s + 1) * ${SPLITK_CHUNK}, uniforms.K);
          let aRow = b * uniforms.aBatch + m * uniforms.K;
          let bCol = b * uniforms.bBatch + n;
          for (var k = s * ${SPLITK_CHUNK} + lane; k < k1; k = k + ${lanes}) {
            acc = fma(f32(A[aRow + k]), f32(B[bCol + k * ${this.N}]), acc);
          }
        }
        partial[t] = acc;
        workgroupBarrier();
        if (t < ${this.N} && !spare) {
          var sum = 0.0;
          for (var l = 0; l < ${lanes}; l = l + 1) { sum = sum + partial[l * ${this.N} + t]; }
          result[((b * uniforms.chunks + s) * uniforms.M + m) * ${this.N} + t] = sum;
        }
      }`;
  }
}

/** A [bA, M, K] (bA 1 or batch) times B [bB, K, N]; returns [batch, M, N]. */
export function splitKMatmul(backend: WebGPUBackendLike, a: TensorInfo, b: TensorInfo, batch: number, M: number, N: number, K: number): TensorInfo {
  const aBatched = tf.util.sizeFromShape(a.shape) > M * K;
  const bBatched = tf.util.sizeFromShape(b.shape) > K * N;
  const program = new SplitKProgram(batch, M, N, K, aBatched, bBatched);
  const flat = [a, b].map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
  const partial = backend.runWebGPUProgram(program, flat, 'float32', program.uniformValues());
  release(backend, ...flat);
  const view = reshapeView(backend, partial, [batch, program.chunks, M * N]);
  const out = reduceOnGpu(backend, view, [1], [batch, M, N], 'sum');
  release(backend, partial, view);
  return out;
}
