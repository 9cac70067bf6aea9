/**
 * The tiled implicit-GEMM program shared by the Conv3D kernels (NDHWC activations, filters
 * [fD,fH,fW,Cin,Cout]). Each kernel supplies three WGSL functions:
 *   rowInfo(m) -> vec4<i32>   what a thread precomputes once for GEMM row m (x < 0 marks m >= M),
 *   loadA(info, k) -> f32     element (m, k) of the implicitly gathered A matrix (0 outside),
 *   loadB(k, n) -> f32        element (k, n) of B.
 * The program computes result[s, m, n] = sum over k in slice s of A[m,k] * B[k,n]. A workgroup of
 * 16x16 threads owns a 64 x TN tile (TN 16, 32 or 64 by the number of columns), stages 16-deep K
 * slabs of A and B in workgroup memory and accumulates 4 x TN/16 outputs per thread. Slices
 * (split-K, `z` of the dispatch) let a reduction over millions of voxels use many workgroups.
 *
 * Tap-major mode (forward and dx, when K = taps x C and C fills 16-deep slabs with little padding):
 * each K step covers one filter tap and 16 channels, so the tap's offsets are computed once per
 * step (the same for every thread) and the per-element work has no integer division. The kernel
 * then also supplies tapInfo(tap) -> vec4<i32>, loadATap(info, tapInfo, c) and loadBTap(tapInfo, c, n).
 *
 * Step mode (dW): the kernel supplies stepInfo(k0) -> vec4<i32>, computed once per K step (the same
 * for every thread), and loadAStep(info, stepInfo, dk, k) with dk = k - k0, instead of loadA.
 */
import * as tf from '@tensorflow/tfjs';
import { release, reshapeView, spreadWorkgroups, type ProgramUniform, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';

export const TILE_M = 64;
export const TILE_K = 16;

/** Conv geometry as the shaders read it (uniform fields, all i32). */
export const GEOMETRY_FIELDS = [
  'batch', 'inD', 'inH', 'inW', 'inC', 'outD', 'outH', 'outW', 'outC',
  'fD', 'fH', 'fW', 'sD', 'sH', 'sW', 'dD', 'dH', 'dW', 'pD', 'pH', 'pW',
] as const;

export function geometryValues(c: tf.backend_util.Conv3DInfo): number[] {
  return [
    c.batchSize, c.inDepth, c.inHeight, c.inWidth, c.inChannels, c.outDepth, c.outHeight, c.outWidth, c.outChannels,
    c.filterDepth, c.filterHeight, c.filterWidth, c.strideDepth, c.strideHeight, c.strideWidth,
    c.dilationDepth, c.dilationHeight, c.dilationWidth, c.padInfo.front, c.padInfo.top, c.padInfo.left,
  ];
}

/** Column tile width for N columns: the smallest of 16, 32, 64 that covers N (64 beyond). */
export function tileN(n: number): number {
  return n <= 16 ? 16 : n <= 32 ? 32 : 64;
}

/** Tap-major K steps pay off when the channels pad to whole 16-deep slabs with at most 20% waste. */
export function tapMajorFits(channels: number): boolean {
  return (Math.ceil(channels / TILE_K) * TILE_K) / channels <= 1.2;
}

export class ImplicitGemmProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [16, 16, 1];
  uniforms = `M : i32, N : i32, K : i32, nTiles : i32, chunkK : i32, kSteps : i32, kC : i32, cChunks : i32, ${GEOMETRY_FIELDS.map((f) => `${f} : i32,`).join(' ')}`;
  readonly tn: number;
  readonly nTiles: number;
  readonly chunkK: number;
  readonly kSteps: number;
  readonly tapMajor: boolean;
  private readonly cChunks: number;
  /**
   * @param tap for tap-major mode: K = taps x channels (channel fastest); used when the channels
   *   pad to whole 16-deep slabs with at most 20% waste and there is a single slice.
   */
  constructor(
    readonly variableNames: string[], private name: string, private functions: string,
    readonly M: number, readonly N: number, readonly K: number, readonly slices: number,
    private tap?: { taps: number; channels: number },
    private stepMode = false,
  ) {
    this.tn = tileN(N);
    this.nTiles = Math.ceil(N / this.tn);
    this.cChunks = tap ? Math.ceil(tap.channels / TILE_K) : 0;
    this.tapMajor = tap !== undefined && slices === 1 && tap.taps * tap.channels === K && tapMajorFits(tap.channels);
    this.chunkK = this.tapMajor ? K : Math.ceil(Math.ceil(K / slices) / TILE_K) * TILE_K;
    this.kSteps = this.tapMajor ? tap!.taps * this.cChunks : this.chunkK / TILE_K;
    this.outputShape = [slices, M, N];
    const [x, y] = spreadWorkgroups(Math.ceil(M / TILE_M) * this.nTiles);
    this.dispatch = [x, y, slices];
    this.shaderKey = `anatomynet_igemm_${name}_${this.tn}_${this.tapMajor ? 'tap' : stepMode ? 'step' : 'k'}`;
  }

  uniformValues(geometry: number[]): ProgramUniform[] {
    const head = [this.M, this.N, this.K, this.nTiles, this.chunkK, this.kSteps, this.tap?.channels ?? 0, this.cChunks];
    return [...head, ...geometry].map((v) => ({ type: 'int32' as const, data: [v] }));
  }

  /** WGSL staging one K step of A and B into workgroup memory. */
  private loadStep(TM: number, TN: number, RN: number, BROWS: number): string {
    if (this.tapMajor) {
      return `
          let tap = s / uniforms.cChunks;
          let c0 = (s - tap * uniforms.cChunks) * ${TILE_K};
          let ti = tapInfo(tap);
          let ca = c0 + aK;
          for (var i = 0; i < 4; i = i + 1) {
            var v = 0.0;
            if (ca < uniforms.kC) { v = loadATap(info[i], ti, ca); }
            As[aK * ${TM} + aM + 16 * i] = v;
          }
          for (var j = 0; j < ${RN}; j = j + 1) {
            let kk = bK + ${BROWS} * j;
            let cb = c0 + kk;
            var v = 0.0;
            if (cb < uniforms.kC && n0 + bN < uniforms.N) { v = loadBTap(ti, cb, n0 + bN); }
            Bs[kk * ${TN} + bN] = v;
          }`;
    }
    return `
          let k0 = kBegin + s * ${TILE_K};
          let ka = k0 + aK;${this.stepMode ? `
          let si = stepInfo(k0);` : ''}
          for (var i = 0; i < 4; i = i + 1) {
            var v = 0.0;
            if (ka < kEnd) { v = ${this.stepMode ? 'loadAStep(info[i], si, aK, ka)' : 'loadA(info[i], ka)'}; }
            As[aK * ${TM} + aM + 16 * i] = v;
          }
          for (var j = 0; j < ${RN}; j = j + 1) {
            let kk = bK + ${BROWS} * j;
            let kb = k0 + kk;
            var v = 0.0;
            if (kb < kEnd && n0 + bN < uniforms.N) { v = loadB(kb, n0 + bN); }
            Bs[kk * ${TN} + bN] = v;
          }`;
  }

  getUserCode(): string {
    const TM = TILE_M, TK = TILE_K, TN = this.tn, RN = TN / 16, BROWS = 256 / TN;
    return `
      ${this.functions}
      var<workgroup> As : array<f32, ${TK * TM}>;
      var<workgroup> Bs : array<f32, ${TK * TN}>;
      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let t = ty * 16 + tx;
        let tileId = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let mTile = tileId / uniforms.nTiles;
        let m0 = mTile * ${TM};
        let n0 = (tileId - mTile * uniforms.nTiles) * ${TN};
        let slice = i32(workgroupId.z);
        let kBegin = slice * uniforms.chunkK;
        let kEnd = min(kBegin + uniforms.chunkK, uniforms.K);
        let aK = t % ${TK};
        let aM = t / ${TK};
        var info : array<vec4<i32>, 4>;
        for (var i = 0; i < 4; i = i + 1) { info[i] = rowInfo(m0 + aM + 16 * i); }
        let bN = t % ${TN};
        let bK = t / ${TN};
        var acc : array<array<f32, ${RN}>, 4>;
        for (var s = 0; s < uniforms.kSteps; s = s + 1) {${this.loadStep(TM, TN, RN, BROWS)}
          workgroupBarrier();
          for (var kk = 0; kk < ${TK}; kk = kk + 1) {
            var b : array<f32, ${RN}>;
            for (var j = 0; j < ${RN}; j = j + 1) { b[j] = Bs[kk * ${TN} + tx + 16 * j]; }
            for (var i = 0; i < 4; i = i + 1) {
              let a = As[kk * ${TM} + ty + 16 * i];
              for (var j = 0; j < ${RN}; j = j + 1) { acc[i][j] = fma(a, b[j], acc[i][j]); }
            }
          }
          workgroupBarrier();
        }
        let base = slice * uniforms.M * uniforms.N;
        for (var i = 0; i < 4; i = i + 1) {
          let m = m0 + ty + 16 * i;
          if (m < uniforms.M) {
            for (var j = 0; j < ${RN}; j = j + 1) {
              let n = n0 + tx + 16 * j;
              if (n < uniforms.N) { result[base + m * uniforms.N + n] = acc[i][j]; }
            }
          }
        }
      }`;
  }
}

/**
 * Runs an implicit GEMM over flat views of `inputs` and returns [slices, M, N] (the caller sums
 * slices when there are several).
 */
export function runImplicitGemm(
  backend: WebGPUBackendLike, program: ImplicitGemmProgram, inputs: TensorInfo[], conv: tf.backend_util.Conv3DInfo,
): TensorInfo {
  const flat = inputs.map((t) => reshapeView(backend, t, [tf.util.sizeFromShape(t.shape)]));
  const out = backend.runWebGPUProgram(program, flat, 'float32', program.uniformValues(geometryValues(conv)));
  release(backend, ...flat);
  return out;
}
