/**
 * Per-organ masks -> one labelmap, with a documented overlap rule.
 *
 * Overlap rule: where organs overlap, the SMALLER organ (fewer voxels in its own mask) wins the voxel;
 * equal sizes go to the lower label. Contoured organs overlap at their borders (e.g. the optic chiasm
 * and the brainstem); giving the voxel to the smaller organ keeps small structures whole, where the
 * larger one loses a negligible fraction of its volume.
 */
import { forEachNonZero } from './boxes';

/** One organ's binary mask (0/1, i fastest) and its label in the labelmap. */
export interface LabelledMask {
  /** Label value in the labelmap, 1..255, unique. */
  label: number;
  mask: Uint8Array;
  /** Voxels set in `mask` (the size used by the overlap rule). */
  voxels: number;
}

/** Voxels claimed by both organs of a pair (before the rule picked the winner). */
export interface OverlapCount {
  labels: [number, number];
  voxels: number;
}

/**
 * Merges masks into a labelmap, the smaller organ winning overlaps.
 * @returns `labelmap` (0 background), and `overlapsVoxels`: for every pair of labels that overlap,
 *   the voxels in both masks (a voxel in three masks counts for each of its three pairs), sorted by labels.
 * @throws RangeError for a label out of 1..255, a repeated label, or masks of different lengths.
 */
export function mergeLabels(masks: readonly LabelledMask[]): { labelmap: Uint8Array; overlapsVoxels: OverlapCount[] } {
  const n = masks.length ? masks[0].mask.length : 0;
  const seen = new Set<number>();
  for (const m of masks) {
    if (!Number.isInteger(m.label) || m.label < 1 || m.label > 255) throw new RangeError(`mergeLabels: label ${m.label} is not in 1..255`);
    if (seen.has(m.label)) throw new RangeError(`mergeLabels: label ${m.label} given twice`);
    seen.add(m.label);
    if (m.mask.length !== n) throw new RangeError(`mergeLabels: mask of label ${m.label} has ${m.mask.length} voxels, expected ${n}`);
  }
  // Priority: smaller voxel count first, then lower label. Writing from lowest to highest priority
  // lets the winner overwrite; a coverage count finds voxels in two or more masks.
  const order = [...masks].sort((a, b) => b.voxels - a.voxels || b.label - a.label);
  const labelmap = new Uint8Array(n);
  const coverage = new Uint8Array(n);
  let multi = false;
  for (const m of order) {
    const label = m.label;
    forEachNonZero(m.mask, (v) => {
      labelmap[v] = label;
      if (coverage[v]++ > 0) multi = true;
    });
  }
  const overlapsVoxels: OverlapCount[] = [];
  if (multi) {
    const sorted = [...masks].sort((a, b) => a.label - b.label);
    const pairs = new Map<number, number>();
    const present: number[] = [];
    forEachNonZero(coverage, (v, covered) => {
      if (covered < 2) return;
      present.length = 0;
      for (const m of sorted) if (m.mask[v] !== 0) present.push(m.label);
      for (let a = 0; a < present.length; a++) {
        for (let b = a + 1; b < present.length; b++) {
          const key = present[a] * 256 + present[b];
          pairs.set(key, (pairs.get(key) ?? 0) + 1);
        }
      }
    });
    for (const [key, voxels] of [...pairs.entries()].sort((x, y) => x[0] - y[0])) {
      overlapsVoxels.push({ labels: [Math.floor(key / 256), key % 256], voxels });
    }
  }
  return { labelmap, overlapsVoxels };
}
