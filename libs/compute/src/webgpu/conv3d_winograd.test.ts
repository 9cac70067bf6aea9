/**
 * The Winograd conv (forward and dx) against the cpu backend: ragged tiles on every axis, batches
 * of 2, 'valid' padding (dx then pads by 2), gathered channels read as vec4 and as scalars, several
 * chunks of tiles, and the fused conv's epilogue; the transforms' algebra is checked without a GPU.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { strideOneGeometry } from './conv3d_direct';
import { aT, bT, separable3d, winogradCandidates, winogradChunkTiles, winogradKey, winogradMode, winogradTiles, winogradValid, type WinogradTiling } from './conv3d_winograd';
import { candidatesFor, convTilingKey, forceTiling, gemmPlan, winogradFor } from './gemm_plan';
import { gpuPoolStats, trimGpuBufferPool } from './memory';
import { adapterPromise, compareWithCpu, convInfo, seededValues, SKIP_NOTE, startWebgpu, type ConvCase } from './test_util';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Runs the generated transform lines (valid JavaScript as well as WGSL) on `values` named `${from}_a_b_c`. */
function evaluate(code: string, from: string, to: string, n: number, m: number, values: number[]): number[] {
  const names = range(n ** 3).map((i) => `${from}_${Math.floor(i / (n * n))}_${Math.floor(i / n) % n}_${i % n}`);
  const outs = range(m ** 3).map((i) => `${to}_${Math.floor(i / (m * m))}_${Math.floor(i / m) % m}_${i % m}`);
  return new Function(...names, `${code}\nreturn [${outs.join(', ')}];`)(...values) as number[];
}

describe('Winograd F(2x2x2, 3x3x3) without a GPU', () => {
  it('A\'[(G g G\') .* (B\' d B)]A of the generated transforms is the 2x2x2 correlation of a 4x4x4 patch', () => {
    const d = Array.from(seededValues(64, 3));
    const g = Array.from(seededValues(27, 4));
    // G (4x3), written out here independently of the shader's
    const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
    const U = range(64).map((p) => {
      const [p1, p2, p3] = [Math.floor(p / 16), Math.floor(p / 4) % 4, p % 4];
      let s = 0;
      for (const kd of range(3)) for (const kh of range(3)) for (const kw of range(3)) s += G[p1][kd] * G[p2][kh] * G[p3][kw] * g[(kd * 3 + kh) * 3 + kw];
      return s;
    });
    const V = evaluate(separable3d(bT, 4, 'd', 'v'), 'd', 'v', 4, 4, d);
    const Y = evaluate(separable3d(aT, 4, 'm', 'y'), 'm', 'y', 4, 2, V.map((v, p) => v * U[p]));
    const expected = range(8).map((o) => {
      const [a, b, c] = [o >> 2, (o >> 1) & 1, o & 1];
      let s = 0;
      for (const kd of range(3)) for (const kh of range(3)) for (const kw of range(3)) s += g[(kd * 3 + kh) * 3 + kw] * d[((a + kd) * 4 + b + kh) * 4 + c + kw];
      return s;
    });
    Y.forEach((y, i) => expect(y).toBeCloseTo(expected[i], 5));
  });

  it('serves forward and dx of stride-1 3x3x3 convs whose gathered channels fill tap-major slabs, nothing else', () => {
    const plan = (pass: 'forward' | 'dx' | 'dw', x: [number, number, number, number, number], f: [number, number, number, number, number], stride = 1) =>
      gemmPlan(pass, convInfo(x, f, 'same', stride));
    expect(plan('forward', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56]).winograd).toMatchObject({ gatheredC: 48, writtenC: 56 });
    // dx gathers dy's 56 channels
    expect(plan('dx', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56]).winograd).toMatchObject({ gatheredC: 56, writtenC: 48 });
    expect(plan('forward', [1, 8, 8, 8, 14], [3, 3, 3, 14, 8]).winograd).toBeDefined();
    expect(plan('dw', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56]).winograd).toBeUndefined();
    expect(plan('forward', [1, 8, 8, 8, 48], [3, 3, 3, 48, 56], 2).winograd).toBeUndefined();
    expect(plan('forward', [1, 8, 8, 8, 48], [1, 1, 1, 48, 56]).winograd).toBeUndefined();
    // 17 channels pad to 24 or 32 (more than 20% waste): the GEMM's flat mode, not batched
    expect(plan('forward', [1, 8, 8, 8, 17], [3, 3, 3, 17, 16]).winograd).toBeUndefined();
  });

  it('offers its candidates to the tuner, each well formed, and keeps chunks within their budget', () => {
    const c = convInfo([1, 89, 151, 113, 104], [3, 3, 3, 104, 48]);
    const p = gemmPlan('forward', c);
    const cands = winogradCandidates(p.winograd!);
    expect(cands.length).toBeGreaterThanOrEqual(4);
    expect(candidatesFor(p).map(convTilingKey)).toEqual(expect.arrayContaining(cands.map(winogradKey)));
    for (const t of cands) {
      expect(winogradValid(t, p.winograd!)).toBe(true);
      const tiles = winogradChunkTiles(p.winograd!, t.mib);
      // V [64, tiles, 104 channels] within the budget and within one 2 GiB binding
      expect(64 * tiles * 104 * 4).toBeLessThanOrEqual(t.mib * 2 ** 20);
      expect(64 * (tiles + 1) * 104 * 4).toBeGreaterThan(t.mib * 2 ** 20);
    }
    expect(winogradTiles(p.winograd!)).toEqual([45, 76, 57]);
    expect(winogradValid({ ...cands[0], mib: 4096 }, p.winograd!)).toBe(false);
  });
});

interface Case extends ConvCase {
  /** MiB per chunk to force (small: several chunks). */
  mib: number;
}

const CASES: Case[] = [
  { name: 'ragged tiles on every axis, 8 -> 16 (vec4 loads)', x: [1, 5, 7, 9, 8], f: [3, 3, 3, 8, 16], pad: 'same', mib: 64 },
  { name: 'batch 2, 14 -> 22 (scalar loads)', x: [2, 6, 5, 7, 14], f: [3, 3, 3, 14, 22], pad: 'same', mib: 64 },
  { name: "'valid', 16 -> 8", x: [1, 7, 6, 9, 16], f: [3, 3, 3, 16, 8], pad: 'valid', mib: 64 },
  // 6 x 7 x 9 = 378 tiles, 256 a chunk: two chunks, the second partial
  { name: 'two chunks of tiles, 16 -> 16', x: [1, 11, 13, 17, 16], f: [3, 3, 3, 16, 16], pad: 'same', mib: 1 },
];

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu Winograd conv tests ${SKIP_NOTE}`);

describe.skipIf(!adapter)(`webgpu Winograd conv vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  beforeAll(async () => {
    await startWebgpu();
  });
  afterEach(() => forceTiling(undefined));

  CASES.forEach((c, ci) => {
    for (const pass of ['forward', 'dx'] as const) {
      it(`${pass} agrees: ${c.name}`, async () => {
        const conv = convInfo(c.x, c.f, c.pad);
        const plan = gemmPlan(pass, conv);
        const g = strideOneGeometry(pass, conv)!;
        expect(winogradMode(g)).toBeDefined();
        const t: WinogradTiling = { ...winogradCandidates(g)[0], mib: c.mib };
        forceTiling(t);
        // the forced tiling really routes the kernel to Winograd, in the chunks the case names
        expect(winogradFor(plan)?.tiling).toEqual(t);
        if (c.mib === 1) expect(winogradChunkTiles(g, 1)).toBeLessThan(winogradTiles(g).reduce((a, b) => a * b));
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
        expect({ pass, error: r.errors[0] }).toEqual({ pass, error: expect.toSatisfy((v: number) => v < 2e-5) });
      });
    }
  });

  it('hands one chunk\'s transformed tensors to the next: four chunks create V and M once', async () => {
    // 8 x 8 x 16 = 1,024 tiles of 16 channels, 256 a chunk at 1 MiB: V and M 1 MiB each per chunk
    const x = tf.tensor(seededValues(16 * 16 * 32 * 16, 1), [1, 16, 16, 32, 16]) as tf.Tensor5D;
    const f = tf.tensor(seededValues(27 * 16 * 16, 2), [3, 3, 3, 16, 16]) as tf.Tensor5D;
    const g = strideOneGeometry('forward', convInfo([1, 16, 16, 32, 16], [3, 3, 3, 16, 16]))!;
    expect(winogradChunkTiles(g, 1)).toBe(256);
    forceTiling({ ...winogradCandidates(g)[0], mib: 1 });
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
