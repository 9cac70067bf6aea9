/**
 * Pure float32 array reductions over any set of axes of a contiguous row-major array, and
 * concatenation along any axis. tfjs-cpu transposes the reduced axes to the end first (a full
 * copy through generic index arithmetic); here adjacent axes are merged and the work is a few
 * outer loops around a tight inner loop, reading the input once in memory order.
 * Sums accumulate in float64 in the input's row-major order, as tfjs-cpu does, so the results
 * are bit-identical to the stock kernel and do not depend on anything but the input.
 */

export type ReduceOp = 'sum' | 'max' | 'min';

/** Merged axes: extents and whether each is reduced; size-1 axes dropped. */
function mergeAxes(shape: readonly number[], axes: readonly number[]): { dims: number[]; red: boolean[] } {
  const dims: number[] = [], red: boolean[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const r = axes.includes(i);
    const k = dims.length - 1;
    if (k >= 0 && red[k] === r) dims[k] *= shape[i];
    else { dims.push(shape[i]); red.push(r); }
  }
  return { dims, red };
}

/** acc[j] op= x[xi + j] for j < n (a kept inner axis). */
const VEC: Record<ReduceOp, (acc: Float64Array, oi: number, x: Float32Array, xi: number, n: number) => void> = {
  sum: (acc, oi, x, xi, n) => { for (let j = 0; j < n; j++) acc[oi + j] += x[xi + j]; },
  max: (acc, oi, x, xi, n) => {
    for (let j = 0; j < n; j++) { const v = x[xi + j]; if (v > acc[oi + j] || v !== v) acc[oi + j] = v; }
  },
  min: (acc, oi, x, xi, n) => {
    for (let j = 0; j < n; j++) { const v = x[xi + j]; if (v < acc[oi + j] || v !== v) acc[oi + j] = v; }
  },
};

/** op over x[xi .. xi + n) (a reduced inner axis), continuing from `start`. */
const RUN: Record<ReduceOp, (start: number, x: Float32Array, xi: number, n: number) => number> = {
  sum: (s, x, xi, n) => { for (let j = 0; j < n; j++) s += x[xi + j]; return s; },
  max: (m, x, xi, n) => {
    for (let j = 0; j < n; j++) { const v = x[xi + j]; if (v > m || v !== v) m = v; }
    return m;
  },
  min: (m, x, xi, n) => {
    for (let j = 0; j < n; j++) { const v = x[xi + j]; if (v < m || v !== v) m = v; }
    return m;
  },
};

const START: Record<ReduceOp, number> = { sum: 0, max: -Infinity, min: Infinity };

/**
 * op of x (row-major, `shape`) over `axes` (each in [0, rank), any order). Returns the values in
 * the order of the kept axes (the keepDims = false shape). NaN propagates through max/min as in
 * tfjs-cpu. The reduced size must be at least 1.
 */
export function reduceAxes(op: ReduceOp, x: Float32Array, shape: readonly number[], axes: readonly number[]): Float32Array {
  const { dims, red } = mergeAxes(shape, axes);
  let outSize = 1;
  for (let k = 0; k < dims.length; k++) if (!red[k]) outSize *= dims[k];
  if (x.length === 0) return new Float32Array(outSize);
  const nd = dims.length;
  if (nd === 0) return Float32Array.from(x);
  const start = START[op];
  const n = dims[nd - 1];
  if (nd === 1 && red[0]) return Float32Array.of(RUN[op](start, x, 0, n));
  // output stride of each merged axis (0 for reduced ones)
  const os = new Array<number>(nd).fill(0);
  for (let k = nd - 1, c = 1; k >= 0; k--) if (!red[k]) { os[k] = c; c *= dims[k]; }
  const idx = new Array<number>(nd).fill(0);
  const lastReduced = red[nd - 1];
  // float64 partials per output, each fed its inputs in row-major order
  const acc = new Float64Array(outSize).fill(start);
  let oi = 0;
  if (lastReduced) {
    const run = RUN[op];
    for (let xi = 0; xi < x.length; xi += n) {
      acc[oi] = run(acc[oi], x, xi, n);
      oi = step(idx, dims, os, nd, oi);
    }
  } else {
    const vec = VEC[op];
    for (let xi = 0; xi < x.length; xi += n) {
      vec(acc, oi, x, xi, n);
      oi = step(idx, dims, os, nd, oi);
    }
  }
  const out = new Float32Array(outSize);
  for (let i = 0; i < outSize; i++) out[i] = acc[i];
  return out;
}

/** Advances the odometer over the outer merged axes; returns the new output offset. */
function step(idx: number[], dims: number[], os: number[], nd: number, oi: number): number {
  for (let k = nd - 2; k >= 0; k--) {
    oi += os[k];
    if (++idx[k] < dims[k]) return oi;
    oi -= os[k] * dims[k];
    idx[k] = 0;
  }
  return oi;
}

/**
 * Concatenation of row-major arrays along `axis`: inputs[i] has shape `shapes[i]`, equal to the
 * others except along `axis`.
 */
export function concatArrays(inputs: readonly Float32Array[], shapes: readonly (readonly number[])[], axis: number): Float32Array {
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shapes[0][i];
  const blocks = inputs.map((x) => (outer === 0 ? 0 : x.length / outer));
  const row = blocks.reduce((a, b) => a + b, 0);
  const out = new Float32Array(outer * row);
  let off = 0;
  for (let t = 0; t < inputs.length; t++) {
    const x = inputs[t], n = blocks[t];
    if (n >= 64 || outer === 1) {
      for (let r = 0; r < outer; r++) out.set(x.subarray(r * n, r * n + n), r * row + off);
    } else {
      for (let r = 0; r < outer; r++) {
        const o = r * row + off, s = r * n;
        for (let j = 0; j < n; j++) out[o + j] = x[s + j];
      }
    }
    off += n;
  }
  return out;
}
