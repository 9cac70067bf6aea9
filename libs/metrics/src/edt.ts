/**
 * Exact Euclidean distance transform on anisotropic voxels, by the separable lower-envelope-of-parabolas
 * algorithm of Felzenszwalb & Huttenlocher ("Distance Transforms of Sampled Functions", Theory of
 * Computing 8, 2012): three 1D passes (i, then j, then k), each exact for squared distances, O(n).
 */
import { type Shape3, type SpacingMm, checkShape, checkSpacing } from './types.js';

/**
 * 1D squared distance transform of `f` (n samples `stepMm` apart) written into `out`:
 * `out[q] = min_p ((q - p) * stepMm)^2 + f[p]`. Samples with `f = Infinity` hold no parabola; a line
 * without any finite sample stays Infinity. `v`, `z` are scratch of at least n and n + 1 entries.
 */
export function squaredDistance1d(f: Float64Array, n: number, stepMm: number, out: Float64Array, v: Int32Array, z: Float64Array): void {
  const w2 = stepMm * stepMm;
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q]!;
    if (fq === Infinity) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      continue;
    }
    const hq = fq + q * q * w2;
    let s = 0;
    for (;;) {
      const p = v[k]!;
      // Where parabola q starts to lie below parabola p (mm along the line).
      s = (hq - (f[p]! + p * p * w2)) / (2 * stepMm * (q - p));
      if (s <= z[k]!) k--;
      else break;
    }
    k++;
    v[k] = q;
    z[k] = s;
  }
  if (k < 0) {
    out.fill(Infinity, 0, n);
    return;
  }
  z[k + 1] = Infinity;
  let j = 0;
  for (let q = 0; q < n; q++) {
    const x = q * stepMm;
    while (z[j + 1]! < x) j++;
    const p = v[j]!;
    const d = (q - p) * stepMm;
    out[q] = d * d + f[p]!;
  }
}

/**
 * Squared Euclidean distance in mm² from every voxel centre to the nearest feature voxel centre
 * (feature = nonzero in `features`). Infinity everywhere when there is no feature.
 * @param features `nx * ny * nz` values, i fastest.
 * @param shape `[nx, ny, nz]`.
 * @param spacingMm mm between voxel centres along i, j, k.
 * @returns Float64Array of `nx * ny * nz` squared distances (mm²).
 */
export function squaredDistanceTransformMm(features: ArrayLike<number>, shape: Shape3, spacingMm: SpacingMm): Float64Array {
  checkShape('squaredDistanceTransformMm', features, shape);
  checkSpacing('squaredDistanceTransformMm', spacingMm);
  const [nx, ny, nz] = shape;
  const n = nx * ny * nz;
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = features[i] !== 0 ? 0 : Infinity;
  const longest = Math.max(nx, ny, nz);
  const line = new Float64Array(longest), out = new Float64Array(longest);
  const v = new Int32Array(longest), z = new Float64Array(longest + 1);
  const pass = (len: number, stride: number, stepMm: number, starts: Iterable<number>) => {
    for (const start of starts) {
      let allInf = true;
      for (let q = 0, o = start; q < len; q++, o += stride) {
        const x = d[o]!;
        line[q] = x;
        if (x !== Infinity) allInf = false;
      }
      if (allInf) continue;
      squaredDistance1d(line, len, stepMm, out, v, z);
      for (let q = 0, o = start; q < len; q++, o += stride) d[o] = out[q]!;
    }
  };
  pass(nx, 1, spacingMm[0], lineStarts(ny * nz, (r) => r * nx));
  pass(ny, nx, spacingMm[1], lineStarts(nx * nz, (r) => (r % nx) + nx * ny * Math.floor(r / nx)));
  pass(nz, nx * ny, spacingMm[2], lineStarts(nx * ny, (r) => r));
  return d;
}

function* lineStarts(count: number, startOf: (r: number) => number): Generator<number> {
  for (let r = 0; r < count; r++) yield startOf(r);
}
