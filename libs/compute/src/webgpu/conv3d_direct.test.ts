/**
 * The direct conv kernel (forward and dx) against the cpu backend: odd sizes that leave ragged
 * tiles on every axis, batches of 2, 'same' and 'valid' padding, non-cubic filters, written channel
 * counts not divisible by 4, and channel chunks that do not divide the channels. Every tiling shape
 * the tuner may pick is run on one case; the layout arithmetic is checked without a GPU.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { directCandidates, directGeometry, directKey, directSharedBytes, tileLayout, type DirectTiling } from './conv3d_direct';
import { directFor, forceTiling, gemmPlan, type GemmPass } from './gemm_plan';
import { adapterPromise, compareWithCpu, convInfo, SKIP_NOTE, startWebgpu, type ConvCase } from './test_util';

const info = convInfo;

describe('direct conv geometry (no GPU)', () => {
  it('serves forward and dx of stride-1 convs with at most 32 written channels, nothing else', () => {
    const c = info([1, 9, 8, 7, 17], [3, 3, 3, 17, 16]);
    expect(directGeometry('forward', c)).toMatchObject({ gathered: [9, 8, 7], gatheredC: 17, written: [9, 8, 7], writtenC: 16, pad: [1, 1, 1] });
    expect(directGeometry('dx', c)).toMatchObject({ gathered: [9, 8, 7], gatheredC: 16, written: [9, 8, 7], writtenC: 17, pad: [1, 1, 1] });
    // 'valid': dx gathers the smaller dy with the filter's full extent as padding
    const v = info([1, 9, 8, 7, 3], [3, 2, 1, 3, 5], 'valid');
    expect(directGeometry('dx', v)).toMatchObject({ gathered: [7, 7, 7], written: [9, 8, 7], pad: [2, 1, 0] });
    expect(directGeometry('dw', c)).toBeUndefined();
    expect(directGeometry('forward', info([1, 9, 8, 7, 1], [3, 3, 3, 1, 32], 'same', 2))).toBeUndefined();
    expect(directGeometry('forward', info([1, 9, 8, 7, 8], [3, 3, 3, 8, 33]))).toBeUndefined();
  });

  it('offers tilings that fit workgroup memory for the reference network\'s full-resolution convs', () => {
    for (const [pass, cin, cout] of [['forward', 17, 16], ['forward', 16, 10], ['dx', 17, 16], ['dx', 16, 10]] as const) {
      const g = directGeometry(pass, info([1, 64, 128, 128, cin], [3, 3, 3, cin, cout]))!;
      for (const bytes of [16384, 49152]) {
        const cands = directCandidates(g, bytes);
        expect(cands.length).toBeGreaterThanOrEqual(8);
        for (const t of cands) {
          expect(directSharedBytes(t, g)).toBeLessThanOrEqual(bytes);
          expect(t.cc).toBeLessThanOrEqual(g.gatheredC);
        }
      }
      // more memory, more channels per chunk
      const maxCc = (bytes: number) => Math.max(...directCandidates(g, bytes).map((t) => t.cc));
      expect(maxCc(49152)).toBeGreaterThan(maxCc(16384));
    }
  });

  it('pads tile rows and planes so the 32 threads of a warp read 32 distinct banks', () => {
    const g = directGeometry('forward', info([1, 64, 128, 128, 17], [3, 3, 3, 17, 16]))!;
    for (const t of directCandidates(g, 49152)) {
      const L = tileLayout(t, g.filter);
      const banks = new Set<number>();
      for (let i = 0; i < 32; i++) {
        const lane = i % t.lw;
        const hh = Math.floor(i / t.lw) % t.th;
        const dd = Math.floor(i / (t.lw * t.th));
        banks.add((lane + hh * L.pitchH + dd * L.pitchD) % 32);
      }
      expect({ tiling: directKey(t), banks: banks.size }).toEqual({ tiling: directKey(t), banks: 32 });
      expect(L.pitchH).toBeGreaterThanOrEqual(L.hw);
      expect(L.pitchD).toBeGreaterThanOrEqual(L.pitchH * L.hh);
    }
  });
});

type Case = ConvCase;

const CASES: Case[] = [
  { name: 'ragged tiles on every axis, 17 -> 10', x: [1, 5, 11, 37, 17], f: [3, 3, 3, 17, 10], pad: 'same' },
  { name: 'batch 2, 5 -> 7', x: [2, 6, 5, 9, 5], f: [3, 3, 3, 5, 7], pad: 'same' },
  { name: "'valid', non-cubic filter, 6 -> 3", x: [1, 7, 6, 10, 6], f: [3, 2, 1, 6, 3], pad: 'valid' },
  { name: '1x1x1, 13 -> 18', x: [1, 4, 5, 6, 13], f: [1, 1, 1, 13, 18], pad: 'same' },
];

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu direct conv tests ${SKIP_NOTE}`);

/** Forward (Conv3D) or dx (Conv3DBackpropInputV2) of a case on whatever tiling is forced. */
async function errorOf(c: Case, pass: GemmPass, seed: number): Promise<number> {
  const y = info(c.x, c.f, c.pad).outShape;
  const r = await compareWithCpu(
    [{ shape: c.x, seed }, { shape: c.f, seed: seed + 1 }, { shape: y, seed: seed + 2 }],
    (x, f, dy) => (pass === 'forward'
      ? tf.conv3d(x as tf.Tensor5D, f as tf.Tensor5D, 1, c.pad)
      : tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: f }, { strides: [1, 1, 1], pad: c.pad, inputShape: c.x }) as tf.Tensor),
  );
  expect(r.shapes).toEqual(r.cpuShapes);
  await tf.setBackend('webgpu');
  return r.errors[0];
}

describe.skipIf(!adapter)(`webgpu direct conv vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  let bytes = 16384;
  beforeAll(async () => {
    bytes = await startWebgpu();
  });
  afterEach(() => forceTiling(undefined));

  CASES.forEach((c, ci) => {
    for (const pass of ['forward', 'dx'] as const) {
      it(`${pass} agrees, channels in chunks of 2 and as many as fit: ${c.name}`, async () => {
        const g = directGeometry(pass, info(c.x, c.f, c.pad))!;
        const shape = { algo: 'direct' as const, lw: 8, vw: 4, th: 4, td: 4 };
        const fit = Math.min(g.gatheredC, Math.floor(bytes / directSharedBytes({ ...shape, cc: 1 }, g)));
        for (const cc of new Set([Math.min(2, g.gatheredC), fit])) {
          const t: DirectTiling = { ...shape, cc };
          forceTiling(t);
          // the forced tiling really routes the kernel to the direct program
          expect(directFor(gemmPlan(pass, info(c.x, c.f, c.pad)), bytes)?.tiling).toEqual(t);
          const e = await errorOf(c, pass, 40 + 10 * ci);
          expect({ cc, error: e }).toEqual({ cc, error: expect.toSatisfy((v: number) => v < 2e-5) });
        }
      });
    }
  });

  it('every thread-shape parameter value the tuner offers agrees (forward and dx)', async () => {
    // a covering set: each value of lw, vw, th and td appears at least once per pass (every
    // candidate would be ~40 shader compiles, minutes on lavapipe)
    const c = CASES[0];
    for (const pass of ['forward', 'dx'] as const) {
      const g = directGeometry(pass, info(c.x, c.f, c.pad))!;
      const all = directCandidates(g, bytes);
      const features = (t: DirectTiling) => [`lw${t.lw}`, `vw${t.vw}`, `th${t.th}`, `td${t.td}`];
      const missing = new Set(all.flatMap(features));
      while (missing.size > 0) {
        const t = all.reduce((a, b) => (features(b).filter((f) => missing.has(f)).length > features(a).filter((f) => missing.has(f)).length ? b : a));
        for (const f of features(t)) missing.delete(f);
        forceTiling(t);
        const e = await errorOf(c, pass, 7);
        expect({ pass, tiling: directKey(t), error: e }).toEqual({ pass, tiling: directKey(t), error: expect.toSatisfy((v: number) => v < 2e-5) });
      }
    }
  });
});
