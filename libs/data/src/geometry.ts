/** Small vector helpers for slice geometry (3-vectors as plain arrays, mm). */
import type { Mat3, Vec3 } from './volume';

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function cross(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Column c of a row-major 3x3 matrix. */
export function column(m: Mat3, c: number): Vec3 {
  return [m[c], m[3 + c], m[6 + c]];
}

/** Row-major 3x3 from three column vectors. */
export function fromColumns(a: Vec3, b: Vec3, c: Vec3): Mat3 {
  return [a[0], b[0], c[0], a[1], b[1], c[1], a[2], b[2], c[2]];
}

/**
 * A DICOM decimal string (VR DS) of at most 16 characters: the shortest round-trip form when it fits,
 * else the most significant digits that fit.
 */
export function formatDS(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`formatDS: ${x} is not finite`);
  if (Object.is(x, -0)) x = 0;
  const s = String(x);
  if (s.length <= 16) return s;
  for (let p = 16; p >= 1; p--) {
    const t = String(Number(x.toPrecision(p)));
    if (t.length <= 16) return t;
  }
  return x.toExponential(6);
}
