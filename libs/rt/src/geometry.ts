/**
 * Slice geometry shared by the rasteriser and the contour writer: where each slice plane is, and how an
 * LPS point maps to in-plane continuous indices. Works for any orthonormal direction (HFS, FFS, HFP,
 * oblique) and for non-uniform slice positions.
 */
import type { Vec3, Volume } from '@anatomynet/data';

/** What the RT code needs from a volume: its grid, and optionally where each slice really is. */
export type SliceGeometry = Pick<Volume, 'shape' | 'spacing' | 'origin' | 'direction' | 'slicePositionsMm'>;

/** Precomputed frame of a slice stack. */
export interface SliceFrame {
  nx: number;
  ny: number;
  nz: number;
  /** Unit vectors (LPS) of the i, j, k index axes (the direction's columns). */
  u: Vec3;
  v: Vec3;
  n: Vec3;
  spacingI: number;
  spacingJ: number;
  origin: Vec3;
  /** Position of each slice plane along `n` (mm, `dot(point, n)`), strictly increasing with k. */
  planes: Float64Array;
}

function column(d: Volume['direction'], c: number): Vec3 {
  return [d[c], d[3 + c], d[6 + c]];
}
function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/**
 * Builds the slice frame. Slice k lies at `dot(origin, n) + (slicePositionsMm[k] - slicePositionsMm[0])`
 * along the k axis `n` when per-slice positions are given (only their differences are used, so it does
 * not matter which point of the normal line they were measured from), else at `k * spacing[2]`.
 * @throws RangeError for an empty grid, a non-orthonormal direction, or slice positions that are not
 *   one per slice and strictly increasing.
 */
export function sliceFrame(g: SliceGeometry): SliceFrame {
  const [nx, ny, nz] = g.shape;
  if (!(nx > 0 && ny > 0 && nz > 0)) throw new RangeError(`slice geometry: empty shape [${g.shape.join(', ')}]`);
  if (!(g.spacing[0] > 0 && g.spacing[1] > 0)) throw new RangeError(`slice geometry: in-plane spacing must be > 0, got [${g.spacing.join(', ')}]`);
  const u = column(g.direction, 0), v = column(g.direction, 1), n = column(g.direction, 2);
  const tol = 1e-4;
  for (const [name, x] of [['|u|', dot(u, u)], ['|v|', dot(v, v)], ['|n|', dot(n, n)]] as const) {
    if (Math.abs(x - 1) > tol) throw new RangeError(`slice geometry: direction column ${name}^2 = ${x}, expected unit vectors`);
  }
  if (Math.abs(dot(u, v)) > tol || Math.abs(dot(u, n)) > tol || Math.abs(dot(v, n)) > tol) {
    throw new RangeError('slice geometry: direction columns are not orthogonal (sheared or tilted stacks are not supported)');
  }
  const base = dot(g.origin, n);
  const planes = new Float64Array(nz);
  const p = g.slicePositionsMm;
  if (p) {
    if (p.length !== nz) throw new RangeError(`slice geometry: ${p.length} slice positions for ${nz} slices`);
    for (let k = 0; k < nz; k++) {
      planes[k] = base + (p[k] - p[0]);
      if (!Number.isFinite(planes[k]) || (k > 0 && !(planes[k] > planes[k - 1]))) {
        throw new RangeError(`slice geometry: slice positions must be finite and strictly increasing (slice ${k})`);
      }
    }
  } else {
    if (nz > 1 && !(g.spacing[2] > 0)) throw new RangeError(`slice geometry: slice spacing must be > 0, got ${g.spacing[2]}`);
    for (let k = 0; k < nz; k++) planes[k] = base + k * g.spacing[2];
  }
  return { nx, ny, nz, u, v, n, spacingI: g.spacing[0], spacingJ: g.spacing[1], origin: [...g.origin] as Vec3, planes };
}

/**
 * The slice whose plane is nearest to position `s` (mm along n), if it lies within half the local
 * spacing (the gap to the neighbouring plane on the side of `s`; for a single slice, `fallbackSpacing`).
 * Returns -1 when `s` is off the volume.
 */
export function nearestSlice(f: SliceFrame, s: number, fallbackSpacing: number): number {
  const planes = f.planes, nz = f.nz;
  // Binary search: first plane >= s.
  let lo = 0, hi = nz;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (planes[mid] < s) lo = mid + 1;
    else hi = mid;
  }
  let k: number;
  if (lo === 0) k = 0;
  else if (lo === nz) k = nz - 1;
  else k = s - planes[lo - 1] <= planes[lo] - s ? lo - 1 : lo;
  const d = s - planes[k];
  let gap: number;
  if (nz === 1) gap = fallbackSpacing;
  else if (d >= 0) gap = k + 1 < nz ? planes[k + 1] - planes[k] : planes[k] - planes[k - 1];
  else gap = k > 0 ? planes[k] - planes[k - 1] : planes[k + 1] - planes[k];
  return Math.abs(d) <= gap / 2 + 1e-6 ? k : -1;
}

/** Half the local slice gap around slice k (mm), used as the planarity tolerance. */
export function halfGapAt(f: SliceFrame, k: number, fallbackSpacing: number): number {
  if (f.nz === 1) return fallbackSpacing / 2;
  const below = k > 0 ? f.planes[k] - f.planes[k - 1] : Infinity;
  const above = k + 1 < f.nz ? f.planes[k + 1] - f.planes[k] : Infinity;
  return Math.min(below, above) / 2;
}

/**
 * LPS points (xyz interleaved, mm) -> continuous in-plane indices (ij interleaved) and the points'
 * positions along n (returned as min, mean, max).
 */
export function toInPlane(f: SliceFrame, points: Float64Array): { ij: Float64Array; sMin: number; sMean: number; sMax: number } {
  const count = Math.floor(points.length / 3);
  const ij = new Float64Array(count * 2);
  const [ox, oy, oz] = f.origin, [ux, uy, uz] = f.u, [vx, vy, vz] = f.v, [nx, ny, nz] = f.n;
  let sMin = Infinity, sMax = -Infinity, sSum = 0;
  for (let p = 0; p < count; p++) {
    const x = points[3 * p], y = points[3 * p + 1], z = points[3 * p + 2];
    const dx = x - ox, dy = y - oy, dz = z - oz;
    ij[2 * p] = (ux * dx + uy * dy + uz * dz) / f.spacingI;
    ij[2 * p + 1] = (vx * dx + vy * dy + vz * dz) / f.spacingJ;
    const s = nx * x + ny * y + nz * z;
    if (s < sMin) sMin = s;
    if (s > sMax) sMax = s;
    sSum += s;
  }
  return { ij, sMin, sMean: sSum / Math.max(count, 1), sMax };
}

/** Continuous in-plane indices (ij interleaved) on slice k -> LPS points (xyz interleaved, mm). */
export function fromInPlane(f: SliceFrame, ij: Float64Array | number[], k: number): Float64Array {
  const count = Math.floor(ij.length / 2);
  const out = new Float64Array(count * 3);
  const along = f.planes[k] - dot(f.origin, f.n);
  const bx = f.origin[0] + f.n[0] * along, by = f.origin[1] + f.n[1] * along, bz = f.origin[2] + f.n[2] * along;
  const [ux, uy, uz] = f.u, [vx, vy, vz] = f.v;
  for (let p = 0; p < count; p++) {
    const a = ij[2 * p] * f.spacingI, b = ij[2 * p + 1] * f.spacingJ;
    out[3 * p] = bx + ux * a + vx * b;
    out[3 * p + 1] = by + uy * a + vy * b;
    out[3 * p + 2] = bz + uz * a + vz * b;
  }
  return out;
}
