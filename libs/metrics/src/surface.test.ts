import { describe, expect, it } from 'vitest';
import { evaluateLabels } from './evaluate.js';
import { dice } from './overlap.js';
import { surfaceDistances } from './surface.js';
import { hausdorff, meanSurfaceDistance, surfaceDiceAtTolerance } from './surface-metrics.js';
import { maskWhere } from './test-helpers.js';
import { mulberry32 } from '@anatomynet/random';
import type { Shape3, SpacingMm } from './types.js';

const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);

describe('surfaceDistances', () => {
  it('voxelFaces: two voxels 2 mm apart are 2 mm apart in every metric', () => {
    const shape: Shape3 = [3, 1, 1];
    const d = surfaceDistances([1, 0, 0], [0, 1, 0], shape, [2, 1, 1], { method: 'voxelFaces' });
    expect(Array.from(d.predToGtMm)).toEqual([2]);
    expect(Array.from(d.gtToPredMm)).toEqual([2]);
    expect(hausdorff(d)).toBe(2);
    expect(hausdorff(d, 100)).toBe(2);
    expect(meanSurfaceDistance(d)).toEqual({ predToGtMm: 2, gtToPredMm: 2, symmetricMm: 2 });
    expect(surfaceDiceAtTolerance(d, 1.9)).toBe(0);
    expect(surfaceDiceAtTolerance(d, 2)).toBe(1);
    // A lone voxel exposes all six faces: 2 * (1*1 + 2*1 + 2*1) mm².
    expect(Array.from(d.predAreasMm2)).toEqual([10]);
  });

  it('surfels: two voxels 2 mm apart, measured between their corners', () => {
    // Voxel centres at x = 0 and 2 mm; their corners at x = ±0.5 and 1.5, 2.5 mm. Half of each voxel's
    // eight equal-area corners are 1 mm from the other's, half 2 mm.
    const d = surfaceDistances([1, 0, 0], [0, 0, 1], [3, 1, 1], [1, 1.5, 2]);
    expect(Array.from(d.predToGtMm)).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    expect(Array.from(d.gtToPredMm)).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    expect(new Set(d.predAreasMm2).size).toBe(1);
    expect(hausdorff(d, 100)).toBe(2);
    expect(hausdorff(d, 50)).toBe(1);
    expect(meanSurfaceDistance(d).symmetricMm).toBeCloseTo(1.5, 12);
    expect(surfaceDiceAtTolerance(d, 1)).toBeCloseTo(0.5, 12);
  });

  it('voxelFaces: weights a box of voxels by its exact surface area on anisotropic spacing', () => {
    const shape: Shape3 = [8, 8, 8];
    const s: SpacingMm = [0.7, 1.1, 2.5];
    const box = maskWhere(shape, (i, j, k) => i >= 2 && i < 6 && j >= 1 && j < 4 && k >= 3 && k < 8);
    const d = surfaceDistances(box, box, shape, s, { method: 'voxelFaces' });
    const [a, b, c] = [4 * 0.7, 3 * 1.1, 5 * 2.5];
    expect(sum(d.predAreasMm2)).toBeCloseTo(2 * (a * b + a * c + b * c), 9);
    // Every voxel of a 4x3x5 box except the 2x1x3 interior lies on its boundary.
    expect(d.predToGtMm.length).toBe(4 * 3 * 5 - 2 * 1 * 3);
  });

  it('identical masks: HD 0, mean distance 0, surface Dice 1', () => {
    const shape: Shape3 = [12, 10, 6];
    const m = maskWhere(shape, (i, j, k) => (i - 6) ** 2 + (j - 5) ** 2 + 4 * (k - 3) ** 2 < 16);
    for (const method of ['surfels', 'voxelFaces'] as const) {
      const d = surfaceDistances(m, m, shape, [0.9, 0.9, 3], { method });
      expect(hausdorff(d)).toBe(0);
      expect(meanSurfaceDistance(d).symmetricMm).toBe(0);
      expect(surfaceDiceAtTolerance(d, 0)).toBe(1);
    }
  });

  it('offset spheres on anisotropic spacing: Hausdorff ≈ offset', () => {
    const shape: Shape3 = [48, 40, 24];
    const s: SpacingMm = [0.8, 1.0, 2.0];
    const radiusMm = 8;
    const sphere = (cx: number, cy: number, cz: number) =>
      maskWhere(shape, (i, j, k) => (i * s[0] - cx) ** 2 + (j * s[1] - cy) ** 2 + (k * s[2] - cz) ** 2 <= radiusMm ** 2);
    const gt = sphere(16, 20, 24);
    for (const [dx, dz, method] of [[6.4, 0, 'surfels'], [0, 6, 'surfels'], [4.8, 4, 'surfels'], [6.4, 0, 'voxelFaces'], [4.8, 4, 'voxelFaces']] as const) {
      const pred = sphere(16 + dx, 20, 24 + dz);
      const offset = Math.hypot(dx, dz);
      const d = surfaceDistances(pred, gt, shape, s, { method });
      const hd = hausdorff(d, 100);
      expect(Math.abs(hd - offset)).toBeLessThan(0.5);
      const hd95 = hausdorff(d);
      expect(hd95).toBeLessThanOrEqual(hd);
      expect(hd95).toBeGreaterThan(0.7 * offset);
    }
  });

  it('voxelFaces: surface Dice of separated pieces is the matched share of the area', () => {
    // Both masks hold cube A (4 voxels a side); pred adds cube B (2 a side), gt the same cube shifted
    // 5 voxels (5 mm) along i. Area(A) : area(B) = 16 : 4 on any spacing.
    const shape: Shape3 = [30, 6, 6];
    const s: SpacingMm = [1, 1.5, 2];
    const cubeA = (i: number, j: number, k: number) => i < 4 && j < 4 && k < 4;
    const cubeB = (x0: number) => (i: number, j: number, k: number) => i >= x0 && i < x0 + 2 && j >= 1 && j < 3 && k >= 1 && k < 3;
    const pred = maskWhere(shape, (i, j, k) => cubeA(i, j, k) || cubeB(20)(i, j, k));
    const gt = maskWhere(shape, (i, j, k) => cubeA(i, j, k) || cubeB(25)(i, j, k));
    const d = surfaceDistances(pred, gt, shape, s, { method: 'voxelFaces' });
    // B and its shifted copy are 4 mm (near faces) or 5 mm (far faces) apart.
    expect(surfaceDiceAtTolerance(d, 2)).toBeCloseTo(16 / 20, 12);
    expect(surfaceDiceAtTolerance(d, 4)).toBeCloseTo(18 / 20, 12);
    expect(surfaceDiceAtTolerance(d, 5)).toBe(1);
    expect(hausdorff(d, 100)).toBe(5);
  });

  it('empty masks: NaN when both are empty, Infinity / 0 when one is', () => {
    const shape: Shape3 = [4, 4, 1];
    const empty = new Uint8Array(16);
    const one = maskWhere(shape, (i, j) => i === 1 && j === 2);
    const both = surfaceDistances(empty, empty, shape, [1, 1, 1]);
    expect(hausdorff(both)).toBeNaN();
    expect(meanSurfaceDistance(both).symmetricMm).toBeNaN();
    expect(surfaceDiceAtTolerance(both, 1)).toBeNaN();
    for (const d of [surfaceDistances(empty, one, shape, [1, 1, 1]), surfaceDistances(one, empty, shape, [1, 1, 1], { method: 'voxelFaces' })]) {
      expect(hausdorff(d)).toBe(Infinity);
      expect(meanSurfaceDistance(d).symmetricMm).toBe(Infinity);
      expect(surfaceDiceAtTolerance(d, 10)).toBe(0);
    }
    expect(Array.from(surfaceDistances(empty, one, shape, [1, 1, 1], { method: 'voxelFaces' }).gtToPredMm)).toEqual([Infinity]);
    expect(Array.from(surfaceDistances(empty, one, shape, [1, 1, 1]).gtToPredMm)).toEqual(new Array(8).fill(Infinity));
  });

  it('cropping to the bounding box changes nothing', () => {
    const rnd = mulberry32(3);
    const shape: Shape3 = [20, 16, 9];
    const blob = (cx: number) => maskWhere(shape, (i, j, k) => (i - cx) ** 2 + (j - 8) ** 2 + (k - 4) ** 2 < 12 + 8 * rnd());
    const pred = blob(8), gt = blob(11);
    const full = { min: [0, 0, 0] as [number, number, number], max: [19, 15, 8] as [number, number, number] };
    for (const method of ['surfels', 'voxelFaces'] as const) {
      expect(surfaceDistances(pred, gt, shape, [1, 0.5, 2], { method })).toEqual(surfaceDistances(pred, gt, shape, [1, 0.5, 2], { box: full, method }));
    }
  });

  it('rejects a shape that does not match the masks', () => {
    expect(() => surfaceDistances(new Uint8Array(8), new Uint8Array(9), [2, 2, 2], [1, 1, 1])).toThrow(/gt: 9 voxels given/);
  });
});

describe('evaluateLabels', () => {
  it('agrees with the binary functions for each label of a label map', () => {
    const shape: Shape3 = [24, 20, 10];
    const s: SpacingMm = [0.9, 0.9, 2.5];
    const gt = new Uint8Array(shape[0] * shape[1] * shape[2]);
    const pred = new Uint8Array(gt.length);
    const put = (m: Uint8Array, label: number, inside: (i: number, j: number, k: number) => boolean) =>
      maskWhere(shape, inside).forEach((v, o) => v && (m[o] = label));
    put(gt, 1, (i, j, k) => (i - 6) ** 2 + (j - 6) ** 2 + (k - 4) ** 2 < 16);
    put(pred, 1, (i, j, k) => (i - 7) ** 2 + (j - 6) ** 2 + (k - 4) ** 2 < 14);
    put(gt, 2, (i, j, k) => i > 14 && i < 20 && j > 10 && k > 2 && k < 7);
    put(pred, 2, (i, j, k) => i > 15 && i < 20 && j > 9 && k > 2 && k < 8);
    const rows = evaluateLabels(pred, gt, shape, s, 4, { toleranceMm: 1.5 });
    expect(rows.map((r) => r.label)).toEqual([1, 2, 3]);
    for (const label of [1, 2]) {
      const p = pred.map((v) => (v === label ? 1 : 0)), g = gt.map((v) => (v === label ? 1 : 0));
      const d = surfaceDistances(p, g, shape, s);
      const r = rows[label - 1]!;
      expect(r.dice).toBeCloseTo(dice(p, g), 12);
      expect(r.hd95Mm).toBe(hausdorff(d));
      expect(r.hdMaxMm).toBe(hausdorff(d, 100));
      expect(r.surfaceDice).toBe(surfaceDiceAtTolerance(d, 1.5));
      expect(r.meanSurfaceDistanceMm).toBe(meanSurfaceDistance(d).symmetricMm);
    }
    // Label 3 is in neither map: every metric NaN, counts zero.
    expect(rows[2]).toMatchObject({ tp: 0, fp: 0, fn: 0 });
    for (const k of ['dice', 'hd95Mm', 'hdMaxMm', 'meanSurfaceDistanceMm', 'surfaceDice'] as const) expect(rows[2]![k]).toBeNaN();
  });
});
