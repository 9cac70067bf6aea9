/**
 * Tilings of the implicit GEMM against the cpu backend: a set of candidates that together use
 * every value of each tiling parameter (threads along N, rows per thread, slab depth, workgroup
 * size), in every K order, for forward, dx and dW, each with its B slab packed as well and two
 * with prefetch; then the autotuner on a small conv.
 * (All candidates of every mode would be ~100 shader compiles: minutes on lavapipe.)
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { autotuneConv, tuneSpecOf } from './autotune';
import { tilingCandidates, tilingKey, tilingThreads, tilingValid, type GemmTiling } from './conv3d_gemm';
import { candidatesFor, clearTunedTilings, convTilingKey, directFor, forceTiling, gemmPlan, isDirect, isGemm, isWinograd, parseTunedTilings, recordConvClasses, rememberTiling, tilingFor, untunedTiling, winogradFor, type GemmPass } from './gemm_plan';
import { deviceSharedBytes, type WebGPUBackendLike } from './program';
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
  { name: 'dW step4 (Cin 12, Cout 7), stride 2', pass: 'dw', x: [1, 7, 6, 9, 12], f: [3, 3, 3, 12, 7], stride: 2 },
];

describe('tuned tilings read from JSON (no GPU)', () => {
  const table = {
    'forward|k3x3x3|48->48|s111|d111': { algo: 'winograd', m: 4, gemm: { tm: 128, rm: 8, tk: 16, tnt: 8, rn: 6, bv: true }, mib: 256 },
    'forward|k3x3x3|17->16|s111|d111': { algo: 'direct', lw: 8, vw: 4, th: 16, td: 2, cc: 3 },
    'dw|k3x3x3|16->10|s111|d111': { algo: 'direct-dw', tw: 16, th: 4, td: 1, vl: 2, cc: 16 },
    'dx|k1x1x1|104->48|s111|d111': { tm: 64, rm: 4, tk: 8, tnt: 8, rn: 8 },
  };

  it('takes every kind of kernel the tuner saves, and what it takes is what was saved', () => {
    expect(parseTunedTilings(JSON.stringify(table), 'tilings.json')).toEqual(table);
  });

  it.each([
    ['{', /^t.json: not JSON/],
    ['[]', /^t.json: expected an object of conv classes to tilings$/],
    [JSON.stringify({ 'forward|3x3': table['dx|k1x1x1|104->48|s111|d111'] }), /^t.json: "forward\|3x3" is not a conv class/],
    [JSON.stringify({ 'dx|k1x1x1|1->4|s111|d111': { algo: 'fft' } }), /^t.json: entry "dx\|k1x1x1\|1->4\|s111\|d111" has an unknown kernel "fft"$/],
    [JSON.stringify({ 'dx|k1x1x1|1->4|s111|d111': { tm: 64, rm: 4, tk: '8', tnt: 8 } }), /lacks integer tk, rn$/],
    [JSON.stringify({ 'dx|k3x3x3|8->4|s111|d111': { algo: 'winograd', m: 2, mib: 256, gemm: null } }), /entry "dx\|k3x3x3\|8->4\|s111\|d111" is not a tiling object$/],
  ])('refuses %s naming the file and the entry', (json, message) => {
    expect(() => parseTunedTilings(json, 't.json')).toThrow(message);
  });
});

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
      expect(c.name).toContain(` ${plan.mode} `);
      const tilings = coveringTilings(tilingCandidates(plan.N, plan.mode, plan.channels));
      expect(tilings.length).toBeGreaterThanOrEqual(3);
      const attrs = { strides: [c.stride, c.stride, c.stride], pad: 'same' as const };
      // each with its B slab packed as well, and two with the next K step prefetched into registers
      const twins = [...tilings.map((x) => ({ ...x, bv: true })), { ...tilings[0], pf: true }, { ...tilings[1], bv: true, pf: true }];
      for (const t of [...tilings, ...twins.filter((x) => tilingValid(x, plan.mode))]) {
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
    // 36 output channels: GEMM and Winograd tilings, and no direct kernel untuned
    const [r] = await autotuneConv({ input: [6, 8, 8], cin: 8, cout: 36 }, ['forward'], 1);
    const plan = gemmPlan('forward', tf.backend_util.computeConv3DInfo([1, 6, 8, 8, 8], [3, 3, 3, 8, 36], 1, 1, 'same'));
    clearTunedTilings();
    expect(directFor(plan, 49152)).toBeUndefined();
    expect(untunedTiling(plan, 49152)).toEqual(tilingFor(plan));
    rememberTiling(plan.key, r.best);
    // every candidate and the untuned tiling (its B slab packed), the fastest GEMM tiling of them
    // packed unless it is, then the faster of those two with prefetch (a Winograd tiling may win on
    // lavapipe's noisy timings: it has no such twins)
    const listed = candidatesFor(plan);
    const untuned = convTilingKey(untunedTiling(plan, 49152));
    expect(untuned).toMatch(/_bv$/);
    expect(listed.some(isWinograd)).toBe(true);
    const first = [...listed.map(convTilingKey), untuned];
    const gemms = [...listed.filter(isGemm).map(convTilingKey), untuned];
    const fastest = gemms.reduce((a, b) => (r.candidates[b] < r.candidates[a] ? b : a));
    const packed = fastest.endsWith('_bv') ? fastest : `${fastest}_bv`;
    const prefetched = `${r.candidates[packed] < r.candidates[fastest] ? packed : fastest}_pf`;
    expect(new Set(Object.keys(r.candidates))).toEqual(new Set([...first, packed, prefetched]));
    expect(r.defaultSeconds).toBe(r.candidates[untuned]);
    expect(Object.values(r.candidates).every((s) => s > 0 && Number.isFinite(s))).toBe(true);
    expect(r.relL1VsDefault).toBeLessThan(1e-4);
    expect(r.bestSeconds).toBe(Math.min(...Object.values(r.candidates)));
    // the tuned tiling now serves this conv class at any spatial size
    const big = tf.backend_util.computeConv3DInfo([1, 20, 30, 30, 8], [3, 3, 3, 8, 36], 1, 1, 'same');
    const bigPlan = gemmPlan('forward', big);
    expect(isWinograd(r.best) ? winogradFor(bigPlan)?.tiling : tilingFor(bigPlan)).toEqual(r.best);
  });

  it('records the conv classes a run executes, with their passes, and the tuner\'s spec of each', async () => {
    const x = tf.randomUniform([1, 6, 8, 8, 4], -1, 1, 'float32', 1) as tf.Tensor5D;
    const f1 = tf.randomUniform([3, 3, 3, 4, 8], -1, 1, 'float32', 2) as tf.Tensor5D;
    const f2 = tf.randomUniform([1, 1, 1, 8, 4], -1, 1, 'float32', 3) as tf.Tensor5D;
    const [v1, v2] = [tf.variable(f1), tf.variable(f2)];
    const classes = await recordConvClasses(async () => {
      // x is not a variable: the first conv's dx is not needed
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.conv3d(tf.conv3d(x, v1 as tf.Tensor5D, 2, 'same'), v2 as tf.Tensor5D, 1, 'valid')) as tf.Scalar, [v1, v2]);
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect(classes.map((c) => [c.key, [...c.passes].sort()])).toEqual([
      ['k3x3x3|4->8|s222|d111', ['dw', 'forward']],
      ['k1x1x1|8->4|s111|d111', ['dw', 'dx', 'forward']],
    ]);
    expect(tuneSpecOf(classes[0])).toEqual({ input: [6, 8, 8], cin: 4, cout: 8, k: 3, stride: 2, pad: 'same' });
    expect(tuneSpecOf(classes[1])).toEqual({ input: [3, 4, 4], cin: 8, cout: 4, k: 1, stride: 1, pad: 'valid' });
    const odd = tf.backend_util.computeConv3DInfo([1, 6, 8, 8, 4], [3, 1, 3, 4, 8], 1, 1, 'same');
    expect(tuneSpecOf({ key: 'k', conv: odd, passes: ['forward'] })).toBe('kernel 3x1x3 is not cubic');
    // nothing is recorded outside a recording
    tf.dispose(tf.conv3d(x, f1, 1, 'same'));
    expect(await recordConvClasses(() => undefined)).toEqual([]);
    tf.dispose([x, f1, f2, v1, v2]);
  });

  it('with kinds named, a class already tuned times only their candidates against the loaded winner', async () => {
    const bytes = deviceSharedBytes(tf.backend() as unknown as WebGPUBackendLike);
    const conv = tf.backend_util.computeConv3DInfo([1, 6, 8, 8, 8], [3, 3, 3, 8, 12], 1, 1, 'same');
    const plan = gemmPlan('dw', conv);
    const loaded = candidatesFor(plan, bytes).find(isGemm)!;
    clearTunedTilings();
    rememberTiling(plan.key, loaded);
    const [r] = await autotuneConv({ input: [6, 8, 8], cin: 8, cout: 12 }, ['dw'], 1, undefined, ['winograd']);
    const winograd = candidatesFor(plan, bytes).filter(isWinograd).map(convTilingKey);
    expect(winograd.length).toBeGreaterThanOrEqual(2);
    // the untuned tiling is timed too: the speed-up's base and the check's reference
    expect(new Set(Object.keys(r.candidates))).toEqual(new Set([...winograd, convTilingKey(loaded), convTilingKey(untunedTiling(plan, bytes))]));
    expect(r.relL1VsDefault).toBeLessThan(1e-4);
    expect(r.bestSeconds).toBe(Math.min(...Object.values(r.candidates)));
    clearTunedTilings();
  });

  it('direct-conv tilings compete with GEMM tilings for few output channels, and a direct winner is used', async () => {
    const bytes = deviceSharedBytes(tf.backend() as unknown as WebGPUBackendLike);
    const spec = { input: [6, 8, 20] as [number, number, number], cin: 8, cout: 12 };
    const conv = tf.backend_util.computeConv3DInfo([1, 6, 8, 20, 8], [3, 3, 3, 8, 12], 1, 1, 'same');
    const plan = gemmPlan('dx', conv);
    const all = candidatesFor(plan, bytes);
    const direct = all.filter(isDirect);
    expect(direct.length).toBeGreaterThan(0);
    // 8 written channels: untuned, the direct kernel runs (its default tiling)
    const untuned = untunedTiling(plan, bytes);
    expect(isDirect(untuned)).toBe(true);
    expect(directFor(plan, bytes)?.tiling).toEqual(untuned);
    // the untuned tiling, the default GEMM tiling as listed and a direct one (every candidate: minutes of shader compiles here)
    const gemmDefault = tilingFor(plan);
    const gemmListed = { ...gemmDefault, bv: undefined };
    delete gemmListed.bv;
    const picked = new Set([convTilingKey(untuned), convTilingKey(gemmListed), convTilingKey(direct[direct.length - 1])]);
    const [r] = await autotuneConv(spec, ['dx'], 1, (t) => picked.has(convTilingKey(t)));
    expect(new Set(Object.keys(r.candidates))).toEqual(picked);
    expect(r.defaultSeconds).toBe(r.candidates[convTilingKey(untuned)]);
    expect(r.relL1VsDefault).toBeLessThan(1e-4);
    // force a direct winner the way the tuner records one, then check the kernel routes to it
    forceTiling(undefined);
    const winner = direct[0];
    rememberTiling(plan.key, winner);
    expect(directFor(plan, bytes)?.tiling).toEqual(winner);
    const x = tf.randomUniform([1, 6, 8, 20, 8], -1, 1, 'float32', 3) as tf.Tensor5D;
    const dy = tf.randomUniform(conv.outShape, -1, 1, 'float32', 4) as tf.Tensor5D;
    const f = tf.randomUniform([3, 3, 3, 8, 12], -1, 1, 'float32', 5) as tf.Tensor5D;
    const tuned = tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: f }, { strides: [1, 1, 1], pad: 'same', inputShape: x.shape }) as tf.Tensor;
    clearTunedTilings();
    forceTiling(gemmDefault);
    expect(directFor(plan, bytes)).toBeUndefined();
    const gemm = tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: f }, { strides: [1, 1, 1], pad: 'same', inputShape: x.shape }) as tf.Tensor;
    forceTiling(undefined);
    const diff = (await tf.max(tf.abs(tf.sub(tuned, gemm))).data())[0];
    expect(diff).toBeLessThan(1e-4);
    tf.dispose([x, dy, f, tuned, gemm]);
  });
});
