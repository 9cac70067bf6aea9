import { describe, expect, it } from 'vitest';
import type { Mat3, Vec3 } from '@anatomynet/data';
import { traceSlice } from './trace';
import { fromInPlane, sliceFrame, type SliceGeometry } from './geometry';
import { rasteriseRoi, type RtContour } from './rasterise';
import { countOnes, grid, mulMat, rotation } from './test-helpers';
import { mulberry32 } from '@anatomynet/random';

/** Traces every slice of a mask to LPS contours, as the writer does. */
function contoursOf(mask: Uint8Array, g: SliceGeometry): RtContour[] {
  const f = sliceFrame(g);
  const out: RtContour[] = [];
  for (let k = 0; k < f.nz; k++)
    for (const loop of traceSlice(mask, f.nx, f.ny, k * f.nx * f.ny, 'nonzero')) out.push({ geometricType: 'CLOSED_PLANAR', points: fromInPlane(f, loop, k) });
  return out;
}

function expectRoundTrip(mask: Uint8Array, g: SliceGeometry): RtContour[] {
  const contours = contoursOf(mask, g);
  const back = rasteriseRoi(contours, g);
  expect(back.stats.rasterised).toBe(contours.length);
  expect(countOnes(back.mask)).toBe(countOnes(mask));
  expect(Array.from(back.mask)).toEqual(Array.from(mask));
  return contours;
}

/** Smoothed random blobs with holes and islands: threshold of a sum of random Gaussians. */
function blobs(shape: Vec3, seed: number, count: number, threshold: number): Uint8Array {
  const r = mulberry32(seed);
  const [nx, ny, nz] = shape;
  const centres = Array.from({ length: count }, () => [r() * nx, r() * ny, r() * nz, 1 + r() * 4, r() < 0.3 ? -1 : 1]);
  const m = new Uint8Array(nx * ny * nz);
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        let s = 0;
        for (const [cx, cy, cz, w, sign] of centres) s += sign * Math.exp(-((i - cx) ** 2 + (j - cy) ** 2 + (k - cz) ** 2) / (2 * w * w));
        m[i + nx * (j + ny * k)] = s > threshold ? 1 : 0;
      }
  return m;
}

describe('traceSlice', () => {
  it('traces one voxel as a 4-vertex diamond through the edge midpoints', () => {
    const m = new Uint8Array(9);
    m[4] = 1; // (1, 1) of a 3 x 3 slice
    const loops = traceSlice(m, 3, 3, 0, 1);
    expect(loops).toHaveLength(1);
    const pts = Array.from(loops[0]);
    expect(pts.length).toBe(8);
    const asPairs = new Set([0, 2, 4, 6].map((p) => `${pts[p]},${pts[p + 1]}`));
    expect(asPairs).toEqual(new Set(['1.5,1', '1,1.5', '0.5,1', '1,0.5']));
  });

  it('gives a ring two loops of opposite orientation and drops collinear vertices', () => {
    const nx = 7, ny = 7, m = new Uint8Array(49);
    for (let j = 1; j <= 5; j++) for (let i = 1; i <= 5; i++) m[i + nx * j] = i === 3 && j === 3 ? 0 : 1;
    const loops = traceSlice(m, nx, ny, 0, 1);
    expect(loops).toHaveLength(2);
    const area = (l: Float64Array) => {
      let a = 0;
      for (let p = 0; p < l.length; p += 2) {
        const q = (p + 2) % l.length;
        a += l[p] * l[q + 1] - l[q] * l[p + 1];
      }
      return a / 2;
    };
    const areas = loops.map(area).sort((a, b) => a - b);
    // Index units. Outer: the square 0.5..5.5 (area 25) with its corners cut by triangles of legs 0.5
    // (4 x 0.125): 24.5. Hole: a diamond of area 0.5 around the empty centre, drawn the other way round.
    expect(areas[0]).toBeCloseTo(-0.5, 12);
    expect(areas[1]).toBeCloseTo(24.5, 12);
    expect(loops.map((l) => l.length / 2).sort((a, b) => a - b)).toEqual([4, 8]);
  });

  it('traces only the requested label of a labelmap', () => {
    const m = Uint8Array.from([0, 2, 2, 0, 3, 3, 0, 2, 0]);
    expect(traceSlice(m, 3, 3, 0, 3)).toHaveLength(1);
    expect(traceSlice(m, 3, 3, 0, 2)).toHaveLength(2); // (1,0)-(2,0) and (1,2) are not 4-connected
    expect(traceSlice(m, 3, 3, 0, 'nonzero')).toHaveLength(1);
    expect(traceSlice(m, 3, 3, 0, 7)).toHaveLength(0);
  });
});

describe('mask -> contours -> mask is exact', () => {
  const identity: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

  it('single voxels, diagonal lines (saddles), a checkerboard, one-voxel-thin lines, full slices', () => {
    const g = grid([12, 10, 5], [0.9, 1.1, 2.5], [-30, 12, 7]);
    const [nx, ny] = [12, 10];
    const m = new Uint8Array(12 * 10 * 5);
    const set = (i: number, j: number, k: number) => (m[i + nx * (j + ny * k)] = 1);
    set(0, 0, 0); set(11, 9, 0); set(5, 5, 0); // corners of the grid and a lone voxel
    for (let t = 0; t < 9; t++) set(t + 1, t, 1); // diagonal line: only corner contacts
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) if ((i + j) % 2 === 0) set(i, j, 2);
    for (let i = 0; i < nx; i++) set(i, 4, 3); // thin row
    for (let j = 0; j < ny; j++) set(7, j, 3); // thin column crossing it
    m.fill(1, 4 * nx * ny); // a full slice touching every border
    const contours = expectRoundTrip(m, g);
    expect(contours.every((c) => c.points.length >= 9)).toBe(true);
  });

  it('random blobs with holes and islands, on HFS, FFS, HFP and an oblique grid with uneven slices', () => {
    const shape: Vec3 = [40, 36, 8];
    const mask = blobs(shape, 7, 14, 0.35);
    expect(countOnes(mask)).toBeGreaterThan(500);
    const positions = [0, 2, 4, 5, 6, 9, 12, 12.7];
    const R = rotation([0.3, -1, 2], 0.7);
    const geometries: [string, SliceGeometry][] = [
      ['HFS', grid(shape, [0.98, 0.98, 2], [-120.5, -80.25, -300])],
      ['FFS', grid(shape, [0.7, 0.8, 3], [50, -20, 10], [-1, 0, 0, 0, 1, 0, 0, 0, -1])],
      ['HFP', grid(shape, [1.2, 1.2, 1.5], [50, 60, 10], [-1, 0, 0, 0, -1, 0, 0, 0, 1])],
      ['oblique, uneven', grid(shape, [0.6, 0.75, 2], [12.3, -45.6, 78.9], mulMat(R, identity), positions)],
    ];
    for (const [, g] of geometries) expectRoundTrip(mask, g);
  });
});
