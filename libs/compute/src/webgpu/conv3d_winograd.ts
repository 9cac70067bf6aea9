/**
 * 3x3x3 stride-1 convolution (forward, and dx, itself such a conv of dy) by Winograd's minimal
 * filtering F(m x m x m, 3x3x3), m = 2 or 4: each m^3 block of written voxels (a tile) is
 *   Y = A' [ (G g G') .* (B' d B) ] A   in each of the three axes,
 * where d is the tile's n^3 input patch (n = m + 2) and g the filter. F(2): 64 multiplies per
 * tile and channel pair for 8 outputs, 3.4x fewer than the implicit GEMM or the direct kernel, for a
 * transformed input 8x the input's size. F(4): 216 for 64 outputs, 8x fewer, transformed input
 * 3.4x, at fp32 errors about 50x F(2)'s (3e-5 of the largest output with 104 channels, measured
 * against float64 in numpy; TF32, PyTorch's default for convs, is near 1e-3). cuDNN offers the same
 * trade for 2D convs (WINOGRAD_NONFUSED); whether it pays on a device is the tuner's call (autotune.ts).
 *
 * Non-fused, per chunk of tiles, so the transformed tensors stay within a budget (and within the
 * device's largest binding, 2 GiB on an H100), each chunk submitted before the next so that tfjs
 * hands its V and M to the next one:
 *   1. U[p, c, n] = G g G' of the filter (once per call; p = n^3 transformed position),
 *   2. V[p, t, c] = B' d B of the chunk's tiles (one thread per tile and channel: n^3 loads and
 *      stores; or, a tuner's choice for F(4), one per tile, channel and plane of the result),
 *   3. M[p, t, n] = V[p] U[p]: n^3 GEMMs over the gathered channels, on the implicit-GEMM program
 *      (conv3d_gemm.ts, batched over p with tap-major vec4 loads),
 *   4. y = A' M A (one thread per tile and written channel), through the fused conv's epilogue,
 *      written in place into the whole output (a raw shader, raw_program.ts).
 * F(2,3)'s transforms hold only 0, +-1 and +-1/2, so it keeps the direct conv's accuracy in fp32.
 */
import * as tf from '@tensorflow/tfjs';
import { epilogueInputs, epilogueKey, epilogueUniformFields, epilogueUniforms, epilogueWgsl, type ConvEpilogue } from './epilogue';
import { GEOMETRY_FIELDS, ImplicitGemmProgram, tilingCandidates, tilingKey, tilingThreads, tilingValid, type GemmFunctions, type GemmMode, type GemmTiling } from './conv3d_gemm';
import type { DirectGeometry } from './conv3d_direct';
import { deviceBindingBytes, FlatProgram, int32, release, reshapeView, spreadWorkgroups, submitRecorded, type ProgramUniform, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';
import { rawOutput, rawPipeline, RawProgram, rawShader, runRaw, type RawBackend } from './raw_program';

/** How a Winograd conv runs: the tile, the batched GEMM's tiling and the transformed tensors' budget per chunk. */
export interface WinogradTiling {
  algo: 'winograd';
  /** Written voxels per tile and axis: F(2x2x2, 3x3x3) or F(4x4x4, 3x3x3). */
  m: 2 | 4;
  gemm: GemmTiling;
  /** MiB the larger of V and M may take per chunk of tiles (the chunks' count follows). */
  mib: number;
  /** A thread per plane of each transform's results instead of per tile (transformCode). */
  planes?: boolean;
}

export const winogradKey = (t: WinogradTiling): string => `winograd_f${t.m}_${tilingKey(t.gemm)}_${t.mib}mib${t.planes ? '_planes' : ''}`;

/** A 1D transform set of F(m, 3): B' (n x n), G (n x 3), A' (m x n), n = m + 2. */
export interface WinogradTransforms {
  m: number;
  n: number;
  BT: number[][];
  G: number[][];
  AT: number[][];
}

// interpolation points 0, 1, -1 (F(2)) and 0, 1, -1, 2, -2 (F(4)), as in Lavin and Gray (2016)
const F2: WinogradTransforms = {
  m: 2, n: 4,
  BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
  G: [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
  AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
};
const F4: WinogradTransforms = {
  m: 4, n: 6,
  BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
  G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
};

export const winogradTransforms = (m: 2 | 4): WinogradTransforms => (m === 4 ? F4 : F2);

/** A float literal both WGSL and JavaScript read (the tests evaluate the generated lines). */
export const literal = (v: number): string => {
  const s = String(Math.fround(v));
  return /[.e]/.test(s) ? s : `${s}.0`;
};

/** Row `row` of a transform matrix applied to the values named `v`, as one expression (zeros skipped). */
export function rowExpression(row: number[], v: string[]): string {
  let out = '';
  row.forEach((c, i) => {
    if (c === 0) return;
    const term = Math.abs(c) === 1 ? v[i] : `${literal(Math.abs(c))} * ${v[i]}`;
    out += out === '' ? (c < 0 ? `-${term}` : term) : ` ${c < 0 ? '-' : '+'} ${term}`;
  });
  return out === '' ? '0.0' : out;
}

/** The 1D transform of matrix `M` as a generator of expressions over named values. */
export const applyMatrix = (M: number[][]) => (v: string[]): string[] => M.map((row) => rowExpression(row, v));

const THREADS = 64;
const range = (k: number): number[] => Array.from({ length: k }, (_, i) => i);

/**
 * The batched GEMM's K order for a 3x3x3 conv (undefined: not a Winograd conv): tap-major over the
 * gathered channels, read as vec4 where they are a multiple of 4. Its K is the channels alone, so
 * padding them to whole slabs costs once, not once per tap as in the implicit GEMM's K (gemmMode):
 * any channel count will do, the output block's 17 included.
 */
export function winogradMode(g: DirectGeometry): GemmMode | undefined {
  if (g.filter.some((f) => f !== 3)) return undefined;
  return g.gatheredC % 4 === 0 ? 'tap4' : 'tap';
}

/** The slab depth that pads the gathered channels least (16 where both pad alike). */
const slabDepth = (channels: number): number => (Math.ceil(channels / 16) * 16 <= Math.ceil(channels / 8) * 8 ? 16 : 8);

/** Output tiles per axis (m written voxels each; the last may hang over the edge). */
export const winogradTiles = (g: DirectGeometry, m: 2 | 4): [number, number, number] =>
  [Math.ceil(g.written[0] / m), Math.ceil(g.written[1] / m), Math.ceil(g.written[2] / m)];

/** Transformed positions per tile, n^3. */
export const positions = (m: 2 | 4): number => (m + 2) ** 3;

/** Tiles per chunk: as many as keep V [n^3, tiles, gathered] and M [n^3, tiles, written] within `mib` (may be fractional). */
export function winogradChunkTiles(g: DirectGeometry, m: 2 | 4, mib: number): number {
  const [d, h, w] = winogradTiles(g, m);
  const total = g.batch * d * h * w;
  const perTile = positions(m) * 4 * Math.max(g.gatheredC, g.writtenC);
  return Math.max(1, Math.min(total, Math.floor((mib * 2 ** 20) / perTile)));
}

/**
 * The chunks of tiles a Winograd kernel of `g` runs in on `tiling` (within the device's largest
 * binding): each chunk's tile count and its tile uniforms (TILE_UNIFORMS but `threads`).
 */
export function winogradChunks(backend: WebGPUBackendLike, g: DirectGeometry, tiling: WinogradTiling): { tc: number; tileUniforms: ProgramUniform[] }[] {
  const [tilesD, tilesH, tilesW] = winogradTiles(g, tiling.m);
  const total = g.batch * tilesD * tilesH * tilesW;
  const perChunk = winogradChunkTiles(g, tiling.m, Math.min(tiling.mib, deviceBindingBytes(backend) / 2 ** 20));
  const chunks = [];
  for (let t0 = 0; t0 < total; t0 += perChunk) {
    const tc = Math.min(perChunk, total - t0);
    chunks.push({ tc, tileUniforms: [tilesD, tilesH, tilesW, t0, tc].map(int32) });
  }
  return chunks;
}

/**
 * The filter gradient's GEMM mode (conv3d_winograd_dw.ts): rows are x's channels, read four at a
 * time as a vec4 where they are a multiple of 4, and K runs over the tiles, as in the implicit-GEMM dW.
 */
export function winogradDwMode(g: DirectGeometry): GemmMode | undefined {
  if (winogradMode(g) === undefined) return undefined;
  return g.gatheredC % 4 === 0 ? 'step4' : 'step';
}

/** Whether `t` fits the forward or dx of `g`, or with `filterGradient` the dW of the conv whose forward is `g`. */
export function winogradValid(t: WinogradTiling, g: DirectGeometry, filterGradient = false): boolean {
  const mode = filterGradient ? winogradDwMode(g) : winogradMode(g);
  // one binding holds at most 2 GiB (maxStorageBufferBindingSize's usual value)
  return mode !== undefined && (t.m === 2 || t.m === 4) && t.mib >= 1 && t.mib <= 2047 && tilingValid(t.gemm, mode);
}

/**
 * Tilings worth timing: the batched GEMM's tilings with 8 rows a thread and the slab depth that
 * pads the gathered channels least (its K is only those channels, 16-104 in the reference
 * network), packed B where it fits, each for F(2) and F(4) (F(4) in both transform layouts), in
 * chunks of 256 MiB. Larger chunks mean fewer dispatches (the reference network's forward
 * transforms about 37 GB at 178x302x225 in F(2): its eval forward records 630 dispatches at 256
 * MiB, F(4) 321, 57 without Winograd) but more memory: the whole-volume training step with the
 * half-resolution convs' forward and dx on F(2) (bench:memory --binding-gib 2, H100 tilings, best fit, out, dec0-2 and enc3 kept) allocated
 * 19.1 GB at most at 128 MiB, 19.5 at 256, 22.0 at 512 and 24.4 at 1024 (every stride-1 3x3x3 conv
 * at 256: 19.7 with F(2), 19.6 with F(4); 20.2 without Winograd).
 */
export function winogradCandidates(g: DirectGeometry, filterGradient = false): WinogradTiling[] {
  const mode = filterGradient ? winogradDwMode(g) : winogradMode(g);
  if (!mode) return [];
  const eligible = tilingCandidates(g.writtenC, mode).filter((t) => t.rm === 8 && tilingThreads(t) >= 128);
  // the filter gradient's rows are x's channels (16-104): the smallest row tile holding them all
  const rows = Math.min(...eligible.map((t) => t.tm).filter((tm) => tm >= g.gatheredC), Math.max(...eligible.map((t) => t.tm)));
  const tk = slabDepth(g.gatheredC);
  const gemms = eligible
    .filter((t) => (filterGradient ? t.tm === rows : t.tk === tk))
    .map((t) => (tilingValid({ ...t, bv: true }, mode) ? { ...t, bv: true } : t));
  const candidate = (m: 2 | 4, gemm: GemmTiling): WinogradTiling => ({ algo: 'winograd', m, gemm, mib: 256 });
  // F(4)'s 216-value transforms a thread per tile, or a thread per plane (transformCode)
  const f2 = gemms.map((gemm) => candidate(2, gemm));
  const f4 = gemms.flatMap((gemm) => [candidate(4, gemm), { ...candidate(4, gemm), planes: true }]);
  return [...f2, ...f4];
}

/**
 * WGSL applying the 1D transform `f` (n inputs -> m outputs) along each of three axes of the
 * n x n x n values named `${from}_a_b_c`, leaving m x m x m values `${to}_a_b_c` (axis order d, h, w).
 */
export function separable3d(f: (v: string[]) => string[], n: number, from: string, to: string): string {
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

/**
 * WGSL applying the 1D transform `f` along the two axes of the n x n values named `${from}_b_c`,
 * leaving k x k values `${to}_b_c` (k = f's outputs; along w, then h).
 */
export function separable2d(f: (v: string[]) => string[], n: number, from: string, to: string): string {
  const lines: string[] = [];
  const k = f(range(n).map(String)).length;
  for (const b of range(n)) f(range(n).map((c) => `${from}_${b}_${c}`)).forEach((e, c) => lines.push(`let ${to}w_${b}_${c} = ${e};`));
  for (const c of range(k)) f(range(n).map((b) => `${to}w_${b}_${c}`)).forEach((e, b) => lines.push(`let ${to}_${b}_${c} = ${e};`));
  return lines.join('\n        ');
}

/**
 * Threads a transform by `M` (k x n, along each of three axes of an n^3 patch) takes per tile and
 * channel: one, or with `planes` one per plane of its k results along the first axis.
 */
export const transformPlanes = (M: number[][], planes: boolean): number => (planes ? M.length : 1);

/**
 * WGSL transforming an n^3 patch by matrix `M` (k x n) along its three axes: `load(a, b, c)` is the
 * expression of patch value (a, b, c), `store(a, b, c, v)` the statement keeping result (a, b, c),
 * a, b, c < k; both get index expressions. M may be rectangular (k < n: the output transforms;
 * k > n: the filter gradient's dy transform). One thread a patch: up to 4 values a side every value
 * is unrolled into registers (F(2)'s 64); larger ones (F(4)'s 216) go through a function-scope array
 * in loops (unrolled, the shader takes lavapipe's compiler over a minute). On a GPU those 216 may
 * not fit a thread's registers (spilled, and few threads resident to hide the loads' latency), so
 * with `planes` a thread computes only the results of plane `plane` (a variable the caller decodes
 * from its index): along the first axis by M's row `plane` (n^2 = 36 sums for F(4), its loads
 * re-read by the tile's other planes, neighbouring threads, from the cache), then the plane's two
 * axes in registers. Which pays on a device is the tuner's call (on lavapipe, a CPU, both time
 * alike).
 */
function transformCode(M: number[][], n: number, planes: boolean, load: (a: string, b: string, c: string) => string, store: (a: string, b: string, c: string, v: string) => string): string {
  const k = M.length;
  const rn = range(n);
  const rk = range(k);
  if (planes) {
    const sums = rn.flatMap((b) => rn.map((c) => `e_${b}_${c}`));
    return [
      `var rows = array<f32, ${k * n}>(${M.flat().map(literal).join(', ')});`,
      ...sums.map((e) => `var ${e} = 0.0;`),
      `for (var a = 0; a < ${n}; a = a + 1) {
          let coefficient = rows[plane * ${n} + a];
          if (coefficient != 0.0) {
            ${sums.map((e, i) => `${e} = ${e} + coefficient * ${load('a', `${Math.floor(i / n)}`, `${i % n}`)};`).join('\n            ')}
          }
        }`,
      separable2d(applyMatrix(M), n, 'e', 't'),
      ...rk.flatMap((b) => rk.map((c) => store('plane', `${b}`, `${c}`, `t_${b}_${c}`))),
    ].join('\n        ');
  }
  if (Math.max(n, k) <= 4) {
    const loads = rn.flatMap((a) => rn.flatMap((b) => rn.map((c) => `let s_${a}_${b}_${c} = ${load(`${a}`, `${b}`, `${c}`)};`)));
    const stores = rk.flatMap((a) => rk.flatMap((b) => rk.map((c) => store(`${a}`, `${b}`, `${c}`, `t_${a}_${b}_${c}`))));
    return [...loads, separable3d(applyMatrix(M), n, 's', 't'), ...stores].join('\n        ');
  }
  // one array of side S holds every stage; each stage reads its n values into lets before writing k
  const S = Math.max(n, k);
  const at = (i: string) => `t[${i}]`;
  const pass = (outer: number, inner: number, base: string, stride: number) => {
    const v = range(n).map((i) => `v${i}`);
    return `for (var i = 0; i < ${outer}; i = i + 1) {
          for (var j = 0; j < ${inner}; j = j + 1) {
            let base = ${base};
            ${v.map((x, i) => `let ${x} = ${at(`base + ${i * stride}`)};`).join(' ')}
            ${applyMatrix(M)(v).map((e, i) => `${at(`base + ${i * stride}`)} = ${e};`).join('\n            ')}
          }
        }`;
  };
  return `var t : array<f32, ${S ** 3}>;
        for (var a = 0; a < ${n}; a = a + 1) {
          for (var b = 0; b < ${n}; b = b + 1) {
            for (var c = 0; c < ${n}; c = c + 1) { t[(a * ${S} + b) * ${S} + c] = ${load('a', 'b', 'c')}; }
          }
        }
        ${pass(n, n, `(i * ${S} + j) * ${S}`, 1)}
        ${pass(n, k, `i * ${S * S} + j`, S)}
        ${pass(k, k, `i * ${S} + j`, S * S)}
        for (var a = 0; a < ${k}; a = a + 1) {
          for (var b = 0; b < ${k}; b = b + 1) {
            for (var c = 0; c < ${k}; c = c + 1) { ${store('a', 'b', 'c', at(`(a * ${S} + b) * ${S} + c`))} }
          }
        }`;
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

/** WGSL decoding the thread's `plane` (transformPlanes) and chunk-local tile `tl`: index = (tl * planes + plane) * channels + channel. */
const planeDecode = (planes: number, channels: string): string => `
        let r0 = index / ${channels};
        let plane = i32(u32(r0) % ${planes}u); // unsigned: Tint then knows it indexes rows in bounds
        let tl = r0 / ${planes};`;

const transpose = (M: number[][]): number[][] => M[0].map((_, j) => M.map((row) => row[j]));

/**
 * Step 2: V[p, t, c] = B' d B of one chunk's n^3 input patches (`of` 'input'), or, for the filter
 * gradient (conv3d_winograd_dw.ts), A dy A' of its m^3 blocks of dy ('grad', pads 0): a thread per
 * (tile, channel), or with `planes` per (tile, plane, channel); zeros outside the tensor.
 */
export class WinogradInputProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  variableNames = ['x'];
  uniforms = `gD : i32, gH : i32, gW : i32, gC : i32, pD : i32, pH : i32, pW : i32, ${TILE_UNIFORMS}`;
  /** The `threads` uniform: (tile, plane, channel) triples, the channel fastest. */
  readonly threads: number;
  private readonly matrix: number[][];
  private readonly side: number;
  constructor(
    private readonly f: WinogradTransforms, tiles: number, channels: number, private readonly planes: boolean, private readonly of: 'input' | 'grad' = 'input',
  ) {
    [this.matrix, this.side] = of === 'input' ? [f.BT, f.n] : [transpose(f.AT), f.m];
    this.outputShape = [f.n ** 3 * tiles * channels];
    this.threads = tiles * transformPlanes(this.matrix, planes) * channels;
    const [x, y] = spreadWorkgroups(Math.ceil(this.threads / THREADS));
    this.dispatch = [x, y, 1];
    this.shaderKey = `anatomynet_winograd_${of}_f${f.m}${planes ? '_planes' : ''}`;
  }
  getUserCode(): string {
    const { m, n } = this.f;
    const code = transformCode(this.matrix, this.side, this.planes, (a, b, c) => `at(n, d0 + ${a}, h0 + ${b}, w0 + ${c}, ch)`,
      (a, b, c, v) => `result[(((${a} * ${n} + ${b}) * ${n} + ${c}) * uniforms.tc + tl) * uniforms.gC + ch] = ${v};`);
    return `
      fn at(n : i32, d : i32, h : i32, w : i32, c : i32) -> f32 {
        if (d < 0 || d >= uniforms.gD || h < 0 || h >= uniforms.gH || w < 0 || w >= uniforms.gW) { return 0.0; }
        return x[(((n * uniforms.gD + d) * uniforms.gH + h) * uniforms.gW + w) * uniforms.gC + c];
      }
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let ch = index % uniforms.gC;${planeDecode(transformPlanes(this.matrix, this.planes), 'uniforms.gC')}${TILE_DECODE}
        let d0 = ${m} * td - uniforms.pD;
        let h0 = ${m} * th - uniforms.pH;
        let w0 = ${m} * tw - uniforms.pW;
        ${code}
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

/** Step 4's shader: y = A' M A for a thread per (tile, written channel), or per (tile, plane, written channel), through the epilogue. */
function outputShader(f: WinogradTransforms, planes: boolean, epilogue: ConvEpilogue | undefined): string {
  const { m, n } = f;
  const value = (v: string) => (epilogue ? `epilogue(${v}, o)` : v);
  const code = transformCode(f.AT, n, planes, (a, b, c) => `M[(((${a} * ${n} + ${b}) * ${n} + ${c}) * uniforms.tc + tl) * uniforms.oC + o]`,
    (a, b, c, v) => `if (od + ${a} < uniforms.oD && oh + ${b} < uniforms.oH && ow + ${c} < uniforms.oW) {
          y[(((n * uniforms.oD + od + ${a}) * uniforms.oH + oh + ${b}) * uniforms.oW + ow + ${c}) * uniforms.oC + o] = ${value(v)};
        }`);
  const bindings = [{ name: 'y', written: true }, { name: 'M', written: false },
    ...(epilogue ? ['bias', ...(epilogue.norm ? ['normMean', 'normVar', 'normGamma', 'normBeta'] : [])] : []).map((name) => ({ name, written: false }))];
  return rawShader(bindings, `oD : i32, oH : i32, oW : i32, oC : i32, ${TILE_UNIFORMS}${epilogueUniformFields(epilogue)}`, THREADS, `
        let index = i32((wid.y * nwg.x + wid.x) * ${THREADS}u + lid);
        if (index >= uniforms.threads) { return; }
        let o = index % uniforms.oC;${planeDecode(transformPlanes(f.AT, planes), 'uniforms.oC')}${TILE_DECODE}
        let od = ${m} * td;
        let oh = ${m} * th;
        let ow = ${m} * tw;
        ${code}`, epilogue ? epilogueWgsl(epilogue) : '');
}

/** The class name labels tf.profile's timers. */
class WinogradOutputProgram extends RawProgram {}

/** Step 1's WGSL: U[p, c, n], one value a thread; `weight` reads the filter at (tap, c, n). */
function filterBody(f: WinogradTransforms, weight: string): string {
  const n = f.n;
  return `
        let n = index % uniforms.wC;
        let r = index / uniforms.wC;
        let c = r % uniforms.gC;
        let p = r / uniforms.gC;
        var G = array<f32, ${3 * n}>(${f.G.flat().map(literal).join(', ')});
        let p1 = p / ${n * n};
        let p2 = (p / ${n}) % ${n};
        let p3 = p % ${n};
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

  // 1. U = G g G': forward reads W[tap, c, n]; dx the taps reversed and the channel axes swapped
  const f = winogradTransforms(tiling.m);
  const P = f.n ** 3;
  const planes = tiling.planes === true;
  const weight = g.pass === 'forward' ? 'W[(tap * uniforms.gC + c) * uniforms.wC + n]' : 'W[((26 - tap) * uniforms.wC + n) * uniforms.gC + c]';
  const flatFilter = reshapeView(backend, filter, [tf.util.sizeFromShape(filter.shape)]);
  const U = backend.runWebGPUProgram(
    new FlatProgram(['W'], 'gC : i32, wC : i32,', filterBody(f, weight), `winograd_filter_f${f.m}_${g.pass}`, P * gC * wC),
    [flatFilter], 'float32', [int32(gC), int32(wC)]);
  release(backend, flatFilter);

  const y = rawOutput(raw, [tf.util.sizeFromShape(outShape)]);
  const flatSource = reshapeView(backend, source, [tf.util.sizeFromShape(source.shape)]);
  // the key names everything the shader's code depends on (the epilogue's norm and activation too)
  const pipeline = rawPipeline(raw.device, `anatomynet_winograd_output_f${f.m}${planes ? '_planes' : ''}${epilogueKey(epilogue)}`, () => outputShader(f, planes, epilogue));
  const noGeometry = GEOMETRY_FIELDS.map(() => 0);
  for (const { tc, tileUniforms } of winogradChunks(backend, g, tiling)) {
    // 2. V = B' d B
    const transform = new WinogradInputProgram(f, tc, gC, planes);
    const V = backend.runWebGPUProgram(transform, [flatSource], 'float32',
      [...[...g.gathered, gC, ...g.pad].map(int32), ...tileUniforms, int32(transform.threads)]);
    // 3. M[p] = V[p] U[p]
    const gemm = new ImplicitGemmProgram(['V', 'U'], 'winograd', GEMM_FUNCTIONS, tc, wC, gC, P, mode, tiling.gemm,
      { taps: 1, channels: gC }, undefined, P);
    const M = backend.runWebGPUProgram(gemm, [V, U], 'float32', gemm.uniformValues(noGeometry));
    release(backend, V);
    // 4. y = A' M A, in place
    const threads = tc * transformPlanes(f.AT, planes) * wC;
    const [x, yg] = spreadWorkgroups(Math.ceil(threads / THREADS));
    runRaw(raw, new WinogradOutputProgram(pipeline, [x, yg, 1], [1]), [y, M, ...epilogueInputs(epilogue)],
      [...[...g.written, wC].map(int32), ...tileUniforms, int32(threads), ...epilogueUniforms(epilogue)], [y]);
    release(backend, M);
    // V and M go back to the pool for the next chunk (else each chunk until tfjs's own submit takes new ones)
    submitRecorded(backend);
  }
  release(backend, flatSource, U);
  const out = reshapeView(backend, y, outShape);
  release(backend, y);
  return out;
}
