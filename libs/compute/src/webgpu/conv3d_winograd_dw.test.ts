/**
 * Winograd's filter gradient (conv3d_winograd_dw.ts) against the cpu backend: ragged tiles on every
 * axis, batches of 2, 'valid' padding, x's channels read as vec4 and as scalars, several chunks of
 * tiles, split-K; its algebra is checked without a GPU.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { strideOneGeometry } from './conv3d_direct';
import { applyMatrix, separable3d, winogradCandidates, winogradChunkTiles, winogradDwMode, winogradKey, winogradTiles, winogradTransforms, winogradValid, type WinogradTiling } from './conv3d_winograd';
import { winogradDwSplits } from './conv3d_winograd_dw';
import { candidatesFor, convTilingKey, forceTiling, gemmPlan, winogradFor } from './gemm_plan';
import { adapterPromise, compareWithCpu, convInfo, seededValues, SKIP_NOTE, startWebgpu, WINOGRAD_CASES, WINOGRAD_LAYOUTS, type WinogradCase } from './test_util';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const transpose = (M: number[][]): number[][] => M[0].map((_, j) => M.map((row) => row[j]));

/** Runs generated transform lines on `values` named `${from}_a_b_c` (a, b, c < n), returning k^3 `${to}_a_b_c`. */
function evaluate(code: string, from: string, to: string, n: number, k: number, values: number[]): number[] {
  const names = range(n ** 3).map((i) => `${from}_${Math.floor(i / (n * n))}_${Math.floor(i / n) % n}_${i % n}`);
  const outs = range(k ** 3).map((i) => `${to}_${Math.floor(i / (k * k))}_${Math.floor(i / k) % k}_${i % k}`);
  return new Function(...names, `${code}\nreturn [${outs.join(', ')}];`)(...values) as number[];
}

describe('Winograd filter gradient without a GPU', () => {
  it.each([2, 4] as const)('G\'[(A dy A\') .* (B\' d B)]G is the correlation of an n^3 patch with an m^3 block of dy: F(%i)', (m) => {
    const f = winogradTransforms(m);
    const n = f.n;
    const d = Array.from(seededValues(n ** 3, 5));
    const dy = Array.from(seededValues(m ** 3, 6));
    const E = evaluate(separable3d(applyMatrix(transpose(f.AT)), m, 'e', 'u'), 'e', 'u', m, n, dy);
    const V = evaluate(separable3d(applyMatrix(f.BT), n, 'd', 'v'), 'd', 'v', n, n, d);
    const dg = evaluate(separable3d(applyMatrix(transpose(f.G)), n, 'q', 'w'), 'q', 'w', n, 3, V.map((v, p) => v * E[p]));
    // dW[kd, kh, kw] = sum over the block's outputs o of dy[o] d[o + k]
    const expected = range(27).map((k) => {
      const [kd, kh, kw] = [Math.floor(k / 9), Math.floor(k / 3) % 3, k % 3];
      let s = 0;
      for (const a of range(m)) for (const b of range(m)) for (const c of range(m)) s += dy[(a * m + b) * m + c] * d[((a + kd) * n + b + kh) * n + c + kw];
      return s;
    });
    dg.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
  });

  it('serves the dW of stride-1 3x3x3 convs: rows are x\'s channels, vec4 where they are a multiple of 4', () => {
    const plan = (x: [number, number, number, number, number], f: [number, number, number, number, number], stride = 1) =>
      gemmPlan('dw', convInfo(x, f, 'same', stride));
    const g = plan([1, 8, 8, 8, 48], [3, 3, 3, 48, 56]).winograd!;
    expect(g).toMatchObject({ gatheredC: 48, writtenC: 56, pad: [1, 1, 1] });
    expect(winogradDwMode(g)).toBe('step4');
    expect(winogradDwMode(plan([1, 8, 8, 8, 17], [3, 3, 3, 17, 16]).winograd!)).toBe('step');
    expect(plan([1, 8, 8, 8, 48], [3, 3, 3, 48, 56], 2).winograd).toBeUndefined();
    expect(plan([1, 8, 8, 8, 48], [1, 1, 1, 48, 56]).winograd).toBeUndefined();
  });

  it('offers its candidates to the tuner: row tiles just holding x\'s channels, both tile sizes', () => {
    for (const [cin, rows] of [[48, 64], [17, 64], [104, 128]]) {
      const p = gemmPlan('dw', convInfo([1, 89, 151, 113, cin], [3, 3, 3, cin, 48]));
      const cands = winogradCandidates(p.winograd!, true);
      expect(cands.length).toBeGreaterThanOrEqual(2);
      expect(new Set(cands.map((t) => t.gemm.tm))).toEqual(new Set([rows]));
      expect(new Set(cands.map((t) => t.m))).toEqual(new Set([2, 4]));
      expect(candidatesFor(p).map(convTilingKey)).toEqual(expect.arrayContaining(cands.map(winogradKey)));
      for (const t of cands) expect(winogradValid(t, p.winograd!, true)).toBe(true);
    }
    // split-K: at least 512 tiles a slice, at most 32 slices
    expect([100, 1023, 1024, 5000, 1e6].map(winogradDwSplits)).toEqual([1, 1, 2, 9, 32]);
  });
});

const CASES: WinogradCase[] = [
  ...WINOGRAD_CASES,
  // F(2): 2 x 8 x 9 x 10 = 1,440 tiles in one chunk, two split-K slices
  { name: 'split-K, batch 2, 8 -> 8', x: [2, 16, 18, 20, 8], f: [3, 3, 3, 8, 8], pad: 'same', mib: 64 },
];

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu Winograd filter gradient tests ${SKIP_NOTE}`);

describe.skipIf(!adapter)(`webgpu Winograd filter gradient vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await startWebgpu();
  });
  afterEach(() => forceTiling(undefined));

  CASES.forEach((c, ci) => {
    for (const { m, planes } of WINOGRAD_LAYOUTS) {
      const label = `F(${m})${planes ? ' planes' : ''}`;
      it(`${label} agrees: ${c.name}`, async () => {
        const conv = convInfo(c.x, c.f, c.pad);
        const plan = gemmPlan('dw', conv);
        const g = strideOneGeometry('forward', conv)!;
        const t: WinogradTiling = { ...winogradCandidates(g, true).find((w) => w.m === m && !w.planes === !planes)!, mib: c.mib };
        forceTiling(t);
        expect(winogradFor(plan)?.tiling).toEqual(t);
        const tiles = winogradTiles(g, m).reduce((a, b) => a * b, c.x[0]);
        if (c.mib === 1) expect(winogradChunkTiles(g, m, 1) * 2).toBeLessThan(tiles);
        if (c.name.startsWith('split-K') && m === 2) expect(winogradDwSplits(Math.min(tiles, winogradChunkTiles(g, m, c.mib)))).toBe(2);
        const seed = 120 + 10 * ci;
        const r = await compareWithCpu(
          [{ shape: c.x, seed }, { shape: conv.outShape, seed: seed + 1 }],
          (x, dy) => tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy }, { strides: [1, 1, 1], pad: c.pad, filterShape: c.f }) as tf.Tensor,
        );
        await tf.setBackend('webgpu');
        expect(r.shapes).toEqual([c.f]);
        console.info(`winograd dw ${label} ${c.name}: ${r.errors[0].toExponential(2)}`);
        expect(r.errors[0]).toBeLessThan(m === 2 ? 2e-5 : 1e-4);
      });
    }
  });

  it('every GEMM tiling it offers agrees', async () => {
    const c = CASES[0];
    const g = strideOneGeometry('forward', convInfo(c.x, c.f, c.pad))!;
    const tilings = [...new Map(winogradCandidates(g, true).map((t) => [JSON.stringify(t.gemm), t])).values()];
    expect(tilings.length).toBeGreaterThanOrEqual(2);
    for (const t of tilings) {
      forceTiling(t);
      const r = await compareWithCpu([{ shape: c.x, seed: 7 }, { shape: c.x.slice(0, 4).concat([16]), seed: 8 }],
        (x, dy) => tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy }, { strides: [1, 1, 1], pad: c.pad, filterShape: c.f }) as tf.Tensor);
      await tf.setBackend('webgpu');
      expect({ tiling: winogradKey(t), error: r.errors[0] }).toEqual({ tiling: winogradKey(t), error: expect.toSatisfy((v: number) => v < 2e-5) });
    }
  });
});
