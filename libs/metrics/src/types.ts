/**
 * Shared shapes of the metrics library. Volumes follow the repository's axis order:
 * `shape = [nx, ny, nz]`, voxel `(i, j, k)` at offset `i + nx * (j + ny * k)`, spacing in mm along i, j, k.
 */

/** `[nx, ny, nz]` voxels along the index axes i, j, k. */
export type Shape3 = readonly [number, number, number];
/** mm between voxel centres along i, j, k. */
export type SpacingMm = readonly [number, number, number];
/** A mask or label map of `nx * ny * nz` values (any typed array or plain array). */
export type VoxelValues = ArrayLike<number>;

/** Inclusive voxel bounding box `[min, max]` per axis. */
export interface Box3 {
  min: [number, number, number];
  max: [number, number, number];
}

/** Throws a RangeError unless `values` holds exactly `nx * ny * nz` voxels of a positive shape. */
export function checkShape(what: string, values: VoxelValues, shape: Shape3): void {
  if (shape.length !== 3 || shape.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new RangeError(`${what}: shape must be three positive integers, got [${shape.join(', ')}]`);
  }
  const n = shape[0] * shape[1] * shape[2];
  if (values.length !== n) {
    throw new RangeError(`${what}: ${values.length} voxels given, shape [${shape.join(', ')}] holds ${n}`);
  }
}

/** Throws a RangeError unless the spacing is three positive finite mm values. */
export function checkSpacing(what: string, spacingMm: SpacingMm): void {
  if (spacingMm.length !== 3 || spacingMm.some((s) => !(s > 0) || !Number.isFinite(s))) {
    throw new RangeError(`${what}: spacingMm must be three positive numbers, got [${spacingMm.join(', ')}]`);
  }
}
