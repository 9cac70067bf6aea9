/**
 * CT stacks whose slice steps vary, put on a uniform grid: checked against CT numbers that are linear in
 * the patient position (exact), and against dcm2niix's equalized volume (`_Eq_`) of the same files.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCtSeries, writeCtSeries } from './ct-series';
import { uidFromSeed } from './dicom';
import { evenSliceGrid, evenSlices, hasUnevenSlices, pickSlices } from './even-slices';
import { errorOf, python, rotation, run, tempDir } from './test-helpers';
import { indexToPoint, type Mat3, type Vec3 } from './volume';

const tmp = tempDir('even');
afterAll(tmp.cleanup);

/** Slice positions 2 mm apart, then 3 mm. */
const KEPT = [0, 2, 4, 6, 8, 10, 13, 16, 19, 22];
/** Slices of a 0.5 mm stack kept to leave steps of 2 mm, then 2.5 mm (within the reader's 1.5x the median). */
const SERIES_KEPT = [0, 4, 8, 12, 16, 20, 25, 30, 35, 40, 45];

describe('evenSliceGrid', () => {
  it('takes the smallest step from the first slice to the last plane at or before the last slice', () => {
    const g = evenSliceGrid(KEPT.map((z) => z - 50));
    expect(g.step).toBe(2);
    expect(g.planes).toBe(12); // 0, 2, ..., 22
    expect(Array.from(g.below)).toEqual([0, 1, 2, 3, 4, 5, 5, 6, 7, 7, 8, 8]);
    expect(Array.from(g.above)).toEqual([1, 2, 3, 4, 5, 6, 6, 7, 8, 8, 9, 9]);
    expect(Array.from(g.weight).map((w) => Math.round(w * 1000) / 1000)).toEqual([0, 0, 0, 0, 0, 0, 0.667, 0.333, 0, 0.667, 0.333, 1]);
    // plane 10 mm is slice 5; 12 mm lies 1 from 13 (slice 6); 14 mm 1 from 13; 16 mm is slice 7
    expect(Array.from(g.nearestSlice)).toEqual([0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 8, 9]);
    // 13 mm -> 6.5 planes, rounded up; 19 -> 9.5 -> 10; 22 -> 11
    expect(Array.from(g.nearestPlane)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 10, 11]);
  });
  it('ends before a last slice that falls between planes, and forgives rounded positions', () => {
    expect(evenSliceGrid([0, 2, 5]).planes).toBe(3); // 0, 2, 4
    expect(evenSliceGrid([0, 2, 4.0004, 7]).planes).toBe(4); // 6 <= 7
    expect(evenSliceGrid([0.1, 0.4, 0.7]).planes).toBe(3); // 0.6 / 0.3 is 1.9999999999999998 in floating point
  });
  it('refuses positions that do not increase', () => {
    expect(() => evenSliceGrid([0])).toThrow(RangeError);
    expect(() => evenSliceGrid([0, 2, 2])).toThrow(/increase/);
  });
});

describe('pickSlices', () => {
  it('copies whole slices by index, in the array type given', () => {
    const data = Uint8Array.from([1, 1, 2, 2, 3, 3]);
    expect(Array.from(pickSlices(data, 2, [0, 0, 2, 1]))).toEqual([1, 1, 1, 1, 3, 3, 2, 2]);
    expect(pickSlices(Int16Array.from([5, 6]), 1, [1])).toBeInstanceOf(Int16Array);
  });
});

describe('evenSlices on a series whose slice steps vary', () => {
  const uid = (s: string) => uidFromSeed('1.2.826.0.1.3680043.10.1234', 'even', s);

  /** A 0.5 mm stack of `hu(point)` written as a series, then all but the `kept` slices deleted. */
  function unevenSeries(name: string, shape: Vec3, direction: Mat3, hu: (p: Vec3, at: number) => number, kept = SERIES_KEPT): string[] {
    const [nx, ny, nz] = shape;
    const geometry = { spacing: [0.8, 0.9, 0.5] as Vec3, origin: [-10, -12, 40] as Vec3, direction };
    const data = new Int16Array(nx * ny * nz);
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const at = i + nx * (j + ny * k);
      data[at] = hu(indexToPoint(geometry, [i, j, k]), at);
    }
    const dir = join(tmp.dir, name);
    const { files } = writeCtSeries({ data, shape, ...geometry }, { dir, seriesInstanceUID: uid(name), studyInstanceUID: uid('study'), frameOfReferenceUID: uid('for'), patientId: 'E', patientName: 'Even^E' });
    files.forEach((f, k) => kept.includes(k) || rmSync(f));
    return files.filter((_, k) => kept.includes(k));
  }

  it('reads the slices as acquired, then interpolates CT numbers linear in the position exactly', () => {
    const shape: Vec3 = [6, 5, 46];
    const hu = (p: Vec3) => Math.round(2 * p[0] + 3 * p[1] + 10 * p[2]);
    const s = readCtSeries(unevenSeries('linear', shape, [1, 0, 0, 0, 1, 0, 0, 0, 1], hu));
    expect(s.volume.shape).toEqual([6, 5, 11]);
    expect(hasUnevenSlices(s.volume)).toBe(true);
    expect(s.warnings).toEqual([]);
    const even = evenSlices(s.volume, 'linear')!;
    const v = even.volume;
    expect(v.shape).toEqual([6, 5, 12]);
    expect(v.spacing).toEqual([0.8, 0.9, 2]);
    expect(v.origin).toEqual(s.volume.origin);
    expect(v.sliceSpacingUniform).toBe(true);
    expect(v.slicePositionsMm!.map((z) => z - v.slicePositionsMm![0])).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22]);
    expect(hasUnevenSlices(v)).toBe(false);
    for (let k = 0; k < 12; k++) for (let j = 0; j < 5; j++) for (let i = 0; i < 6; i++) {
      // x and y are 0.8 and 0.9 mm steps: their terms are not whole, but the same on every plane
      const expected = Math.round(2 * (-10 + 0.8 * i) + 3 * (-12 + 0.9 * j)) + 10 * (40 + 2 * k);
      expect(v.data[i + 6 * (j + 5 * k)], `voxel ${i},${j},${k}`).toBe(expected);
    }
    expect(even.note).toBe('slice steps vary from 2 to 2.5 mm: resampled onto a uniform 2 mm grid (12 planes for 11 slices, CT numbers linear between neighbouring slices), as dcm2niix equalizes');
    expect(evenSlices(v)).toBeUndefined();
  });

  it('a protocol whose increment doubles (2.5 mm, then 5) is read and resampled; a slice missing from either run is refused', () => {
    const shape: Vec3 = [4, 3, 81];
    const hu = (p: Vec3) => Math.round(10 * p[2]);
    const protocol = [0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80]; // 0.5 mm indices: 2.5 mm steps, then 5 mm
    const s = readCtSeries(unevenSeries('protocol', shape, [1, 0, 0, 0, 1, 0, 0, 0, 1], hu, protocol));
    expect(s.volume.shape[2]).toBe(12);
    const even = evenSlices(s.volume)!;
    expect(even.volume.shape).toEqual([4, 3, 17]); // 40 mm at 2.5 mm
    for (let k = 0; k < 17; k++) expect(even.volume.data[12 * k], `plane ${k}`).toBe(10 * (40 + 2.5 * k));
    expect(even.note).toMatch(/^slice steps vary from 2\.5 to 5 mm: resampled onto a uniform 2\.5 mm grid \(17 planes for 12 slices/);
    for (const [name, kept, gap] of [
      ['gap-in-thin', [0, 5, 15, 20, 25, 30, 40, 50, 60, 70, 80], 'gap of 5 mm between slices at 42.5 and 47.5 mm (median step 5 mm, neighbouring steps 2.5 and 2.5 mm)'],
      ['gap-in-thick', [0, 5, 10, 15, 20, 25, 30, 40, 60, 70, 80], 'gap of 10 mm between slices at 60 and 70 mm (median step 2.5 mm, neighbouring steps 5 and 5 mm)'],
      ['hole', [0, 5, 10, 15, 20, 60, 75, 80], 'gap of 20 mm between slices at 50 and 70 mm (median step 2.5 mm, neighbouring steps 2.5 and 7.5 mm)'],
    ] as const) {
      const e = errorOf(() => readCtSeries(unevenSeries(name, shape, [1, 0, 0, 0, 1, 0, 0, 0, 1], hu, [...kept])));
      expect([e.code, e.reason], name).toEqual(['MISSING_SLICE', `${gap}: slice(s) missing; export the series again with all its slices`]);
    }
  });

  it("agrees with dcm2niix's equalized volume of the same oblique series, voxel for voxel", () => {
    const shape: Vec3 = [12, 10, 46];
    // seeded noise: linear interpolation has to agree, not just a linear ramp
    let seed = 11;
    const noise = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 2001) - 1000;
    const files = unevenSeries('oblique', shape, rotation([0.2, 1, 0.1], 17), () => noise());
    const s = readCtSeries(files);
    const v = evenSlices(s.volume)!.volume;
    const out = join(tmp.dir, 'dcm2niix');
    const r = run('dcm2niix', ['-o', tmp.dir, '-f', 'dcm2niix', '-z', 'n', join(tmp.dir, 'oblique')]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/Interslice distance varies/);
    expect(readdirSync(tmp.dir)).toContain('dcm2niix_Eq_1.nii');
    const their = JSON.parse(python(
      `import json, sys, nibabel as nib, numpy as np
img = nib.load(sys.argv[1])
a = np.asarray(img.dataobj).astype(float)
print(json.dumps({"shape": list(a.shape), "affine": img.affine.tolist(), "data": a.ravel(order="F").tolist()}))`,
      [`${out}_Eq_1.nii`],
    )) as { shape: number[]; affine: number[][]; data: number[] };
    // our voxel (i, j, k) -> LPS -> RAS -> their index, by their affine's inverse
    const inv = invert4(their.affine);
    let compared = 0, worst = 0;
    for (let k = 0; k < v.shape[2]; k++) for (let j = 0; j < v.shape[1]; j++) for (let i = 0; i < v.shape[0]; i++) {
      const p = indexToPoint(v, [i, j, k]);
      const ras = [-p[0], -p[1], p[2], 1];
      const idx = [0, 1, 2].map((row) => inv[row].reduce((sum, x, c) => sum + x * ras[c], 0));
      const whole = idx.map(Math.round);
      expect(Math.max(...idx.map((x, a) => Math.abs(x - whole[a])))).toBeLessThan(1e-3);
      if (whole.some((x, a) => x < 0 || x >= their.shape[a])) continue;
      const theirs = their.data[whole[0] + their.shape[0] * (whole[1] + their.shape[1] * whole[2])];
      worst = Math.max(worst, Math.abs(theirs - v.data[i + v.shape[0] * (j + v.shape[1] * k)]));
      compared++;
    }
    // dcm2niix's equalized grid is ours (2 mm from the first slice) but stops at 20 mm where ours goes on to 22
    expect(their.shape).toEqual([12, 10, 11]);
    expect(compared).toBe(12 * 10 * 11);
    expect(worst).toBe(0);
  });
});

/** Inverse of a 4x4 affine whose last row is 0 0 0 1. */
function invert4(m: number[][]): number[][] {
  const [a, b, c] = [m[0], m[1], m[2]];
  const det = a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
  const r = [
    [(b[1] * c[2] - b[2] * c[1]) / det, (a[2] * c[1] - a[1] * c[2]) / det, (a[1] * b[2] - a[2] * b[1]) / det],
    [(b[2] * c[0] - b[0] * c[2]) / det, (a[0] * c[2] - a[2] * c[0]) / det, (a[2] * b[0] - a[0] * b[2]) / det],
    [(b[0] * c[1] - b[1] * c[0]) / det, (a[1] * c[0] - a[0] * c[1]) / det, (a[0] * b[1] - a[1] * b[0]) / det],
  ];
  const t = [a[3], b[3], c[3]];
  return r.map((row) => [...row, -(row[0] * t[0] + row[1] * t[1] + row[2] * t[2])]);
}
