/**
 * Conv3DBackpropFilterV2 (dW) of a 3x3x3 stride-1 conv by Winograd's F(m x m x m, 3x3x3), the
 * forward's transforms run backwards. Each tile's outputs are the bilinear form
 *   y = A' [ (G g G') .* (B' d B) ] A   (conv3d_winograd.ts), so its filter gradient is
 *   dg = G' [ (A dy A') .* (B' d B) ] G   in each of the three axes,
 * summed over tiles: n^3 GEMMs whose K runs over the tiles (millions of voxels: split-K, as the
 * implicit-GEMM dW), followed by one small transform of the summed [n^3, Cin, Cout] back to the
 * 27 taps. The same trade as forward and dx: 3.4x (F(2)) or 8x (F(4)) fewer multiplies for
 * transformed copies of x and dy 8x (3.4x) their size; cuDNN's WINOGRAD_NONFUSED offers it for the
 * 2D filter gradient. Chosen only by the tuner (autotune.ts), whose check against the untuned
 * kernel keeps a winner only if it agrees to 1e-4.
 *
 * Per chunk of tiles (V and E within the tiling's budget, each chunk submitted before the next):
 *   1. V[p, t, ci] = B' d B of x's patches (the forward's input transform),
 *   2. E[p, t, co] = A dy A' of dy's m^3 blocks (zero past the output's edge; the same program),
 *   3. P[s, p, ci, co] = sum over split s's tiles of V[p, t, ci] E[p, t, co]: the implicit-GEMM
 *      program in step mode (rows: x's channels, read as vec4 where they are a multiple of 4),
 *      batched over p,
 *   4. S[p, ci, co] (+)= sum over s of P: the running sum over chunks;
 * then dW[tap, ci, co] = G' S G.
 */
import * as tf from '@tensorflow/tfjs';
import { ImplicitGemmProgram, GEOMETRY_FIELDS, type GemmFunctions } from './conv3d_gemm';
import type { DirectGeometry } from './conv3d_direct';
import {
  literal, positions, winogradChunks, winogradDwMode, WinogradInputProgram, winogradKey, winogradTransforms, winogradValid,
  type WinogradTiling, type WinogradTransforms,
} from './conv3d_winograd';
import { FlatProgram, int32, release, reshapeView, submitRecorded, type TensorInfo, type WebGPUBackendLike } from './program';

/** Tiles per split-K slice, at least; at most {@link MAX_SPLITS} slices per chunk. */
const TILES_PER_SPLIT = 512;
const MAX_SPLITS = 32;

/** Split-K slices of a chunk of `tiles` tiles. */
export const winogradDwSplits = (tiles: number): number => Math.max(1, Math.min(MAX_SPLITS, Math.floor(tiles / TILES_PER_SPLIT)));

/**
 * Step 3's loaders (step mode): row r = x's channel, K = the chunk's tiles; A = V[p], B = E[p] with
 * p = workgroupId.z % batches (the slices are splits x positions).
 */
const GEMM_FUNCTIONS: GemmFunctions = {
  shared: `
  fn rowInfo(m : i32) -> vec4<i32> {
    if (m >= uniforms.M) { return vec4<i32>(-1, 0, 0, 0); }
    return vec4<i32>(m, 0, 0, 0);
  }
  fn stepInfo(k0 : i32) -> vec4<i32> { return vec4<i32>(0); }
  fn position() -> i32 { return i32(workgroupId.z) % uniforms.batches; }
  fn loadB(k : i32, n : i32) -> f32 { return E[(position() * uniforms.K + k) * uniforms.N + n]; }`,
  scalarA: `
  fn loadAStep(r : vec4<i32>, s : vec4<i32>, dk : i32, k : i32) -> f32 {
    if (r.x < 0) { return 0.0; }
    return V[(position() * uniforms.K + k) * uniforms.M + r.x];
  }`,
  vec4A: `
  fn loadAStep4(r : vec4<i32>, s : vec4<i32>, dk : i32, k : i32) -> vec4<f32> {
    if (r.x < 0) { return vec4<f32>(0.0); }
    return V[((position() * uniforms.K + k) * uniforms.M + r.x) / 4];
  }`,
};

/** Step 4: the splits' sum, added to the previous chunks' (`first`: there are none). */
function sumBody(first: boolean): string {
  return `
        var s = ${first ? '0.0' : 'S[index]'};
        for (var j = 0; j < uniforms.splits; j = j + 1) { s = s + P[j * uniforms.size + index]; }
        result[index] = s;`;
}

/** The last step: dW[tap, ci, co] = sum over p of G[p1, kd] G[p2, kh] G[p3, kw] S[p, ci, co]. */
function filterBody(f: WinogradTransforms): string {
  const n = f.n;
  return `
        let pair = index % uniforms.pairs;
        let tap = index / uniforms.pairs;
        let kd = tap / 9;
        let kh = (tap / 3) % 3;
        let kw = tap % 3;
        var G = array<f32, ${3 * n}>(${f.G.flat().map(literal).join(', ')});
        var acc = 0.0;
        for (var p1 = 0; p1 < ${n}; p1 = p1 + 1) {
          for (var p2 = 0; p2 < ${n}; p2 = p2 + 1) {
            let s = G[p1 * 3 + kd] * G[p2 * 3 + kh];
            for (var p3 = 0; p3 < ${n}; p3 = p3 + 1) {
              acc = acc + s * G[p3 * 3 + kw] * S[((p1 * ${n} + p2) * ${n} + p3) * uniforms.pairs + pair];
            }
          }
        }
        result[index] = acc;`;
}

/**
 * dW of the conv whose forward is `g` (x gathered, dy written) on Winograd: x [N, D, H, W, Cin],
 * dy [N, oD, oH, oW, Cout]; returns the filter gradient with `filterShape` [3, 3, 3, Cin, Cout].
 */
export function runWinogradDw(
  backend: WebGPUBackendLike, g: DirectGeometry, tiling: WinogradTiling, x: TensorInfo, dy: TensorInfo, filterShape: number[],
): TensorInfo {
  const mode = winogradDwMode(g);
  if (!mode || !winogradValid(tiling, g, true)) throw new Error(`Winograd tiling ${winogradKey(tiling)} does not fit this filter gradient`);
  const f = winogradTransforms(tiling.m);
  const P = positions(tiling.m);
  const cin = g.gatheredC;
  const cout = g.writtenC;
  const planes = tiling.planes === true;
  const flatX = reshapeView(backend, x, [tf.util.sizeFromShape(x.shape)]);
  const flatDy = reshapeView(backend, dy, [tf.util.sizeFromShape(dy.shape)]);
  const noGeometry = GEOMETRY_FIELDS.map(() => 0);
  const pairs = P * cin * cout;
  let S: TensorInfo | undefined;
  for (const { tc, tileUniforms } of winogradChunks(backend, g, tiling)) {
    // 1. V = B' d B, 2. E = A dy A'
    const ofX = new WinogradInputProgram(f, tc, cin, planes);
    const V = backend.runWebGPUProgram(ofX, [flatX], 'float32', [...[...g.gathered, cin, ...g.pad].map(int32), ...tileUniforms, int32(ofX.threads)]);
    const ofDy = new WinogradInputProgram(f, tc, cout, planes, 'grad');
    const E = backend.runWebGPUProgram(ofDy, [flatDy], 'float32', [...[...g.written, cout, 0, 0, 0].map(int32), ...tileUniforms, int32(ofDy.threads)]);
    // 3. the splits' partial sums over tiles of V[p]' E[p]
    const splits = winogradDwSplits(tc);
    const gemm = new ImplicitGemmProgram(['V', 'E'], 'winograd_dw', GEMM_FUNCTIONS, cin, cout, tc, splits * P, mode, tiling.gemm,
      undefined, undefined, P);
    const partial = backend.runWebGPUProgram(gemm, [V, E], 'float32', gemm.uniformValues(noGeometry));
    release(backend, V, E);
    // 4. summed over the splits and the chunks so far
    const sum = new FlatProgram(S ? ['P', 'S'] : ['P'], 'splits : i32,', sumBody(!S), `winograd_dw_sum${S ? '' : '_first'}`, pairs);
    const next = backend.runWebGPUProgram(sum, S ? [partial, S] : [partial], 'float32', [int32(splits)]);
    release(backend, partial, ...(S ? [S] : []));
    S = next;
    submitRecorded(backend);
  }
  release(backend, flatX, flatDy);
  const flatDw = backend.runWebGPUProgram(
    new FlatProgram(['S'], 'pairs : i32,', filterBody(f), `winograd_dw_filter_f${f.m}`, 27 * cin * cout),
    [S!], 'float32', [int32(cin * cout)]);
  release(backend, S!);
  const out = reshapeView(backend, flatDw, filterShape);
  release(backend, flatDw);
  return out;
}
