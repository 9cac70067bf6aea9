import { describe, expect, it } from 'vitest';
import { collapseBroadcast } from './binary_collapsed';
import { reductionRuns } from './reduce';
import { variablesPerDispatch } from './inplace_updates';
import { filterSlices } from './conv3d_backprop_filter';
import { spreadWorkgroups } from './program';
import { defaultTiling, gemmMode, tilingCandidates, tilingThreads, tilingValid } from './conv3d_gemm';
import { PASS_PREFERENCE } from './gemm_plan';

describe('collapseBroadcast', () => {
  it('turns a rank-5 bias add into a rank-2 one', () => {
    expect(collapseBroadcast([1, 4, 8, 8, 32], [32])).toEqual({ a: [256, 32], b: [32], out: [256, 32] });
  });
  it('merges runs that broadcast the same way and keeps alternation', () => {
    expect(collapseBroadcast([2, 3, 4, 5, 6], [2, 1, 1, 5, 6])).toEqual({ a: [2, 12, 30], b: [2, 1, 30], out: [2, 12, 30] });
    expect(collapseBroadcast([1, 4, 8, 8, 1], [1, 1, 1, 1, 7])).toEqual({ a: [256, 1], b: [7], out: [256, 7] });
  });
  it('handles equal shapes and scalars', () => {
    expect(collapseBroadcast([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])).toEqual({ a: [120], b: [120], out: [120] });
    expect(collapseBroadcast([1, 1, 1, 1, 1], [])).toEqual({ a: [1], b: [1], out: [1] });
  });
});

describe('reductionRuns', () => {
  it('groups reduced and kept dimensions, dropping ones', () => {
    expect(reductionRuns([1, 4, 8, 8, 32], [0, 1, 2, 3])).toEqual([{ size: 256, reduced: true }, { size: 32, reduced: false }]);
    expect(reductionRuns([3, 5, 7], [0, 2])).toEqual([
      { size: 3, reduced: true }, { size: 5, reduced: false }, { size: 7, reduced: true },
    ]);
    expect(reductionRuns([2, 1, 3], [1])).toEqual([{ size: 6, reduced: false }]);
  });
});

describe('dispatch and tiling arithmetic', () => {
  it('spreads workgroups within 65535 per dimension', () => {
    expect(spreadWorkgroups(100)).toEqual([100, 1]);
    const [x, y] = spreadWorkgroups(190_000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(190_000);
    expect(() => spreadWorkgroups(65535 * 65535 + 1)).toThrow(/exceeds WebGPU limits/);
  });
  it('picks K orders, tilings that cover the columns, and split-K slices', () => {
    expect([1, 3, 16, 17, 40, 104].map(gemmMode)).toEqual(['flat', 'flat', 'tap4', 'flat', 'tap4', 'tap4']);
    expect(gemmMode(15)).toBe('tap');
    for (const n of [1, 10, 16, 17, 32, 40, 48, 56, 70, 104]) {
      for (const mode of ['flat', 'tap4', 'step'] as const) {
        const cands = tilingCandidates(n, mode, 48);
        expect(cands.length).toBeGreaterThan(3);
        for (const t of cands) {
          expect(tilingValid(t, mode)).toBe(true);
          expect(tilingThreads(t)).toBeLessThanOrEqual(256);
          // one column tile covers N up to 64; wider N takes 8 columns per thread over several tiles
          expect(t.tnt * t.rn >= Math.min(n, 64) || t.rn === 8).toBe(true);
        }
        // the default is a candidate, with its B slab packed where that fits the workgroup memory
        const { bv, ...listed } = defaultTiling(n, mode, 48);
        expect(cands).toContainEqual(listed);
        expect(bv).toBe(tilingValid({ ...listed, bv: true }, mode) || undefined);
      }
    }
    // untuned defaults follow each pass's measured preference where the loaders allow it
    expect(defaultTiling(48, 'tap4', 48, PASS_PREFERENCE.forward)).toEqual({ tm: 128, rm: 8, tk: 8, tnt: 8, rn: 6, bv: true });
    expect(defaultTiling(40, 'tap4', 48, PASS_PREFERENCE.dx)).toEqual({ tm: 128, rm: 8, tk: 16, tnt: 8, rn: 5, bv: true });
    expect(defaultTiling(56, 'step', 0, PASS_PREFERENCE.dw)).toEqual({ tm: 64, rm: 8, tk: 16, tnt: 16, rn: 4, bv: true });
    // 36 channels cannot take 16-deep slabs: the dx preference falls back to 8
    expect(defaultTiling(32, 'tap4', 36, PASS_PREFERENCE.dx).tk).toBe(8);
    // tap-major slabs must fit the channels: 36 channels take 8-deep slabs (16 would pad to 48)
    expect(new Set(tilingCandidates(32, 'tap4', 36).map((t) => t.tk))).toEqual(new Set([8]));
    expect(filterSlices(27 * 48, 48, 1000)).toBe(1);
    // 1.52M voxels would allow 370 slices of 4096, but 64 MiB of 27*48*48 partials caps it at 269
    expect(filterSlices(27 * 48, 48, 89 * 151 * 113)).toBe(269);
    expect(filterSlices(27 * 8, 8, 89 * 151 * 113)).toBe(370);
    // 64 MiB of partial filters at most: 27*56*56 floats per slice
    expect(filterSlices(27 * 56, 56, 12_000_000)).toBe(Math.floor((64 << 20) / (4 * 27 * 56 * 56)));
  });
});

describe('variablesPerDispatch (in-place updates)', () => {
  const device = (buffers: number) => ({ limits: { maxStorageBuffersPerShaderStage: buffers } }) as unknown as GPUDevice;
  it('fills the storage buffers the device has, at least one variable and at most 16', () => {
    expect(variablesPerDispatch(device(8), 4)).toBe(2);
    expect(variablesPerDispatch(device(16), 4)).toBe(4);
    expect(variablesPerDispatch(device(16), 3)).toBe(5);
    expect(variablesPerDispatch(device(3), 4)).toBe(1);
    expect(variablesPerDispatch(device(1_000_000), 4)).toBe(16);
  });
});
