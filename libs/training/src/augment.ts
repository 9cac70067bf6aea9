/**
 * Training-time augmentation as in the public AnatomyNet code: one random 2D affine plus one 2D elastic
 * deformation, drawn once per sample and applied identically to every axial slice; bilinear for the image,
 * nearest neighbour for the labels. An optional left-right flip swaps the L and R organ labels, since a
 * mirrored left parotid is anatomically a right parotid.
 *
 * Volumes are `[nx, ny, nz]` with i fastest (see libs/data volume.ts); "axial slice" means fixed k, and
 * the i axis is the patient's left-right axis (true of axial HFS/FFS/HFP acquisitions the curator publishes).
 */
import { type Rng, uniform } from '@anatomynet/random';

export interface AugmentConfig {
  /** Probability of applying the deformation at all. */
  probability: number;
  /** Max in-plane rotation, degrees. */
  rotationDeg: number;
  /** Max relative scale change (0.1 -> 0.9..1.1). */
  scale: number;
  /** Max shear (radians-ish, small). */
  shear: number;
  /** Max translation as a fraction of the slice size. */
  translate: number;
  /** Elastic displacement magnitude (pixels * sigma units, as in Simard et al.); 0 disables. */
  elasticAlpha: number;
  /** Elastic smoothing, pixels. */
  elasticSigma: number;
  /** Probability of a left-right flip (with L/R label swap); 0 in the public code. */
  flipLR: number;
}

export const PUBLIC_CODE_AUGMENT: AugmentConfig = {
  probability: 1,
  rotationDeg: 10,
  scale: 0.1,
  shear: 0.05,
  translate: 0.05,
  elasticAlpha: 1000,
  elasticSigma: 30,
  flipLR: 0,
};

/** Label pairs swapped by a left-right flip (REFERENCE.md order: 4/5 optic nerves, 6/7 parotids, 8/9 submandibular). */
export const LR_LABEL_PAIRS: ReadonlyArray<[number, number]> = [
  [4, 5],
  [6, 7],
  [8, 9],
];

/** The class a left-right mirror turns each class into (`LR_LABEL_PAIRS` swapped, others kept): a permutation of 0..n-1. */
export function leftRightClassSwap(numClasses: number): number[] {
  const swap = Array.from({ length: numClasses }, (_, i) => i);
  for (const [l, r] of LR_LABEL_PAIRS) if (r < numClasses) [swap[l], swap[r]] = [r, l];
  return swap;
}

/** A per-pixel sampling map: for output pixel (x, y), read the input at (srcX, srcY). */
export interface SamplingField {
  nx: number;
  ny: number;
  srcX: Float32Array;
  srcY: Float32Array;
  /** The map mirrors the i (patient left-right) axis: L and R labels must be swapped. */
  flipped: boolean;
}

/** Separable Gaussian blur of a 2D field in place (zero padding), radius 3 sigma. */
export function gaussianBlur2D(field: Float32Array, nx: number, ny: number, sigma: number): void {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let t = -r; t <= r; t++) s += k[t + r] = Math.exp(-(t * t) / (2 * sigma * sigma));
  for (let t = 0; t < k.length; t++) k[t] /= s;
  const tmp = new Float32Array(field.length);
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      let acc = 0;
      const lo = Math.max(-r, -x), hi = Math.min(r, nx - 1 - x);
      for (let t = lo; t <= hi; t++) acc += k[t + r] * field[y * nx + x + t];
      tmp[y * nx + x] = acc;
    }
  }
  for (let y = 0; y < ny; y++) {
    const lo = Math.max(-r, -y), hi = Math.min(r, ny - 1 - y);
    for (let x = 0; x < nx; x++) {
      let acc = 0;
      for (let t = lo; t <= hi; t++) acc += k[t + r] * tmp[(y + t) * nx + x];
      field[y * nx + x] = acc;
    }
  }
}

/** Draws one sampling field (affine about the slice centre, plus elastic), or null when not applied. */
export function drawSamplingField(nx: number, ny: number, cfg: AugmentConfig, rng: Rng): SamplingField | null {
  if (rng() >= cfg.probability) return null;
  const theta = (uniform(rng, -cfg.rotationDeg, cfg.rotationDeg) * Math.PI) / 180;
  const sx = 1 + uniform(rng, -cfg.scale, cfg.scale);
  const sy = 1 + uniform(rng, -cfg.scale, cfg.scale);
  const sh = uniform(rng, -cfg.shear, cfg.shear);
  const tx = uniform(rng, -cfg.translate, cfg.translate) * nx;
  const ty = uniform(rng, -cfg.translate, cfg.translate) * ny;
  const flip = rng() < cfg.flipLR;
  const c = Math.cos(theta), s = Math.sin(theta);
  // Output -> input map: src = A * (dst - centre) + centre + t, A = R * Shear * Scale.
  const a00 = c * sx, a01 = (c * sh - s) * sy;
  const a10 = s * sx, a11 = (s * sh + c) * sy;
  const cx = (nx - 1) / 2, cy = (ny - 1) / 2;
  const srcX = new Float32Array(nx * ny), srcY = new Float32Array(nx * ny);
  let dx: Float32Array | null = null, dy: Float32Array | null = null;
  if (cfg.elasticAlpha > 0) {
    dx = new Float32Array(nx * ny);
    dy = new Float32Array(nx * ny);
    for (let p = 0; p < dx.length; p++) {
      dx[p] = uniform(rng, -1, 1);
      dy[p] = uniform(rng, -1, 1);
    }
    gaussianBlur2D(dx, nx, ny, cfg.elasticSigma);
    gaussianBlur2D(dy, nx, ny, cfg.elasticSigma);
  }
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      const p = y * nx + x;
      const ox = (flip ? nx - 1 - x : x) - cx, oy = y - cy;
      srcX[p] = a00 * ox + a01 * oy + cx + tx + (dx ? cfg.elasticAlpha * dx[p] : 0);
      srcY[p] = a10 * ox + a11 * oy + cy + ty + (dy ? cfg.elasticAlpha * dy[p] : 0);
    }
  }
  return { nx, ny, srcX, srcY, flipped: flip };
}

/**
 * Applies one sampling field to every axial slice. Image: bilinear, outside -> `fill`.
 * Labels: nearest, outside -> 0 (background); swapped L<->R when the field contains a flip.
 */
export function applyField(
  field: SamplingField,
  image: Float32Array,
  labels: Uint8Array | null,
  shape: [number, number, number],
  fill: number,
): { image: Float32Array; labels: Uint8Array | null } {
  const [nx, ny, nz] = shape;
  if (field.nx !== nx || field.ny !== ny) throw new RangeError(`applyField: field ${field.nx}x${field.ny} vs slice ${nx}x${ny}`);
  const outI = new Float32Array(image.length);
  const outL = labels ? new Uint8Array(labels.length) : null;
  const swap = field.flipped ? leftRightClassSwap(256) : Array.from({ length: 256 }, (_, i) => i);
  const plane = nx * ny;
  for (let p = 0; p < plane; p++) {
    const sx = field.srcX[p], sy = field.srcY[p];
    const x0 = Math.floor(sx), y0 = Math.floor(sy);
    const fx = sx - x0, fy = sy - y0;
    const inside = x0 >= 0 && y0 >= 0 && x0 + 1 < nx && y0 + 1 < ny;
    const xn = Math.round(sx), yn = Math.round(sy);
    const nearestInside = xn >= 0 && yn >= 0 && xn < nx && yn < ny;
    for (let k = 0; k < nz; k++) {
      const base = k * plane;
      if (inside) {
        const q = base + y0 * nx + x0;
        const top = image[q] * (1 - fx) + image[q + 1] * fx;
        const bot = image[q + nx] * (1 - fx) + image[q + nx + 1] * fx;
        outI[base + p] = top * (1 - fy) + bot * fy;
      } else {
        outI[base + p] = fill;
      }
      if (outL && labels) outL[base + p] = nearestInside ? swap[labels[base + yn * nx + xn]] : 0;
    }
  }
  return { image: outI, labels: outL };
}
