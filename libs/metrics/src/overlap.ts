/** Volume overlap: Dice on binary masks and per-class confusion counts from label maps. */
import type { VoxelValues } from './types.js';

/** True-positive, false-positive and false-negative voxel counts of one class. */
export interface ConfusionCounts {
  tp: number;
  fp: number;
  fn: number;
}

/**
 * Dice similarity coefficient `2|P∩G| / (|P| + |G|)` of two binary masks (nonzero = foreground).
 * Both empty: NaN on purpose (undefined; the accumulator skips it and reports n). One empty: 0.
 * @throws RangeError when the lengths differ.
 */
export function dice(pred: VoxelValues, gt: VoxelValues): number {
  if (pred.length !== gt.length) throw new RangeError(`dice: pred has ${pred.length} voxels, gt ${gt.length}`);
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] !== 0, g = gt[i] !== 0;
    if (p && g) tp++;
    else if (p) fp++;
    else if (g) fn++;
  }
  return diceFromCounts({ tp, fp, fn });
}

/** `2TP / (2TP + FP + FN)`; NaN when the class is absent from both (0/0). */
export function diceFromCounts(c: ConfusionCounts): number {
  const den = 2 * c.tp + c.fp + c.fn;
  return den === 0 ? NaN : (2 * c.tp) / den;
}

/**
 * Per-class TP/FP/FN from two label maps of integer labels `0 .. numClasses-1` (0 is background but is
 * counted like any class). Index c of the result is class c.
 * @throws RangeError on differing lengths or a label outside `[0, numClasses)`.
 */
export function confusionCounts(predLabels: VoxelValues, gtLabels: VoxelValues, numClasses: number): ConfusionCounts[] {
  if (predLabels.length !== gtLabels.length) {
    throw new RangeError(`confusionCounts: pred has ${predLabels.length} voxels, gt ${gtLabels.length}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`confusionCounts: numClasses ${numClasses}`);
  const tp = new Float64Array(numClasses), fp = new Float64Array(numClasses), fn = new Float64Array(numClasses);
  // `x >>> 0 === x` holds exactly for integers in [0, 2^32): a cheap label check on every voxel.
  for (let i = 0; i < predLabels.length; i++) {
    const p = predLabels[i]!, g = gtLabels[i]!;
    if (p >>> 0 !== p || p >= numClasses) throw new RangeError(`confusionCounts: pred label ${p} at voxel ${i} outside [0, ${numClasses})`);
    if (p === g) {
      tp[p]!++;
      continue;
    }
    if (g >>> 0 !== g || g >= numClasses) throw new RangeError(`confusionCounts: gt label ${g} at voxel ${i} outside [0, ${numClasses})`);
    fp[p]!++;
    fn[g]!++;
  }
  return Array.from({ length: numClasses }, (_, c) => ({ tp: tp[c]!, fp: fp[c]!, fn: fn[c]! }));
}

