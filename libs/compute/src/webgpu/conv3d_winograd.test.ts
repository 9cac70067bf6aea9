/**
 * The Winograd conv (forward and dx) against the cpu backend: ragged tiles on every axis, batches
 * of 2, 'valid' padding (dx then pads by 2), gathered channels read as vec4 and as scalars, several
 * chunks of tiles, and the fused conv's epilogue; the transforms' algebra is checked without a GPU.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { strideOneGeometry } from './conv3d_direct';
import { applyMatrix, rowExpression, separable2d, separable3d, winogradCandidates, winogradChunkTiles, winogradKey, winogradMode, winogradTiles, winogradTransforms, winogradValid, type WinogradTiling } from './conv3d_winograd';
import { candidatesFor, convTilingKey, forceTiling, gemmPlan, winogradFor } from './gemm_plan';
import { gpuPoolStats, trimGpuBufferPool } from './memory';
import { adapterPromise, compareWithCpu, convInfo, seededValues, SKIP_NOTE, startWebgpu, WINOGRAD_CASES, WINOGRAD_LAYOUTS } from './test_util';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Runs the generated transform lines (valid JavaScript as well as WGSL) on `values` named `${from}_a_b_c`. */
function evaluate(code: string, from: string, to: string, n: number, m: number, values: number[]): number[] {
  const names = range(n ** 3).map((i) => `${from}_${Math.floor(i / (n * n))}_${Math.floor(i / n) % n}_${i % n}`);
  const outs = range(m ** 3).map((i) => `${to}_${Math.floor(i / (m * m))}_${Math.floor(i / m) % m}_${i % m}`);
  return new Function(...names, `${code}\nreturn [${outs.join(', ')}];`)(...values) as number[];
}

describe('Winograd F(2x2x2, 3x3x3) without a GPU', () => {
  it.each([2, 4] as const)('A\'[(G g G\') .* (B\' d B)]A of the generated transforms is the correlation of an n^3 patch: F(%i)', (m) => {
    const f = winogradTransforms(m);
    const n = f.n;
    const d = Array.from(seededValues(n ** 3, 3));
    const g = Array.from(seededValues(27, 4));
    const U = evaluate(separable3d(applyMatrix(f.G), 3, 'g', 'u'), 'g', 'u', 3, n, g);
    const V = evaluate(separable3d(applyMatrix(f.BT), n, 'd', 'v'), 'd', 'v', n, n, d);
    const Y = evaluate(separable3d(applyMatrix(f.AT), n, 'm', 'y'), 'm', 'y', n, m, V.map((v, p) => v * U[p]));
    const expected = range(m ** 3).map((o) => {
      const [a, b, c] = [Math.floor(o / (m * m)), Math.floor(o / m) % m, o % m];
      let s = 0;
      for (const kd of range(3)) for (const kh of range(3)) for (const kw of range(3)) s += g[(kd * 3 + kh) * 3 + kw] * d[((a + kd) * n + b + kh) * n + c + kw];
      return s;
    });
    // the matrices' fractions are rounded to float32 literals, as the shaders read them
    Y.forEach((y, i) => expect(y).toBeCloseTo(expected[i], 5));
  });

  it.each([['B\' d B', 'BT'], ['A dy A\'', 'A'], ['A\' M A', 'AT']] as const)('a thread per plane computes F(4)\'s %s: the first axis by its row, then separable2d', (_, which) => {
    const f = winogradTransforms(4);
    const M = which === 'BT' ? f.BT : which === 'AT' ? f.AT : f.AT[0].map((_, j) => f.AT.map((row) => row[j]));
    const [k, n] = [M.length, M[0].length];
    const d = Array.from(seededValues(n ** 3, 9));
    const whole = evaluate(separable3d(applyMatrix(M), n, 'd', 'v'), 'd', 'v', n, k, d);
    for (const plane of range(k)) {
      // the shader's loop over the first axis, zero coefficients skipped
      const sums = range(n * n).map((i) => range(n).reduce((s, a) => s + M[plane][a] * d[a * n * n + i], 0));
      const names = range(n * n).map((i) => `e_${Math.floor(i / n)}_${i % n}`);
      const outs = range(k * k).map((i) => `t_${Math.floor(i / k)}_${i % k}`);
      const planeValues = new Function(...names, `${separable2d(applyMatrix(M), n, 'e', 't')}\nreturn [${outs.join(', ')}];`)(...sums) as number[];
      planeValues.forEach((v, i) => expect(v).toBeCloseTo(whole[plane * k * k + i], 4));
    }
  });

  it('writes each matrix row as one expression, zeros left out', () => {
    expect(rowExpression([4, 0, -5, 0, 1, 0], ['a', 'b', 'c', 'd', 'e', 'f'])).toBe('4.0 * a - 5.0 * c + e');
    expect(rowExpression([0, -1, 1, 0], ['a', 'b', 'c', 'd'])).toBe('-b + c');
    expect(rowExpression([1 / 24, -1 / 12, 1 / 6], ['a', 'b', 'c'])).toBe(`${Math.fround(1 / 24)} * a - ${Math.fround(1 / 12)} * b + ${Math.fround(1 / 6)} * c`);
  });

  it('serves stride-1 3x3x3 convs, nothing else', () => {
    const plan = (pass: 'forward' | 'dx' | 'dw', x: [number, number, number, number, number], f: [number, number, number, number, number], stride = 1) =>
      gemmPlan(pass, convInfo(x, f, 'same', stride));
    expect(plan('forward', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56]).winograd).toMatchObject({ gatheredC: 48, writtenC: 56 });
    // dx gathers dy's 56 channels
    expect(plan('dx', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56]).winograd).toMatchObject({ gatheredC: 56, writtenC: 48 });
    expect(plan('forward', [1, 8, 8, 8, 14], [3, 3, 3, 14, 8]).winograd).toBeDefined();
    // dW tiles the forward's output (conv3d_winograd_dw.test.ts)
    expect(plan('dw', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56]).winograd).toMatchObject({ pass: 'forward', gatheredC: 48, writtenC: 56 });
    expect(plan('forward', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56], 2).winograd).toBeUndefined();
    expect(plan('forward', [1, 8, 8, 8, 48], [1, 1, 1, 48, 56]).winograd).toBeUndefined();
    // the output block's 17 channels: scalar loads, 8-deep slabs (24 channels, where 16-deep pad to 32)
    const out = plan('forward', [1, 8, 8, 8, 17], [3, 3, 3, 17, 16]).winograd!;
    expect(winogradMode(out)).toBe('tap');
    expect(new Set(winogradCandidates(out).map((t) => t.gemm.tk))).toEqual(new Set([8]));
    expect(new Set(winogradCandidates(plan('forward', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56]).winograd!).map((t) => t.gemm.tk))).toEqual(new Set([16]));
  });

  it('offers its candidates to the tuner, each well formed, and keeps chunks within their budget', () => {
    const c = convInfo([1, 89, 151, 113, 104], [3, 3, 3, 104, 48]);
    const p = gemmPlan('forward', c);
    const cands = winogradCandidates(p.winograd!);
    expect(cands.length).toBeGreaterThanOrEqual(4);
    expect(candidatesFor(p).map(convTilingKey)).toEqual(expect.arrayContaining(cands.map(winogradKey)));
    expect(new Set(cands.map((t) => t.m))).toEqual(new Set([2, 4]));
    for (const t of cands) {
      expect(winogradValid(t, p.winograd!)).toBe(true);
      const tiles = winogradChunkTiles(p.winograd!, t.m, t.mib);
      // V [n^3, tiles, 104 channels] within the budget
      const perTile = (t.m + 2) ** 3 * 104 * 4;
      expect(tiles * perTile).toBeLessThanOrEqual(t.mib * 2 ** 20);
      expect((tiles + 1) * perTile).toBeGreaterThan(t.mib * 2 ** 20);
    }
    expect(winogradTiles(p.winograd!, 2)).toEqual([45, 76, 57]);
    expect(winogradTiles(p.winograd!, 4)).toEqual([23, 38, 29]);
    // beyond one 2 GiB binding, or a tile size other than 2 and 4
    expect(winogradValid({ ...cands[0], mib: 4096 }, p.winograd!)).toBe(false);
    expect(winogradValid({ ...cands[0], m: 3 as 2 }, p.winograd!)).toBe(false);
  });
});

const CASES = WINOGRAD_CASES;

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu Winograd conv tests ${SKIP_NOTE}`);

describe.skipIf(!adapter)(`webgpu Winograd conv vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await startWebgpu();
  });
  afterEach(() => forceTiling(undefined));

  CASES.forEach((c, ci) => {
    for (const [pass, { m, planes }] of (['forward', 'dx'] as const).flatMap((p) => WINOGRAD_LAYOUTS.map((l) => [p, l] as const))) {
      const label = `F(${m})${planes ? ' planes' : ''}`;
      it(`${pass} ${label} agrees: ${c.name}`, async () => {
        const conv = convInfo(c.x, c.f, c.pad);
        const plan = gemmPlan(pass, conv);
        const g = strideOneGeometry(pass, conv)!;
        expect(winogradMode(g)).toBeDefined();
        const t: WinogradTiling = { ...winogradCandidates(g).find((w) => w.m === m && !w.planes === !planes)!, mib: c.mib };
        forceTiling(t);
        // the forced tiling really routes the kernel to Winograd, in the chunks the case names
        expect(winogradFor(plan)?.tiling).toEqual(t);
        if (c.mib === 1) expect(winogradChunkTiles(g, m, 1) * 2).toBeLessThan(winogradTiles(g, m).reduce((a, b) => a * b));
        const y = conv.outShape;
        const seed = 80 + 10 * ci;
        const r = await compareWithCpu(
          [{ shape: c.x, seed }, { shape: c.f, seed: seed + 1 }, { shape: y, seed: seed + 2 }],
          (x, f, dy) => (pass === 'forward'
            ? tf.conv3d(x as tf.Tensor5D, f as tf.Tensor5D, 1, c.pad)
            : tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: f }, { strides: [1, 1, 1], pad: c.pad, inputShape: c.x }) as tf.Tensor),
        );
        await tf.setBackend('webgpu');
        expect(r.shapes).toEqual(r.cpuShapes);
        console.info(`winograd ${pass} ${label} ${c.name}: ${r.errors[0].toExponential(2)}`);
        expect({ pass, error: r.errors[0] }).toEqual({ pass, error: expect.toSatisfy((v: number) => v < (m === 2 ? 2e-5 : 1e-4)) });
      });
    }
  });

  it('hands one chunk\'s transformed tensors to the next: four chunks create V and M once', async () => {
    // 8 x 8 x 16 = 1,024 tiles of 16 channels, 256 a chunk at 1 MiB: V and M 1 MiB each per chunk
    const x = tf.tensor(seededValues(16 * 16 * 32 * 16, 1), [1, 16, 16, 32, 16]) as tf.Tensor5D;
    const f = tf.tensor(seededValues(27 * 16 * 16, 2), [3, 3, 3, 16, 16]) as tf.Tensor5D;
    const g = strideOneGeometry('forward', convInfo([1, 16, 16, 32, 16], [3, 3, 3, 16, 16]))!;
    expect(winogradChunkTiles(g, 2, 1)).toBe(256);
    forceTiling({ ...winogradCandidates(g)[0], m: 2, mib: 1 });
    trimGpuBufferPool();
    const before = gpuPoolStats().bytesCreated;
    // buffers are created as the dispatches are recorded
    const y = tf.conv3d(x, f, 1, 'same');
    const created = gpuPoolStats().bytesCreated - before;
    // x and y (0.5 MiB each), f and U (27 and 64 KiB), one V and one M (1 MiB each), uniforms: 3.1 MiB;
    // with four of each V and M, 9.1 MiB
    expect(created).toBeGreaterThan(3 * 2 ** 20);
    expect(created).toBeLessThan(3.5 * 2 ** 20);
    tf.dispose([x, f, y]);
  });

  it('every GEMM tiling it offers agrees (forward)', async () => {
    const c = CASES[0];
    const g = strideOneGeometry('forward', convInfo(c.x, c.f, c.pad))!;
    const tilings = [...new Map(winogradCandidates(g).map((t) => [JSON.stringify(t.gemm), t])).values()];
    for (const t of tilings) {
      forceTiling(t);
      const r = await compareWithCpu([{ shape: c.x, seed: 5 }, { shape: c.f, seed: 6 }], (x, f) => tf.conv3d(x as tf.Tensor5D, f as tf.Tensor5D, 1, c.pad));
      await tf.setBackend('webgpu');
      expect({ tiling: winogradKey(t), error: r.errors[0] }).toEqual({ tiling: winogradKey(t), error: expect.toSatisfy((v: number) => v < 2e-5) });
    }
  });
});
