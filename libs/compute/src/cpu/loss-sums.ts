/**
 * Per-class voxel sums of the segmentation losses (libs/losses) in one pass over probabilities
 * p and targets g, both [N, V, C] row-major, and their gradients in one pass each. tfjs's
 * composed version materialises every product ([N, V, C] each) and its gradient another ten or so.
 * Sums accumulate in float64 in voxel order (deterministic).
 */

export interface SoftCountSums {
  /** [N, C] sum_v p g */
  tp: Float32Array;
  /** [N, C] sum_v p */
  sumP: Float32Array;
}

/** Soft TP and sum of p per case and class (sum of g, a constant, is left to the caller). */
export function softCountSums(p: Float32Array, g: Float32Array, n: number, v: number, c: number): SoftCountSums {
  const tp = new Float64Array(n * c), sp = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    const oc = i * c;
    for (let o = i * v * c, end = o + v * c; o < end; o += c) {
      for (let j = 0; j < c; j++) {
        const a = p[o + j];
        tp[oc + j] += a * g[o + j];
        sp[oc + j] += a;
      }
    }
  }
  return { tp: Float32Array.from(tp), sumP: Float32Array.from(sp) };
}

/**
 * Gradient of {@link softCountSums} given the gradients of its outputs ([N, C] each):
 * d/dp = dtp g + dsumP (`other` = g, `dsum` = dsumP), d/dg = dtp p (`other` = p, no `dsum`).
 */
export function softCountSumsGrad(dtp: Float32Array, dsum: Float32Array | undefined, other: Float32Array,
  n: number, v: number, c: number): Float32Array {
  const out = new Float32Array(other.length);
  const ds = dsum ?? new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    const oc = i * c;
    for (let o = i * v * c, end = o + v * c; o < end; o += c) {
      for (let j = 0; j < c; j++) out[o + j] = dtp[oc + j] * other[o + j] + ds[oc + j];
    }
  }
  return out;
}

/** Options of the focal sums, as in libs/losses focalLoss. */
export interface FocalOptions {
  /** Focusing exponent gamma >= 0 of (1 - p)^gamma. */
  gamma: number;
  /** p is clamped below at eps before the logarithm (its gradient is then 0). */
  eps: number;
}

/**
 * (1 - p)^gamma as libs/losses `modulation` defines it: 1 for gamma 0, repeated products for
 * integer gamma <= 4, pow(max(1 - p, 1e-12), gamma) otherwise.
 */
function modulation(p: number, gamma: number, integer: boolean): number {
  if (gamma === 0) return 1;
  const q = 1 - p;
  if (!integer) return Math.pow(Math.max(q, 1e-12), gamma);
  let m = q;
  for (let i = 1; i < gamma; i++) m *= q;
  return m;
}

/** d/dp of {@link modulation} (0 where the 1e-12 clamp is active). */
function modulationSlope(p: number, gamma: number, integer: boolean): number {
  if (gamma === 0) return 0;
  const q = 1 - p;
  if (!integer) return q < 1e-12 ? 0 : -gamma * Math.pow(q, gamma - 1);
  let m = gamma;
  for (let i = 1; i < gamma; i++) m *= q;
  return -m;
}

/** S[n, c] = sum_v g (1 - p)^gamma log(max(p, eps)), the focal loss's per-class sums (before mask and sign). */
export function focalSums(p: Float32Array, g: Float32Array, n: number, v: number, c: number, o: FocalOptions): Float32Array {
  const s = new Float64Array(n * c);
  const integer = Number.isInteger(o.gamma) && o.gamma <= 4;
  for (let i = 0; i < n; i++) {
    const oc = i * c;
    for (let k = i * v * c, end = k + v * c; k < end; k += c) {
      for (let j = 0; j < c; j++) {
        const b = g[k + j];
        if (b === 0) continue; // one-hot targets: most terms vanish
        const a = p[k + j];
        s[oc + j] += b * modulation(a, o.gamma, integer) * Math.log(Math.max(a, o.eps));
      }
    }
  }
  return Float32Array.from(s);
}

/**
 * Gradient of {@link focalSums} given dS [N, C]: wrt 'p', dS g (m' log p~ + m [p >= eps] / p);
 * wrt 'g', dS m log p~ (m the modulation, p~ = max(p, eps)).
 */
export function focalSumsGrad(ds: Float32Array, p: Float32Array, g: Float32Array, n: number, v: number, c: number,
  o: FocalOptions, wrt: 'p' | 'g'): Float32Array {
  const out = new Float32Array(p.length);
  const integer = Number.isInteger(o.gamma) && o.gamma <= 4;
  for (let i = 0; i < n; i++) {
    const oc = i * c;
    for (let k = i * v * c, end = k + v * c; k < end; k += c) {
      for (let j = 0; j < c; j++) {
        const b = g[k + j];
        if (wrt === 'p' && b === 0) continue;
        const a = p[k + j];
        const m = modulation(a, o.gamma, integer);
        const logp = Math.log(Math.max(a, o.eps));
        out[k + j] = wrt === 'g'
          ? ds[oc + j] * m * logp
          : ds[oc + j] * b * (modulationSlope(a, o.gamma, integer) * logp + (a >= o.eps ? m / a : 0));
      }
    }
  }
  return out;
}
