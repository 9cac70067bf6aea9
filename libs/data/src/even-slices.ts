/**
 * A CT stack whose slice steps vary (a protocol that changes its increment, 2.5 mm then 5; slices at
 * irregular positions) cannot be stored as NIfTI, whose grid is uniform, nor be resampled by its spacing alone.
 * Here it is put on the uniform grid at its smallest step, anchored at its first slice and ending at or
 * before its last, as dcm2niix's equalized output (`_Eq_`) does: CT numbers linearly between the two
 * slices around each plane, labels from the nearest slice. The reader keeps the slices as acquired,
 * because contours and SEG frames are drawn on them and our RTSTRUCT and SEG reference them.
 */
import { MAX_VOLUME_BYTES } from './fileio';
import { VolumeIOError } from './errors';
import type { Vec3, Volume } from './volume';

/** How the planes of the uniform grid sit among the stack's slices. */
export interface EvenSliceGrid {
  /** The uniform step (mm): the stack's smallest. */
  step: number;
  /** Planes of the uniform grid. */
  planes: number;
  /** Per plane: the slice at or below it, the one above it, and the upper one's weight (0..1). */
  below: Int32Array;
  above: Int32Array;
  weight: Float64Array;
  /** Per plane: the nearest slice (the lower one on a tie). */
  nearestSlice: Int32Array;
  /** Per slice: the nearest plane. */
  nearestPlane: Int32Array;
}

/** True when `volume` holds a DICOM stack whose slice steps are not all within 1% of each other. */
export function hasUnevenSlices(volume: Pick<Volume, 'slicePositionsMm' | 'sliceSpacingUniform'>): boolean {
  return volume.sliceSpacingUniform === false && (volume.slicePositionsMm?.length ?? 0) > 1;
}

/**
 * The uniform grid for slices at `positionsMm` (strictly increasing, mm along the slice normal).
 * @throws RangeError for fewer than two positions or positions that do not increase.
 */
export function evenSliceGrid(positionsMm: readonly number[]): EvenSliceGrid {
  const n = positionsMm.length;
  if (n < 2) throw new RangeError(`evenSliceGrid: ${n} slice positions; at least 2 needed`);
  let step = Infinity;
  for (let k = 1; k < n; k++) {
    const d = positionsMm[k] - positionsMm[k - 1];
    if (!(d > 0)) throw new RangeError(`evenSliceGrid: slice positions must increase (slice ${k})`);
    step = Math.min(step, d);
  }
  const p0 = positionsMm[0];
  // The last plane at or before the last slice (a thousandth of a step forgives rounded positions).
  const planes = Math.floor((positionsMm[n - 1] - p0) / step + 1e-3) + 1;
  const below = new Int32Array(planes), above = new Int32Array(planes), weight = new Float64Array(planes), nearestSlice = new Int32Array(planes);
  let k = 0;
  for (let m = 0; m < planes; m++) {
    const z = p0 + m * step;
    while (k < n - 2 && positionsMm[k + 1] <= z) k++;
    const w = Math.min(1, Math.max(0, (z - positionsMm[k]) / (positionsMm[k + 1] - positionsMm[k])));
    below[m] = k;
    above[m] = k + 1;
    weight[m] = w < 1e-9 ? 0 : w > 1 - 1e-9 ? 1 : w;
    nearestSlice[m] = weight[m] > 0.5 ? k + 1 : k;
  }
  const nearestPlane = new Int32Array(n);
  for (let s = 0; s < n; s++) nearestPlane[s] = Math.min(planes - 1, Math.round((positionsMm[s] - p0) / step));
  return { step, planes, below, above, weight, nearestSlice, nearestPlane };
}

/**
 * `volume` (a DICOM stack with uneven slice steps) on its uniform grid: CT numbers interpolated linearly
 * between the slices around each plane, rounded; the geometry's origin and direction unchanged.
 * @throws VolumeIOError TOO_LARGE when the uniform grid would pass MAX_VOLUME_BYTES.
 */
export function evenCtVolume(volume: Volume<Int16Array>, grid: EvenSliceGrid, file = 'CT series'): Volume<Int16Array> {
  const [nx, ny] = volume.shape;
  const n = nx * ny;
  if (n * 2 * grid.planes > MAX_VOLUME_BYTES) {
    throw new VolumeIOError(file, 'TOO_LARGE', `its uneven slices on a uniform ${grid.step} mm grid would need ${grid.planes} planes of ${nx}x${ny}, past the ${MAX_VOLUME_BYTES}-byte volume limit`);
  }
  const data = new Int16Array(n * grid.planes);
  for (let m = 0; m < grid.planes; m++) {
    const w = grid.weight[m];
    const lo = volume.data.subarray(grid.below[m] * n, grid.below[m] * n + n);
    const hi = volume.data.subarray(grid.above[m] * n, grid.above[m] * n + n);
    const out = data.subarray(m * n, m * n + n);
    if (w === 0) out.set(lo);
    else if (w === 1) out.set(hi);
    else for (let q = 0; q < n; q++) out[q] = Math.round(lo[q] + (hi[q] - lo[q]) * w);
  }
  return evenGeometry(volume, grid, data);
}

/** `data` (a slice of `sliceVoxels` values per source index) with slice `from[m]` as its slice m. */
export function pickSlices<T extends Uint8Array | Int16Array | Int32Array>(data: T, sliceVoxels: number, from: ArrayLike<number>): T {
  const out = new (data.constructor as new (n: number) => T)(sliceVoxels * from.length);
  for (let m = 0; m < from.length; m++) out.set(data.subarray(from[m] * sliceVoxels, (from[m] + 1) * sliceVoxels), m * sliceVoxels);
  return out;
}

/** The uniform grid's geometry around `data`. */
function evenGeometry(volume: Volume<Int16Array>, grid: EvenSliceGrid, data: Int16Array): Volume<Int16Array> {
  const p0 = volume.slicePositionsMm![0];
  return {
    data,
    shape: [volume.shape[0], volume.shape[1], grid.planes],
    spacing: [volume.spacing[0], volume.spacing[1], grid.step] as Vec3,
    origin: [...volume.origin] as Vec3,
    direction: [...volume.direction] as Volume['direction'],
    slicePositionsMm: Array.from({ length: grid.planes }, (_, m) => p0 + m * grid.step),
    sliceSpacingUniform: true,
  };
}

/** A stack with uneven slice steps on its uniform grid, and the warning that says so. */
export interface EvenStack {
  volume: Volume<Int16Array>;
  grid: EvenSliceGrid;
  /** `slice steps vary from a to b mm: resampled onto a uniform c mm grid (...)`. */
  note: string;
}

/**
 * `volume` on its uniform grid when its slice steps vary (see {@link hasUnevenSlices}), else undefined.
 * @throws VolumeIOError TOO_LARGE (see {@link evenCtVolume}).
 */
export function evenSlices(volume: Volume<Int16Array>, file?: string): EvenStack | undefined {
  if (!hasUnevenSlices(volume)) return undefined;
  const p = volume.slicePositionsMm!;
  const grid = evenSliceGrid(p);
  const steps = p.slice(1).map((x, k) => x - p[k]);
  const mm = (x: number) => String(Math.round(x * 1000) / 1000);
  const note = `slice steps vary from ${mm(Math.min(...steps))} to ${mm(Math.max(...steps))} mm: resampled onto a uniform ${mm(grid.step)} mm grid ` +
    `(${grid.planes} planes for ${p.length} slices, CT numbers linear between neighbouring slices), as dcm2niix equalizes`;
  return { volume: evenCtVolume(volume, grid, file), grid, note };
}
