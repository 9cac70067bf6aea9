/**
 * Where each value of a label volume lies, slice by slice: one pass over the voxels (skipping zero
 * words four bytes at a time), so the tracer and the merger only visit the few slices and rectangles
 * an organ occupies on a CT-sized grid.
 */

/** Inclusive in-plane bounding box of a value on one slice. */
export interface SliceBox {
  iMin: number;
  iMax: number;
  jMin: number;
  jMax: number;
}

/** Calls `visit(v, value)` for every non-zero voxel of `data`, in increasing `v`. */
export function forEachNonZero(data: ArrayLike<number>, visit: (v: number, value: number) => void): void {
  const n = data.length;
  if (data instanceof Uint8Array && data.byteOffset % 4 === 0) {
    const words = new Uint32Array(data.buffer, data.byteOffset, n >> 2);
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      for (let v = w << 2, end = v + 4; v < end; v++) if (data[v] !== 0) visit(v, data[v]);
    }
    for (let v = words.length << 2; v < n; v++) if (data[v] !== 0) visit(v, data[v]);
    return;
  }
  for (let v = 0; v < n; v++) if (data[v] !== 0) visit(v, data[v]);
}

/**
 * Per non-zero value, per slice, the bounding box of its voxels (undefined on slices without it).
 * @param data nx*ny*nz values, i fastest.
 */
export function boxesBySlice(data: ArrayLike<number>, nx: number, ny: number, nz: number): Map<number, (SliceBox | undefined)[]> {
  const out = new Map<number, (SliceBox | undefined)[]>();
  const sliceSize = nx * ny;
  forEachNonZero(data, (v, value) => {
    let slices = out.get(value);
    if (!slices) out.set(value, (slices = new Array<SliceBox | undefined>(nz).fill(undefined)));
    const k = Math.floor(v / sliceSize), rest = v - k * sliceSize, j = Math.floor(rest / nx), i = rest - j * nx;
    const b = slices[k];
    if (!b) slices[k] = { iMin: i, iMax: i, jMin: j, jMax: j };
    else {
      if (i < b.iMin) b.iMin = i;
      if (i > b.iMax) b.iMax = i;
      if (j < b.jMin) b.jMin = j;
      if (j > b.jMax) b.jMax = j;
    }
  });
  return out;
}

/** The union of the boxes of several values, slice by slice. */
export function unionBoxes(perValue: Iterable<(SliceBox | undefined)[]>, nz: number): (SliceBox | undefined)[] {
  const out = new Array<SliceBox | undefined>(nz).fill(undefined);
  for (const slices of perValue) {
    slices.forEach((b, k) => {
      if (!b) return;
      const o = out[k];
      out[k] = o ? { iMin: Math.min(o.iMin, b.iMin), iMax: Math.max(o.iMax, b.iMax), jMin: Math.min(o.jMin, b.jMin), jMax: Math.max(o.jMax, b.jMax) } : { ...b };
    });
  }
  return out;
}

/** Either one labelmap (value = label) or one 0/1 mask per label (overlaps allowed). */
export type RtMaskSource = { labelmap: ArrayLike<number> } | { masks: readonly { label: number; mask: ArrayLike<number> }[] };

/** One label's voxels in a mask source: the data, what marks the label in it, and its box per slice. */
export interface LabelVoxels {
  data: ArrayLike<number>;
  match: number | 'nonzero';
  boxes: (SliceBox | undefined)[];
}

/**
 * Looks up labels in a mask source on an nx x ny x nz grid (a labelmap's boxes found once, a mask's per
 * call). `who` starts the messages.
 * @throws RangeError when the source's size is not the grid's or a label has no mask.
 */
export function labelReader(source: RtMaskSource, nx: number, ny: number, nz: number, who: string): (label: number) => LabelVoxels {
  const voxels = nx * ny * nz;
  let labelmapBoxes: Map<number, (SliceBox | undefined)[]> | undefined;
  return (label) => {
    if ('labelmap' in source) {
      if (source.labelmap.length !== voxels) throw new RangeError(`${who}: labelmap has ${source.labelmap.length} voxels, the CT ${voxels}`);
      labelmapBoxes ??= boxesBySlice(source.labelmap, nx, ny, nz);
      return { data: source.labelmap, match: label, boxes: labelmapBoxes.get(label) ?? [] };
    }
    const m = source.masks.find((x) => x.label === label);
    if (!m) throw new RangeError(`${who}: no mask for label ${label}`);
    if (m.mask.length !== voxels) throw new RangeError(`${who}: mask of label ${label} has ${m.mask.length} voxels, the CT ${voxels}`);
    return { data: m.mask, match: 'nonzero', boxes: unionBoxes(boxesBySlice(m.mask, nx, ny, nz).values(), nz) };
  };
}
