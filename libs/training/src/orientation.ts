/**
 * Canonical orientation for the network: every case is shown with i along the patient's left, j posterior
 * and k superior (LPS), whatever its scan orientation (HFS, FFS, HFP ...). Without it a feet-first scan
 * presents the head upside down and left organs on the other side, and the network cannot learn which
 * parotid is the left one. Only axis permutations and flips are used (no resampling), so the mapping is
 * exact and invertible; oblique directions take the nearest axis.
 */
export type Shape3 = [number, number, number];

export interface Orientation {
  /** perm[p] = the source index axis that becomes canonical axis p (0 = L, 1 = P, 2 = S). */
  perm: [number, number, number];
  /** flip[p]: canonical axis p runs against its source axis. */
  flip: [boolean, boolean, boolean];
}

export const IDENTITY_ORIENTATION: Orientation = { perm: [0, 1, 2], flip: [false, false, false] };

/** From a row-major direction matrix (columns = index axes in LPS). @throws RangeError if two axes share an LPS axis. */
export function canonicalOrientation(direction: ArrayLike<number>): Orientation {
  const perm: number[] = [-1, -1, -1];
  const flip: boolean[] = [false, false, false];
  for (let a = 0; a < 3; a++) {
    let p = 0;
    for (let r = 1; r < 3; r++) if (Math.abs(direction[r * 3 + a]) > Math.abs(direction[p * 3 + a])) p = r;
    if (perm[p] !== -1) throw new RangeError(`canonicalOrientation: index axes ${perm[p]} and ${a} both point along LPS axis ${p}`);
    perm[p] = a;
    flip[p] = direction[p * 3 + a] < 0;
  }
  return { perm: perm as Orientation['perm'], flip: flip as Orientation['flip'] };
}

export const canonicalShape = (shape: Shape3, o: Orientation): Shape3 => [shape[o.perm[0]], shape[o.perm[1]], shape[o.perm[2]]];

/** Source index offset of every canonical voxel, in canonical order. */
function sourceOffsets(shape: Shape3, o: Orientation): Uint32Array {
  const cs = canonicalShape(shape, o);
  const stride = [1, shape[0], shape[0] * shape[1]];
  const step = [0, 1, 2].map((p) => (o.flip[p] ? -1 : 1) * stride[o.perm[p]]);
  const start = [0, 1, 2].reduce((s, p) => s + (o.flip[p] ? (cs[p] - 1) * stride[o.perm[p]] : 0), 0);
  const out = new Uint32Array(cs[0] * cs[1] * cs[2]);
  let q = 0;
  for (let z = 0; z < cs[2]; z++)
    for (let y = 0; y < cs[1]; y++) {
      let s = start + z * step[2] + y * step[1];
      for (let x = 0; x < cs[0]; x++, s += step[0]) out[q++] = s;
    }
  return out;
}

/** Source volume -> canonical volume (same element type). */
export function toCanonical<T extends Float32Array | Uint8Array>(data: T, shape: Shape3, o: Orientation): T {
  const map = sourceOffsets(shape, o);
  const out = new (data.constructor as { new (n: number): T })(data.length);
  for (let q = 0; q < map.length; q++) out[q] = data[map[q]];
  return out;
}

/** Canonical volume -> source volume: the exact inverse of {@link toCanonical}. */
export function fromCanonical<T extends Float32Array | Uint8Array>(data: T, sourceShape: Shape3, o: Orientation): T {
  const map = sourceOffsets(sourceShape, o);
  const out = new (data.constructor as { new (n: number): T })(data.length);
  for (let q = 0; q < map.length; q++) out[map[q]] = data[q];
  return out;
}

/** Spacing along the canonical axes. */
export const canonicalSpacing = (spacing: Shape3, o: Orientation): Shape3 => [spacing[o.perm[0]], spacing[o.perm[1]], spacing[o.perm[2]]];
