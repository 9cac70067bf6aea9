/**
 * 3x3x3 stride-1 convolution (forward, and dx, itself such a conv of dy) by Winograd's minimal
 * filtering F(2x2x2, 3x3x3): each 2x2x2 block of written voxels (a tile) is
 *   Y = A' [ (G g G') .* (B' d B) ] A   in each of the three axes,
 * where d is the tile's 4x4x4 input patch and g the filter. Per tile and channel pair that is 64
 * multiplies for 8 outputs instead of 216: 3.4x fewer than the implicit GEMM or the direct kernel,
 * paid for in memory traffic (the transformed input is 8x the input). cuDNN offers the same trade
 * for 2D convs (WINOGRAD_NONFUSED); whether it pays on a device is the tuner's call (autotune.ts).
 *
 * Non-fused, per chunk of tiles, so the transformed tensors stay within a budget (and within the
 * device's largest binding, 2 GiB on an H100), each chunk submitted before the next so that tfjs
 * hands its V and M to the next one:
 *   1. U[p, c, n] = G g G' of the filter (once per call; p = 4x4x4 transformed position),
 *   2. V[p, t, c] = B' d B of the chunk's tiles (one thread per tile and channel: 64 loads, 64 stores),
 *   3. M[p, t, n] = V[p] U[p]: 64 GEMMs over the gathered channels, on the implicit-GEMM program
 *      (conv3d_gemm.ts, batched over p with tap-major vec4 loads),
 *   4. y = A' M A (one thread per tile and written channel), through the fused conv's epilogue,
 *      written in place into the whole output (a raw shader, raw_program.ts).
 * F(2,3)'s transforms hold only 0, +-1 and +-1/2, so fp32 keeps the direct conv's accuracy (the
 * tests' bound is the same).
 */
import * as tf from '@tensorflow/tfjs';
import { epilogueInputs, epilogueUniformFields, epilogueUniforms, epilogueWgsl, type ConvEpilogue } from './epilogue';
import { GEOMETRY_FIELDS, gemmMode, ImplicitGemmProgram, tapMajorFits, tilingCandidates, tilingKey, tilingThreads, tilingValid, type GemmFunctions, type GemmMode, type GemmTiling } from './conv3d_gemm';
import type { DirectGeometry } from './conv3d_direct';
import { deviceBindingBytes, FlatProgram, release, reshapeView, spreadWorkgroups, submitRecorded, type ProgramUniform, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';
import { rawOutput, rawPipeline, RawProgram, rawShader, runRaw, type RawBackend } from './raw_program';

/** How a Winograd conv runs: the batched GEMM's tiling and the transformed tensors' budget per chunk. */
export interface WinogradTiling {
  algo: 'winograd';
  gemm: GemmTiling;
  /** MiB the larger of V and M may take per chunk of tiles (the chunks' count follows). */
  mib: number;
}

export const winogradKey = (t: WinogradTiling): string => `winograd_${tilingKey(t.gemm)}_m${t.mib}`;

/** Transformed positions per tile (4 x 4 x 4). */
const POSITIONS = 64;
const THREADS = 64;

/** The Winograd kernel's K order: tap-major over the gathered channels (the batched GEMM needs it), or none. */
export function winogradMode(g: DirectGeometry): GemmMode | undefined {
  if (g.filter.some((f) => f !== 3)) return undefined;
  const mode = gemmMode(g.gatheredC);
  return mode === 'tap' || mode === 'tap4' ? mode : undefined;
}

/** Output tiles per axis (2 written voxels each; the last may hang over the edge). */
export const winogradTiles = (g: DirectGeometry): [number, number, number] =>
  [Math.ceil(g.written[0] / 2), Math.ceil(g.written[1] / 2), Math.ceil(g.written[2] / 2)];

/** Tiles per chunk: as many as keep V [64, tiles, gathered] and M [64, tiles, written] within `mib` (may be fractional). */
export function winogradChunkTiles(g: DirectGeometry, mib: number): number {
  const [d, h, w] = winogradTiles(g);
  const total = g.batch * d * h * w;
  const perTile = POSITIONS * 4 * Math.max(g.gatheredC, g.writtenC);
  return Math.max(1, Math.min(total, Math.floor((mib * 2 ** 20) / perTile)));
}

export function winogradValid(t: WinogradTiling, g: DirectGeometry): boolean {
  const mode = winogradMode(g);
  // one binding holds at most 2 GiB (maxStorageBufferBindingSize's usual value)
  return mode !== undefined && t.mib >= 1 && t.mib <= 2047 && tilingValid(t.gemm, mode) && tapMajorFits(g.gatheredC, t.gemm.tk);
}

/**
 * Tilings worth timing: the batched GEMM's tilings with 8 rows a thread and 16-deep slabs where the
 * channels fill them, else 8 (its K is only the gathered channels, 32-104 in the reference
 * network), packed B where it fits, each at
 * 128 and 512 MiB chunks. Larger chunks mean fewer dispatches (the reference network's forward
 * transforms about 37 GB at 178x302x225: 860 dispatches at 128 MiB, 216 at 512) but more memory:
 * the whole-volume training step with every 3x3x3 conv's forward and dx on Winograd (bench:memory
 * --binding-gib 2, H100 tilings, best fit, out, dec0-2 and enc3 kept) allocated 19.1 GB at most at
 * 128 MiB, 22.0 at 512 and 24.4 at 1024 (20.2 without Winograd).
 */
export function winogradCandidates(g: DirectGeometry): WinogradTiling[] {
  const mode = winogradMode(g);
  if (!mode) return [];
  const tk = tapMajorFits(g.gatheredC, 16) ? 16 : 8;
  const gemms = tilingCandidates(g.writtenC, mode, g.gatheredC)
    .filter((t) => t.rm === 8 && t.tk === tk && tilingThreads(t) >= 128)
    .map((t) => (tilingValid({ ...t, bv: true }, mode) ? { ...t, bv: true } : t));
  return gemms.flatMap((gemm) => [128, 512].map((mib) => ({ algo: 'winograd' as const, gemm, mib })));
}

// F(2,3): B' (4x4) and A' (2x4) applied along one axis to named values (G: filterBody)
export const bT = (v: string[]): string[] => [`${v[0]} - ${v[2]}`, `${v[1]} + ${v[2]}`, `${v[2]} - ${v[1]}`, `${v[1]} - ${v[3]}`];
export const aT = (v: string[]): string[] => [`${v[0]} + ${v[1]} + ${v[2]}`, `${v[1]} - ${v[2]} - ${v[3]}`];

/**
 * WGSL applying the 1D transform `f` (n inputs -> m outputs) along each of three axes of the
 * n x n x n values named `${from}_a_b_c`, leaving m x m x m values `${to}_a_b_c` (axis order d, h, w).
 */
export function separable3d(f: (v: string[]) => string[], n: number, from: string, to: string): string {
  const range = (k: number) => Array.from({ length: k }, (_, i) => i);
  const lines: string[] = [];
  const m = f(range(n).map(String)).length;
  // along w, then h, then d; each stage's names carry the stage
  for (const a of range(n)) for (const b of range(n)) {
    f(range(n).map((c) => `${from}_${a}_${b}_${c}`)).forEach((e, c) => lines.push(`let ${to}w_${a}_${b}_${c} = ${e};`));
  }
  for (const a of range(n)) for (const c of range(m)) {
    f(range(n).map((b) => `${to}w_${a}_${b}_${c}`)).forEach((e, b) => lines.push(`let ${to}h_${a}_${b}_${c} = ${e};`));
  }
  for (const b of range(m)) for (const c of range(m)) {
    f(range(n).map((a) => `${to}h_${a}_${b}_${c}`)).forEach((e, a) => lines.push(`let ${to}_${a}_${b}_${c} = ${e};`));
  }
  return lines.join('\n        ');
}

const TILE_UNIFORMS = 'tilesD : i32, tilesH : i32, tilesW : i32, t0 : i32, tc : i32, threads : i32,';

/** WGSL decoding chunk-local tile `tl` into batch n and tile coordinates td, th, tw. */
const TILE_DECODE = `
        let tile = uniforms.t0 + tl;
        let tw = tile % uniforms.tilesW;
        let r1 = tile / uniforms.tilesW;
        let th = r1 % uniforms.tilesH;
        let r2 = r1 / uniforms.tilesH;
        let td = r2 % uniforms.tilesD;
        let n = r2 / uniforms.tilesD;`;

/** Step 2: V[p, t, c] of one chunk, a thread per (tile, gathered channel). */
class WinogradInputProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey = 'anatomynet_winograd_input';
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  variableNames = ['x'];
  uniforms = `gD : i32, gH : i32, gW : i32, gC : i32, pD : i32, pH : i32, pW : i32, ${TILE_UNIFORMS}`;
  constructor(tiles: number, channels: number) {
    this.outputShape = [POSITIONS * tiles * channels];
    const [x, y] = spreadWorkgroups(Math.ceil((tiles * channels) / THREADS));
    this.dispatch = [x, y, 1];
  }
  getUserCode(): string {
    const r4 = [0, 1, 2, 3];
    const loads = r4.flatMap((a) => r4.flatMap((b) => r4.map((c) => `let d_${a}_${b}_${c} = at(n, d0 + ${a}, h0 + ${b}, w0 + ${c}, c);`)));
    const stores = r4.flatMap((a) => r4.flatMap((b) => r4.map((c) =>
      `result[(${(a * 4 + b) * 4 + c} * uniforms.tc + tl) * uniforms.gC + c] = v_${a}_${b}_${c};`)));
    return `
      fn at(n : i32, d : i32, h : i32, w : i32, c : i32) -> f32 {
        if (d < 0 || d >= uniforms.gD || h < 0 || h >= uniforms.gH || w < 0 || w >= uniforms.gW) { return 0.0; }
        return x[(((n * uniforms.gD + d) * uniforms.gH + h) * uniforms.gW + w) * uniforms.gC + c];
      }
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let c = index % uniforms.gC;
        let tl = index / uniforms.gC;${TILE_DECODE}
        let d0 = 2 * td - uniforms.pD;
        let h0 = 2 * th - uniforms.pH;
        let w0 = 2 * tw - uniforms.pW;
        ${loads.join('\n        ')}
        ${separable3d(bT, 4, 'd', 'v')}
        ${stores.join('\n        ')}
      }`;
  }
}

/** Step 3's loaders: A = V[p] (tiles x gathered channels), B = U[p] (gathered x written), p = workgroupId.z. */
const GEMM_FUNCTIONS: GemmFunctions = {
  shared: `
  fn rowInfo(m : i32) -> vec4<i32> {
    if (m >= uniforms.M) { return vec4<i32>(-1, 0, 0, 0); }
    return vec4<i32>(m, 0, 0, 0);
  }
  fn tapInfo(tap : i32) -> vec4<i32> { return vec4<i32>(0, 0, 0, tap); }
  fn loadB(k : i32, n : i32) -> f32 { return U[(i32(workgroupId.z) * uniforms.K + k) * uniforms.N + n]; }
  fn loadBTap(t : vec4<i32>, c : i32, n : i32) -> f32 { return U[(i32(workgroupId.z) * uniforms.kC + c) * uniforms.N + n]; }`,
  scalarA: `
  fn loadA(r : vec4<i32>, k : i32) -> f32 {
    if (r.x < 0) { return 0.0; }
    return V[(i32(workgroupId.z) * uniforms.M + r.x) * uniforms.K + k];
  }
  fn loadATap(r : vec4<i32>, t : vec4<i32>, ch : i32) -> f32 {
    if (r.x < 0) { return 0.0; }
    return V[(i32(workgroupId.z) * uniforms.M + r.x) * uniforms.kC + ch];
  }`,
  vec4A: `
  fn loadATap4(r : vec4<i32>, t : vec4<i32>, ch : i32) -> vec4<f32> {
    if (r.x < 0) { return vec4<f32>(0.0); }
    return V[((i32(workgroupId.z) * uniforms.M + r.x) * uniforms.kC + ch) / 4];
  }`,
};

/** Step 4's shader: y = A' M A for a thread per (tile, written channel), through the epilogue. */
function outputShader(epilogue: ConvEpilogue | undefined): string {
  const r4 = [0, 1, 2, 3];
  const r2 = [0, 1];
  const loads = r4.flatMap((a) => r4.flatMap((b) => r4.map((c) => `let m_${a}_${b}_${c} = M[(${(a * 4 + b) * 4 + c} * uniforms.tc + tl) * uniforms.oC + o];`)));
  const value = (v: string) => (epilogue ? `epilogue(${v}, o)` : v);
  const stores = r2.flatMap((a) => r2.flatMap((b) => r2.map((c) => `
        if (od + ${a} < uniforms.oD && oh + ${b} < uniforms.oH && ow + ${c} < uniforms.oW) {
          y[(((n * uniforms.oD + od + ${a}) * uniforms.oH + oh + ${b}) * uniforms.oW + ow + ${c}) * uniforms.oC + o] = ${value(`y_${a}_${b}_${c}`)};
        }`)));
  const bindings = [{ name: 'y', written: true }, { name: 'M', written: false },
    ...(epilogue ? ['bias', ...(epilogue.norm ? ['normMean', 'normVar', 'normGamma', 'normBeta'] : [])] : []).map((name) => ({ name, written: false }))];
  return rawShader(bindings, `oD : i32, oH : i32, oW : i32, oC : i32, ${TILE_UNIFORMS}${epilogueUniformFields(epilogue)}`, THREADS, `
        let index = i32((wid.y * nwg.x + wid.x) * ${THREADS}u + lid);
        if (index >= uniforms.threads) { return; }
        let o = index % uniforms.oC;
        let tl = index / uniforms.oC;${TILE_DECODE}
        let od = 2 * td;
        let oh = 2 * th;
        let ow = 2 * tw;
        ${loads.join('\n        ')}
        ${separable3d(aT, 4, 'm', 'y')}${stores.join('')}`, epilogue ? epilogueWgsl(epilogue) : '');
}

/** The class name labels tf.profile's timers. */
class WinogradOutputProgram extends RawProgram {}

/** Step 1's WGSL: U[p, c, n], one value a thread; `weight` reads the filter at (tap, c, n). */
export function filterBody(weight: string): string {
  return `
        let n = index % uniforms.wC;
        let r = index / uniforms.wC;
        let c = r % uniforms.gC;
        let p = r / uniforms.gC;
        // G: rows (1, 0, 0), (1/2, 1/2, 1/2), (1/2, -1/2, 1/2), (0, 0, 1)
        var G = array<f32, 12>(1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.0, 0.0, 1.0);
        let p1 = p / 16;
        let p2 = (p / 4) % 4;
        let p3 = p % 4;
        var acc = 0.0;
        for (var kd = 0; kd < 3; kd = kd + 1) {
          for (var kh = 0; kh < 3; kh = kh + 1) {
            let s = G[p1 * 3 + kd] * G[p2 * 3 + kh];
            for (var kw = 0; kw < 3; kw = kw + 1) {
              let tap = (kd * 3 + kh) * 3 + kw;
              acc = acc + s * G[p3 * 3 + kw] * ${weight};
            }
          }
        }
        result[index] = acc;`;
}

/**
 * Runs the conv of `g` on Winograd: `source` is x (forward) or dy (dx), `filter` the conv's
 * [3,3,3,Cin,Cout] filter; returns the written tensor with `outShape`, through `epilogue` if given.
 */
export function runWinogradConv(
  backend: WebGPUBackendLike, g: DirectGeometry, tiling: WinogradTiling, source: TensorInfo, filter: TensorInfo, outShape: number[],
  epilogue?: ConvEpilogue,
): TensorInfo {
  const mode = winogradMode(g);
  if (!mode || !winogradValid(tiling, g)) throw new Error(`Winograd tiling ${winogradKey(tiling)} does not fit this conv`);
  const raw = backend as unknown as RawBackend;
  const gC = g.gatheredC;
  const wC = g.writtenC;
  const int = (v: number): ProgramUniform => ({ type: 'int32', data: [v] });

  // 1. U = G g G': forward reads W[tap, c, n]; dx the taps reversed and the channel axes swapped
  const weight = g.pass === 'forward' ? 'W[(tap * uniforms.gC + c) * uniforms.wC + n]' : 'W[((26 - tap) * uniforms.wC + n) * uniforms.gC + c]';
  const flatFilter = reshapeView(backend, filter, [tf.util.sizeFromShape(filter.shape)]);
  const U = backend.runWebGPUProgram(
    new FlatProgram(['W'], 'gC : i32, wC : i32,', filterBody(weight), `winograd_filter_${g.pass}`, POSITIONS * gC * wC),
    [flatFilter], 'float32', [int(gC), int(wC)]);
  release(backend, flatFilter);

  const [tilesD, tilesH, tilesW] = winogradTiles(g);
  const total = g.batch * tilesD * tilesH * tilesW;
  const perChunk = winogradChunkTiles(g, Math.min(tiling.mib, deviceBindingBytes(backend) / 2 ** 20));
  const y = rawOutput(raw, [tf.util.sizeFromShape(outShape)]);
  const flatSource = reshapeView(backend, source, [tf.util.sizeFromShape(source.shape)]);
  const pipeline = rawPipeline(raw.device, `anatomynet_winograd_output${epilogue ? `_epi${epilogue.norm ? 'n' : ''}` : ''}`, () => outputShader(epilogue));
  const noGeometry = GEOMETRY_FIELDS.map(() => 0);
  for (let t0 = 0; t0 < total; t0 += perChunk) {
    const tc = Math.min(perChunk, total - t0);
    const tileUniforms = [tilesD, tilesH, tilesW, t0, tc].map(int);
    // 2. V = B' d B
    const V = backend.runWebGPUProgram(new WinogradInputProgram(tc, gC), [flatSource], 'float32',
      [...[...g.gathered, gC, ...g.pad].map(int), ...tileUniforms, int(tc * gC)]);
    // 3. M[p] = V[p] U[p]
    const gemm = new ImplicitGemmProgram(['V', 'U'], 'winograd', GEMM_FUNCTIONS, tc, wC, gC, POSITIONS, mode, tiling.gemm,
      { taps: 1, channels: gC }, undefined, true);
    const M = backend.runWebGPUProgram(gemm, [V, U], 'float32', gemm.uniformValues(noGeometry));
    release(backend, V);
    // 4. y = A' M A, in place
    const threads = tc * wC;
    const [x, yg] = spreadWorkgroups(Math.ceil(threads / THREADS));
    runRaw(raw, new WinogradOutputProgram(pipeline, [x, yg, 1], [1]), [y, M, ...epilogueInputs(epilogue)],
      [...[...g.written, wC].map(int), ...tileUniforms, int(threads), ...epilogueUniforms(epilogue)], [y]);
    release(backend, M);
    // V and M go back to the pool for the next chunk (else each chunk until tfjs's own submit takes new ones)
    submitRecorded(backend);
  }
  release(backend, flatSource, U);
  const out = reshapeView(backend, y, outShape);
  release(backend, y);
  return out;
}
