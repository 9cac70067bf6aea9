/**
 * Pure float32 array kernels for the elementwise ops around the convolutions. tfjs-cpu runs
 * them through a per-element closure (unary ops) or its generic broadcasting multiply (Neg);
 * here each op is its own monomorphic loop. Every formula is the stock kernel's, so results
 * are bit-identical to tfjs-cpu.
 */

export type UnaryOp = 'neg' | 'abs' | 'square' | 'sqrt' | 'rsqrt' | 'exp' | 'log' | 'sigmoid' | 'reciprocal' | 'relu';

// One function per op so that V8 compiles each loop monomorphically.
const UNARY: Record<UnaryOp, (x: Float32Array, o: Float32Array) => void> = {
  neg: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = -x[i]; },
  abs: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.abs(x[i]); },
  square: (x, o) => { for (let i = 0; i < x.length; i++) { const v = x[i]; o[i] = v * v; } },
  sqrt: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.sqrt(x[i]); },
  rsqrt: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = 1 / Math.sqrt(x[i]); },
  exp: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.exp(x[i]); },
  log: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.log(x[i]); },
  sigmoid: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = 1 / (1 + Math.exp(-x[i])); },
  reciprocal: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = 1 / x[i]; },
  relu: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.max(0, x[i]); },
};

/** op(x) elementwise, as a new array. */
export function unary(op: UnaryOp, x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  UNARY[op](x, out);
  return out;
}

/**
 * The float32 bit patterns of x: data-dependent branches (x < 0 ? ...) mispredict on activations,
 * whose signs are random, and cost ~3x the loop; index arithmetic on the bits does not branch.
 */
const bitsOf = (x: Float32Array): Int32Array => new Int32Array(x.buffer, x.byteOffset, x.length);

/** 1 where the float32 with bits b is > 0 (not +-0, not NaN), else 0; without a branch. */
// b - 1 is in [0, 0x7f800000) exactly for the positive finite numbers and +Infinity.
const positive = (b: number): number => {
  const t = (b - 1) | 0;
  return (~t >>> 31) & (((t - 0x7f800000) | 0) >>> 31);
};

/** LeakyReLU: x < 0 ? alpha x : x (tfjs's convention; -0 stays -0), bit-identical to tfjs-cpu. */
export function leakyRelu(x: Float32Array, alpha: number): Float32Array {
  const out = new Float32Array(x.length);
  const bits = bitsOf(x);
  const factor = Float64Array.of(1, alpha); // by sign bit
  for (let i = 0; i < x.length; i++) out[i] = x[i] * factor[bits[i] >>> 31];
  return out;
}

/**
 * Gradient of LeakyReLU in one pass: x > 0 ? dy : alpha dy (tfjs's where(x > 0, dy, dy * alpha),
 * which also gives alpha dy at x = 0 and for NaN).
 */
export function leakyReluGrad(dy: Float32Array, x: Float32Array, alpha: number): Float32Array {
  const out = new Float32Array(x.length);
  const bits = bitsOf(x);
  // by positive(x); tfjs multiplies by alpha as a float32 scalar tensor
  const factor = Float64Array.of(Math.fround(alpha), 1);
  for (let i = 0; i < x.length; i++) out[i] = dy[i] * factor[positive(bits[i])];
  return out;
}

/** cond ? t : e elementwise (cond a tfjs bool array of 0/1), all of the same length; a bit blend. */
export function select(cond: Uint8Array, t: Float32Array, e: Float32Array): Float32Array {
  const out = new Float32Array(t.length);
  const ob = bitsOf(out), tb = bitsOf(t), eb = bitsOf(e);
  for (let i = 0; i < t.length; i++) {
    const m = -cond[i]; // all ones where true
    ob[i] = (tb[i] & m) | (eb[i] & ~m);
  }
  return out;
}

/** clip(x, lo, hi) elementwise (tfjs's: below lo -> lo, above hi -> hi, NaN kept). */
export function clip(x: Float32Array, lo: number, hi: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = v > hi ? hi : v < lo ? lo : v;
  }
  return out;
}

/** A bool (0/1 bytes) or int32 array as float32 values. */
export function toFloat32(x: Uint8Array | Int32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i];
  return out;
}

/**
 * Gradient of a softmax over the last axis (rows of n) from y = softmax(x):
 * dx = dy y - sum(dy y) y per row, rounded at each step as tfjs's mul/sum/mul/sub chain does
 * (so bit-identical to it), in one pass instead of four.
 */
export function softmaxGradLastAxis(dy: Float32Array, y: Float32Array, n: number): Float32Array {
  const out = new Float32Array(y.length);
  const f = Math.fround;
  for (let o = 0; o < y.length; o += n) {
    let s = 0;
    for (let i = 0; i < n; i++) { const p = f(dy[o + i] * y[o + i]); out[o + i] = p; s += p; }
    const s32 = f(s);
    for (let i = 0; i < n; i++) out[o + i] = out[o + i] - f(s32 * y[o + i]);
  }
  return out;
}

/** LeakyReLU without a branch (activation signs are random): max(v, alpha v) for alpha <= 1, else min. */
const leakyOf = (alpha: number): ((v: number) => number) =>
  (alpha <= 1 ? (v) => Math.max(v, v * alpha) : (v) => Math.min(v, v * alpha));

/**
 * The fused conv's epilogue (../fused-conv.ts) in place on y [rows, C], where the wasm engine could
 * not run it (volumes past its 4 GiB memory): y = y * scale + offset per channel, then LeakyReLU
 * when alpha is given.
 */
export function convEpilogueInPlace(y: Float32Array, scale: Float32Array, offset: Float32Array, alpha: number | null): void {
  const c = scale.length;
  const act = alpha === null ? (v: number) => v : leakyOf(alpha);
  for (let o = 0; o < y.length; o += c) for (let j = 0; j < c; j++) y[o + j] = act(y[o + j] * scale[j] + offset[j]);
}

/**
 * leakyRelu(a * scale + b, alpha) in one pass: a and b [N, R, C], scale [N, C] per case and channel;
 * the product rounded to float32 before the sum, as the composed Multiply and Add round.
 */
export function scaleAddLeakyRelu(a: Float32Array, scale: Float32Array, b: Float32Array, n: number, c: number, alpha: number): Float32Array {
  const out = new Float32Array(a.length);
  const perCase = a.length / n;
  for (let i = 0; i < n; i++) {
    for (let o = i * perCase; o < (i + 1) * perCase; o += c) {
      for (let j = 0; j < c; j++) {
        const v = Math.fround(a[o + j] * scale[i * c + j]) + b[o + j];
        out[o + j] = v < 0 ? v * alpha : v;
      }
    }
  }
  return out;
}

/** Sums over the rows of a * b, both [N, R, C] -> [N, C] (products rounded to float32, sums in float64). */
export function sumProducts(a: Float32Array, b: Float32Array, n: number, r: number, c: number): Float32Array {
  const acc = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    for (let row = 0; row < r; row++) {
      const o = (i * r + row) * c;
      for (let j = 0; j < c; j++) acc[i * c + j] += Math.fround(a[o + j] * b[o + j]);
    }
  }
  return Float32Array.from(acc);
}

/** x * scale + shift, x [N, R, C], scale and shift [N, C] (rounded as the composed Multiply and Add). */
export function scaleShift(x: Float32Array, scale: Float32Array, shift: Float32Array, n: number, r: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    for (let row = 0; row < r; row++) {
      const o = (i * r + row) * c;
      for (let j = 0; j < c; j++) out[o + j] = Math.fround(x[o + j] * scale[i * c + j]) + shift[i * c + j];
    }
  }
  return out;
}

/** leakyRelu(a + b, alpha) in one pass (arrays of one length). */
export function addLeakyRelu(a: Float32Array, b: Float32Array, alpha: number): Float32Array {
  const out = new Float32Array(a.length);
  const act = leakyOf(alpha);
  for (let i = 0; i < a.length; i++) out[i] = act(a[i] + b[i]);
  return out;
}
