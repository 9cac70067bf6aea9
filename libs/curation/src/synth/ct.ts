/**
 * Renders a patient on a grid: a tissue label map (painter's order), then HU per voxel with the case's
 * tissue values, Gaussian noise (scanner noise plus each tissue's texture) and a light in-plane blur
 * (so the noise has the fine grain of CT).
 */
import type { Volume } from '@anatomynet/data';
import type { Patient } from './patient';
import type { Rng } from './prng';
import { paintShape, type Grid } from './raster';
import { TISSUE_ID, tissueTextureSd } from './tissues';

/** Tissue label per voxel (ids of TISSUES), length nx*ny*nz, i fastest. */
export function renderLabels(patient: Patient, grid: Grid): Uint8Array {
  const labels = new Uint8Array(grid.shape[0] * grid.shape[1] * grid.shape[2]); // 0 = air
  for (const layer of patient.layers) paintShape(grid, layer.shape, labels, TISSUE_ID[layer.tissue]);
  return labels;
}

let normalTable: Float32Array | null = null;
/** 65536 standard-normal quantiles (Acklam's inverse CDF), indexed by a random 16-bit number. */
function normals(): Float32Array {
  if (normalTable) return normalTable;
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = inverseNormalCdf((i + 0.5) / t.length);
  normalTable = t;
  return t;
}

function inverseNormalCdf(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628274631];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - pl) return -inverseNormalCdf(1 - p);
  const q = p - 0.5, r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** Gain of the [1,2,1]/4 x [1,2,1]/4 blur on white noise's standard deviation. */
const BLUR_NOISE_GAIN = 6 / 16;

/**
 * HU volume from labels.
 * @param tissueHu HU per tissue id.
 * @param noiseSdHu standard deviation of the scanner noise after the blur (HU); heterogeneous tissues
 *   (bone marrow, lung, parotid...) add their own texture on top.
 * @returns int16 HU, clamped to [-1024, 3071] like a 12-bit scanner.
 */
export function renderHu(labels: Uint8Array, grid: Grid, tissueHu: Float32Array, noiseSdHu: number, rng: Rng): Volume<Int16Array> {
  const [nx, ny, nz] = grid.shape;
  const n = nx * ny;
  const out = new Int16Array(n * nz);
  const table = normals();
  // Per tissue: scanner noise plus the tissue's own texture (independent, so the SDs add in quadrature).
  const texture = tissueTextureSd();
  const sdOf = Float32Array.from(texture, (t) => Math.hypot(noiseSdHu, t) / BLUR_NOISE_GAIN);
  const a = new Float32Array(n), b = new Float32Array(n);
  for (let k = 0; k < nz; k++) {
    const base = k * n;
    for (let o = 0; o < n; o += 2) {
      const r = rng.nextUint32();
      const l0 = labels[base + o]!;
      a[o] = tissueHu[l0]! + sdOf[l0]! * table[r & 0xffff]!;
      if (o + 1 < n) {
        const l1 = labels[base + o + 1]!;
        a[o + 1] = tissueHu[l1]! + sdOf[l1]! * table[r >>> 16]!;
      }
    }
    // [1,2,1]/4 along i (edges replicate), then along j.
    for (let j = 0; j < ny; j++) {
      const row = j * nx;
      for (let i = 0; i < nx; i++) {
        const l = a[row + (i > 0 ? i - 1 : 0)]!, rr = a[row + (i < nx - 1 ? i + 1 : nx - 1)]!;
        b[row + i] = 0.25 * l + 0.5 * a[row + i]! + 0.25 * rr;
      }
    }
    for (let j = 0; j < ny; j++) {
      const up = (j > 0 ? j - 1 : 0) * nx, dn = (j < ny - 1 ? j + 1 : ny - 1) * nx, row = j * nx;
      for (let i = 0; i < nx; i++) {
        const v = Math.round(0.25 * b[up + i]! + 0.5 * b[row + i]! + 0.25 * b[dn + i]!);
        out[base + row + i] = v < -1024 ? -1024 : v > 3071 ? 3071 : v;
      }
    }
  }
  return {
    data: out,
    shape: [nx, ny, nz],
    spacing: [...grid.spacing],
    origin: [...grid.origin],
    direction: [...grid.direction],
  };
}
