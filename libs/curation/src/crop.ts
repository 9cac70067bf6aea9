/**
 * Chest removal: find the body, find where the shoulders begin from the axial body-area profile, and
 * keep the head and neck (top of the head down to the shoulders), cropped in x/y to the body. Every
 * annotated organ must stay inside: if one does not, the box is widened and a warning says so.
 *
 * Boxes are voxel index ranges of the source volume: `start` inclusive, `end` exclusive, axes [i, j, k].
 */
import { indexToPoint, type Vec3, type Volume, type VoxelArray } from '@anatomynet/data';

export interface CropBox {
  start: Vec3;
  end: Vec3;
}

export interface CropOptions {
  /** HU above which a voxel is body (default -400: above air and lung, below fat). */
  bodyThresholdHu?: number;
  /** Target in-plane sampling of the body search, mm (default 2). */
  searchSpacingMm?: number;
  /** Shoulders begin where the body area first reaches this multiple of the neck's (default 1.5). */
  shoulderRatio?: number;
  /** Smallest valley depth, relative, that counts as a neck (default 0.15). */
  minNeckDepth?: number;
  /** Margin kept around the body in x/y and around organs that force a widening, mm (default 5). */
  marginMm?: number;
}

export interface CropResult {
  box: CropBox;
  /** Index k (source volume) of the neck's narrowest slice and of the first shoulder slice, if found. */
  neckSlice: number | null;
  shoulderSlice: number | null;
  /** Body area per source slice k, mm² (holes filled). */
  areaProfileMm2: number[];
  warnings: string[];
}

/** Body mask on a coarse in-plane grid: the largest 6-connected component above the threshold. */
export interface BodyGrid {
  mask: Uint8Array;
  /** Grid shape [gx, gy, nz]; grid voxel (a, b, k) samples source voxel (a*sx, b*sy, k). */
  shape: Vec3;
  stride: [number, number];
}

export function findBody(ct: Volume, thresholdHu = -400, searchSpacingMm = 2): BodyGrid {
  const [nx, ny, nz] = ct.shape;
  const sx = Math.max(1, Math.floor(searchSpacingMm / ct.spacing[0]));
  const sy = Math.max(1, Math.floor(searchSpacingMm / ct.spacing[1]));
  const gx = Math.ceil(nx / sx), gy = Math.ceil(ny / sy);
  const n = gx * gy * nz;
  const above = new Uint8Array(n);
  const d = ct.data;
  for (let k = 0; k < nz; k++) {
    for (let b = 0; b < gy; b++) {
      const src = nx * (b * sy + ny * k);
      const dst = gx * (b + gy * k);
      for (let a = 0; a < gx; a++) above[dst + a] = d[src + a * sx] > thresholdHu ? 1 : 0;
    }
  }
  // Pass 1: size of every component, remembering the seed of the largest.
  const seen = new Uint8Array(n);
  const queue = new Int32Array(n);
  let bestSeed = -1, bestSize = 0;
  for (let s = 0; s < n; s++) {
    if (!above[s] || seen[s]) continue;
    const size = flood(above, seen, queue, s, gx, gy, nz);
    if (size > bestSize) { bestSize = size; bestSeed = s; }
  }
  const mask = new Uint8Array(n);
  if (bestSeed >= 0) {
    seen.fill(0);
    const size = flood(above, seen, queue, bestSeed, gx, gy, nz);
    for (let q = 0; q < size; q++) mask[queue[q]] = 1;
  }
  return { mask, shape: [gx, gy, nz], stride: [sx, sy] };
}

/** Breadth-first 6-connected flood from `seed` over `on`; marks `seen`; leaves the members in queue[0..size). */
function flood(on: Uint8Array, seen: Uint8Array, queue: Int32Array, seed: number, gx: number, gy: number, nz: number): number {
  const plane = gx * gy;
  let head = 0, tail = 0;
  queue[tail++] = seed;
  seen[seed] = 1;
  while (head < tail) {
    const p = queue[head++];
    const a = p % gx, b = ((p - a) / gx) % gy, k = (p - a - gx * b) / plane;
    if (a > 0 && on[p - 1] && !seen[p - 1]) { seen[p - 1] = 1; queue[tail++] = p - 1; }
    if (a < gx - 1 && on[p + 1] && !seen[p + 1]) { seen[p + 1] = 1; queue[tail++] = p + 1; }
    if (b > 0 && on[p - gx] && !seen[p - gx]) { seen[p - gx] = 1; queue[tail++] = p - gx; }
    if (b < gy - 1 && on[p + gx] && !seen[p + gx]) { seen[p + gx] = 1; queue[tail++] = p + gx; }
    if (k > 0 && on[p - plane] && !seen[p - plane]) { seen[p - plane] = 1; queue[tail++] = p - plane; }
    if (k < nz - 1 && on[p + plane] && !seen[p + plane]) { seen[p + plane] = 1; queue[tail++] = p + plane; }
  }
  return tail;
}

/**
 * Body cross-section area per slice in mm², internal air (airway, sinuses, lungs) counted as body:
 * a slice's area is everything not reachable from the slice border through non-body.
 */
export function bodyAreaProfile(body: BodyGrid, spacing: Vec3): number[] {
  const [gx, gy, nz] = body.shape;
  const cellMm2 = body.stride[0] * spacing[0] * body.stride[1] * spacing[1];
  const plane = gx * gy;
  const outside = new Uint8Array(plane);
  const queue = new Int32Array(plane);
  const areas: number[] = [];
  for (let k = 0; k < nz; k++) {
    const off = k * plane;
    const m = body.mask.subarray(off, off + plane);
    let any = false;
    for (let p = 0; p < plane; p++) if (m[p]) { any = true; break; }
    if (!any) { areas.push(0); continue; }
    outside.fill(0);
    let head = 0, tail = 0;
    const push = (p: number) => { if (!m[p] && !outside[p]) { outside[p] = 1; queue[tail++] = p; } };
    for (let a = 0; a < gx; a++) { push(a); push(a + gx * (gy - 1)); }
    for (let b = 0; b < gy; b++) { push(gx * b); push(gx * b + gx - 1); }
    while (head < tail) {
      const p = queue[head++];
      const a = p % gx, b = (p - a) / gx;
      if (a > 0) push(p - 1);
      if (a < gx - 1) push(p + 1);
      if (b > 0) push(p - gx);
      if (b < gy - 1) push(p + gx);
    }
    areas.push((plane - tail) * cellMm2);
  }
  return areas;
}

/** Centred moving average over `window` samples (odd), shrinking at the ends. */
export function smooth(values: number[], window: number): number[] {
  const h = Math.max(0, Math.floor(window / 2));
  return values.map((_, i) => {
    let s = 0, c = 0;
    for (let j = Math.max(0, i - h); j <= Math.min(values.length - 1, i + h); j++) { s += values[j]; c++; }
    return s / c;
  });
}

/**
 * Neck and shoulders on a profile ordered from the top of the head downwards.
 * The neck is the deepest valley between a larger area above (the head) and a larger area below
 * (shoulders/chest); the shoulders begin at the first position below the neck whose area reaches
 * `ratio` times the neck's. Returns positions in the given order, or nulls when there is no neck.
 */
export function findShoulders(ordered: number[], ratio = 1.5, minDepth = 0.15): { neck: number | null; shoulder: number | null } {
  const n = ordered.length;
  if (n < 3) return { neck: null, shoulder: null };
  const pre = new Array<number>(n), suf = new Array<number>(n);
  for (let i = 0; i < n; i++) pre[i] = Math.max(ordered[i], i > 0 ? pre[i - 1] : 0);
  for (let i = n - 1; i >= 0; i--) suf[i] = Math.max(ordered[i], i < n - 1 ? suf[i + 1] : 0);
  let neck = -1, best = 0;
  for (let i = 1; i < n - 1; i++) {
    const rim = Math.min(pre[i], suf[i]);
    if (rim <= 0) continue;
    const depth = (rim - ordered[i]) / rim;
    if (depth > best + 1e-12) { best = depth; neck = i; }
  }
  if (neck < 0 || best < minDepth) return { neck: null, shoulder: null };
  for (let i = neck + 1; i < n; i++) if (ordered[i] >= ratio * ordered[neck]) return { neck, shoulder: i };
  return { neck, shoulder: null };
}

/** Voxel bounding box (end exclusive) of non-zero voxels, or null if none. */
export function maskBounds(mask: VoxelArray, shape: Vec3): CropBox | null {
  const [nx, ny, nz] = shape;
  let x0 = nx, y0 = ny, z0 = nz, x1 = -1, y1 = -1, z1 = -1;
  for (let k = 0, p = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, p++) {
        if (mask[p] !== 0) {
          if (i < x0) x0 = i; if (i > x1) x1 = i;
          if (j < y0) y0 = j; if (j > y1) y1 = j;
          if (k < z0) z0 = k; if (k > z1) z1 = k;
        }
      }
    }
  }
  return x1 < 0 ? null : { start: [x0, y0, z0], end: [x1 + 1, y1 + 1, z1 + 1] };
}

export function boxContains(outer: CropBox, inner: CropBox): boolean {
  return [0, 1, 2].every((a) => inner.start[a] >= outer.start[a] && inner.end[a] <= outer.end[a]);
}

export function boxUnion(a: CropBox, b: CropBox): CropBox {
  return {
    start: [0, 1, 2].map((x) => Math.min(a.start[x], b.start[x])) as Vec3,
    end: [0, 1, 2].map((x) => Math.max(a.end[x], b.end[x])) as Vec3,
  };
}

function growBox(b: CropBox, marginVox: Vec3, shape: Vec3): CropBox {
  return {
    start: [0, 1, 2].map((a) => Math.max(0, b.start[a] - marginVox[a])) as Vec3,
    end: [0, 1, 2].map((a) => Math.min(shape[a], b.end[a] + marginVox[a])) as Vec3,
  };
}

/**
 * The automatic crop box of one CT.
 * @param ct CT in HU, any VoxelArray.
 * @param organBoxes voxel bounds of each annotated organ (key -> box), all on the CT's grid.
 */
export function computeCropBox(ct: Volume, organBoxes: ReadonlyMap<string, CropBox> = new Map(), opts: CropOptions = {}): CropResult {
  const warnings: string[] = [];
  const shape = ct.shape;
  const margin = opts.marginMm ?? 5;
  const marginVox = ct.spacing.map((s) => Math.ceil(margin / s)) as Vec3;
  const body = findBody(ct, opts.bodyThresholdHu ?? -400, opts.searchSpacingMm ?? 2);
  const areas = bodyAreaProfile(body, ct.spacing);
  let box: CropBox = { start: [0, 0, 0], end: [...shape] as Vec3 };
  let neckSlice: number | null = null, shoulderSlice: number | null = null;

  const bodyBounds = maskBounds(body.mask, body.shape);
  if (!bodyBounds) {
    warnings.push('no body found above the threshold: volume kept whole');
  } else if (Math.abs(ct.direction[8]) < 0.9) {
    warnings.push('slices are not axial: no inferior cut made');
  } else {
    // Order slices from the top of the head down: LPS +z is superior.
    const z = (k: number) => indexToPoint(ct, [0, 0, k])[2];
    const withBody = areas.map((a, k) => k).filter((k) => areas[k] > 0).sort((a, b) => z(b) - z(a));
    const win = Math.max(1, Math.round(10 / ct.spacing[2])) | 1;
    const profile = smooth(withBody.map((k) => areas[k]), win);
    const { neck, shoulder } = findShoulders(profile, opts.shoulderRatio ?? 1.5, opts.minNeckDepth ?? 0.15);
    if (neck === null) warnings.push('no neck found in the body-area profile: no inferior cut made');
    else neckSlice = withBody[neck];
    const top = withBody[0], keepEnd = shoulder === null ? withBody.length - 1 : shoulder;
    if (neck !== null && shoulder === null) warnings.push('no shoulders found below the neck: no inferior cut made');
    shoulderSlice = shoulder === null ? null : withBody[shoulder];
    const kept = withBody.slice(0, keepEnd + 1);
    let k0 = Math.min(top, ...kept), k1 = Math.max(top, ...kept) + 1;
    k0 = Math.max(0, k0); k1 = Math.min(shape[2], k1);
    // x/y: body extent over the kept slices, plus a margin.
    let a0 = Infinity, a1 = -Infinity, b0 = Infinity, b1 = -Infinity;
    const [gx, gy] = body.shape;
    for (let k = k0; k < k1; k++) {
      const off = k * gx * gy;
      for (let b = 0; b < gy; b++) for (let a = 0; a < gx; a++) {
        if (body.mask[off + a + gx * b]) { if (a < a0) a0 = a; if (a > a1) a1 = a; if (b < b0) b0 = b; if (b > b1) b1 = b; }
      }
    }
    const [sx, sy] = body.stride;
    box = growBox(
      { start: [a0 * sx, b0 * sy, k0], end: [Math.min(shape[0], a1 * sx + sx), Math.min(shape[1], b1 * sy + sy), k1] },
      [marginVox[0], marginVox[1], 0],
      shape,
    );
  }
  const widened = ensureOrgansInside(box, organBoxes, marginVox, shape);
  warnings.push(...widened.warnings);
  return { box: widened.box, neckSlice, shoulderSlice, areaProfileMm2: areas, warnings };
}

/** Widen `box` (with a margin) to hold every organ box; one warning per organ that was outside. */
export function ensureOrgansInside(box: CropBox, organBoxes: ReadonlyMap<string, CropBox>, marginVox: Vec3, shape: Vec3): { box: CropBox; warnings: string[] } {
  const warnings: string[] = [];
  let out = box;
  for (const [organ, ob] of [...organBoxes].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
    if (boxContains(out, ob)) continue;
    out = boxUnion(out, growBox(ob, marginVox, shape));
    warnings.push(`crop widened to keep ${organ} inside`);
  }
  return { box: out, warnings };
}

/** The sub-volume inside `box`, same spacing and direction, origin moved to the box's first voxel. */
export function cropVolume<T extends VoxelArray>(v: Volume<T>, box: CropBox): Volume<T> {
  const [nx, ny] = v.shape;
  const size = [0, 1, 2].map((a) => box.end[a] - box.start[a]) as Vec3;
  if (size.some((s, a) => s <= 0 || box.start[a] < 0 || box.end[a] > v.shape[a])) {
    throw new RangeError(`cropVolume: box ${JSON.stringify(box)} is not inside shape ${v.shape.join('x')}`);
  }
  const Ctor = v.data.constructor as new (n: number) => T;
  const data = new Ctor(size[0] * size[1] * size[2]);
  for (let k = 0; k < size[2]; k++) {
    for (let j = 0; j < size[1]; j++) {
      const src = box.start[0] + nx * (box.start[1] + j + ny * (box.start[2] + k));
      data.set(v.data.subarray(src, src + size[0]) as any, size[0] * (j + size[1] * k));
    }
  }
  const out: Volume<T> = {
    data,
    shape: size,
    spacing: [...v.spacing] as Vec3,
    origin: indexToPoint(v, box.start),
    direction: [...v.direction] as Volume['direction'],
  };
  if (v.slicePositionsMm) {
    out.slicePositionsMm = v.slicePositionsMm.slice(box.start[2], box.end[2]);
    out.sliceSpacingUniform = v.sliceSpacingUniform;
  }
  return out;
}
