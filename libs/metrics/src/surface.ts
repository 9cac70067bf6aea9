/**
 * Surface distances, computed once in mm, from which HD95, mean surface distance and surface Dice derive
 * (the design of DeepMind's surface-distance library).
 *
 * Surface elements here are **boundary voxels**: foreground voxels with at least one 6-neighbour outside
 * the mask (outside the volume counts as outside). Each boundary voxel is weighted by the area, in mm², of
 * its faces that touch the outside (a face normal to i has area `sj * sk`, and so on), so a boundary
 * voxel on a flat face of an anisotropic grid weighs its real share of the surface. This is the
 * "voxel-face" weighting, not DeepMind's marching-cubes surfels on the half-voxel-shifted grid: for a box
 * of voxels the total weight equals the box's exact surface area; on curved shapes it overestimates area
 * (staircase) by the same factor for prediction and reference, which the ratios below mostly cancel.
 *
 * The distance of a boundary voxel of one mask is the Euclidean distance in mm from its centre to the
 * nearest boundary voxel centre of the other mask (exact EDT on the anisotropic grid).
 */
import { boundingBox, boxShape, cropMask, unionBox } from './bbox.js';
import { squaredDistanceTransformMm } from './edt.js';
import { type Box3, type Shape3, type SpacingMm, type VoxelValues, checkShape, checkSpacing } from './types.js';

/**
 * Distances between the two surfaces, each direction sorted ascending with its boundary-voxel areas.
 * When the other mask is empty every distance is Infinity; when this mask is empty its arrays are empty.
 */
export interface SurfaceDistances {
  /** mm from each prediction boundary voxel to the nearest reference boundary voxel, ascending. */
  predToGtMm: Float64Array;
  /** mm² of outside-facing faces of each prediction boundary voxel, in the order of `predToGtMm`. */
  predAreasMm2: Float64Array;
  /** mm from each reference boundary voxel to the nearest prediction boundary voxel, ascending. */
  gtToPredMm: Float64Array;
  /** mm² of outside-facing faces of each reference boundary voxel, in the order of `gtToPredMm`. */
  gtAreasMm2: Float64Array;
}

/** Which voxels of `pred` / `gt` are foreground: a label value, or nonzero when left out. */
export interface SurfaceOptions {
  predLabel?: number;
  gtLabel?: number;
  /** Bounding box holding every foreground voxel of both (computed when left out). */
  box?: Box3;
}

/**
 * Surface distances between two masks on one grid.
 * @param pred, gt `nx * ny * nz` masks or label maps (i fastest); foreground per {@link SurfaceOptions}.
 * @param shape `[nx, ny, nz]`.
 * @param spacingMm mm between voxel centres along i, j, k.
 * @throws RangeError on a shape or spacing mismatch.
 */
export function surfaceDistances(pred: VoxelValues, gt: VoxelValues, shape: Shape3, spacingMm: SpacingMm, options: SurfaceOptions = {}): SurfaceDistances {
  checkShape('surfaceDistances pred', pred, shape);
  checkShape('surfaceDistances gt', gt, shape);
  checkSpacing('surfaceDistances', spacingMm);
  const { predLabel, gtLabel } = options;
  const box = options.box ?? unionBox(boundingBox(pred, shape, predLabel), boundingBox(gt, shape, gtLabel));
  if (!box) return { predToGtMm: new Float64Array(0), predAreasMm2: new Float64Array(0), gtToPredMm: new Float64Array(0), gtAreasMm2: new Float64Array(0) };
  // Everything outside the box is background, so the crop loses no boundary and the EDT inside it is
  // exact: every feature (boundary voxel) lies inside.
  const cropShape = boxShape(box);
  const p = boundaryOf(cropMask(pred, shape, box, predLabel), cropShape, spacingMm);
  const g = boundaryOf(cropMask(gt, shape, box, gtLabel), cropShape, spacingMm);
  const [predToGtMm, predAreasMm2] = distancesAt(p, g.isBoundary, cropShape, spacingMm);
  const [gtToPredMm, gtAreasMm2] = distancesAt(g, p.isBoundary, cropShape, spacingMm);
  return { predToGtMm, predAreasMm2, gtToPredMm, gtAreasMm2 };
}

interface Boundary {
  isBoundary: Uint8Array;
  /** Offsets (in the crop) of the boundary voxels, ascending. */
  offsets: Int32Array;
  areasMm2: Float64Array;
}

/** Boundary voxels of a 0/1 mask (6-connectivity, outside the array = background) and their face areas. */
export function boundaryOf(mask: Uint8Array, shape: Shape3, spacingMm: SpacingMm): Boundary {
  const [nx, ny, nz] = shape;
  const ax = spacingMm[1] * spacingMm[2], ay = spacingMm[0] * spacingMm[2], az = spacingMm[0] * spacingMm[1];
  const sy = nx, sz = nx * ny;
  const isBoundary = new Uint8Array(mask.length);
  const offsets: number[] = [], areas: number[] = [];
  let o = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, o++) {
        if (!mask[o]) continue;
        let a = 0;
        if (x === 0 || !mask[o - 1]) a += ax;
        if (x === nx - 1 || !mask[o + 1]) a += ax;
        if (y === 0 || !mask[o - sy]) a += ay;
        if (y === ny - 1 || !mask[o + sy]) a += ay;
        if (z === 0 || !mask[o - sz]) a += az;
        if (z === nz - 1 || !mask[o + sz]) a += az;
        if (a === 0) continue;
        isBoundary[o] = 1;
        offsets.push(o);
        areas.push(a);
      }
    }
  }
  return { isBoundary, offsets: Int32Array.from(offsets), areasMm2: Float64Array.from(areas) };
}

/** Distances (mm, ascending) from `from`'s boundary voxels to the nearest `to` boundary voxel, with areas. */
function distancesAt(from: Boundary, to: Uint8Array, shape: Shape3, spacingMm: SpacingMm): [Float64Array, Float64Array] {
  const n = from.offsets.length;
  const dist = new Float64Array(n);
  if (n === 0) return [dist, new Float64Array(0)];
  const d2 = squaredDistanceTransformMm(to, shape, spacingMm);
  for (let i = 0; i < n; i++) dist[i] = Math.sqrt(d2[from.offsets[i]!]!);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => dist[a]! - dist[b]! || a - b);
  const sortedDist = new Float64Array(n), sortedArea = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    sortedDist[i] = dist[order[i]!]!;
    sortedArea[i] = from.areasMm2[order[i]!]!;
  }
  return [sortedDist, sortedArea];
}
