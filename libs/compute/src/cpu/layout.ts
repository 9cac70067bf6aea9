/**
 * Pure float32 array kernels for the work around the convolutions that tfjs-cpu does
 * element by element through generic index arithmetic (10-100x slower than a plain loop):
 * broadcasting binary ops, strided slices, transposes and a last-axis softmax.
 * Shapes are row-major (last axis fastest), as in tfjs.
 */

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'gt' | 'ge' | 'lt' | 'le' | 'eq';
/** Ops whose result is boolean (tfjs 'bool', stored as 0/1 bytes). */
export const COMPARISONS: ReadonlySet<BinaryOp> = new Set(['gt', 'ge', 'lt', 'le', 'eq']);

type Out = Float32Array | Uint8Array;
/**
 * n1 rows of n0 elements: o[oi + r*n0 + i] = a[ai + r*as1 + i*as0] (op) b[bi + r*bs1 + i*bs0],
 * as0/bs0 being 0 (broadcast) or 1. Two levels, so that a per-channel or per-row operand
 * ([R, C] with [C] or [R, 1]) is a single call however small C is.
 */
type Inner = (o: Out, oi: number, a: Float32Array, ai: number, as1: number, as0: number,
  b: Float32Array, bi: number, bs1: number, bs0: number, n1: number, n0: number) => void;

// One loop nest per op so V8 compiles each monomorphically; comparisons as +(a > b), which V8
// compiles without a branch (a ternary mispredicts on random signs).
const INNER: Record<BinaryOp, Inner> = {
  add: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = a[ai + i * as0] + b[bi + i * bs0];
  },
  sub: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = a[ai + i * as0] - b[bi + i * bs0];
  },
  mul: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = a[ai + i * as0] * b[bi + i * bs0];
  },
  div: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = a[ai + i * as0] / b[bi + i * bs0];
  },
  max: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = Math.max(a[ai + i * as0], b[bi + i * bs0]);
  },
  min: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = Math.min(a[ai + i * as0], b[bi + i * bs0]);
  },
  gt: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = +(a[ai + i * as0] > b[bi + i * bs0]);
  },
  ge: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = +(a[ai + i * as0] >= b[bi + i * bs0]);
  },
  lt: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = +(a[ai + i * as0] < b[bi + i * bs0]);
  },
  le: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = +(a[ai + i * as0] <= b[bi + i * bs0]);
  },
  eq: (o, oi, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0) => {
    for (let r = 0; r < n1; r++, ai += as1, bi += bs1, oi += n0) for (let i = 0; i < n0; i++) o[oi + i] = +(a[ai + i * as0] === b[bi + i * bs0]);
  },
};

/** numpy/tfjs broadcast shape of a and b, or undefined when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * out = a (op) b with broadcasting. Dimensions where both inputs broadcast the same way are
 * merged, so the work is a few outer loops around a tight inner loop. Comparisons return a
 * Uint8Array of 0/1 (tfjs 'bool'), the others a Float32Array.
 */
export function broadcastBinary(op: BinaryOp, a: Float32Array, aShape: readonly number[],
  b: Float32Array, bShape: readonly number[]): { values: Out; shape: number[] } {
  const shape = broadcastShape(aShape, bShape);
  if (!shape) throw new Error(`shapes [${aShape}] and [${bShape}] do not broadcast`);
  const r = shape.length;
  const size = shape.reduce((x, y) => x * y, 1);
  const out = COMPARISONS.has(op) ? new Uint8Array(size) : new Float32Array(size);
  if (size === 0) return { values: out, shape };
  // per-axis: extent, whether a / b vary along it (1) or are broadcast (0)
  const dims: number[] = [], fa: number[] = [], fb: number[] = [];
  for (let i = 0; i < r; i++) {
    const n = shape[i];
    if (n === 1) continue;
    const va = (aShape[aShape.length - r + i] ?? 1) === n ? 1 : 0;
    const vb = (bShape[bShape.length - r + i] ?? 1) === n ? 1 : 0;
    const k = dims.length - 1;
    if (k >= 0 && fa[k] === va && fb[k] === vb) dims[k] *= n;
    else { dims.push(n); fa.push(va); fb.push(vb); }
  }
  if (dims.length === 0) { dims.push(1); fa.push(1); fb.push(1); }
  const nd = dims.length;
  // strides of a and b in their own arrays along each merged axis
  const sa = new Array<number>(nd).fill(0), sb = new Array<number>(nd).fill(0);
  let ca = 1, cb = 1;
  for (let k = nd - 1; k >= 0; k--) {
    if (fa[k]) { sa[k] = ca; ca *= dims[k]; }
    if (fb[k]) { sb[k] = cb; cb *= dims[k]; }
  }
  const inner = INNER[op];
  const n0 = dims[nd - 1], as0 = fa[nd - 1], bs0 = fb[nd - 1];
  if (nd === 1) {
    inner(out, 0, a, 0, 0, as0, b, 0, 0, bs0, 1, n0);
    return { values: out, shape };
  }
  const n1 = dims[nd - 2], as1 = sa[nd - 2], bs1 = sb[nd - 2], block = n1 * n0;
  const idx = new Array<number>(nd).fill(0);
  let ai = 0, bi = 0;
  for (let o = 0; o < size; o += block) {
    inner(out, o, a, ai, as1, as0, b, bi, bs1, bs0, n1, n0);
    for (let k = nd - 3; k >= 0; k--) {
      ai += sa[k]; bi += sb[k];
      if (++idx[k] < dims[k]) break;
      ai -= sa[k] * dims[k]; bi -= sb[k] * dims[k];
      idx[k] = 0;
    }
  }
  return { values: out, shape };
}

/** The box x[begin : begin + size] of a row-major array of `shape`, as a new array. */
export function sliceBox(x: Float32Array, shape: readonly number[], begin: readonly number[],
  size: readonly number[]): Float32Array {
  const r = shape.length;
  const total = size.reduce((p, q) => p * q, 1);
  const out = new Float32Array(total);
  if (total === 0) return out;
  const strides = new Array<number>(r).fill(1);
  for (let i = r - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  // the contiguous run: trailing full axes plus the last partial one
  let j = r - 1;
  while (j > 0 && size[j] === shape[j] && begin[j] === 0) j--;
  const run = size[j] * strides[j];
  let base = 0;
  for (let i = 0; i < r; i++) base += begin[i] * strides[i];
  const idx = new Array<number>(j).fill(0);
  let off = base;
  if (run < 64 && j >= 1) {
    // short runs (a few channels): rows of axis j-1 in one loop nest, an odometer over the rest
    const n1 = size[j - 1], s1 = strides[j - 1];
    for (let o = 0; o < total;) {
      for (let q = 0, rowOff = off; q < n1; q++, rowOff += s1) for (let i = 0; i < run; i++) out[o++] = x[rowOff + i];
      for (let k = j - 2; k >= 0; k--) {
        off += strides[k];
        if (++idx[k] < size[k]) break;
        off -= strides[k] * size[k];
        idx[k] = 0;
      }
    }
    return out;
  }
  for (let o = 0; o < total; o += run) {
    if (run >= 64) out.set(x.subarray(off, off + run), o);
    else for (let i = 0; i < run; i++) out[o + i] = x[off + i];
    for (let k = j - 1; k >= 0; k--) {
      off += strides[k];
      if (++idx[k] < size[k]) break;
      off -= strides[k] * size[k];
      idx[k] = 0;
    }
  }
  return out;
}

/** Transpose of a row-major array: out axis i is input axis perm[i]. */
export function transposeArray(x: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const r = shape.length;
  const out = new Float32Array(x.length);
  if (x.length === 0) return out;
  const inStrides = new Array<number>(r).fill(1);
  for (let i = r - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * shape[i + 1];
  // merge output axes that stay adjacent in the input
  const dims: number[] = [], st: number[] = [];
  for (let i = 0; i < r; i++) {
    const n = shape[perm[i]], s = inStrides[perm[i]];
    if (n === 1) continue;
    const k = dims.length - 1;
    if (k >= 0 && st[k] === s * n) { dims[k] *= n; st[k] = s; }
    else { dims.push(n); st.push(s); }
  }
  if (dims.length === 0) { out.set(x); return out; }
  if (dims.length === 1) { dims.unshift(1); st.unshift(0); }
  // the last two merged axes in one loop nest; an odometer over the others
  const nd = dims.length, n0 = dims[nd - 1], s0 = st[nd - 1], n1 = dims[nd - 2], s1 = st[nd - 2];
  const idx = new Array<number>(nd).fill(0);
  let off = 0;
  for (let o = 0; o < out.length;) {
    for (let r = 0, rowOff = off; r < n1; r++, rowOff += s1) {
      for (let i = 0; i < n0; i++) out[o++] = x[rowOff + i * s0];
    }
    for (let k = nd - 3; k >= 0; k--) {
      off += st[k];
      if (++idx[k] < dims[k]) break;
      off -= st[k] * dims[k];
      idx[k] = 0;
    }
  }
  return out;
}

/**
 * Softmax over the last axis (length `n`) of each row, rounded to float32 at each step as
 * tfjs-cpu's max/sub/exp/sum/div chain does (bit-identical to it).
 */
export function softmaxLastAxis(x: Float32Array, n: number): Float32Array {
  const out = new Float32Array(x.length);
  const f = Math.fround;
  for (let o = 0; o < x.length; o += n) {
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, x[o + i]);
    let s = 0;
    for (let i = 0; i < n; i++) { const e = f(Math.exp(f(x[o + i] - m))); out[o + i] = e; s += e; }
    const s32 = f(s);
    for (let i = 0; i < n; i++) out[o + i] /= s32;
  }
  return out;
}

/**
 * op(A) x op(B) for thin products (a side of a few elements: row sums as ones x X, their
 * outer-product gradients): one streaming pass per output row, memory-bound by design.
 * A is [m,k] ([k,m] when tA), B is [k,n] ([n,k] when tB); returns [m,n].
 */
export function thinMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number,
  tA: boolean, tB: boolean): Float32Array {
  const out = new Float32Array(m * n);
  const as = tA ? 1 : k, ak = tA ? m : 1; // A(i,kk) = a[i*as + kk*ak]
  if (!tB && k === 1) {
    // outer products (the gradient of a row sum: ones[R,1] x dy[1,C])
    for (let i = 0; i < m; i++) {
      const o = i * n, s = a[i * as];
      for (let j = 0; j < n; j++) out[o + j] = s * b[j];
    }
  } else if (!tB && k <= 4) {
    // a short dot per output
    for (let i = 0; i < m; i++) {
      const o = i * n, ai = i * as;
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let kk = 0; kk < k; kk++) s += a[ai + kk * ak] * b[kk * n + j];
        out[o + j] = s;
      }
    }
  } else if (!tB) {
    // float64 row accumulators: a row sum over 10^5 voxels keeps float32 accuracy
    const acc = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      for (let kk = 0; kk < k; kk++) {
        const s = a[i * as + kk * ak];
        if (s === 0) continue;
        const r = kk * n;
        for (let j = 0; j < n; j++) acc[j] += s * b[r + j];
      }
      out.set(acc, i * n);
    }
  } else {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        const r = j * k;
        for (let kk = 0; kk < k; kk++) s += a[i * as + kk * ak] * b[r + kk];
        out[i * n + j] = s;
      }
    }
  }
  return out;
}
