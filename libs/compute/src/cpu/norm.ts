/**
 * Fused group normalisation on float32 arrays: x [G, R, C] (G groups of R rows of C channels,
 * row-major) normalised with each group's per-channel batch statistics, then gamma/beta [C].
 * Batch norm is G = 1 over all voxels, instance norm G = N. The composed tfjs version is ~15 ops
 * forward and ~20 backward, each a pass over the activation and an allocation; here the forward
 * is two reads of x and one write, the backward two reads of x and dy and one write. Sums run in float64 in row
 * order, so results are deterministic.
 */

export interface GroupNormForward {
  /** [G, R, C] normalised, scaled and shifted. */
  y: Float32Array;
  /** [G, C] mean over each group's rows. */
  mean: Float32Array;
  /** [G, C] biased variance over each group's rows. */
  variance: Float32Array;
}

/** Per-group, per-channel 1/sqrt(variance + eps) as used by both passes (from the float32 variance). */
function invStd(variance: Float32Array, eps: number): Float64Array {
  const inv = new Float64Array(variance.length);
  for (let i = 0; i < inv.length; i++) inv[i] = 1 / Math.sqrt(variance[i] + eps);
  return inv;
}

/** Group gi's y = x scale + shift per channel (float64), from its float32 statistics. */
function affineOf(gi: number, c: number, mean: Float32Array, variance: Float32Array, gamma: Float32Array, beta: Float32Array,
  eps: number, scale: Float64Array, shift: Float64Array): void {
  const inv = invStd(variance.subarray(gi * c, gi * c + c), eps);
  for (let j = 0; j < c; j++) { scale[j] = inv[j] * gamma[j]; shift[j] = beta[j] - mean[gi * c + j] * scale[j]; }
}

/**
 * y = (x - mean) / sqrt(var + eps) * gamma + beta per group and channel, with the biased batch
 * variance, then LeakyReLU with slope `alpha` where one is given. Two reads of x (statistics, then
 * y) and one write.
 */
export function groupNormForward(x: Float32Array, g: number, r: number, c: number,
  gamma: Float32Array, beta: Float32Array, eps: number, alpha?: number): GroupNormForward {
  const mean = new Float32Array(g * c), variance = new Float32Array(g * c);
  const y = new Float32Array(x.length);
  const s1 = new Float64Array(c), s2 = new Float64Array(c), shift0 = new Float64Array(c);
  const scale = new Float64Array(c), shift = new Float64Array(c);
  for (let gi = 0; gi < g; gi++) {
    const base = gi * r * c, end = base + r * c;
    // one pass: sums of d = x - K and d^2 with K the group's first row (shifted data keeps the
    // float64 sum of squares free of cancellation when |mean| >> std)
    for (let j = 0; j < c; j++) shift0[j] = x[base + j];
    s1.fill(0);
    s2.fill(0);
    for (let o = base; o < end; o += c) {
      for (let j = 0; j < c; j++) { const d = x[o + j] - shift0[j]; s1[j] += d; s2[j] += d * d; }
    }
    for (let j = 0; j < c; j++) {
      const md = s1[j] / r;
      mean[gi * c + j] = shift0[j] + md;
      variance[gi * c + j] = Math.max(0, s2[j] / r - md * md);
    }
    affineOf(gi, c, mean, variance, gamma, beta, eps, scale, shift);
    for (let o = base; o < end; o += c) for (let j = 0; j < c; j++) y[o + j] = x[o + j] * scale[j] + shift[j];
  }
  if (alpha !== undefined) for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = alpha * y[i];
  return { y, mean, variance };
}

/**
 * The gradient of the norm's output before a LeakyReLU of slope alpha, from the gradient dy of its
 * output: dy where the normalised value (recomputed as the forward rounds it) is positive, alpha dy
 * elsewhere, as tfjs's LeakyRelu gradient.
 */
export function throughLeakyRelu(dy: Float32Array, x: Float32Array, g: number, r: number, c: number, mean: Float32Array,
  variance: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number, alpha: number): Float32Array {
  const d = new Float32Array(dy.length);
  const scale = new Float64Array(c), shift = new Float64Array(c);
  for (let gi = 0; gi < g; gi++) {
    const base = gi * r * c, end = base + r * c;
    affineOf(gi, c, mean, variance, gamma, beta, eps, scale, shift);
    for (let o = base; o < end; o += c) {
      for (let j = 0; j < c; j++) d[o + j] = Math.fround(x[o + j] * scale[j] + shift[j]) > 0 ? dy[o + j] : alpha * dy[o + j];
    }
  }
  return d;
}

export interface GroupNormBackward {
  /** [G, R, C] gradient of the input. */
  dx: Float32Array;
  /** [C] gradients of gamma and beta (summed over groups). */
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/**
 * Closed-form backward of {@link groupNormForward} given dy (the gradient of y) and the saved
 * x, mean and variance: with xhat = (x - mean) inv,
 * dx = gamma inv (dy - mean_r(dy) - xhat mean_r(dy xhat)), dgamma = sum dy xhat, dbeta = sum dy.
 */
export function groupNormBackward(dy: Float32Array, x: Float32Array, g: number, r: number, c: number,
  mean: Float32Array, variance: Float32Array, gamma: Float32Array, eps: number): GroupNormBackward {
  const dx = new Float32Array(x.length);
  const dgamma = new Float64Array(c), dbeta = new Float64Array(c);
  const sdy = new Float64Array(c), sdyx = new Float64Array(c), m64 = new Float64Array(c);
  const k1 = new Float64Array(c), k2 = new Float64Array(c), k3 = new Float64Array(c);
  for (let gi = 0; gi < g; gi++) {
    const base = gi * r * c, end = base + r * c;
    const inv = invStd(variance.subarray(gi * c, gi * c + c), eps);
    for (let j = 0; j < c; j++) m64[j] = mean[gi * c + j];
    sdy.fill(0);
    sdyx.fill(0);
    for (let o = base; o < end; o += c) {
      for (let j = 0; j < c; j++) { const d = dy[o + j]; sdy[j] += d; sdyx[j] += d * (x[o + j] - m64[j]); }
    }
    // sdyx holds sum dy (x - mean); times inv it is sum dy xhat
    for (let j = 0; j < c; j++) {
      const sumDyXhat = sdyx[j] * inv[j];
      dgamma[j] += sumDyXhat;
      dbeta[j] += sdy[j];
      // dx = gamma inv dy - gamma inv sdy / r - (x - mean) gamma inv^2 sumDyXhat / r
      k1[j] = gamma[j] * inv[j];
      k2[j] = k1[j] * sdy[j] / r;
      k3[j] = k1[j] * inv[j] * sumDyXhat / r;
    }
    for (let o = base; o < end; o += c) {
      for (let j = 0; j < c; j++) dx[o + j] = k1[j] * dy[o + j] - k2[j] - k3[j] * (x[o + j] - m64[j]);
    }
  }
  return { dx, dgamma: Float32Array.from(dgamma), dbeta: Float32Array.from(dbeta) };
}
