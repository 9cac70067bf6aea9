/**
 * The tiled implicit-GEMM program shared by the Conv3D kernels (NDHWC activations, filters
 * [fD,fH,fW,Cin,Cout]). It computes result[s, m, n] = sum over k in slice s of A[m,k] * B[k,n],
 * where each kernel file supplies how A and B are gathered:
 *   rowInfo(m) -> vec4<i32>   what a thread precomputes once for GEMM row m (x < 0 marks m >= M),
 *   loadA(info, k), loadB(k, n) -> f32   (flat K order),
 *   tapInfo(tap), loadATap(info, tapInfo, c), loadBTap(tapInfo, c, n)   (tap-major K order),
 *   loadATap4(info, tapInfo, c) -> vec4<f32>   (tap-major, the gathered operand bound as vec4),
 *   stepInfo(k0), loadAStep(info, stepInfo, dk, k)   (step mode, dW: K runs over voxels),
 *   loadAStep4(info, stepInfo, dk, k) -> vec4<f32>   (step4: four consecutive rows, x bound as vec4).
 *
 * A workgroup of (tm/rm) x tnt threads owns a tm x (tnt*rn) output tile; K advances in tk-deep
 * slabs staged in workgroup memory. Each thread accumulates rm rows (contiguous, read from the
 * A slab as vec4) by rn columns (strided by tnt, so one warp reads consecutive B entries). The
 * accumulators are generated as named vec4 registers, not arrays: WGSL compilers do not
 * promise to unroll loops, and an array indexed in a loop can end up in slow local memory.
 *
 * Tile sizes are a {@link GemmTiling}: {@link defaultTiling} picks one from the shape, and
 * `autotune.ts` can time the candidates of {@link tilingCandidates} on the device and remember
 * the fastest per convolution (what cuDNN's benchmark mode does).
 */
import * as tf from '@tensorflow/tfjs';
import { epilogueKey, epilogueUniformFields, epilogueUniforms, epilogueVariables, epilogueWgsl, type ConvEpilogue } from './epilogue';
import { release, reshapeView, spreadWorkgroups, threadIndex, type ProgramUniform, type TensorInfo, type WebGPUBackendLike, type WebGPUProgram } from './program';

/** Tile shape of the implicit GEMM. Threads = (tm / rm) * tnt; output tile tm x (tnt * rn). */
export interface GemmTiling {
  /** Rows (GEMM M) per workgroup. */
  tm: number;
  /** Rows per thread, a multiple of 4 (read from workgroup memory as vec4). */
  rm: number;
  /** K depth of one staged slab (a multiple of 4). */
  tk: number;
  /** Threads along N. */
  tnt: number;
  /** Columns per thread (strided by tnt). */
  rn: number;
  /**
   * Prefetch: the next K step's global loads go to registers before this step's multiply-adds
   * (hiding their latency), and are written to workgroup memory after the barrier.
   */
  pf?: boolean;
  /**
   * B slab packed per thread: a thread's rn columns sit in ceil(rn / 4) consecutive vec4 slots, so
   * it reads them with that many 128-bit loads instead of rn scalar ones: fewer workgroup-memory
   * loads per multiply-add in the inner loop.
   */
  bv?: boolean;
}

/**
 * The K order and A gather: 'flat' (k = tap x channels, scalar), 'tap'/'tap4' (tap-major slabs;
 * tap4 reads 4 channels as a vec4), 'step' (dW: K runs over voxels, A rows are (tap, channel)) and
 * 'step4' (dW with channels % 4 == 0: four rows, four consecutive channels of one tap, per vec4 load).
 */
export type GemmMode = 'flat' | 'tap' | 'tap4' | 'step' | 'step4';

/** Modes that bind the gathered operand as vec4 and read it 4 values at a time. */
const vec4Mode = (mode: GemmMode): boolean => mode === 'tap4' || mode === 'step4';

/**
 * A kernel's WGSL: `shared` always; `scalarA` (loadA, loadATap) only where the gathered operand is
 * bound as f32, `vec4A` (loadATap4) only where it is bound as vec4 (mode 'tap4').
 */
export interface GemmFunctions {
  shared: string;
  scalarA?: string;
  vec4A?: string;
}

/**
 * tapInfo (a tap's dilated offsets, and the tap) plus loadA, loadATap and loadATap4 for a kernel
 * whose A operand gathers `buffer` (NDHWC; `channels` names the uniform holding its channel count)
 * through the kernel's own tapVoxel(row, tap) -> flat voxel index, or -1 for a zero (padding,
 * stride misses). tapInfo goes with the scalar and the vec4 variant alike.
 */
export function tapGathers(buffer: string, channels: string): Pick<GemmFunctions, 'scalarA' | 'vec4A'> {
  const c = `uniforms.${channels}`;
  const tapInfo = `
  fn tapInfo(tap : i32) -> vec4<i32> {
    let kw = tap % uniforms.fW;
    let t1 = tap / uniforms.fW;
    return vec4<i32>((t1 / uniforms.fH) * uniforms.dD, (t1 % uniforms.fH) * uniforms.dH, kw * uniforms.dW, tap);
  }`;
  return {
    scalarA: `${tapInfo}
  fn loadA(r : vec4<i32>, k : i32) -> f32 {
    let tap = k / ${c};
    let v = tapVoxel(r, tapInfo(tap));
    if (v < 0) { return 0.0; }
    return ${buffer}[v * ${c} + k - tap * ${c}];
  }
  fn loadATap(r : vec4<i32>, t : vec4<i32>, ch : i32) -> f32 {
    let v = tapVoxel(r, t);
    if (v < 0) { return 0.0; }
    return ${buffer}[v * ${c} + ch];
  }`,
    vec4A: `${tapInfo}
  fn loadATap4(r : vec4<i32>, t : vec4<i32>, ch : i32) -> vec4<f32> {
    let v = tapVoxel(r, t);
    if (v < 0) { return vec4<f32>(0.0); }
    return ${buffer}[(v * ${c} + ch) / 4];
  }`,
  };
}

export const tilingKey = (t: GemmTiling): string => `${t.tm}_${t.rm}_${t.tk}_${t.tnt}_${t.rn}${t.bv ? '_bv' : ''}${t.pf ? '_pf' : ''}`;
export const tilingThreads = (t: GemmTiling): number => (t.tm / t.rm) * t.tnt;
/** vec4 slots per thread and K row of a packed ('bv') B slab. */
const bGroups = (t: GemmTiling): number => Math.ceil(t.rn / 4);
/** WGSL writing `v` at flat index i of the A slab (vec4s of 4 consecutive i), inline as setB. */
const setA = (i: string, v: string): string => `{ let ia = ${i}; As[ia / 4][ia % 4] = ${v}; }`;
/** Floats per K row of the B slab (packed slabs round each thread's columns up to whole vec4s). */
const bSlabWidth = (t: GemmTiling): number => (t.bv ? 4 * bGroups(t) : t.rn) * t.tnt;

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

/** Tap-major K steps pay off when the channels pad to whole tk-deep slabs with at most 20% waste. */
export function tapMajorFits(channels: number, tk = 16): boolean {
  return (Math.ceil(channels / tk) * tk) / channels <= 1.2;
}

/** Whether a tiling is well formed for a mode (the loaders need whole per-thread shares). */
export function tilingValid(t: GemmTiling, mode: GemmMode): boolean {
  const threads = tilingThreads(t);
  if (t.rm % 4 !== 0 || t.tm % t.rm !== 0 || t.tk % 4 !== 0 || t.rn < 1 || t.rn > 8) return false;
  if (threads < 32 || threads > 256) return false;
  // WebGPU's guaranteed workgroup memory (16 KiB) holds both slabs
  if (4 * t.tk * (t.tm + bSlabWidth(t)) > 16384) return false;
  const slab = vec4Mode(mode) ? (t.tm * t.tk) / 4 : t.tm * t.tk;
  if (slab % threads !== 0) return false;
  // a thread's loads share one row group (or cycle through whole groups): its row info is fixed
  if (mode === 'step' || mode === 'step4') {
    const groups = mode === 'step4' ? t.tm / 4 : t.tm;
    return threads % groups === 0 || groups % threads === 0;
  }
  const perRow = mode === 'tap4' ? t.tk / 4 : t.tk;
  return threads % perRow === 0;
}

/** Column splits covering N in one tile (N <= 64), or 8 columns per thread over several tiles. */
function columnSplits(n: number): { tnt: number; rn: number }[] {
  if (n > 64) return [{ tnt: 8, rn: 8 }, { tnt: 16, rn: 8 }];
  return [4, 8, 16].map((tnt) => ({ tnt, rn: Math.ceil(n / tnt) })).filter((c) => c.rn <= 8);
}

/**
 * The K order for a tap-major-capable GEMM over `channels` (the gathered operand's channels):
 * vec4 loads when they are a multiple of 4, tap-major when some slab depth wastes <= 20%, else flat.
 */
export function gemmMode(channels: number): GemmMode {
  const fits = tapMajorFits(channels, 8) || tapMajorFits(channels, 16);
  if (!fits) return 'flat';
  return channels % 4 === 0 ? 'tap4' : 'tap';
}

/**
 * The tilings worth timing for N output columns in a mode (`channels`: tap modes' slab fit, where
 * each tap pads the channels to whole slabs; undefined: any slab depth).
 */
export function tilingCandidates(N: number, mode: GemmMode, channels?: number): GemmTiling[] {
  const out: GemmTiling[] = [];
  const n = Math.max(N, 1);
  for (const { tnt, rn } of columnSplits(N)) {
    for (const rm of [4, 8]) {
      for (const threads of [64, 128, 256]) {
        const tm = (threads / tnt) * rm;
        // small tiles or thin per-thread blocks leave the FMA units waiting on workgroup memory
        if (tm < 64 || tm > 256 || rm * Math.min(rn, n) < 8) continue;
        for (const tk of [8, 16]) {
          if ((mode === 'tap' || mode === 'tap4') && channels !== undefined && !tapMajorFits(channels, tk)) continue;
          const t = { tm, rm, tk, tnt, rn };
          if (tilingValid(t, mode)) out.push(t);
        }
      }
    }
  }
  return out;
}

/** Tile parameters to prefer when nothing was tuned (see gemm_plan.ts for the measured choice). */
export type TilingPreference = Pick<GemmTiling, 'tm' | 'rm' | 'tk' | 'tnt'>;

const GENERIC_PREFERENCE: TilingPreference = { tm: 128, rm: 8, tk: 16, tnt: 8 };

/**
 * A tiling without timing: the valid candidate closest to `prefer` (tnt and rm first, then tk and
 * tm), with the fewest padded columns breaking ties, and its B slab packed (`bv`) where that fits.
 */
export function defaultTiling(N: number, mode: GemmMode, channels = 0, prefer: TilingPreference = GENERIC_PREFERENCE): GemmTiling {
  // every conv of every step asks: remembered per argument set (the JavaScript of a step is its cost on a GPU)
  const key = `${N}|${mode}|${channels}|${tilingKey({ ...prefer, rn: 0 })}`;
  let t = defaults.get(key);
  if (!t) {
    t = pickDefault(N, mode, channels, prefer);
    const packed = { ...t, bv: true };
    if (tilingValid(packed, mode)) t = packed;
    defaults.set(key, t);
  }
  return { ...t };
}

const defaults = new Map<string, GemmTiling>();

function pickDefault(N: number, mode: GemmMode, channels: number, prefer: TilingPreference): GemmTiling {
  const cands = tilingCandidates(N, mode, channels);
  const score = (t: GemmTiling) =>
    (t.tnt === prefer.tnt ? 8 : 0) + (t.rm === prefer.rm ? 4 : 0) + (t.tk === prefer.tk ? 2 : 0) + (t.tm === prefer.tm ? 1 : 0)
    - (t.tnt * t.rn - Math.min(N, t.tnt * t.rn)) / Math.max(N, 1);
  if (cands.length === 0) throw new Error(`no GEMM tiling for N=${N} (${mode})`);
  return cands.reduce((a, b) => (score(b) > score(a) ? b : a));
}

const GEMM_UNIFORMS = `M : i32, N : i32, K : i32, nTiles : i32, chunkK : i32, kSteps : i32, kC : i32, cChunks : i32, batches : i32, ${GEOMETRY_FIELDS.map((f) => `${f} : i32,`).join(' ')}`;

export class ImplicitGemmProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableComponents?: number[];
  readonly variableNames: string[];
  uniforms = GEMM_UNIFORMS;
  readonly tn: number;
  readonly nTiles: number;
  readonly chunkK: number;
  readonly kSteps: number;
  readonly mode: GemmMode;
  private readonly cChunks: number;

  /**
   * @param mode 'tap'/'tap4' need `tap` (K = taps x channels, channel fastest) and one slice;
   *   'tap4' binds the first input as vec4 (channels % 4 == 0). 'step' is dW's voxel reduction,
   *   'step4' the same with the first input bound as vec4 (channels % 4 == 0).
   * @param epilogue applied to each result value (column = output channel; one slice only); its
   *   tensors follow the program's inputs.
   * @param batches independent GEMMs of the same shape (Winograd's transformed positions): the
   *   slices are `batches` GEMMs times `slices / batches` splits of K each (split-K slice
   *   z / batches; tap modes read K whole, so there one split), and the loaders pick their matrices
   *   by `workgroupId.z % uniforms.batches`; result [splits, batches, M, N].
   */
  constructor(
    variableNames: string[], private name: string, private functions: GemmFunctions,
    readonly M: number, readonly N: number, readonly K: number, readonly slices: number,
    mode: GemmMode, readonly tiling: GemmTiling,
    private tap?: { taps: number; channels: number },
    private readonly epilogue?: ConvEpilogue,
    readonly batches = 1,
  ) {
    if (!tilingValid(tiling, mode)) throw new Error(`invalid GEMM tiling ${tilingKey(tiling)} for ${mode}`);
    if (epilogue && slices !== 1) throw new Error('a GEMM epilogue needs one slice');
    this.variableNames = [...variableNames, ...epilogueVariables(epilogue)];
    this.uniforms += epilogueUniformFields(epilogue);
    const tapMajor = mode === 'tap' || mode === 'tap4';
    if (batches < 1 || slices % batches !== 0) throw new Error(`${slices} GEMM slices are not a whole number of ${batches} batches`);
    const splits = slices / batches;
    if (tapMajor && (!tap || splits !== 1 || tap.taps * tap.channels !== K)) {
      throw new Error(`tap-major GEMM needs K = taps x channels and one slice per batch`);
    }
    this.mode = mode;
    this.tn = tiling.tnt * tiling.rn;
    this.nTiles = Math.ceil(N / this.tn);
    const tk = tiling.tk;
    this.cChunks = tap ? Math.ceil(tap.channels / tk) : 0;
    this.chunkK = tapMajor ? K : Math.ceil(Math.ceil(K / splits) / tk) * tk;
    this.kSteps = tapMajor ? tap!.taps * this.cChunks : this.chunkK / tk;
    this.outputShape = [slices, M, N];
    const [x, y] = spreadWorkgroups(Math.ceil(M / tiling.tm) * this.nTiles);
    this.dispatch = [x, y, slices];
    this.workgroupSize = [tilingThreads(tiling), 1, 1];
    if (vec4Mode(mode)) this.variableComponents = [4, 1, ...epilogueVariables(epilogue).map(() => 1)];
    this.shaderKey = `anatomynet_igemm2_${name}_${mode}_${tilingKey(tiling)}${epilogueKey(epilogue)}`;
  }

  uniformValues(geometry: number[]): ProgramUniform[] {
    const head = [this.M, this.N, this.K, this.nTiles, this.chunkK, this.kSteps, this.tap?.channels ?? 0, this.cChunks, this.batches];
    return [...[...head, ...geometry].map((v) => ({ type: 'int32' as const, data: [v] })), ...epilogueUniforms(this.epilogue)];
  }

  /** Rows of the A slab a thread loads, and how its row info is indexed per load. */
  private aLayout(): { loads: number; infos: number; infoOf: (i: string) => string; rowOf: (i: string) => string; kOf: (i: string) => string } {
    const { tm, tk } = this.tiling;
    const T = tilingThreads(this.tiling);
    if (this.mode === 'step' || this.mode === 'step4') {
      // m fastest: consecutive threads read consecutive (tap, ci) rows, i.e. consecutive channels;
      // step4 loads a group of 4 rows at once
      const width = this.mode === 'step4' ? 4 : 1;
      const groups = tm / width;
      const loads = (groups * tk) / T;
      const infos = Math.max(1, groups / T);
      return {
        loads, infos,
        infoOf: (i) => (infos === 1 ? '0' : `(${i}) % ${infos}`),
        rowOf: (i) => (width === 1 ? `((t + ${T} * (${i})) % ${tm})` : `(${width} * ((t + ${T} * (${i})) % ${groups}))`),
        kOf: (i) => `((t + ${T} * (${i})) / ${groups})`,
      };
    }
    // k fastest (channels are contiguous in memory); tap4 loads 4 channels at once
    const perRow = this.mode === 'tap4' ? tk / 4 : tk;
    const loads = (tm * perRow) / T;
    const rowsPerPass = T / perRow;
    return {
      loads, infos: loads,
      infoOf: (i) => i,
      rowOf: (i) => `(t / ${perRow} + ${rowsPerPass} * (${i}))`,
      kOf: () => (this.mode === 'tap4' ? `(t % ${perRow}) * 4` : `(t % ${perRow})`),
    };
  }

  /** The register type of one gathered A value: four rows (step4) or four k (tap4) per vec4. */
  private aType(): string {
    return vec4Mode(this.mode) ? 'vec4<f32>' : 'f32';
  }

  private bLoads(): number {
    return Math.ceil((this.tiling.tk * this.tn) / tilingThreads(this.tiling));
  }

  /**
   * WGSL staging K step `s` of A and B: into workgroup memory (`into` 'smem'), or into the registers
   * pa[i], pb[j] for {@link storeRegisters} to write after the barrier ('regs': prefetch, the next
   * step's global loads in flight while this step's multiply-adds run).
   */
  private loadStep(s: string, into: 'smem' | 'regs'): string {
    const { tk } = this.tiling;
    const TN = this.tn;
    const T = tilingThreads(this.tiling);
    const a = this.aLayout();
    const bGuard = (tk * TN) % T === 0 ? 'true' : `e < ${tk * TN}`;
    const loadB = (kExpr: string, guard: string) => `
          for (var j = 0; j < ${this.bLoads()}; j = j + 1) {
            let e = t + ${T} * j;
            if (${bGuard}) {
              let kk = e / ${TN};
              let nn = e % ${TN};
              var v = 0.0;
              if (${guard} && n0 + nn < uniforms.N) { v = ${kExpr}; }
              ${into === 'smem' ? this.setB('kk', 'nn', 'v') : 'pb[j] = v;'}
            }
          }`;
    const storeA = (v: string) => (into === 'regs' ? `
            pa[i] = ${v};` : this.storeA(v));
    if (this.mode === 'tap' || this.mode === 'tap4') {
      const load = this.mode === 'tap4' ? 'loadATap4' : 'loadATap';
      return `
          let tap = ${s} / uniforms.cChunks;
          let c0 = (${s} - tap * uniforms.cChunks) * ${tk};
          let ti = tapInfo(tap);
          let ka = ${a.kOf('0')};
          let ca = c0 + ka;
          for (var i = 0; i < ${a.loads}; i = i + 1) {
            var v = ${this.aType()}(0.0);
            if (ca < uniforms.kC) { v = ${load}(info[i], ti, ca); }${storeA('v')}
          }${loadB('loadBTap(ti, c0 + kk, n0 + nn)', 'c0 + kk < uniforms.kC')}`;
    }
    const step = this.mode === 'step' || this.mode === 'step4';
    const aValue = step ? `loadAStep${this.mode === 'step4' ? '4' : ''}(info[${a.infoOf('i')}], si, ka, k0 + ka)` : `loadA(info[${a.infoOf('i')}], k0 + ka)`;
    return `
          let k0 = kBegin + ${s} * ${tk};${step ? `
          let si = stepInfo(k0);` : ''}
          for (var i = 0; i < ${a.loads}; i = i + 1) {
            let ka = ${a.kOf('i')};
            var v = ${this.aType()}(0.0);
            if (k0 + ka < kEnd) { v = ${aValue}; }${storeA('v')}
          }${loadB('loadB(k0 + kk, n0 + nn)', 'k0 + kk < kEnd')}`;
  }

  /**
   * WGSL writing `v` at k, n of the B slab (packed: slot (k, g, tn) holds the columns of group g of
   * thread column tn). Inline, not a WGSL function: Tint bounds what it can see, and a function's
   * parameters it cannot (see threadIndex).
   */
  private setB(k: string, n: string, v: string): string {
    const { tnt } = this.tiling;
    if (this.tiling.bv !== true) return `Bs[(${k}) * ${this.tn} + ${n}] = ${v};`;
    return `{ let bk = ${k}; let bn = ${n}; let bj = bn / ${tnt}; Bs[(bk * ${bGroups(this.tiling)} + bj / 4) * ${tnt} + bn % ${tnt}][bj % 4] = ${v}; }`;
  }

  /** WGSL writing A value `v` of load i into the A slab (`ka` in scope for the tap modes). */
  private storeA(v: string): string {
    const { tm } = this.tiling;
    const a = this.aLayout();
    if (this.mode === 'tap4') {
      // four consecutive k of one row
      return `
            let r = ${a.rowOf('i')};
            ${setA(`(ka + 0) * ${tm} + r`, `${v}.x`)}
            ${setA(`(ka + 1) * ${tm} + r`, `${v}.y`)}
            ${setA(`(ka + 2) * ${tm} + r`, `${v}.z`)}
            ${setA(`(ka + 3) * ${tm} + r`, `${v}.w`)}`;
    }
    // step4: the 4 rows at one k are one vec4 of the A slab (As[k][m..m+3])
    if (this.mode === 'step4') return `
            As[(ka * ${tm} + ${a.rowOf('i')}) / 4] = ${v};`;
    return `
            ${setA(`ka * ${tm} + ${a.rowOf('i')}`, v)}`;
  }

  /** WGSL writing the prefetched registers pa, pb into workgroup memory. */
  private storeRegisters(): string {
    const { tk } = this.tiling;
    const TN = this.tn;
    const T = tilingThreads(this.tiling);
    const a = this.aLayout();
    const tapMajor = this.mode === 'tap' || this.mode === 'tap4';
    return `
          {${tapMajor ? `
          let ka = ${a.kOf('0')};` : ''}
          for (var i = 0; i < ${a.loads}; i = i + 1) {${tapMajor ? '' : `
            let ka = ${a.kOf('i')};`}${this.storeA('pa[i]')}
          }
          for (var j = 0; j < ${this.bLoads()}; j = j + 1) {
            let e = t + ${T} * j;
            if (${(tk * TN) % T === 0 ? 'true' : `e < ${tk * TN}`}) { ${this.setB(`e / ${TN}`, `e % ${TN}`, 'pb[j]')} }
          }
          }`;
  }

  getUserCode(): string {
    const { tm, rm, tk, tnt, rn } = this.tiling;
    const TN = this.tn;
    const q4 = rm / 4;
    const a = this.aLayout();
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    const accDecl = range(q4).flatMap((q) => range(rn).map((j) => `var acc_${q}_${j} = vec4<f32>(0.0);`)).join('\n        ');
    const aRead = range(q4).map((q) => `let a${q} = As[ab + ${q}];`).join('\n            ');
    const bv = this.tiling.bv === true;
    const groups = bGroups(this.tiling);
    // packed: slot (kk, g, tn) holds the thread's columns 4g..4g+3, so a warp's reads of one g are contiguous
    const bRead = bv
      ? range(groups).map((g) => `let bq${g} = Bs[bb + ${g * tnt}];`).join('\n            ')
      : range(rn).map((j) => `let b${j} = Bs[bb + ${tnt * j}];`).join('\n            ');
    const b = (j: number) => (bv ? `bq${j >> 2}.${'xyzw'[j & 3]}` : `b${j}`);
    const fmas = range(q4).flatMap((q) => range(rn).map((j) => `acc_${q}_${j} = fma(a${q}, vec4<f32>(${b(j)}), acc_${q}_${j});`)).join('\n            ');
    const bSlab = bv ? `
      var<workgroup> Bs : array<vec4<f32>, ${tk * groups * tnt}>;` : `
      var<workgroup> Bs : array<f32, ${tk * TN}>;`;
    const value = (q: number, j: number, r: number) =>
      (this.epilogue ? `epilogue(acc_${q}_${j}[${r}], n0 + tn + ${tnt * j})` : `acc_${q}_${j}[${r}]`);
    const writes = range(q4).flatMap((q) => range(4).map((r) => {
      const cols = range(rn).map((j) => `
            if (n0 + tn + ${tnt * j} < uniforms.N) { result[o + ${tnt * j}] = ${value(q, j, r)}; }`).join('');
      return `
        {
          let m = mBase + ${4 * q + r};
          if (m < uniforms.M) {
            let o = base + m * uniforms.N + n0 + tn;${cols}
          }
        }`;
    })).join('');
    return `
      ${this.functions.shared}
      ${(vec4Mode(this.mode) ? this.functions.vec4A : this.functions.scalarA) ?? ''}
      ${this.epilogue ? epilogueWgsl(this.epilogue) : ''}
      var<workgroup> As : array<vec4<f32>, ${(tk * tm) / 4}>;
${bSlab}
      fn main() {
        let t = ${threadIndex(tilingThreads(this.tiling))};
        let tn = t % ${tnt};
        let tmi = t / ${tnt};
        let tileId = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let mTile = tileId / uniforms.nTiles;
        let m0 = mTile * ${tm};
        let n0 = (tileId - mTile * uniforms.nTiles) * ${TN};
        let slice = i32(workgroupId.z);
        let kBegin = (slice / uniforms.batches) * uniforms.chunkK;
        let kEnd = min(kBegin + uniforms.chunkK, uniforms.K);
        var info : array<vec4<i32>, ${a.infos}>;
        for (var i = 0; i < ${a.infos}; i = i + 1) { info[i] = rowInfo(m0 + ${a.rowOf('i')}); }
        ${accDecl}${this.tiling.pf ? `
        var pa : array<${this.aType()}, ${a.loads}>;
        var pb : array<f32, ${this.bLoads()}>;
        {${this.loadStep('0', 'regs')}
        }` : ''}
        for (var s = 0; s < uniforms.kSteps; s = s + 1) {${this.tiling.pf ? this.storeRegisters() : this.loadStep('s', 'smem')}
          workgroupBarrier();${this.tiling.pf ? `
          if (s + 1 < uniforms.kSteps) {${this.loadStep('(s + 1)', 'regs')}
          }` : ''}
          for (var kk = 0; kk < ${tk}; kk = kk + 1) {
            let ab = kk * ${tm / 4} + tmi * ${q4}; // rows of vec4s: tm and rm are multiples of 4
            let bb = kk * ${bv ? groups * tnt : TN} + tn;
            ${aRead}
            ${bRead}
            ${fmas}
          }
          workgroupBarrier();
        }
        let base = slice * uniforms.M * uniforms.N;
        let mBase = m0 + tmi * ${rm};${writes}
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
