/**
 * Tilings of the implicit GEMM against the cpu backend: a set of candidates that together use
 * every value of each tiling parameter (threads along N, rows per thread, slab depth, workgroup
 * size), in every K order, for forward, dx and dW; then the autotuner on a small conv.
 * (All candidates of every mode would be ~100 shader compiles: minutes on lavapipe.)
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { autotuneConv } from './autotune';
import { tilingKey, tilingThreads, type GemmTiling } from './conv3d_gemm';
import { candidatesFor, clearTunedTilings, forceTiling, gemmPlan, tilingFor, type GemmPass } from './gemm_plan';
import { adapterPromise, compareWithCpu, SKIP_NOTE } from './test_util';

type V5 = [number, number, number, number, number];

/** Candidates, greedily chosen, until every parameter value of the full list appears once. */
export function coveringTilings(all: GemmTiling[]): GemmTiling[] {
  const features = (t: GemmTiling) => [`tm${t.tm}`, `rm${t.rm}`, `tk${t.tk}`, `tnt${t.tnt}`, `rn${t.rn}`, `T${tilingThreads(t)}`];
  const missing = new Set(all.flatMap(features));
  const out: GemmTiling[] = [];
  while (missing.size > 0) {
    const best = all.reduce((a, b) => (features(b).filter((f) => missing.has(f)).length > features(a).filter((f) => missing.has(f)).length ? b : a));
    out.push(best);
    for (const f of features(best)) missing.delete(f);
  }
  return out;
}

interface Case {
  name: string;
  pass: GemmPass;
  x: V5;
  f: V5;
  stride: number;
}

const CASES: Case[] = [
  { name: 'forward tap4 (Cin 8, Cout 12)', pass: 'forward', x: [1, 5, 6, 7, 8], f: [3, 3, 3, 8, 12], stride: 1 },
  { name: 'forward tap (Cin 7, Cout 5)', pass: 'forward', x: [1, 6, 5, 4, 7], f: [3, 3, 3, 7, 5], stride: 2 },
  { name: 'forward flat (Cin 3, Cout 70)', pass: 'forward', x: [1, 4, 5, 6, 3], f: [3, 3, 3, 3, 70], stride: 1 },
  { name: 'dx tap4 (Cout 16, Cin 6)', pass: 'dx', x: [1, 7, 6, 5, 6], f: [3, 3, 3, 6, 16], stride: 2 },
  { name: 'dW step (Cin 5, Cout 9)', pass: 'dw', x: [1, 6, 7, 5, 5], f: [3, 3, 3, 5, 9], stride: 1 },
];

const adapter = await adapterPromise;

describe.skipIf(!adapter)(`webgpu GEMM tilings vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await selectBackend({ prefer: 'webgpu', log: () => undefined });
  });
  afterEach(() => {
    forceTiling(undefined);
    clearTunedTilings();
  });

  CASES.forEach((c, ci) => {
    it(`every tiling parameter value agrees: ${c.name}`, async () => {
      const conv = tf.backend_util.computeConv3DInfo(c.x, c.f, c.stride, 1, 'same');
      const plan = gemmPlan(c.pass, conv);
      const tilings = coveringTilings(candidatesFor(plan));
      expect(tilings.length).toBeGreaterThanOrEqual(3);
      const attrs = { strides: [c.stride, c.stride, c.stride], pad: 'same' as const };
      for (const t of tilings) {
        forceTiling(t);
        const r = await compareWithCpu(
          [{ shape: c.x, seed: 10 + ci }, { shape: c.f, seed: 20 + ci }, { shape: conv.outShape, seed: 30 + ci }],
          (x, f, dy) => c.pass === 'forward' ? tf.conv3d(x as tf.Tensor5D, f as tf.Tensor5D, c.stride, 'same')
            : c.pass === 'dx' ? tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: f }, { ...attrs, inputShape: c.x }) as tf.Tensor
              : tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy }, { ...attrs, filterShape: c.f }) as tf.Tensor,
        );
        await tf.setBackend('webgpu');
        expect({ tiling: tilingKey(t), error: r.errors[0] }).toEqual({ tiling: tilingKey(t), error: expect.toSatisfy((e: number) => e < 2e-5) });
      }
    });
  });

  it('the autotuner times every candidate, keeps a winner that matches the default, and uses it', async () => {
    const [r] = await autotuneConv({ input: [6, 8, 8], cin: 8, cout: 12 }, ['forward'], 1);
    const conv = tf.backend_util.computeConv3DInfo([1, 6, 8, 8, 8], [3, 3, 3, 8, 12], 1, 1, 'same');
    const plan = gemmPlan('forward', conv);
    expect(Object.keys(r.candidates).sort()).toEqual(candidatesFor(plan).map(tilingKey).sort());
    expect(Object.values(r.candidates).every((s) => s > 0 && Number.isFinite(s))).toBe(true);
    expect(r.relL1VsDefault).toBeLessThan(1e-4);
    expect(r.bestSeconds).toBe(Math.min(...Object.values(r.candidates)));
    // the tuned tiling now serves this conv class at any spatial size
    const big = tf.backend_util.computeConv3DInfo([1, 20, 30, 30, 8], [3, 3, 3, 8, 12], 1, 1, 'same');
    expect(tilingFor(gemmPlan('forward', big))).toEqual(r.best);
  });
});
