/**
 * Contours -> voxel mask, by scanline fill with per-row edge-crossing lists.
 *
 * Conventions:
 * - A voxel is inside when its centre is inside the polygon (pixel-centre rule). Crossings of an edge
 *   with row j use the half-open rule `min(y0, y1) <= j < max(y0, y1)`, and voxel i of a row is filled
 *   when `a <= i < b` for each sorted crossing pair (a, b): a voxel centre is inside exactly when a ray
 *   towards +i crosses the ROI's edges an odd number of times.
 * - A contour of an ROI lying inside an odd number of its others on the slice is a hole (nested
 *   contours, as planning systems write an organ with a hole); any other adds to the region, so that two
 *   pieces drawn overlapping are united. (Even-odd across all of them, plastimatch's --xor-contours, would
 *   cut their overlap out, and empty a contour exported twice; plastimatch's default, their union, would
 *   fill the holes.)
 * - Each contour goes to the slice whose plane (from the per-slice positions) is nearest to the mean
 *   of its points along the slice normal, if within half the local slice gap; else it is off-volume.
 */
import type { SliceGeometry, SliceFrame } from './geometry';
import { halfGapAt, nearestSlice, sliceFrame, toInPlane } from './geometry';
import { sliceLookup, type SliceImages } from './image-refs';

/** One contour of an ROI, as read from ContourSequence. */
export interface RtContour {
  /** ContourGeometricType: CLOSED_PLANAR, OPEN_PLANAR, OPEN_NONPLANAR, POINT. */
  geometricType: string;
  /** LPS mm, x y z interleaved (ContourData). */
  points: Float64Array;
  /** The image the contour says it lies on (ContourImageSequence), when given. */
  referencedSOPInstanceUID?: string;
  /** Its frame, when the image is multi-frame (Enhanced CT). */
  referencedFrameNumber?: number;
}

/** What happened to the contours of one rasterisation. */
export interface RasteriseStats {
  /** Contours given. */
  contours: number;
  /** Contours filled into the mask. */
  rasterised: number;
  /** Contours skipped because their type is not CLOSED_PLANAR, by type (POINT, OPEN_PLANAR, ...). */
  skippedByType: Record<string, number>;
  /** CLOSED_PLANAR contours with fewer than 3 points. */
  tooFewPoints: number;
  /** Contours whose plane is farther than half the local slice gap from every slice. */
  offVolume: number;
  /** Contours whose points spread along the slice normal by more than half the local slice gap. */
  notInSlicePlane: number;
  /** Rasterised contours naming an image that is not in `sopInstanceUIDs` (0 when none were given). */
  referencesUnknownImage: number;
  /** Rasterised contours naming a slice of the series other than the one their plane lies on. */
  referencesOtherSlice: number;
  /** Slices that received at least one contour. */
  slices: number;
  /** Voxels set in the mask. */
  voxels: number;
}

/** A contour in in-plane continuous index coordinates, assigned to a slice. */
interface PlacedPolygon {
  k: number;
  ij: Float64Array;
}

/**
 * Rasterises the contours of one ROI on a CT grid.
 * @param contours the ROI's contours (LPS mm).
 * @param geometry the grid: shape [nx, ny, nz], spacing, origin, direction and, for DICOM series, the
 *   per-slice positions `slicePositionsMm` (used instead of `spacing[2]`).
 * @returns `mask`: Uint8Array of nx*ny*nz voxels (1 inside, i fastest), and what was skipped and why.
 * @param opts.sopInstanceUIDs the series' SOPInstanceUID of slice k (and `frameNumbers` its frame, for
 *   multi-frame images), to check each contour's ContourImageSequence reference against where its plane
 *   lies (placement always follows the geometry; disagreements are only counted).
 * @throws RangeError for an unusable geometry (see `sliceFrame`); never for odd contours.
 */
export function rasteriseRoi(
  contours: readonly RtContour[],
  geometry: SliceGeometry,
  opts: Partial<SliceImages> = {},
): { mask: Uint8Array; stats: RasteriseStats } {
  const f = sliceFrame(geometry);
  const mask = new Uint8Array(f.nx * f.ny * f.nz);
  const stats: RasteriseStats = { contours: contours.length, rasterised: 0, skippedByType: {}, tooFewPoints: 0, offVolume: 0, notInSlicePlane: 0, referencesUnknownImage: 0, referencesOtherSlice: 0, slices: 0, voxels: 0 };
  const images = opts.sopInstanceUIDs ? sliceLookup({ sopInstanceUIDs: opts.sopInstanceUIDs, ...(opts.frameNumbers ? { frameNumbers: opts.frameNumbers } : {}) }) : undefined;
  const fallback = geometry.spacing[2] > 0 ? geometry.spacing[2] : Math.min(geometry.spacing[0], geometry.spacing[1]);

  const bySlice = new Map<number, PlacedPolygon[]>();
  for (const c of contours) {
    const type = (c.geometricType ?? '').trim().toUpperCase();
    if (type !== 'CLOSED_PLANAR') {
      const key = type || '(missing)';
      stats.skippedByType[key] = (stats.skippedByType[key] ?? 0) + 1;
      continue;
    }
    if (c.points.length < 9) {
      stats.tooFewPoints++;
      continue;
    }
    const { ij, sMin, sMean, sMax } = toInPlane(f, c.points);
    const k = nearestSlice(f, sMean, fallback);
    if (k < 0) {
      stats.offVolume++;
      continue;
    }
    if (sMax - sMin > halfGapAt(f, k, fallback)) {
      stats.notInSlicePlane++;
      continue;
    }
    let list = bySlice.get(k);
    if (!list) bySlice.set(k, (list = []));
    list.push({ k, ij });
    stats.rasterised++;
    if (images && c.referencedSOPInstanceUID !== undefined) {
      if (!images.has(c.referencedSOPInstanceUID)) stats.referencesUnknownImage++;
      else if ((images.slice(c.referencedSOPInstanceUID, c.referencedFrameNumber) ?? k) !== k) stats.referencesOtherSlice++;
    }
  }

  const sliceVoxels = f.nx * f.ny;
  for (const [k, polys] of [...bySlice.entries()].sort((a, b) => a[0] - b[0])) {
    stats.slices++;
    stats.voxels += fillRoiSlice(f, polys.map((p) => p.ij), mask, k * sliceVoxels);
  }
  return { mask, stats };
}

/**
 * The contours of one ROI on one slice into `mask` at `offset`: each filled on its own (even-odd, so a
 * self-crossing contour keeps its own parity), counted +1, or -1 where it lies inside an odd number of
 * the others (a hole); a voxel is set where the count is positive. Returns the number of voxels set.
 */
export function fillRoiSlice(f: Pick<SliceFrame, 'nx' | 'ny'>, polygons: readonly Float64Array[], mask: Uint8Array, offset: number): number {
  if (polygons.length < 2) return fillSlice(f, polygons, mask, offset);
  const { nx, ny } = f;
  const boxes = polygons.map(polygonBox);
  const holes = polygons.map((p, a) => polygons.reduce((n, q, b) => n + (b !== a && boxInside(boxes[a]!, boxes[b]!) && polygonInside(p, q) ? 1 : 0), 0) % 2 === 1);
  const count = new Int16Array(nx * ny), one = new Uint8Array(nx * ny);
  // only the rows and columns a polygon can reach are visited
  const rows = (b: Box2) => [Math.max(0, Math.ceil(b.jMin)), Math.min(ny - 1, Math.ceil(b.jMax) - 1)] as const;
  const cols = (b: Box2) => [Math.max(0, Math.ceil(b.iMin)), Math.min(nx - 1, Math.ceil(b.iMax) - 1)] as const;
  polygons.forEach((p, a) => {
    fillSlice(f, [p], one, 0);
    const [j0, j1] = rows(boxes[a]!), [i0, i1] = cols(boxes[a]!);
    for (let j = j0; j <= j1; j++) {
      for (let i = i0; i <= i1; i++) {
        const q = j * nx + i;
        if (!one[q]) continue;
        count[q] += holes[a] ? -1 : 1;
        one[q] = 0;
      }
    }
  });
  let set = 0;
  for (let q = 0; q < count.length; q++) {
    if (count[q] > 0 && mask[offset + q] === 0) {
      mask[offset + q] = 1;
      set++;
    }
  }
  return set;
}

interface Box2 {
  iMin: number;
  iMax: number;
  jMin: number;
  jMax: number;
}

function polygonBox(ij: Float64Array): Box2 {
  const b = { iMin: Infinity, iMax: -Infinity, jMin: Infinity, jMax: -Infinity };
  for (let v = 0; v < ij.length; v += 2) {
    b.iMin = Math.min(b.iMin, ij[v]!);
    b.iMax = Math.max(b.iMax, ij[v]!);
    b.jMin = Math.min(b.jMin, ij[v + 1]!);
    b.jMax = Math.max(b.jMax, ij[v + 1]!);
  }
  return b;
}

function boxInside(a: Box2, b: Box2): boolean {
  return a.iMin >= b.iMin && a.iMax <= b.iMax && a.jMin >= b.jMin && a.jMax <= b.jMax;
}

/**
 * Every vertex of `p` inside `q` or on its outline (even-odd ray test), and not `p` the same outline: `p`
 * is drawn within `q`, also where a hole's corner touches the outline around it.
 */
function polygonInside(p: Float64Array, q: Float64Array): boolean {
  let strictly = false;
  for (let v = 0; v < p.length; v += 2) {
    if (onOutline(p[v]!, p[v + 1]!, q)) continue;
    if (!pointInPolygon(p[v]!, p[v + 1]!, q)) return false;
    strictly = true;
  }
  return strictly;
}

/** The point lies on one of the polygon's edges (to a millionth of a voxel). */
function onOutline(x: number, y: number, ij: Float64Array): boolean {
  const m = ij.length >> 1;
  for (let e = 0, prev = m - 1; e < m; prev = e++) {
    const x0 = ij[2 * prev]!, y0 = ij[2 * prev + 1]!, x1 = ij[2 * e]!, y1 = ij[2 * e + 1]!;
    const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    const t = len2 > 0 ? Math.min(1, Math.max(0, ((x - x0) * dx + (y - y0) * dy) / len2)) : 0;
    if (Math.hypot(x - x0 - t * dx, y - y0 - t * dy) < 1e-6) return true;
  }
  return false;
}

function pointInPolygon(x: number, y: number, ij: Float64Array): boolean {
  let inside = false;
  const m = ij.length >> 1;
  for (let e = 0, prev = m - 1; e < m; prev = e++) {
    const x0 = ij[2 * prev]!, y0 = ij[2 * prev + 1]!, x1 = ij[2 * e]!, y1 = ij[2 * e + 1]!;
    if (y0 > y !== y1 > y && x < x0 + ((y - y0) * (x1 - x0)) / (y1 - y0)) inside = !inside;
  }
  return inside;
}

/**
 * Even-odd scanline fill of polygons (ij interleaved, closed implicitly) into `mask` at `offset`.
 * Rows are voxel-centre rows j; returns the number of voxels set.
 */
export function fillSlice(f: Pick<SliceFrame, 'nx' | 'ny'>, polygons: readonly Float64Array[], mask: Uint8Array, offset: number): number {
  const { nx, ny } = f;
  // Pass 1: count crossings per row, so that crossings can be stored in one flat array (CSR).
  const counts = new Int32Array(ny + 1);
  const eachEdgeRows = (visit: (row: number, x0: number, y0: number, x1: number, y1: number) => void): void => {
    for (const ij of polygons) {
      const m = ij.length >> 1;
      for (let e = 0; e < m; e++) {
        const x0 = ij[2 * e], y0 = ij[2 * e + 1];
        const n = e + 1 === m ? 0 : e + 1;
        const x1 = ij[2 * n], y1 = ij[2 * n + 1];
        if (y0 === y1) continue;
        const lo = Math.min(y0, y1), hi = Math.max(y0, y1);
        // Rows j with lo <= j < hi, clipped to the grid.
        const jStart = Math.max(0, Math.ceil(lo));
        const jEnd = Math.min(ny - 1, Math.ceil(hi) - 1);
        for (let j = jStart; j <= jEnd; j++) visit(j, x0, y0, x1, y1);
      }
    }
  };
  eachEdgeRows((j) => counts[j + 1]++);
  for (let j = 0; j < ny; j++) counts[j + 1] += counts[j];
  const xs = new Float64Array(counts[ny]);
  const fill = counts.slice(0, ny);
  eachEdgeRows((j, x0, y0, x1, y1) => {
    xs[fill[j]++] = x0 + ((j - y0) * (x1 - x0)) / (y1 - y0);
  });

  let set = 0;
  for (let j = 0; j < ny; j++) {
    const a = counts[j], b = counts[j + 1];
    if (b - a < 2) continue;
    const row = xs.subarray(a, b).sort();
    const rowOffset = offset + j * nx;
    for (let p = 0; p + 1 < row.length; p += 2) {
      const iStart = Math.max(0, Math.ceil(row[p]));
      const iEnd = Math.min(nx - 1, Math.ceil(row[p + 1]) - 1);
      for (let i = iStart; i <= iEnd; i++) {
        if (mask[rowOffset + i] === 0) {
          mask[rowOffset + i] = 1;
          set++;
        }
      }
    }
  }
  return set;
}
