/**
 * Times every candidate tiling of a conv's GEMMs on the active webgpu device and remembers the
 * fastest for that conv class (cuDNN's benchmark mode, by hand). Tilings are keyed without the
 * spatial size, so tuning at a small volume serves a large one; each winner is checked against
 * the default tiling's output on the device, so a miscompiled tiling cannot win.
 */
import * as tf from '@tensorflow/tfjs';
import { timeBatched } from '../timing';
import { defaultTiling, tilingKey, type GemmTiling } from './conv3d_gemm';
import { candidatesFor, forceTiling, gemmPlan, PASS_PREFERENCE, rememberTiling, type GemmPass } from './gemm_plan';

export interface TuneSpec {
  /** Input spatial size [D, H, W] (batch 1). */
  input: [number, number, number];
  cin: number;
  cout: number;
  k?: number;
  stride?: number;
  pad?: 'same' | 'valid';
}

export interface TuneResult {
  key: string;
  pass: GemmPass;
  /** Seconds per run of each candidate (tiling key: tm_rm_tk_tnt_rn). */
  candidates: Record<string, number>;
  best: GemmTiling;
  bestSeconds: number;
  defaultSeconds: number;
  /** sum |best - default| / sum |default| on the device. */
  relL1VsDefault: number;
}

/** Tunes the requested passes of one conv; the winners are used from then on. */
export async function autotuneConv(spec: TuneSpec, passes: GemmPass[] = ['forward', 'dx', 'dw'], reps = 2): Promise<TuneResult[]> {
  if (tf.getBackend() !== 'webgpu') throw new Error(`autotuneConv needs the webgpu backend (active: ${tf.getBackend()})`);
  const k = spec.k ?? 3;
  const stride = spec.stride ?? 1;
  const pad = spec.pad ?? 'same';
  const xShape = [1, ...spec.input, spec.cin] as [number, number, number, number, number];
  const fShape = [k, k, k, spec.cin, spec.cout] as [number, number, number, number, number];
  const conv = tf.backend_util.computeConv3DInfo(xShape, fShape, stride, 1, pad);
  const x = tf.randomUniform(xShape, -1, 1, 'float32', 1) as tf.Tensor5D;
  const f = tf.randomUniform(fShape, -0.1, 0.1, 'float32', 2) as tf.Tensor5D;
  const dy = tf.randomUniform(conv.outShape, -1, 1, 'float32', 3) as tf.Tensor5D;
  const attrs = { strides: [stride, stride, stride], pad };
  const runs: Record<GemmPass, () => tf.Tensor> = {
    forward: () => tf.conv3d(x, f, stride, pad),
    dx: () => tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: f }, { ...attrs, inputShape: xShape }) as tf.Tensor,
    dw: () => tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy }, { ...attrs, filterShape: fShape }) as tf.Tensor,
  };
  const results: TuneResult[] = [];
  try {
    for (const pass of passes) {
      const plan = gemmPlan(pass, conv);
      const fallback = defaultTiling(plan.N, plan.mode, plan.channels, PASS_PREFERENCE[pass]);
      const candidates: Record<string, number> = {};
      let best = fallback;
      let bestSeconds = Infinity;
      for (const t of candidatesFor(plan)) {
        forceTiling(t);
        try {
          const { seconds: s } = await timeBatched(runs[pass], { minReps: reps, minSeconds: 0.02, maxReps: 50 });
          candidates[tilingKey(t)] = s;
          if (s < bestSeconds) [best, bestSeconds] = [t, s];
        } finally {
          forceTiling(undefined);
        }
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
      if (!(relL1VsDefault < 1e-4)) [best, bestSeconds] = [fallback, candidates[tilingKey(fallback)] ?? NaN];
      rememberTiling(plan.key, best);
      results.push({
        key: plan.key, pass, candidates, best, bestSeconds,
        defaultSeconds: candidates[tilingKey(fallback)] ?? NaN, relL1VsDefault,
      });
    }
  } finally {
    forceTiling(undefined);
    tf.dispose([x, f, dy]);
  }
  return results;
}
