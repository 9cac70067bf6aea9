/**
 * Organ masks -> one label volume, with availability, sizes and overlaps per organ.
 * Masks are sparse here: the sorted voxel offsets (offset = i + nx*(j + ny*k)) where the organ is.
 */
import type { Vec3 } from '@anatomynet/data';
import { ORGANS, type OrganKey } from './organs';
import type { CropBox } from './crop';

/** annotated: a structure maps to the organ and has voxels; annotated-empty: it maps but rasterises to nothing. */
export type Availability = 'annotated' | 'not-annotated' | 'annotated-empty';

/**
 * Sorted, unique voxel offsets of the non-zero voxels of a mask. Organ masks are sparse, so a byte
 * mask is scanned four voxels at a time and zero words are skipped.
 */
export function maskToOffsets(mask: ArrayLike<number>): Int32Array {
  const out: number[] = [];
  let p = 0;
  if (mask instanceof Uint8Array && mask.byteOffset % 4 === 0) {
    const words = new Uint32Array(mask.buffer, mask.byteOffset, mask.length >> 2);
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      for (let b = w * 4; b < w * 4 + 4; b++) if (mask[b] !== 0) out.push(b);
    }
    p = words.length * 4;
  }
  for (; p < mask.length; p++) if (mask[p] !== 0) out.push(p);
  return Int32Array.from(out);
}

/** Union of two sorted offset lists. */
export function unionOffsets(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  let i = 0, j = 0, n = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out[n++] = a[i++];
    else if (i >= a.length || b[j] < a[i]) out[n++] = b[j++];
    else { out[n++] = a[i++]; j++; }
  }
  return out.slice(0, n);
}

/** Size of the intersection of two sorted offset lists. */
export function intersectionCount(a: Int32Array, b: Int32Array): number {
  let i = 0, j = 0, n = 0;
  while (i < a.length && j < b.length) {
    if (a[i] < b[j]) i++;
    else if (b[j] < a[i]) j++;
    else { n++; i++; j++; }
  }
  return n;
}

/** Voxel bounds (end exclusive) of an offset list on `shape`, or null if empty. */
export function offsetsBounds(offsets: Int32Array, shape: Vec3): CropBox | null {
  if (offsets.length === 0) return null;
  const [nx, ny] = shape;
  const s: Vec3 = [Infinity, Infinity, Infinity], e: Vec3 = [-1, -1, -1];
  for (const p of offsets) {
    const i = p % nx, j = Math.floor(p / nx) % ny, k = Math.floor(p / (nx * ny));
    if (i < s[0]) s[0] = i; if (i > e[0]) e[0] = i;
    if (j < s[1]) s[1] = j; if (j > e[1]) e[1] = j;
    if (k < s[2]) s[2] = k; if (k > e[2]) e[2] = k;
  }
  return { start: s, end: [e[0] + 1, e[1] + 1, e[2] + 1] };
}

/**
 * Availability of every organ: `annotated` organs are those present in `masks` with voxels,
 * `annotated-empty` those present with none, the rest `not-annotated`.
 */
export function availabilityOf(masks: ReadonlyMap<OrganKey, Int32Array>): Record<OrganKey, Availability> {
  const out = {} as Record<OrganKey, Availability>;
  for (const o of ORGANS) {
    const m = masks.get(o.key);
    out[o.key] = m === undefined ? 'not-annotated' : m.length > 0 ? 'annotated' : 'annotated-empty';
  }
  return out;
}

export interface Overlap {
  a: OrganKey;
  b: OrganKey;
  voxels: number;
}

export interface LabelMap {
  /** uint8 labels 0..9 on the grid of `shape`. */
  labels: Uint8Array;
  /** Voxels per organ in the final label map (after overlaps were resolved). */
  voxels: Record<OrganKey, number>;
  /** Voxels claimed by two organs before resolution (pairs in label order, only non-zero). */
  overlaps: Overlap[];
}

/**
 * Merge organ masks into one label volume; where organs overlap the smaller organ wins (so a thin
 * optic nerve is not swallowed by a neighbour). Equal sizes go to the lower label: the rule of
 * `mergeLabels` in @anatomynet/rt, here on sparse masks so nine full-size masks never coexist.
 */
export function buildLabelMap(shape: Vec3, masks: ReadonlyMap<OrganKey, Int32Array>): LabelMap {
  const labels = new Uint8Array(shape[0] * shape[1] * shape[2]);
  const present = ORGANS.filter((o) => (masks.get(o.key)?.length ?? 0) > 0);
  const overlaps: Overlap[] = [];
  for (let x = 0; x < present.length; x++) {
    for (let y = x + 1; y < present.length; y++) {
      const n = intersectionCount(masks.get(present[x].key)!, masks.get(present[y].key)!);
      if (n > 0) overlaps.push({ a: present[x].key, b: present[y].key, voxels: n });
    }
  }
  // Paint the largest first so smaller organs overwrite it.
  const order = [...present].sort((p, q) => masks.get(q.key)!.length - masks.get(p.key)!.length || q.index - p.index);
  for (const o of order) for (const p of masks.get(o.key)!) labels[p] = o.index;
  const voxels = countLabels(labels);
  return { labels, voxels, overlaps };
}

/** Voxels per organ label in a label volume. */
export function countLabels(labels: ArrayLike<number>): Record<OrganKey, number> {
  const counts = new Array<number>(ORGANS.length + 1).fill(0);
  for (let p = 0; p < labels.length; p++) {
    const v = labels[p];
    if (v > 0 && v <= ORGANS.length) counts[v]++;
  }
  const out = {} as Record<OrganKey, number>;
  for (const o of ORGANS) out[o.key] = counts[o.index];
  return out;
}

/** mL of `voxels` voxels of the given spacing (mm), rounded to 0.001 mL for stable output. */
export function voxelsToMl(voxels: number, spacing: Vec3): number {
  return Math.round((voxels * spacing[0] * spacing[1] * spacing[2]) / 1000 * 1000) / 1000;
}
