/**
 * Metrics derived from {@link SurfaceDistances}, weighted by surface-element areas as DeepMind's
 * surface-distance library does. Empty masks, on purpose:
 * - both empty: NaN for every metric (undefined; accumulators skip it and report n);
 * - exactly one empty: Hausdorff and mean distance Infinity (no surface to reach), surface Dice 0.
 */
import type { SurfaceDistances } from './surface.js';

/**
 * Area-weighted percentile of one direction's sorted distances, by DeepMind's rule: the first distance
 * whose cumulative area share (cumulative sum / total) is >= `percentile / 100`. Infinity when the
 * distance at that rank is Infinity (other surface empty); NaN when there are no distances.
 */
export function directedPercentileMm(sortedMm: Float64Array, areasMm2: Float64Array, percentile: number): number {
  const n = sortedMm.length;
  if (n === 0) return NaN;
  if (percentile >= 100) return sortedMm[n - 1]!;
  let total = 0;
  for (let i = 0; i < n; i++) total += areasMm2[i]!;
  const share = percentile / 100;
  let cum = 0;
  for (let i = 0; i < n; i++) {
    cum += areasMm2[i]!;
    if (cum / total >= share) return sortedMm[i]!;
  }
  return sortedMm[n - 1]!;
}

/**
 * Robust Hausdorff distance in mm: the larger of the two directed area-weighted percentiles
 * (`percentile = 100` is the classic Hausdorff distance, 95 is HD95).
 * @throws RangeError when percentile is outside [0, 100].
 */
export function hausdorff(dists: SurfaceDistances, percentile = 95): number {
  if (!(percentile >= 0 && percentile <= 100)) throw new RangeError(`hausdorff: percentile ${percentile} outside [0, 100]`);
  const a = directedPercentileMm(dists.predToGtMm, dists.predAreasMm2, percentile);
  const b = directedPercentileMm(dists.gtToPredMm, dists.gtAreasMm2, percentile);
  if (Number.isNaN(a) && Number.isNaN(b)) return NaN;
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  return Math.max(a, b);
}

/** Area-weighted mean surface distances in mm, each direction and both together. */
export interface MeanSurfaceDistanceMm {
  predToGtMm: number;
  gtToPredMm: number;
  /** Average symmetric surface distance: both directions pooled, weighted by area. */
  symmetricMm: number;
}

/** Area-weighted mean surface distances (see module notes for empty masks). */
export function meanSurfaceDistance(dists: SurfaceDistances): MeanSurfaceDistanceMm {
  const [sp, ap] = weightedSum(dists.predToGtMm, dists.predAreasMm2);
  const [sg, ag] = weightedSum(dists.gtToPredMm, dists.gtAreasMm2);
  if (ap === 0 && ag === 0) return { predToGtMm: NaN, gtToPredMm: NaN, symmetricMm: NaN };
  if (ap === 0 || ag === 0) return { predToGtMm: Infinity, gtToPredMm: Infinity, symmetricMm: Infinity };
  return { predToGtMm: sp / ap, gtToPredMm: sg / ag, symmetricMm: (sp + sg) / (ap + ag) };
}

/**
 * Surface Dice at a tolerance (Nikolov et al. 2018): the area of both surfaces lying within
 * `toleranceMm` of the other surface, over the total area of both. 1 for identical masks.
 * @throws RangeError on a negative tolerance.
 */
export function surfaceDiceAtTolerance(dists: SurfaceDistances, toleranceMm: number): number {
  if (!(toleranceMm >= 0)) throw new RangeError(`surfaceDiceAtTolerance: toleranceMm ${toleranceMm} must be >= 0`);
  const [ip, ap] = areaWithin(dists.predToGtMm, dists.predAreasMm2, toleranceMm);
  const [ig, ag] = areaWithin(dists.gtToPredMm, dists.gtAreasMm2, toleranceMm);
  const total = ap + ag;
  return total === 0 ? NaN : (ip + ig) / total;
}

function weightedSum(d: Float64Array, a: Float64Array): [number, number] {
  let s = 0, t = 0;
  for (let i = 0; i < d.length; i++) {
    s += d[i]! * a[i]!;
    t += a[i]!;
  }
  return [s, t];
}

function areaWithin(d: Float64Array, a: Float64Array, tol: number): [number, number] {
  let inside = 0, total = 0;
  // A relative slack of 1e-9 so that a distance of exactly the tolerance on the lattice (e.g. 3 voxels
  // of 0.8 mm = 2.4000000000000004 after sqrt) counts as within it. DeepMind compares without slack.
  const limit = tol * (1 + 1e-9);
  for (let i = 0; i < d.length; i++) {
    total += a[i]!;
    if (d[i]! <= limit) inside += a[i]!;
  }
  return [inside, total];
}
