/**
 * Times every candidate of a conv's passes on the active webgpu device (GEMM tilings, and direct
 * tilings where that kernel applies) and remembers the fastest for that conv class (cuDNN's
 * benchmark mode, by hand). Tilings are keyed without the spatial size, so tuning at a small volume
 * serves a large one; each winner is checked against the untuned choice's output on the device,
 * so a miscompiled tiling cannot win.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelSeconds, timeBatched } from '../timing';
import { convPassRunners, type ConvShapeSpec } from './conv_bench';
import { tilingValid, type GemmTiling } from './conv3d_gemm';
import { candidatesFor, convTilingKey, forceTiling, gemmPlan, isGemm, rememberTiling, tilingKind, tunedTilings, untunedTiling, type ConvTiling, type GemmPass, type RecordedConv } from './gemm_plan';
import { deviceSharedBytes, type WebGPUBackendLike } from './program';

/** The conv to tune: input size and channels, cubic kernel, stride, padding. */
export type TuneSpec = ConvShapeSpec;

export interface TuneResult {
  key: string;
  pass: GemmPass;
  /**
   * Seconds per run of each candidate, GPU kernel time where available (tiling keys: tm_rm_tk_tnt_rn
   * with _bv for the packed B slab and _pf for prefetch, direct_lwxvw_th_td_cc, directdw_tdxthxtw_cCC_vVL,
   * winograd_<GEMM tiling>_m<MiB per chunk>).
   */
  candidates: Record<string, number>;
  best: ConvTiling;
  bestSeconds: number;
  defaultSeconds: number;
  /** sum |best - default| / sum |default| on the device. */
  relL1VsDefault: number;
}

/**
 * Seconds of one run: GPU kernel time from timestamp queries where the device has them (best of
 * `reps`, on a device kept busy for 20 ms first and between them), else wall-clock over a batch of
 * at least 20 ms.
 */
async function timeCandidate(run: () => tf.Tensor, reps: number): Promise<number> {
  const gpu = await kernelSeconds(run, Math.max(reps, 2), { warmSeconds: 0.02, lead: 2 });
  if (gpu) return gpu.min;
  return (await timeBatched(run, { minReps: reps, minSeconds: 0.02, maxReps: 50 })).seconds;
}

/**
 * Tunes the requested passes of one conv (every candidate of gemm_plan.ts, then the fastest GEMM
 * tiling with its B slab packed, then the fastest of those with prefetch); the winners are used
 * from then on. A tiling already tuned for the conv class (loaded from a file) competes too.
 * `keep` narrows the candidates (tests on a software GPU, where every shader compile takes
 * seconds); `kinds` (gemm, direct, direct-dw, winograd) narrows them for classes already tuned,
 * so that a new kernel is timed against the loaded winner alone (untuned classes time every kind).
 */
export async function autotuneConv(
  spec: TuneSpec, passes: GemmPass[] = ['forward', 'dx', 'dw'], reps = 2, keep: (t: ConvTiling) => boolean = () => true,
  kinds?: readonly string[],
): Promise<TuneResult[]> {
  if (tf.getBackend() !== 'webgpu') throw new Error(`autotuneConv needs the webgpu backend (active: ${tf.getBackend()})`);
  const { conv, runs, dispose } = convPassRunners(spec);
  const results: TuneResult[] = [];
  try {
    for (const pass of passes) {
      const plan = gemmPlan(pass, conv);
      const bytes = deviceSharedBytes(tf.backend() as unknown as WebGPUBackendLike);
      // what runs untuned: the reference each winner is checked against, and the speed-up's base
      const fallback = untunedTiling(plan, bytes);
      const candidates: Record<string, number> = {};
      let best: ConvTiling = fallback;
      let bestSeconds = Infinity;
      let bestGemm: { t: GemmTiling; s: number } | undefined;
      const time = async (t: ConvTiling) => {
        forceTiling(t);
        try {
          const s = await timeCandidate(runs[pass], reps);
          candidates[convTilingKey(t)] = s;
          if (s < bestSeconds) [best, bestSeconds] = [t, s];
          if (isGemm(t) && (!bestGemm || s < bestGemm.s)) bestGemm = { t, s };
        } finally {
          forceTiling(undefined);
        }
      };
      const current = tunedTilings()[plan.key] as ConvTiling | undefined;
      // a kind left out is timed only through the loaded winner (and the untuned reference)
      const wanted = (t: ConvTiling) => keep(t) && (!current || !kinds || kinds.includes(tilingKind(t)));
      const listed = candidatesFor(plan, bytes).filter(wanted);
      for (const t of [fallback, current]) if (t && keep(t) && !listed.some((l) => convTilingKey(l) === convTilingKey(t))) listed.push(t);
      for (const t of listed) await time(t);
      // the packed B slab and prefetch double no list: the fastest GEMM tiling is timed packed, then
      // the fastest of those with prefetch
      for (const option of ['bv', 'pf'] as const) {
        const twin = bestGemm && !bestGemm.t[option] ? { ...bestGemm.t, [option]: true } : undefined;
        if (twin && !(convTilingKey(twin) in candidates) && tilingValid(twin, plan.mode) && wanted(twin)) await time(twin);
      }
      forceTiling(fallback);
      const reference = runs[pass]();
      forceTiling(best);
      const mine = runs[pass]();
      forceTiling(undefined);
      const rel = tf.tidy(() => tf.div(tf.sum(tf.abs(tf.sub(mine, reference))), tf.add(tf.sum(tf.abs(reference)), 1e-30)));
      const relL1VsDefault = (await rel.data())[0];
      tf.dispose([reference, mine, rel]);
      // a winner that disagrees with the default tiling is a miscompile: keep the default
      if (!(relL1VsDefault < 1e-4)) [best, bestSeconds] = [fallback, candidates[convTilingKey(fallback)] ?? NaN];
      rememberTiling(plan.key, best);
      results.push({
        key: plan.key, pass, candidates, best, bestSeconds,
        defaultSeconds: candidates[convTilingKey(fallback)] ?? NaN, relL1VsDefault,
      });
    }
  } finally {
    forceTiling(undefined);
    dispose();
  }
  return results;
}

/** The tuner's spec of a recorded conv (cubic kernel, one stride, 'same' or 'valid'), or why it has none. */
export function tuneSpecOf(r: RecordedConv): TuneSpec | string {
  const c = r.conv;
  const k = c.filterDepth;
  const stride = c.strideDepth;
  if (c.filterHeight !== k || c.filterWidth !== k) return `kernel ${c.filterDepth}x${c.filterHeight}x${c.filterWidth} is not cubic`;
  if (c.strideHeight !== stride || c.strideWidth !== stride) return `strides ${c.strideDepth},${c.strideHeight},${c.strideWidth} differ`;
  if (c.dilationDepth !== 1 || c.dilationHeight !== 1 || c.dilationWidth !== 1) return 'dilated';
  const pad = c.padInfo.type === 'SAME' ? 'same' : c.padInfo.type === 'VALID' ? 'valid' : undefined;
  if (!pad) return `padding ${c.padInfo.type} is neither same nor valid`;
  return { input: [c.inDepth, c.inHeight, c.inWidth], cin: c.inChannels, cout: c.outChannels, k, stride, pad };
}

export interface ClassTuneReport {
  key: string;
  results?: TuneResult[];
  /** Why the class was left untuned (it keeps its untuned kernels). */
  skipped?: string;
}

/**
 * Tunes each recorded conv class ({@link recordConvClasses}) at the size it was recorded, its
 * passes only (`autotuneConv`'s `keep` as there); a class that cannot be tuned is
 * reported and skipped, the others go on. `onClass` hears each class as it ends.
 */
export async function tuneConvClasses(
  classes: RecordedConv[], o: { reps?: number; keep?: (t: ConvTiling) => boolean; onClass?: (r: ClassTuneReport, done: number) => void } = {},
): Promise<ClassTuneReport[]> {
  const reports: ClassTuneReport[] = [];
  for (const r of classes) {
    const spec = tuneSpecOf(r);
    let report: ClassTuneReport;
    if (typeof spec === 'string') report = { key: r.key, skipped: spec };
    else {
      try {
        report = { key: r.key, results: await autotuneConv(spec, r.passes, o.reps ?? 2, o.keep) };
      } catch (e) {
        report = { key: r.key, skipped: (e as Error).message };
      }
    }
    reports.push(report);
    o.onClass?.(report, reports.length);
  }
  return reports;
}
