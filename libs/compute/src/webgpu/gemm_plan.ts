/**
 * How each conv pass runs: the implicit GEMM (columns, K order, tiling) or the direct kernel
 * (conv3d_direct.ts), whichever `autotune.ts` timed faster for this conv class on the device, else
 * the untuned choice ({@link untunedTiling}).
 */
import type * as tf from '@tensorflow/tfjs';
import { directCandidates, directGeometry, directKey, directValid, strideOneGeometry, type DirectGeometry, type DirectTiling } from './conv3d_direct';
import { directDwCandidates, directDwGeometry, directDwKey, directDwValid, untunedDirectDw, type DirectDwGeometry, type DirectDwTiling } from './conv3d_direct_dw';
import { defaultTiling, gemmMode, tilingCandidates, tilingKey, tilingValid, type GemmMode, type GemmTiling, type TilingPreference } from './conv3d_gemm';
import { winogradCandidates, winogradDwMode, winogradKey, winogradMode, winogradValid, type WinogradTiling } from './conv3d_winograd';

/**
 * How one conv pass runs: an implicit-GEMM tiling, a direct-conv tiling (conv3d_direct.ts, forward
 * and dx), a direct-dW tiling (conv3d_direct_dw.ts) or a Winograd one (conv3d_winograd.ts, forward
 * and dx of 3x3x3 convs, and conv3d_winograd_dw.ts, their dW; only when tuned: it trades
 * multiplies for memory traffic).
 */
export type ConvTiling = GemmTiling | DirectTiling | DirectDwTiling | WinogradTiling;
export const isDirect = (t: ConvTiling): t is DirectTiling => (t as DirectTiling).algo === 'direct';
export const isDirectDw = (t: ConvTiling): t is DirectDwTiling => (t as DirectDwTiling).algo === 'direct-dw';
export const isWinograd = (t: ConvTiling): t is WinogradTiling => (t as WinogradTiling).algo === 'winograd';
export const isGemm = (t: ConvTiling): t is GemmTiling => !('algo' in t);
/** The kernel a tiling runs: gemm, direct, direct-dw or winograd. */
export const tilingKind = (t: ConvTiling): string => (isGemm(t) ? 'gemm' : t.algo);
export const TILING_KINDS = ['gemm', 'direct', 'direct-dw', 'winograd'] as const;
export const convTilingKey = (t: ConvTiling): string =>
  (isDirect(t) ? directKey(t) : isDirectDw(t) ? directDwKey(t) : isWinograd(t) ? winogradKey(t) : tilingKey(t));

export type GemmPass = 'forward' | 'dx' | 'dw';

export interface GemmPlan {
  pass: GemmPass;
  /** GEMM columns: Cout for forward and dW, Cin for dx. */
  N: number;
  mode: GemmMode;
  /** Channels of the gathered operand (tap modes' slab fit). */
  channels: number;
  /** The conv class a tuned tiling is remembered under (spatial size left out on purpose). */
  key: string;
  /** Where the direct kernel can serve this pass (stride 1, few written channels). */
  direct?: DirectGeometry;
  /** Where the direct dW kernel can serve this pass (dW, stride 1, few output channels). */
  directDw?: DirectDwGeometry;
  /**
   * Where the Winograd kernels can serve this pass (a stride-1 3x3x3 conv): the gathered and written
   * tensors of forward and dx; for dW the forward's (x gathered, dy written).
   */
  winograd?: DirectGeometry;
}

/** A conv class a recorded run used ({@link recordConvClasses}): one call's geometry and the passes it ran. */
export interface RecordedConv {
  /** The class without its pass (kDxHxW|cin->cout|sSSS|dDDD). */
  key: string;
  conv: tf.backend_util.Conv3DInfo;
  passes: GemmPass[];
}

let recording: Map<string, RecordedConv> | undefined;

/**
 * The conv classes `run` executes on the webgpu kernels (a model's forward and gradient, say), in
 * the order first met, with the passes of each: what a tuner needs to tune that model's convs.
 */
export async function recordConvClasses(run: () => Promise<void> | void): Promise<RecordedConv[]> {
  if (recording) throw new Error('recordConvClasses: already recording');
  recording = new Map();
  try {
    await run();
    return [...recording.values()];
  } finally {
    recording = undefined;
  }
}

export function gemmPlan(pass: GemmPass, c: tf.backend_util.Conv3DInfo): GemmPlan {
  const conv = `k${c.filterDepth}x${c.filterHeight}x${c.filterWidth}|${c.inChannels}->${c.outChannels}`
    + `|s${c.strideDepth}${c.strideHeight}${c.strideWidth}|d${c.dilationDepth}${c.dilationHeight}${c.dilationWidth}`;
  const key = `${pass}|${conv}`;
  if (recording) {
    const seen = recording.get(conv) ?? { key: conv, conv: c, passes: [] };
    if (!seen.passes.includes(pass)) seen.passes.push(pass);
    recording.set(conv, seen);
  }
  if (pass === 'dw') {
    // Winograd's filter gradient tiles the forward's output (conv3d_winograd_dw.ts)
    const forward = strideOneGeometry('forward', c);
    return {
      pass, N: c.outChannels, mode: c.inChannels % 4 === 0 ? 'step4' : 'step', channels: 0, key, directDw: directDwGeometry(c),
      winograd: forward && winogradDwMode(forward) ? forward : undefined,
    };
  }
  const channels = pass === 'forward' ? c.inChannels : c.outChannels;
  const strideOne = strideOneGeometry(pass, c);
  return {
    pass, N: pass === 'forward' ? c.outChannels : c.inChannels, mode: gemmMode(channels), channels, key, direct: directGeometry(pass, c),
    winograd: strideOne && winogradMode(strideOne) ? strideOne : undefined,
  };
}

/**
 * Untuned defaults per pass: over the 13 reference convs the tuner timed on an H100 (2026-11-26,
 * apps/bench/results), these tile shapes were within 1.13-1.25x of each conv's best tiling
 * (geometric mean), against 1.15-1.66x for one shape for all passes.
 */
export const PASS_PREFERENCE: Record<GemmPass, TilingPreference> = {
  forward: { tm: 128, rm: 8, tk: 8, tnt: 8 },
  dx: { tm: 128, rm: 8, tk: 16, tnt: 8 },
  dw: { tm: 64, rm: 8, tk: 16, tnt: 16 },
};

const tuned = new Map<string, ConvTiling>();
let forced: ConvTiling | undefined;

/** The GEMM tiling the kernels use for a plan: forced (while timing) > tuned > default. */
export function tilingFor(plan: GemmPlan): GemmTiling {
  if (forced && isGemm(forced) && tilingValid(forced, plan.mode)) return forced;
  const t = tuned.get(plan.key);
  return t && isGemm(t) && tilingValid(t, plan.mode) ? t : defaultTiling(plan.N, plan.mode, plan.channels, PASS_PREFERENCE[plan.pass]);
}

/**
 * Written channels up to which an untuned conv runs the direct kernel (all it serves). On an H100
 * (2026-11-27, apps/bench/results/2026-11-27-h100): the whole-volume 16->10 forward took 9.0 ms
 * direct inside the network (11.6 TFLOP/s), where the best GEMM tiling had timed 1.5 TFLOP/s (about
 * 70 ms). In the tuner the best direct tiling beat the best GEMM tiling 3.2x (16->10 dx), 1.7x
 * (17->16 dx), 1.8x (16->10 forward) and 1.45x (32->32 forward and dx, 72->32 forward); inside the
 * network (178x302x225) the tuned direct convs with 32 written channels ran at 19.0 (32->32) and
 * 19.2 (72->32) TFLOP/s, the GEMM convs around them at 12.5-21. The exception: the tuner kept the
 * GEMM for the 17->16 forward (3.5 against 5.4 ms), which is the slowest conv inside the network
 * (39.7 ms at 178x302x225); the next device call should time it direct in place.
 */
export const DIRECT_DEFAULT_MAX_CHANNELS = 32;

/**
 * The direct tiling an untuned plan runs, if any: for at most {@link DIRECT_DEFAULT_MAX_CHANNELS}
 * written channels, the thread shape that won those convs (8 lanes x 4 voxels along W, 8 rows,
 * 4 planes), or the nearest that fits.
 */
function untunedDirect(plan: GemmPlan, sharedBytes: number): DirectTiling | undefined {
  if (!plan.direct || plan.direct.writtenC > DIRECT_DEFAULT_MAX_CHANNELS) return undefined;
  const cands = directCandidates(plan.direct, sharedBytes);
  const shaped = (lw: number, vw: number, th: number, td: number) => cands.find((t) => t.lw === lw && t.vw === vw && t.th === th && t.td === td);
  return shaped(8, 4, 8, 4) ?? shaped(8, 4, 4, 4) ?? shaped(8, 2, 8, 4) ?? cands[0];
}

/**
 * The direct tiling to run instead of the GEMM: forced (while timing) > tuned > the default for
 * few written channels (at most {@link DIRECT_DEFAULT_MAX_CHANNELS}); a forced or tuned GEMM
 * tiling keeps the GEMM.
 */
export function directFor(plan: GemmPlan, sharedBytes: number): { geometry: DirectGeometry; tiling: DirectTiling } | undefined {
  if (!plan.direct) return undefined;
  const chosen = forced ?? tuned.get(plan.key);
  if (chosen) return isDirect(chosen) && directValid(chosen, plan.direct, sharedBytes) ? { geometry: plan.direct, tiling: chosen } : undefined;
  const t = untunedDirect(plan, sharedBytes);
  return t ? { geometry: plan.direct, tiling: t } : undefined;
}

/**
 * The direct-dW tiling to run instead of the GEMM: forced (while timing) > tuned > the default
 * where the kernel applies (stride 1, at most 16 output channels); a forced or tuned GEMM tiling
 * keeps the GEMM.
 */
export function directDwFor(plan: GemmPlan, sharedBytes: number): { geometry: DirectDwGeometry; tiling: DirectDwTiling } | undefined {
  if (!plan.directDw) return undefined;
  const chosen = forced ?? tuned.get(plan.key);
  if (chosen) return isDirectDw(chosen) && directDwValid(chosen, plan.directDw, sharedBytes) ? { geometry: plan.directDw, tiling: chosen } : undefined;
  const t = untunedDirectDw(plan.directDw, sharedBytes);
  return t ? { geometry: plan.directDw, tiling: t } : undefined;
}

/** The Winograd tiling to run, where one is forced (while timing) or tuned for this conv class. */
export function winogradFor(plan: GemmPlan): { geometry: DirectGeometry; tiling: WinogradTiling } | undefined {
  const chosen = forced ?? tuned.get(plan.key);
  if (!plan.winograd || !chosen || !isWinograd(chosen) || !winogradValid(chosen, plan.winograd, plan.pass === 'dw')) return undefined;
  return { geometry: plan.winograd, tiling: chosen };
}

/** What a conv pass runs when nothing is forced or tuned: the default direct tiling or the default GEMM tiling. */
export function untunedTiling(plan: GemmPlan, sharedBytes: number): ConvTiling {
  return untunedDirect(plan, sharedBytes)
    ?? (plan.directDw ? untunedDirectDw(plan.directDw, sharedBytes) : undefined)
    ?? defaultTiling(plan.N, plan.mode, plan.channels, PASS_PREFERENCE[plan.pass]);
}

/**
 * GEMM tilings, then direct and Winograd ones where those kernels apply (`sharedBytes`: the
 * device's workgroup memory).
 */
export function candidatesFor(plan: GemmPlan, sharedBytes = 16384): ConvTiling[] {
  const gemm: ConvTiling[] = tilingCandidates(plan.N, plan.mode, plan.channels);
  const direct: ConvTiling[] = plan.direct ? directCandidates(plan.direct, sharedBytes) : [];
  const directDw: ConvTiling[] = plan.directDw ? directDwCandidates(plan.directDw, sharedBytes) : [];
  const winograd: ConvTiling[] = plan.winograd ? winogradCandidates(plan.winograd, plan.pass === 'dw') : [];
  return [...gemm, ...direct, ...directDw, ...winograd];
}

/** Forces every conv kernel onto `t` (undefined: back to tuned/default). For timing candidates. */
export function forceTiling(t: ConvTiling | undefined): void {
  forced = t;
}

export function rememberTiling(key: string, t: ConvTiling): void {
  tuned.set(key, t);
}

/** Tuned tilings, for a report or to save and load (`loadTunedTilings`). */
export function tunedTilings(): Record<string, ConvTiling> {
  return Object.fromEntries([...tuned].sort(([a], [b]) => a.localeCompare(b)));
}

/** The numeric fields each kind of tiling must have. */
const TILING_FIELDS: Record<string, string[]> = {
  gemm: ['tm', 'rm', 'tk', 'tnt', 'rn'],
  direct: ['lw', 'vw', 'th', 'td', 'cc'],
  'direct-dw': ['tw', 'th', 'td', 'cc', 'vl'],
  winograd: ['m', 'mib'],
};

/**
 * Tuned tilings from JSON (the GPU bench's --save-tilings, apps/bench/src/gpu.ts), checked entry by
 * entry so that a damaged or foreign file is refused naming `source` and the entry, not run.
 * Whether a tiling fits its conv is checked again where it is used (an unfit one falls back).
 */
export function parseTunedTilings(json: string, source: string): Record<string, ConvTiling> {
  let table: unknown;
  try {
    table = JSON.parse(json);
  } catch (e) {
    throw new RangeError(`${source}: not JSON (${(e as Error).message})`);
  }
  if (typeof table !== 'object' || table === null || Array.isArray(table)) throw new RangeError(`${source}: expected an object of conv classes to tilings`);
  const check = (key: string, t: unknown, kind: string): void => {
    if (typeof t !== 'object' || t === null) throw new RangeError(`${source}: entry "${key}" is not a tiling object`);
    const missing = TILING_FIELDS[kind].filter((f) => !Number.isInteger((t as Record<string, unknown>)[f]));
    if (missing.length > 0) throw new RangeError(`${source}: entry "${key}" (${kind}) lacks integer ${missing.join(', ')}`);
  };
  for (const [key, t] of Object.entries(table)) {
    if (!/^(forward|dx|dw)\|k\d+x\d+x\d+\|\d+->\d+\|s\d+\|d\d+$/.test(key)) throw new RangeError(`${source}: "${key}" is not a conv class (pass|kDxHxW|cin->cout|sSSS|dDDD)`);
    const algo = (t as { algo?: unknown } | null)?.algo;
    const kind = algo === undefined ? 'gemm' : String(algo);
    if (!(kind in TILING_FIELDS)) throw new RangeError(`${source}: entry "${key}" has an unknown kernel "${kind}"`);
    check(key, t, kind);
    if (kind === 'winograd') check(key, (t as WinogradTiling).gemm, 'gemm');
  }
  return table as Record<string, ConvTiling>;
}

export function loadTunedTilings(table: Record<string, ConvTiling>): void {
  for (const [k, t] of Object.entries(table)) tuned.set(k, t);
}

export function clearTunedTilings(): void {
  tuned.clear();
}
