/** Fixtures for this library's tests: grids, polygons, an independent point-in-polygon, a seeded RNG. */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readCtSeries, writeCtSeries, type Mat3, type Vec3 } from '@anatomynet/data';
import type { SliceGeometry } from './geometry';
import type { RtContour } from './rasterise';

export function grid(shape: Vec3, spacing: Vec3, origin: Vec3 = [0, 0, 0], direction: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1], slicePositionsMm?: number[]): SliceGeometry {
  return { shape, spacing, origin, direction, ...(slicePositionsMm ? { slicePositionsMm } : {}) };
}

/** A closed planar contour at height z (axial), from [x, y] pairs in mm. */
export function axialContour(xy: readonly (readonly [number, number])[], z: number, geometricType = 'CLOSED_PLANAR'): RtContour {
  return { geometricType, points: Float64Array.from(xy.flatMap(([x, y]) => [x, y, z])) };
}

export function rectangle(x0: number, y0: number, x1: number, y1: number): [number, number][] {
  return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
}

export function regularPolygon(cx: number, cy: number, r: number, n: number, phase = 0): [number, number][] {
  return Array.from({ length: n }, (_, t) => {
    const a = phase + (2 * Math.PI * t) / n;
    return [cx + r * Math.cos(a), cy + r * Math.sin(a)] as [number, number];
  });
}

/** Classic crossing-number test (W. R. Franklin's PNPOLY), written independently of the rasteriser. */
export function pointInPolygon(x: number, y: number, poly: readonly (readonly [number, number])[]): boolean {
  let inside = false;
  for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
    const [xa, ya] = poly[a], [xb, yb] = poly[b];
    if (ya > y !== yb > y && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
  }
  return inside;
}

export function countOnes(mask: ArrayLike<number>): number {
  let n = 0;
  for (let v = 0; v < mask.length; v++) if (mask[v]) n++;
  return n;
}

/** Rotation matrix (row-major) about a unit axis by `angle` radians. */
export function rotation(axis: Vec3, angle: number): Mat3 {
  const l = Math.hypot(...axis), [x, y, z] = axis.map((a) => a / l);
  const c = Math.cos(angle), s = Math.sin(angle), t = 1 - c;
  return [t * x * x + c, t * x * y - s * z, t * x * z + s * y, t * x * y + s * z, t * y * y + c, t * y * z - s * x, t * x * z - s * y, t * y * z + s * x, t * z * z + c];
}

export function mulMat(a: Mat3, b: Mat3): Mat3 {
  const m = new Array(9).fill(0) as Mat3;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let q = 0; q < 3; q++) m[r * 3 + c] += a[r * 3 + q] * b[q * 3 + c];
  return m;
}

export function mulVec(a: Mat3, v: Vec3): Vec3 {
  return [a[0] * v[0] + a[1] * v[1] + a[2] * v[2], a[3] * v[0] + a[4] * v[1] + a[5] * v[2], a[6] * v[0] + a[7] * v[1] + a[8] * v[2]];
}

export function dice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0, sa = 0, sb = 0;
  for (let v = 0; v < a.length; v++) {
    const x = a[v] ? 1 : 0, y = b[v] ? 1 : 0;
    inter += x & y;
    sa += x;
    sb += y;
  }
  return sa + sb === 0 ? 1 : (2 * inter) / (sa + sb);
}

/** Nine organ-like masks on a small grid: large, small, thin, a ring, and overlapping pairs. */
export function organs(shape: Vec3): { label: number; name: string; mask: Uint8Array }[] {
  const [nx, ny, nz] = shape;
  const make = (inside: (i: number, j: number, k: number) => boolean) => {
    const m = new Uint8Array(nx * ny * nz);
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) if (inside(i, j, k)) m[i + nx * (j + ny * k)] = 1;
    return m;
  };
  const ball = (cx: number, cy: number, cz: number, r: number, sz = 1) => (i: number, j: number, k: number) => (i - cx) ** 2 + (j - cy) ** 2 + ((k - cz) * sz) ** 2 <= r * r;
  return [
    { label: 1, name: 'BrainStem', mask: make(ball(20, 16, 4, 8, 2)) },
    { label: 2, name: 'Chiasm', mask: make((i, j, k) => k === 4 && j >= 15 && j <= 16 && i >= 24 && i <= 31) }, // thin, overlaps 1
    { label: 3, name: 'Mandible', mask: make((i, j, k) => k >= 1 && k <= 6 && ball(20, 16, 0, 14)(i, j, 0) && !ball(20, 16, 0, 11)(i, j, 0) && j > 18) },
    { label: 4, name: 'OpticNerve_L', mask: make((i, j, k) => k === 4 && Math.abs(j - (6 + 0.5 * i)) < 0.6 && i >= 2 && i <= 14) }, // thin diagonal
    { label: 5, name: 'OpticNerve_R', mask: make((i, j, k) => k >= 3 && k <= 4 && i === 34 && j >= 2 && j <= 12) }, // one voxel wide
    { label: 6, name: 'Parotid_L', mask: make(ball(5, 26, 3, 3.2, 1.5)) },
    { label: 7, name: 'Parotid_R', mask: make(ball(35, 26, 3, 3.2, 1.5)) },
    { label: 8, name: 'Submandibular_L', mask: make((i, j, k) => k === 7 && i === 3 && j === 3) }, // single voxel
    { label: 9, name: 'Submandibular_R', mask: make((i, j, k) => k >= 2 && k <= 5 && ball(20, 16, 0, 4)(i, j, 0) && !ball(20, 16, 0, 2)(i, j, 0)) }, // tube with a hole, inside 1
  ];
}

/**
 * An air-filled CT series written to `dir` (0.9 x 0.8 x 2.5 mm) and read back as the pipeline reads it.
 * `uidBase` numbers its series, study and frame of reference (`2.25.<base+1..3>`).
 */
export function writeTestCt(dir: string, shape: Vec3, uidBase: number, o: { direction?: Mat3; origin?: Vec3; slicePositionsMm?: number[] } = {}) {
  mkdirSync(dir, { recursive: true });
  const volume = {
    data: new Int16Array(shape[0] * shape[1] * shape[2]).fill(-1000), shape, spacing: [0.9, 0.8, 2.5] as Vec3,
    origin: o.origin ?? ([-20, -15, 30] as Vec3), direction: o.direction ?? ([1, 0, 0, 0, 1, 0, 0, 0, 1] as Mat3),
    ...(o.slicePositionsMm ? { slicePositionsMm: o.slicePositionsMm } : {}),
  };
  const uid = (n: number) => `2.25.${uidBase + n}`;
  const { files } = writeCtSeries(volume, { dir, seriesInstanceUID: uid(1), studyInstanceUID: uid(2), frameOfReferenceUID: uid(3), patientId: 'RT-TEST', patientName: 'Rt^Test' });
  return readCtSeries(files);
}

/** dciodvfy's verdict on a file: the IOD it recognised (its lines), errors and warnings (the warnings logged). */
export function dciodvfy(file: string): { lines: string[]; errors: string[]; warnings: string[] } {
  const run = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  const lines = `${run.stdout}\n${run.stderr}`.split('\n').filter((l) => l.trim());
  const warnings = lines.filter((l) => /^Warning/.test(l));
  console.log(`dciodvfy ${file.split('/').pop()}: warnings (${warnings.length}):\n  ${warnings.join('\n  ')}`);
  return { lines, errors: lines.filter((l) => /^Error/.test(l)), warnings };
}
