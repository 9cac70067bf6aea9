/**
 * Surface distances, computed once in mm, from which HD95, mean surface distance and surface Dice derive
 * (the design of DeepMind's surface-distance library). Surface elements and their areas come from
 * surface-elements.ts: DeepMind's marching-cubes surfels by default, or boundary voxels weighted by
 * their outside faces (`method: 'voxelFaces'`). The distance of an element of one surface is the
 * Euclidean distance in mm to the nearest element of the other (exact EDT on the anisotropic grid).
 */
import { boundingBox, boxShape, cropMask, unionBox } from './bbox.js';
import { squaredDistanceTransformMm } from './edt.js';
import { type SurfaceElements, type SurfaceMethod, surfaceElements } from './surface-elements.js';
import { type Box3, type Shape3, type SpacingMm, type VoxelValues, checkShape, checkSpacing } from './types.js';

/**
 * Distances between the two surfaces, each direction sorted ascending with its surface-element areas.
 * When the other mask is empty every distance is Infinity; when this mask is empty its arrays are empty.
 */
export interface SurfaceDistances {
  /** mm from each prediction surface element to the nearest reference surface element, ascending. */
  predToGtMm: Float64Array;
  /** mm² of each prediction surface element, in the order of `predToGtMm`. */
  predAreasMm2: Float64Array;
  /** mm from each reference surface element to the nearest prediction surface element, ascending. */
  gtToPredMm: Float64Array;
  /** mm² of each reference surface element, in the order of `gtToPredMm`. */
  gtAreasMm2: Float64Array;
}

/** Which voxels of `pred` / `gt` are foreground: a label value, or nonzero when left out. */
export interface SurfaceOptions {
  predLabel?: number;
  gtLabel?: number;
  /** Bounding box holding every foreground voxel of both (computed when left out). */
  box?: Box3;
  /** Surface elements: DeepMind's `'surfels'` (default) or `'voxelFaces'` (see surface-elements.ts). */
  method?: SurfaceMethod;
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
  // exact: every feature (surface element) lies inside.
  const cropShape = boxShape(box);
  const method = options.method ?? 'surfels';
  const p = surfaceElements(cropMask(pred, shape, box, predLabel), cropShape, spacingMm, method);
  const g = surfaceElements(cropMask(gt, shape, box, gtLabel), cropShape, spacingMm, method);
  const [predToGtMm, predAreasMm2] = distancesAt(p, g, spacingMm);
  const [gtToPredMm, gtAreasMm2] = distancesAt(g, p, spacingMm);
  return { predToGtMm, predAreasMm2, gtToPredMm, gtAreasMm2 };
}

/**
 * Distances (mm, ascending) from `from`'s elements to the nearest element of `to`, with their areas;
 * ties in distance are ordered by area, as DeepMind sorts (distance, area) pairs.
 */
function distancesAt(from: SurfaceElements, to: SurfaceElements, spacingMm: SpacingMm): [Float64Array, Float64Array] {
  const n = from.offsets.length;
  const dist = new Float64Array(n);
  if (n === 0) return [dist, new Float64Array(0)];
  const d2 = squaredDistanceTransformMm(to.isSurface, to.shape, spacingMm);
  for (let i = 0; i < n; i++) dist[i] = Math.sqrt(d2[from.offsets[i]!]!);
  const areas = from.areasMm2;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => dist[a]! - dist[b]! || areas[a]! - areas[b]! || a - b);
  const sortedDist = new Float64Array(n), sortedArea = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    sortedDist[i] = dist[order[i]!]!;
    sortedArea[i] = from.areasMm2[order[i]!]!;
  }
  return [sortedDist, sortedArea];
}
