/**
 * Qualitative overlays like the paper's Fig. 7: for one organ, the axial slice where the ground truth has
 * the largest area, CT in grey, ground truth green, prediction red, overlap yellow. Pure: arrays in, RGB out.
 * Volumes are `[nx, ny, nz]`, i fastest (libs/data volume.ts).
 */
export interface OverlayInput {
  /** CT in HU. */
  ct: ArrayLike<number>;
  /** Label maps (same shape as ct). */
  truth: ArrayLike<number>;
  prediction: ArrayLike<number>;
  shape: [number, number, number];
  /** Spacing in mm, so the picture keeps the patient's aspect ratio. */
  spacingMm: [number, number, number];
  label: number;
  /** HU window [lo, hi]; soft tissue by default. */
  windowHu?: [number, number];
  /** Margin around the organ's box, mm. */
  marginMm?: number;
  /** Longest side of the output, pixels. */
  sizePx?: number;
}

export interface Overlay {
  rgb: Uint8Array;
  width: number;
  height: number;
  slice: number;
  truthPixels: number;
  predictionPixels: number;
}

/** Index of the axial slice where `label` covers the most voxels in `labels`, or -1 when absent. */
export function largestAreaSlice(labels: ArrayLike<number>, shape: [number, number, number], label: number): number {
  const [nx, ny, nz] = shape;
  let best = -1, bestCount = 0;
  for (let k = 0; k < nz; k++) {
    let c = 0;
    const base = k * nx * ny;
    for (let p = 0; p < nx * ny; p++) if (labels[base + p] === label) c++;
    if (c > bestCount) [best, bestCount] = [k, c];
  }
  return best;
}

/** Renders the overlay; falls back to the prediction's largest slice when the truth lacks the organ; null when both lack it. */
export function renderOverlay(inp: OverlayInput): Overlay | null {
  const { shape, label } = inp;
  const [nx, ny] = shape;
  let k = largestAreaSlice(inp.truth, shape, label);
  if (k < 0) k = largestAreaSlice(inp.prediction, shape, label);
  if (k < 0) return null;
  const base = k * nx * ny;
  let tp = 0, pp = 0;
  for (let q = base; q < base + nx * ny; q++) {
    if (inp.truth[q] === label) tp++;
    if (inp.prediction[q] === label) pp++;
  }
  const picture = renderSlice(inp.ct, shape, inp.spacingMm, k, inp, (q) => {
    const t = inp.truth[q] === label, p = inp.prediction[q] === label;
    return t && p ? [255, 220, 0] : t ? [0, 200, 0] : p ? [230, 0, 0] : null;
  });
  return { ...picture, slice: k, truthPixels: tp, predictionPixels: pp };
}

/**
 * Axial slice `k` with every label of `labels` in its colour (`colours[label]`; labels without one are
 * not drawn), cropped around them; null when the slice holds none.
 */
export function renderLabelSlice(
  inp: Pick<OverlayInput, 'ct' | 'shape' | 'spacingMm' | 'windowHu' | 'marginMm' | 'sizePx'> & { labels: ArrayLike<number>; colours: Readonly<Record<number, readonly [number, number, number]>>; slice: number },
): { rgb: Uint8Array; width: number; height: number } | null {
  const base = inp.slice * inp.shape[0] * inp.shape[1];
  let any = false;
  for (let q = base; q < base + inp.shape[0] * inp.shape[1] && !any; q++) any = inp.colours[inp.labels[q]!] !== undefined;
  return any ? renderSlice(inp.ct, inp.shape, inp.spacingMm, inp.slice, inp, (q) => inp.colours[inp.labels[q]!] ?? null) : null;
}

/**
 * The shared drawing: slice k of the CT in grey (soft-tissue window by default), the colour `paint`
 * gives a voxel blended over it, cropped to the painted voxels plus a margin, at the patient's aspect ratio.
 */
function renderSlice(
  ct: ArrayLike<number>,
  shape: [number, number, number],
  spacingMm: [number, number, number],
  k: number,
  o: Pick<OverlayInput, 'windowHu' | 'marginMm' | 'sizePx'>,
  paint: (q: number) => readonly [number, number, number] | null,
): { rgb: Uint8Array; width: number; height: number } {
  const [nx, ny] = shape;
  const base = k * nx * ny;
  let x0 = nx, x1 = -1, y0 = ny, y1 = -1;
  for (let y = 0; y < ny; y++)
    for (let x = 0; x < nx; x++) {
      if (!paint(base + y * nx + x)) continue;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  const margin = o.marginMm ?? 25;
  const mx = Math.round(margin / spacingMm[0]), my = Math.round(margin / spacingMm[1]);
  x0 = Math.max(0, x0 - mx); x1 = Math.min(nx - 1, x1 + mx);
  y0 = Math.max(0, y0 - my); y1 = Math.min(ny - 1, y1 + my);
  const wMm = (x1 - x0 + 1) * spacingMm[0], hMm = (y1 - y0 + 1) * spacingMm[1];
  const size = o.sizePx ?? 240;
  const scale = size / Math.max(wMm, hMm);
  const width = Math.max(1, Math.round(wMm * scale)), height = Math.max(1, Math.round(hMm * scale));
  const [lo, hi] = o.windowHu ?? [-160, 240];
  const rgb = new Uint8Array(width * height * 3);
  for (let v = 0; v < height; v++) {
    // Nearest-neighbour sampling keeps voxel edges visible, as a physicist expects when judging contours.
    const y = Math.min(y1, y0 + Math.floor((v / height) * (y1 - y0 + 1)));
    for (let u = 0; u < width; u++) {
      const x = Math.min(x1, x0 + Math.floor((u / width) * (x1 - x0 + 1)));
      const q = base + y * nx + x;
      const g = Math.round(255 * Math.min(1, Math.max(0, (ct[q]! - lo) / (hi - lo))));
      const colour = paint(q);
      const out = (v * width + u) * 3;
      // Blend colours over the CT so the anatomy under the contour stays readable.
      const a = colour ? 0.55 : 0;
      const [r, gg, b] = colour ?? [g, g, g];
      rgb[out] = Math.round(a * r + (1 - a) * g);
      rgb[out + 1] = Math.round(a * gg + (1 - a) * g);
      rgb[out + 2] = Math.round(a * b + (1 - a) * g);
    }
  }
  return { rgb, width, height };
}
