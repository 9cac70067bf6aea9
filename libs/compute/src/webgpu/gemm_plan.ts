/**
 * Which GEMM each conv pass runs (columns, K order) and which tiling it uses: a tuned one when
 * `autotune.ts` has timed this conv class on the device, else {@link defaultTiling}.
 */
import type * as tf from '@tensorflow/tfjs';
import { defaultTiling, gemmMode, tilingCandidates, tilingValid, type GemmMode, type GemmTiling, type TilingPreference } from './conv3d_gemm';

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
}

export function gemmPlan(pass: GemmPass, c: tf.backend_util.Conv3DInfo): GemmPlan {
  const key = `${pass}|k${c.filterDepth}x${c.filterHeight}x${c.filterWidth}|${c.inChannels}->${c.outChannels}`
    + `|s${c.strideDepth}${c.strideHeight}${c.strideWidth}|d${c.dilationDepth}${c.dilationHeight}${c.dilationWidth}`;
  if (pass === 'dw') return { pass, N: c.outChannels, mode: 'step', channels: 0, key };
  const channels = pass === 'forward' ? c.inChannels : c.outChannels;
  return { pass, N: pass === 'forward' ? c.outChannels : c.inChannels, mode: gemmMode(channels), channels, key };
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

const tuned = new Map<string, GemmTiling>();
let forced: GemmTiling | undefined;

/** The tiling the kernels use for a plan: forced (while timing) > tuned > default. */
export function tilingFor(plan: GemmPlan): GemmTiling {
  if (forced && tilingValid(forced, plan.mode)) return forced;
  return tuned.get(plan.key) ?? defaultTiling(plan.N, plan.mode, plan.channels, PASS_PREFERENCE[plan.pass]);
}

export function candidatesFor(plan: GemmPlan): GemmTiling[] {
  return tilingCandidates(plan.N, plan.mode, plan.channels);
}

/** Forces every conv kernel onto `t` (undefined: back to tuned/default). For timing candidates. */
export function forceTiling(t: GemmTiling | undefined): void {
  forced = t;
}

export function rememberTiling(key: string, t: GemmTiling): void {
  tuned.set(key, t);
}

/** Tuned tilings, for a report or to save and load (`loadTunedTilings`). */
export function tunedTilings(): Record<string, GemmTiling> {
  return Object.fromEntries([...tuned].sort(([a], [b]) => a.localeCompare(b)));
}

export function loadTunedTilings(table: Record<string, GemmTiling>): void {
  for (const [k, t] of Object.entries(table)) tuned.set(k, t);
}

export function clearTunedTilings(): void {
  tuned.clear();
}
