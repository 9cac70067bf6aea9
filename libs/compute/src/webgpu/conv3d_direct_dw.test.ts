/**
 * The direct filter-gradient kernel against the cpu backend: ragged tiles on every axis, batches of
 * 2, 'same' and 'valid' padding, non-cubic filters, input channels that do not fill a vec4 or a
 * chunk, output channel counts not divisible by 4, one and several voxel lanes and partials. Every
 * tile shape the tuner may pick is run on one case; the geometry is checked without a GPU.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  channelsPerThread, DirectDwProgram, directDwCandidates, directDwGeometry, directDwKey, directDwSharedBytes, directDwThreads, directDwValid, untunedDirectDw,
  type DirectDwTiling,
} from './conv3d_direct_dw';
import { candidatesFor, convTilingKey, directDwFor, forceTiling, gemmPlan, isDirectDw, untunedTiling } from './gemm_plan';
import { adapterPromise, compareWithCpu, convInfo, SKIP_NOTE, startWebgpu, type ConvCase } from './test_util';

const info = convInfo;

describe('direct dW geometry (no GPU)', () => {
  it('serves dW of stride-1 convs with at most 64 output channels (untuned: 16), nothing else', () => {
    const g = directDwGeometry(info([1, 9, 8, 7, 17], [3, 3, 3, 17, 16]));
    expect(g).toMatchObject({ input: [9, 8, 7], inC: 17, output: [9, 8, 7], outC: 16, pad: [1, 1, 1] });
    expect(directDwGeometry(info([1, 9, 8, 7, 3], [3, 2, 1, 3, 5], 'valid'))).toMatchObject({ output: [7, 7, 7], pad: [0, 0, 0] });
    expect(directDwGeometry(info([1, 9, 8, 7, 8], [3, 3, 3, 8, 65]))).toBeUndefined();
    // input channels per thread: as many as 16 vec4 accumulators allow
    expect([16, 17, 32, 33, 64].map((o) => channelsPerThread(directDwGeometry(info([1, 9, 8, 7, 8], [3, 3, 3, 8, o]))!))).toEqual([4, 2, 2, 1, 1]);
    expect(directDwGeometry(info([1, 9, 8, 7, 1], [3, 3, 3, 1, 16], 'same', 2))).toBeUndefined();
    // the plan carries it for dW only, and the wider convs keep the GEMM untuned
    const c = info([1, 9, 8, 7, 16], [3, 3, 3, 16, 10]);
    expect(gemmPlan('dw', c).directDw).toBeDefined();
    expect(gemmPlan('forward', c).directDw).toBeUndefined();
    expect(isDirectDw(untunedTiling(gemmPlan('dw', c), 16384))).toBe(true);
    // wider: a tuner candidate only
    const wide = gemmPlan('dw', info([1, 9, 8, 7, 16], [3, 3, 3, 16, 32]));
    expect(isDirectDw(untunedTiling(wide, 16384))).toBe(false);
    expect(candidatesFor(wide, 16384).some(isDirectDw)).toBe(true);
  });

  it('offers tilings within the thread and memory limits for the full-resolution convs, and the tuner sees them', () => {
    for (const [cin, cout] of [[17, 16], [16, 10]]) {
      const conv = info([1, 64, 128, 128, cin], [3, 3, 3, cin, cout]);
      const g = directDwGeometry(conv)!;
      for (const bytes of [16384, 32768, 49152]) {
        const cands = directDwCandidates(g, bytes);
        expect(cands.length).toBeGreaterThanOrEqual(2);
        for (const t of cands) {
          expect(directDwSharedBytes(t, g)).toBeLessThanOrEqual(bytes);
          expect(directDwThreads(t, g)).toBeLessThanOrEqual(256);
          // the chunks cover the channels
          expect(Math.ceil(cin / t.cc) * t.cc).toBeGreaterThanOrEqual(cin);
        }
      }
      const keys = candidatesFor(gemmPlan('dw', conv), 49152).map(convTilingKey);
      expect(keys.filter((k) => k.startsWith('directdw_')).length).toBe(directDwCandidates(g, 49152).length);
    }
  });

  it('splits the voxels into partial filters within the memory cap, each tile in exactly one slice', () => {
    const g = directDwGeometry(info([1, 178, 302, 225, 17], [3, 3, 3, 17, 16]))!;
    const t = untunedDirectDw(g, 49152)!;
    const p = new DirectDwProgram(g, t);
    const u = Object.fromEntries(p.uniforms.split(',').map((s) => s.split(':')[0].trim()).filter(Boolean).map((k, i) => [k, p.uniformValues()[i].data[0]]));
    expect(u.tilesPerSlice * (p.partials / t.vl)).toBeGreaterThanOrEqual(u.numTiles);
    expect((u.tilesPerSlice * (p.partials / t.vl - 1))).toBeLessThan(u.numTiles);
    expect(p.partials * 27 * 17 * 16 * 4).toBeLessThanOrEqual(64 * 2 ** 20);
    expect(u.groups).toBe((p.partials / t.vl) * u.chunks);
  });
});

type Case = ConvCase;

const CASES: Case[] = [
  { name: 'ragged tiles on every axis, 17 -> 10', x: [1, 5, 11, 37, 17], f: [3, 3, 3, 17, 10], pad: 'same' },
  { name: 'batch 2, 6 -> 7', x: [2, 6, 5, 9, 6], f: [3, 3, 3, 6, 7], pad: 'same' },
  { name: "'valid', non-cubic filter, 5 -> 3", x: [1, 7, 6, 10, 5], f: [3, 2, 1, 5, 3], pad: 'valid' },
  { name: '1x1x1, 13 -> 16', x: [1, 4, 5, 6, 13], f: [1, 1, 1, 13, 16], pad: 'same' },
  { name: 'two channels per thread, 9 -> 22', x: [1, 5, 6, 11, 9], f: [3, 3, 3, 9, 22], pad: 'same' },
  { name: 'one channel per thread, 7 -> 41', x: [1, 4, 7, 10, 7], f: [3, 3, 3, 7, 41], pad: 'same' },
];

const adapter = await adapterPromise;
if (!adapter) console.warn(`webgpu direct dW tests ${SKIP_NOTE}`);

/** Conv3DBackpropFilterV2 of a case on whatever tiling is forced: relative error against cpu. */
async function errorOf(c: Case, seed: number): Promise<number> {
  const y = info(c.x, c.f, c.pad).outShape;
  const r = await compareWithCpu(
    [{ shape: c.x, seed }, { shape: y, seed: seed + 1 }],
    (x, dy) => tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy }, { strides: [1, 1, 1], pad: c.pad, filterShape: c.f }) as tf.Tensor,
  );
  expect(r.shapes).toEqual(r.cpuShapes);
  await tf.setBackend('webgpu');
  return r.errors[0];
}

describe.skipIf(!adapter)(`webgpu direct dW vs cpu${adapter ? '' : ` (${SKIP_NOTE})`}`, () => {
  let bytes = 16384;
  beforeAll(async () => {
    bytes = await startWebgpu();
  });
  afterEach(() => forceTiling(undefined));

  CASES.forEach((c, ci) => {
    it(`agrees with one and two voxel lanes, one channel group per chunk and as many as fit: ${c.name}`, async () => {
      const conv = info(c.x, c.f, c.pad);
      const g = directDwGeometry(conv)!;
      const cpt = channelsPerThread(g);
      const chunks = new Set([cpt, ...directDwCandidates(g, bytes).map((t) => t.cc)]);
      let ran = 0;
      for (const cc of chunks) {
        for (const vl of [1, 2]) {
          const t: DirectDwTiling = { algo: 'direct-dw', td: 2, th: 3, tw: 8, cc, vl };
          if (!directDwValid(t, g, bytes)) continue;
          forceTiling(t);
          // the forced tiling really routes the kernel to the direct program
          expect(directDwFor(gemmPlan('dw', conv), bytes)?.tiling).toEqual(t);
          const e = await errorOf(c, 60 + 10 * ci);
          expect({ cc, vl, error: e }).toEqual({ cc, vl, error: expect.toSatisfy((v: number) => v < 2e-5) });
          ran++;
        }
      }
      // both lane counts, at least
      expect(ran).toBeGreaterThanOrEqual(2);
    });
  });

  it('every tile shape the tuner offers agrees', async () => {
    const c = CASES[0];
    for (const t of directDwCandidates(directDwGeometry(info(c.x, c.f, c.pad))!, bytes)) {
      forceTiling(t);
      const e = await errorOf(c, 9);
      expect({ tiling: directDwKey(t), error: e }).toEqual({ tiling: directDwKey(t), error: expect.toSatisfy((v: number) => v < 2e-5) });
    }
  });
});
