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

type Fold = (acc: Float64Array, oi: number, x: Float32Array, xi: number, n1: number, n0: number) => void;

/** Last merged axis reduced: n1 kept rows of n0 reduced values, acc[oi + r] op= x[xi + r n0 + j]. */
const ROWS: Record<ReduceOp, Fold> = {
  sum: (acc, oi, x, xi, n1, n0) => {
    for (let r = 0; r < n1; r++, xi += n0) {
      let s = acc[oi + r];
      for (let j = 0; j < n0; j++) s += x[xi + j];
      acc[oi + r] = s;
    }
  },
  max: (acc, oi, x, xi, n1, n0) => {
    for (let r = 0; r < n1; r++, xi += n0) {
      let m = acc[oi + r];
      for (let j = 0; j < n0; j++) { const v = x[xi + j]; if (v > m || v !== v) m = v; }
      acc[oi + r] = m;
    }
  },
  min: (acc, oi, x, xi, n1, n0) => {
    for (let r = 0; r < n1; r++, xi += n0) {
      let m = acc[oi + r];
      for (let j = 0; j < n0; j++) { const v = x[xi + j]; if (v < m || v !== v) m = v; }
      acc[oi + r] = m;
    }
  },
};

/** Last merged axis kept: n1 reduced rows of n0 kept values, acc[oi + j] op= x[xi + r n0 + j]. */
const COLS: Record<ReduceOp, Fold> = {
  sum: (acc, oi, x, xi, n1, n0) => {
    for (let r = 0; r < n1; r++, xi += n0) for (let j = 0; j < n0; j++) acc[oi + j] += x[xi + j];
  },
  max: (acc, oi, x, xi, n1, n0) => {
    for (let r = 0; r < n1; r++, xi += n0) {
      for (let j = 0; j < n0; j++) { const v = x[xi + j]; if (v > acc[oi + j] || v !== v) acc[oi + j] = v; }
    }
  },
  min: (acc, oi, x, xi, n1, n0) => {
    for (let r = 0; r < n1; r++, xi += n0) {
      for (let j = 0; j < n0; j++) { const v = x[xi + j]; if (v < acc[oi + j] || v !== v) acc[oi + j] = v; }
    }
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
  if (dims.length === 0) return Float32Array.from(x);
  // a leading kept (or reduced) axis of 1 makes every case two-level: [n1, n0]
  if (dims.length === 1) { dims.unshift(1); red.unshift(!red[0]); }
  const nd = dims.length;
  // output stride of each merged axis (0 for reduced ones)
  const os = new Array<number>(nd).fill(0);
  for (let k = nd - 1, c = 1; k >= 0; k--) if (!red[k]) { os[k] = c; c *= dims[k]; }
  // float64 partials per output, each fed its inputs in row-major order
  const acc = new Float64Array(outSize).fill(START[op]);
  const fold = red[nd - 1] ? ROWS[op] : COLS[op];
  const n1 = dims[nd - 2], n0 = dims[nd - 1], block = n1 * n0;
  const idx = new Array<number>(nd).fill(0);
  let oi = 0;
  for (let xi = 0; xi < x.length; xi += block) {
    fold(acc, oi, x, xi, n1, n0);
    for (let k = nd - 3; k >= 0; k--) {
      oi += os[k];
      if (++idx[k] < dims[k]) break;
      oi -= os[k] * dims[k];
      idx[k] = 0;
    }
  }
  const out = new Float32Array(outSize);
  for (let i = 0; i < outSize; i++) out[i] = acc[i];
  return out;
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
