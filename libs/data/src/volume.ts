/**
 * The one volume type of this project, and its patient-space geometry.
 *
 * Axis order (used everywhere in this repository):
 * - `shape = [nx, ny, nz]`: voxels along the index axes i (columns), j (rows), k (slices).
 * - `data` is stored with i fastest: `offset = i + nx * (j + ny * k)`. This is the NIfTI/NRRD/ITK
 *   memory order and, read as a tensor, it is `[D, H, W] = [nz, ny, nx]` (NDHWC for TensorFlow.js).
 * - Coordinates are DICOM patient space, LPS, in millimetres.
 * - `direction` is a row-major 3x3 matrix whose columns are the unit vectors of the i, j, k axes in LPS,
 *   so `point = origin + direction * (spacing ⊙ index)`, as in ITK. `origin` is the centre of voxel (0,0,0).
 */
export type VoxelArray = Int16Array | Uint16Array | Uint8Array | Int8Array | Int32Array | Uint32Array | Float32Array | Float64Array;
export type Vec3 = [number, number, number];
/** Row-major 3x3: `m[r * 3 + c]`; column c is the direction of index axis c in LPS. */
export type Mat3 = [number, number, number, number, number, number, number, number, number];

export interface Volume<T extends VoxelArray = VoxelArray> {
  data: T;
  shape: Vec3;
  /** mm between voxel centres along i, j, k. */
  spacing: Vec3;
  /** LPS mm of the centre of voxel (0,0,0). */
  origin: Vec3;
  direction: Mat3;
  /**
   * Where a DICOM series' slices really are: each slice's ImagePositionPatient projected on the slice
   * normal (mm, increasing with k). Present when read from DICOM; `spacing[2]` is then their median
   * step and `sliceSpacingUniform` says whether every step is within 1% of it.
   */
  slicePositionsMm?: number[];
  sliceSpacingUniform?: boolean;
}

export const IDENTITY: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function voxelCount(shape: Vec3): number {
  return shape[0] * shape[1] * shape[2];
}

export function offsetOf(shape: Vec3, i: number, j: number, k: number): number {
  return i + shape[0] * (j + shape[1] * k);
}

/** Continuous index (i, j, k) -> LPS point in mm. */
export function indexToPoint(v: Pick<Volume, 'origin' | 'spacing' | 'direction'>, idx: Vec3): Vec3 {
  const d = v.direction;
  const a = idx[0] * v.spacing[0], b = idx[1] * v.spacing[1], c = idx[2] * v.spacing[2];
  return [
    v.origin[0] + d[0] * a + d[1] * b + d[2] * c,
    v.origin[1] + d[3] * a + d[4] * b + d[5] * c,
    v.origin[2] + d[6] * a + d[7] * b + d[8] * c,
  ];
}

/** LPS point in mm -> continuous index. Assumes an orthonormal direction (inverse = transpose). */
export function pointToIndex(v: Pick<Volume, 'origin' | 'spacing' | 'direction'>, p: Vec3): Vec3 {
  const d = v.direction;
  const x = p[0] - v.origin[0], y = p[1] - v.origin[1], z = p[2] - v.origin[2];
  return [
    (d[0] * x + d[3] * y + d[6] * z) / v.spacing[0],
    (d[1] * x + d[4] * y + d[7] * z) / v.spacing[1],
    (d[2] * x + d[5] * y + d[8] * z) / v.spacing[2],
  ];
}

/** A new volume with the same geometry as `like` and the given voxels (zeros by default). */
export function volumeLike<T extends VoxelArray>(like: Volume, data: T): Volume<T> {
  if (data.length !== voxelCount(like.shape)) {
    throw new RangeError(`volumeLike: ${data.length} voxels given, geometry holds ${voxelCount(like.shape)}`);
  }
  return {
    data,
    shape: [...like.shape] as Vec3,
    spacing: [...like.spacing] as Vec3,
    origin: [...like.origin] as Vec3,
    direction: [...like.direction] as Mat3,
    ...(like.slicePositionsMm ? { slicePositionsMm: [...like.slicePositionsMm], sliceSpacingUniform: like.sliceSpacingUniform } : {}),
  };
}

/** LPS <-> RAS flips the first two axes (NIfTI stores RAS, DICOM and NRRD here use LPS). */
export function lpsToRas(p: Vec3): Vec3 {
  return [-p[0], -p[1], p[2]];
}
export const rasToLps = lpsToRas;
