/**
 * Mask slice -> closed contours that give back the same voxels under the pixel-centre rule.
 *
 * Marching squares at the 0.5 level on voxel centres: every vertex is the midpoint between an inside
 * and an outside voxel centre, so no voxel centre lies on a contour and each lies on the side it
 * belongs to; rasterising the contours with the even-odd pixel-centre rule restores the mask exactly.
 * Holes come out as separate loops (inside a region, oriented the other way). Saddle cells (diagonal
 * pairs) are cut apart, so regions are 4-connected. Collinear vertices are dropped (same polygon).
 */
import type { SliceBox } from './boxes';

/**
 * Traces the boundary loops of the voxels of one slice that equal `label` (or are non-zero).
 * @param data a volume or slice, i fastest (`offset + i + nx * j`).
 * @param nx, ny the slice size.
 * @param offset index of voxel (0, 0) of the slice in `data`.
 * @param label the value to trace, or 'nonzero'.
 * @param box a box holding every matching voxel of this slice, when known (saves scanning the slice).
 * @returns loops in continuous index coordinates (i j interleaved, closed implicitly, >= 4 vertices),
 *   in a deterministic order.
 */
export function traceSlice(data: ArrayLike<number>, nx: number, ny: number, offset: number, label: number | 'nonzero', box?: SliceBox): Float64Array[] {
  const inside = label === 'nonzero' ? (v: number) => v !== 0 : (v: number) => v === label;
  const { iMin, iMax, jMin, jMax } = box ?? boundingBox(data, nx, ny, offset, inside);
  if (iMax < iMin || jMax < jMin) return [];
  // Work on the bounding box padded by one outside voxel on each side: w x h centres.
  const w = iMax - iMin + 3, h = jMax - jMin + 3;
  const grid = new Uint8Array(w * h);
  for (let j = jMin; j <= jMax; j++) {
    const row = offset + j * nx;
    for (let i = iMin; i <= iMax; i++) if (inside(data[row + i])) grid[i - iMin + 1 + w * (j - jMin + 1)] = 1;
  }
  // Edge midpoints: horizontal edge H(x, y) between centres (x, y) and (x+1, y): id 2*(x + w*y);
  // vertical edge V(x, y) between (x, y) and (x, y+1): id 2*(x + w*y) + 1.
  const next = new Int32Array(2 * w * h).fill(-1);
  const H = (x: number, y: number) => 2 * (x + w * y);
  const V = (x: number, y: number) => 2 * (x + w * y) + 1;
  for (let y = 0; y + 1 < h; y++) {
    for (let x = 0; x + 1 < w; x++) {
      const a = grid[x + w * y], b = grid[x + 1 + w * y], c = grid[x + 1 + w * (y + 1)], d = grid[x + w * (y + 1)];
      const cs = a | (b << 1) | (c << 2) | (d << 3);
      if (cs === 0 || cs === 15) continue;
      // Cell edges: bottom B = H(x,y), right R = V(x+1,y), top T = H(x,y+1), left L = V(x,y).
      // Segments run with the inside on their left (x right, y up).
      const B = H(x, y), R = V(x + 1, y), T = H(x, y + 1), L = V(x, y);
      switch (cs) {
        case 1: next[B] = L; break;
        case 2: next[R] = B; break;
        case 3: next[R] = L; break;
        case 4: next[T] = R; break;
        case 5: next[B] = L; next[T] = R; break; // saddle: a and c cut apart
        case 6: next[T] = B; break;
        case 7: next[T] = L; break;
        case 8: next[L] = T; break;
        case 9: next[B] = T; break;
        case 10: next[R] = B; next[L] = T; break; // saddle: b and d cut apart
        case 11: next[R] = T; break;
        case 12: next[L] = R; break;
        case 13: next[B] = R; break;
        case 14: next[L] = B; break;
      }
    }
  }
  const loops: Float64Array[] = [];
  const pts: number[] = [];
  for (let start = 0; start < next.length; start++) {
    if (next[start] < 0) continue;
    pts.length = 0;
    let e = start;
    while (next[e] >= 0) {
      const cell = e >> 1, x = cell % w, y = (cell - x) / w;
      // Back to the slice's index coordinates.
      const i = x - 1 + iMin, j = y - 1 + jMin;
      if (e & 1) pts.push(i, j + 0.5);
      else pts.push(i + 0.5, j);
      const n = next[e];
      next[e] = -1;
      e = n;
    }
    loops.push(dropCollinear(pts));
  }
  return loops;
}

function boundingBox(data: ArrayLike<number>, nx: number, ny: number, offset: number, inside: (v: number) => boolean): SliceBox {
  let iMin = nx, iMax = -1, jMin = ny, jMax = -1;
  for (let j = 0; j < ny; j++) {
    const row = offset + j * nx;
    for (let i = 0; i < nx; i++) {
      if (inside(data[row + i])) {
        if (i < iMin) iMin = i;
        if (i > iMax) iMax = i;
        if (j < jMin) jMin = j;
        if (j > jMax) jMax = j;
      }
    }
  }
  return { iMin, iMax, jMin, jMax };
}

/** Removes vertices lying on the straight line between their neighbours (exact: half-integer maths). */
function dropCollinear(pts: readonly number[]): Float64Array {
  const m = pts.length >> 1;
  const keep: number[] = [];
  for (let p = 0; p < m; p++) {
    const q = (p + m - 1) % m, r = (p + 1) % m;
    const ax = pts[2 * p] - pts[2 * q], ay = pts[2 * p + 1] - pts[2 * q + 1];
    const bx = pts[2 * r] - pts[2 * p], by = pts[2 * r + 1] - pts[2 * p + 1];
    if (ax * by - ay * bx !== 0) keep.push(pts[2 * p], pts[2 * p + 1]);
  }
  return Float64Array.from(keep);
}
