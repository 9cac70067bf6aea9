/** Every metric for every organ of one case, from two label maps, in a few passes over the volume. */
import { labelBoundingBoxes, unionBox } from './bbox.js';
import { type ConfusionCounts, confusionCounts, diceFromCounts } from './overlap.js';
import { type SurfaceDistances, surfaceDistances } from './surface.js';
import type { SurfaceMethod } from './surface-elements.js';
import { hausdorff, meanSurfaceDistance, surfaceDiceAtTolerance } from './surface-metrics.js';
import { type Shape3, type SpacingMm, type VoxelValues, checkShape, checkSpacing } from './types.js';

/** One label's metrics for one case (see surface-metrics.ts for the NaN / Infinity of empty masks). */
export interface LabelMetrics extends ConfusionCounts {
  label: number;
  dice: number;
  /** Area-weighted `percentile` Hausdorff distance in mm (HD95 by default). */
  hd95Mm: number;
  /** Classic (100th percentile) Hausdorff distance in mm. */
  hdMaxMm: number;
  /** Average symmetric surface distance in mm. */
  meanSurfaceDistanceMm: number;
  /** Surface Dice at `toleranceMm`. */
  surfaceDice: number;
}

export interface EvaluateOptions {
  /** Labels to evaluate; default 1 .. numClasses-1. */
  labels?: readonly number[];
  /** Surface Dice tolerance in mm (default 2). */
  toleranceMm?: number;
  /** Hausdorff percentile reported as `hd95Mm` (default 95). */
  percentile?: number;
  /** Surface elements: DeepMind's `'surfels'` (default) or `'voxelFaces'`. */
  method?: SurfaceMethod;
}

const NO_SURFACE: SurfaceDistances = { predToGtMm: new Float64Array(0), predAreasMm2: new Float64Array(0), gtToPredMm: new Float64Array(0), gtAreasMm2: new Float64Array(0) };

/**
 * Dice, TP/FP/FN, HD95, HD, mean surface distance and surface Dice per label. Each label's surface work is
 * done on the bounding box of that label in either map.
 * @param predLabels, gtLabels label maps of `nx * ny * nz` integers in `[0, numClasses)`, i fastest.
 * @throws RangeError on shape, spacing or label-range errors.
 */
export function evaluateLabels(
  predLabels: VoxelValues,
  gtLabels: VoxelValues,
  shape: Shape3,
  spacingMm: SpacingMm,
  numClasses: number,
  options: EvaluateOptions = {},
): LabelMetrics[] {
  checkShape('evaluateLabels pred', predLabels, shape);
  checkShape('evaluateLabels gt', gtLabels, shape);
  checkSpacing('evaluateLabels', spacingMm);
  const toleranceMm = options.toleranceMm ?? 2;
  const percentile = options.percentile ?? 95;
  const labels = options.labels ?? Array.from({ length: numClasses - 1 }, (_, i) => i + 1);
  const counts = confusionCounts(predLabels, gtLabels, numClasses);
  const predBoxes = labelBoundingBoxes(predLabels, shape, numClasses);
  const gtBoxes = labelBoundingBoxes(gtLabels, shape, numClasses);
  return labels.map((label) => {
    if (!(Number.isInteger(label) && label > 0 && label < numClasses)) throw new RangeError(`evaluateLabels: label ${label} outside [1, ${numClasses})`);
    const box = unionBox(predBoxes[label], gtBoxes[label]);
    // A label absent from both maps has no surface: skip the volume scans.
    const dists = box ? surfaceDistances(predLabels, gtLabels, shape, spacingMm, { predLabel: label, gtLabel: label, box, method: options.method ?? 'surfels' }) : NO_SURFACE;
    const c = counts[label]!;
    return {
      label,
      ...c,
      dice: diceFromCounts(c),
      hd95Mm: hausdorff(dists, percentile),
      hdMaxMm: hausdorff(dists, 100),
      meanSurfaceDistanceMm: meanSurfaceDistance(dists).symmetricMm,
      surfaceDice: surfaceDiceAtTolerance(dists, toleranceMm),
    };
  });
}
