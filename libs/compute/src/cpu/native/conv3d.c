/*
 * Conv3D forward and gradients for WebAssembly SIMD (128-bit), NDHWC layout, float32.
 *
 * All buffers live in one shared WebAssembly.Memory managed by the JavaScript side; every
 * function works on a row range so several threads (one instance each) can split the work.
 * No static data and no stack arrays: instances share the memory and would share a stack.
 *
 * Geometry block (int32[GEO_LEN], see geometry.ts): batch, inD, inH, inW, inC, outD, outH, outW,
 * outC, kD, kH, kW, sD, sH, sW, dD, dH, dW, padFront, padTop, padLeft. The forward reads three
 * more (the fused epilogue): a pointer to [scale outC, offset outC] floats or 0, the activation
 * (0 none, 1 LeakyReLU) and the slope's float32 bits.
 *
 * Core: a 4x8 register-blocked micro-kernel (8 f32x4 accumulators) over "runs" of the
 * reduction axis. An A panel holds up to 16 rows (im2col of the rows' receptive fields,
 * zeros outside the volume), interleaved to [k][4 rows] per 4-row subtile; runs skip kernel taps that are invalid for every row of the group.
 */
#include <wasm_simd128.h>

typedef unsigned int u32;

#define EXPORT(name) __attribute__((export_name(#name)))

enum {
  G_N, G_ID, G_IH, G_IW, G_IC, G_OD, G_OH, G_OW, G_OC, G_KD, G_KH, G_KW,
  G_SD, G_SH, G_SW, G_DD, G_DH, G_DW, G_PF, G_PT, G_PL, GEO_LEN,
  G_EPI = GEO_LEN, G_ACT, G_ALPHA
};

#define MB 16 /* rows per packed A group */

/* Scratch layout per thread (bytes offsets from scratch base, all 16-byte aligned). */
#define S_TMP 0            /* 32 floats  */
#define S_OUT 128          /* 16 int row offsets (in floats) */
#define S_RUNS 192         /* 3 * 64 ints: aoff, boff, len */
#define S_ROWK 1024        /* 256 ints: row coordinates, per-axis offsets */
#define S_PANEL 2048       /* A panel */

/* ---- micro-kernel ------------------------------------------------------------------ */

/* Copy a 4x8 tile from tmp (row r at tmp + 8r) to the output rows, keeping ncols columns. */
static inline void store_tile(const float* tmp, float* out, const int* rowOff, int nrows,
                              int ncols) {
  for (int r = 0; r < nrows; r++) {
    float* o = out + rowOff[r];
    const float* t = tmp + 8 * r;
    if (ncols == 8) {
      wasm_v128_store(o, wasm_v128_load(t));
      wasm_v128_store(o + 4, wasm_v128_load(t + 4));
    } else {
      for (int c = 0; c < ncols; c++) o[c] = t[c];
    }
  }
}

/* C[4 rows][8 cols] = sum over runs of A[aoff + i][0..4] * B[boff + i][0..8]; A interleaved. */
static void mk4x8(const float* A, const int* runs, int nruns, const float* B, float* out,
                  const int* rowOff, int nrows, int ncols, float* tmp) {
  v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int q = 0; q < nruns; q++) {
    const float* a = A + runs[3 * q] * 4;
    const float* b = B + runs[3 * q + 1] * 8;
    const float* bend = b + runs[3 * q + 2] * 8;
    for (; b < bend; b += 8, a += 4) {
      v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
      v128_t x = wasm_v128_load32_splat(a);
      c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x, b0));
      c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a + 1);
      c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x, b0));
      c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a + 2);
      c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x, b0));
      c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a + 3);
      c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x, b0));
      c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x, b1));
    }
  }
  wasm_v128_store(tmp, c00);
  wasm_v128_store(tmp + 4, c01);
  wasm_v128_store(tmp + 8, c10);
  wasm_v128_store(tmp + 12, c11);
  wasm_v128_store(tmp + 16, c20);
  wasm_v128_store(tmp + 20, c21);
  wasm_v128_store(tmp + 24, c30);
  wasm_v128_store(tmp + 28, c31);
  store_tile(tmp, out, rowOff, nrows, ncols);
}

/* Same with 4 columns (tail of N when N mod 8 is 1..4); B keeps its 8-float stride. */
static void mk4x4(const float* A, const int* runs, int nruns, const float* B, float* out,
                  const int* rowOff, int nrows, int ncols, float* tmp) {
  v128_t c0 = wasm_f32x4_splat(0), c1 = c0, c2 = c0, c3 = c0;
  for (int q = 0; q < nruns; q++) {
    const float* a = A + runs[3 * q] * 4;
    const float* b = B + runs[3 * q + 1] * 8;
    const float* bend = b + runs[3 * q + 2] * 8;
    for (; b < bend; b += 8, a += 4) {
      v128_t b0 = wasm_v128_load(b);
      c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(wasm_v128_load32_splat(a), b0));
      c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(wasm_v128_load32_splat(a + 1), b0));
      c2 = wasm_f32x4_add(c2, wasm_f32x4_mul(wasm_v128_load32_splat(a + 2), b0));
      c3 = wasm_f32x4_add(c3, wasm_f32x4_mul(wasm_v128_load32_splat(a + 3), b0));
    }
  }
  wasm_v128_store(tmp, c0);
  wasm_v128_store(tmp + 8, c1);
  wasm_v128_store(tmp + 16, c2);
  wasm_v128_store(tmp + 24, c3);
  store_tile(tmp, out, rowOff, nrows, ncols);
}

/* Interleave 4 rows of R (row stride lda, kp columns, kp % 4 == 0) into A[kp][4]. */
static void interleave4(const float* R, int lda, int kp, float* A) {
  const float* r0 = R;
  const float* r1 = R + lda;
  const float* r2 = r1 + lda;
  const float* r3 = r2 + lda;
  for (int k = 0; k < kp; k += 4) {
    v128_t v0 = wasm_v128_load(r0 + k), v1 = wasm_v128_load(r1 + k);
    v128_t v2 = wasm_v128_load(r2 + k), v3 = wasm_v128_load(r3 + k);
    v128_t t0 = wasm_i32x4_shuffle(v0, v1, 0, 4, 1, 5);
    v128_t t1 = wasm_i32x4_shuffle(v0, v1, 2, 6, 3, 7);
    v128_t t2 = wasm_i32x4_shuffle(v2, v3, 0, 4, 1, 5);
    v128_t t3 = wasm_i32x4_shuffle(v2, v3, 2, 6, 3, 7);
    float* o = A + k * 4;
    wasm_v128_store(o, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
    wasm_v128_store(o + 4, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
    wasm_v128_store(o + 8, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
    wasm_v128_store(o + 12, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
  }
}

/*
 * Multiply a packed group: R is [nrows][lda] (row layout, columns 0..kused used, rows up to
 * the next multiple of 4 zeroed), B packed [nb][kTotal][8], output rows at out + outOff[r],
 * N columns. A (scratch) receives the interleaved panel, [MB/4][lda][4].
 */
static void gemm_group(const float* R, int lda, int kused, int nrows, const int* runs, int nruns,
                       const float* B, int kTotal, int N, float* out, const int* outOff,
                       float* A, float* tmp) {
  int kp = (kused + 3) & ~3;
  for (int r0 = 0; r0 < nrows; r0 += 4) {
    for (int r = 0; r < 4; r++)
      for (int k = kused; k < kp; k++) ((float*)R)[(r0 + r) * lda + k] = 0.0f;
    interleave4(R + r0 * lda, lda, kp, A + r0 * lda);
  }
  for (int nb = 0; nb * 8 < N; nb++) {
    const float* Bn = B + (long)nb * kTotal * 8;
    int ncols = N - nb * 8 < 8 ? N - nb * 8 : 8;
    for (int r0 = 0; r0 < nrows; r0 += 4) {
      int nr = nrows - r0 < 4 ? nrows - r0 : 4;
      if (ncols > 4)
        mk4x8(A + r0 * lda, runs, nruns, Bn, out + nb * 8, outOff + r0, nr, ncols, tmp);
      else
        mk4x4(A + r0 * lda, runs, nruns, Bn, out + nb * 8, outOff + r0, nr, ncols, tmp);
    }
  }
}

static inline void zero_floats(float* p, int n) { __builtin_memset(p, 0, (u32)n * 4); }
static inline void copy_floats(float* d, const float* s, int n) {
  __builtin_memcpy(d, s, (u32)n * 4);
}

/* ---- filter packing ---------------------------------------------------------------- */

/* Forward: w [taps][Cin][Cout] -> bp [ceil(Cout/8)][taps*Cin][8], zero padded. */
EXPORT(pack_filter_fwd) void pack_filter_fwd(const int* g, const float* w, float* bp) {
  int taps = g[G_KD] * g[G_KH] * g[G_KW], ci = g[G_IC], co = g[G_OC];
  int K = taps * ci, nb = (co + 7) / 8;
  for (int b = 0; b < nb; b++)
    for (int k = 0; k < K; k++)
      for (int j = 0; j < 8; j++) {
        int c = b * 8 + j;
        bp[((long)b * K + k) * 8 + j] = c < co ? w[(long)k * co + c] : 0.0f;
      }
}

/* Backprop input: w [taps][Cin][Cout] -> bp [ceil(Cin/8)][taps*Cout][8] (transposed). */
EXPORT(pack_filter_bwd) void pack_filter_bwd(const int* g, const float* w, float* bp) {
  int taps = g[G_KD] * g[G_KH] * g[G_KW], ci = g[G_IC], co = g[G_OC];
  int K = taps * co, nb = (ci + 7) / 8;
  for (int b = 0; b < nb; b++)
    for (int t = 0; t < taps; t++)
      for (int o = 0; o < co; o++)
        for (int j = 0; j < 8; j++) {
          int c = b * 8 + j;
          bp[((long)b * K + t * co + o) * 8 + j] =
              c < ci ? w[((long)t * ci + c) * co + o] : 0.0f;
        }
}

/* Append a run, merging with the previous one when both A and B continue contiguously. */
static inline int add_run(int* runs, int nruns, int aoff, int boff, int len) {
  if (nruns > 0) {
    int* p = runs + 3 * (nruns - 1);
    if (p[0] + p[2] == aoff && p[1] + p[2] == boff) {
      p[2] += len;
      return nruns;
    }
  }
  runs[3 * nruns] = aoff;
  runs[3 * nruns + 1] = boff;
  runs[3 * nruns + 2] = len;
  return nruns + 1;
}

/* ---- direct (packing-free) path ---------------------------------------------------- */

/*
 * For reduction chunks of at least DIRECT_MIN_C channels the A operand is read in place: a
 * tap table lists, per kernel tap, the source row of each of the 4 output rows (or a zero
 * row when it falls outside the volume) and the tap's offset into packed B. No im2col copy.
 */
#define DIRECT_MIN_C 8

static void mk4x8d(const u32* T, int ntap, int C, const float* B, float* out, const int* rowOff,
                   int nrows, int ncols, float* tmp) {
  v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int t = 0; t < ntap; t++) {
    const float* a0 = (const float*)T[5 * t];
    const float* a1 = (const float*)T[5 * t + 1];
    const float* a2 = (const float*)T[5 * t + 2];
    const float* a3 = (const float*)T[5 * t + 3];
    const float* b = B + T[5 * t + 4] * 8;
    for (int i = 0; i < C; i++, b += 8) {
      v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
      v128_t x = wasm_v128_load32_splat(a0 + i);
      c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x, b0));
      c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a1 + i);
      c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x, b0));
      c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a2 + i);
      c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x, b0));
      c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x, b1));
      x = wasm_v128_load32_splat(a3 + i);
      c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x, b0));
      c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x, b1));
    }
  }
  wasm_v128_store(tmp, c00);
  wasm_v128_store(tmp + 4, c01);
  wasm_v128_store(tmp + 8, c10);
  wasm_v128_store(tmp + 12, c11);
  wasm_v128_store(tmp + 16, c20);
  wasm_v128_store(tmp + 20, c21);
  wasm_v128_store(tmp + 24, c30);
  wasm_v128_store(tmp + 28, c31);
  store_tile(tmp, out, rowOff, nrows, ncols);
}

static void mk4x4d(const u32* T, int ntap, int C, const float* B, float* out, const int* rowOff,
                   int nrows, int ncols, float* tmp) {
  v128_t c0 = wasm_f32x4_splat(0), c1 = c0, c2 = c0, c3 = c0;
  for (int t = 0; t < ntap; t++) {
    const float* a0 = (const float*)T[5 * t];
    const float* a1 = (const float*)T[5 * t + 1];
    const float* a2 = (const float*)T[5 * t + 2];
    const float* a3 = (const float*)T[5 * t + 3];
    const float* b = B + T[5 * t + 4] * 8;
    for (int i = 0; i < C; i++, b += 8) {
      v128_t b0 = wasm_v128_load(b);
      c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(wasm_v128_load32_splat(a0 + i), b0));
      c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(wasm_v128_load32_splat(a1 + i), b0));
      c2 = wasm_f32x4_add(c2, wasm_f32x4_mul(wasm_v128_load32_splat(a2 + i), b0));
      c3 = wasm_f32x4_add(c3, wasm_f32x4_mul(wasm_v128_load32_splat(a3 + i), b0));
    }
  }
  wasm_v128_store(tmp, c0);
  wasm_v128_store(tmp + 8, c1);
  wasm_v128_store(tmp + 16, c2);
  wasm_v128_store(tmp + 24, c3);
  store_tile(tmp, out, rowOff, nrows, ncols);
}

static void gemm_direct(const u32* T, int ntap, int C, const float* B, int kTotal, int N,
                        float* out, const int* rowOff, int nrows, float* tmp) {
  for (int nb = 0; nb * 8 < N; nb++) {
    int ncols = N - nb * 8 < 8 ? N - nb * 8 : 8;
    const float* Bn = B + (long)nb * kTotal * 8;
    if (ncols > 4)
      mk4x8d(T, ntap, C, Bn, out + nb * 8, rowOff, nrows, ncols, tmp);
    else
      mk4x4d(T, ntap, C, Bn, out + nb * 8, rowOff, nrows, ncols, tmp);
  }
}

/*
 * The fused epilogue on output rows rowStart..rowEnd (just written, still in cache):
 * y = y * scale + offset per channel, then LeakyReLU as max(v, alpha v) (min for alpha > 1).
 */
static void epilogue_rows(const int* g, float* y, int rowStart, int rowEnd) {
  const float* scale = (const float*)(u32)g[G_EPI];
  if (!scale) return;
  const int N = g[G_OC];
  const float* offset = scale + N;
  const int act = g[G_ACT];
  const float alpha = __builtin_bit_cast(float, g[G_ALPHA]);
  const int below = alpha <= 1.0f;
  const v128_t va = wasm_f32x4_splat(alpha);
  for (int r = rowStart; r < rowEnd; r++) {
    float* o = y + r * N;
    int c = 0;
    for (; c + 4 <= N; c += 4) {
      v128_t v = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(o + c), wasm_v128_load(scale + c)),
                                wasm_v128_load(offset + c));
      if (act) {
        v128_t w = wasm_f32x4_mul(v, va);
        v = below ? wasm_f32x4_max(v, w) : wasm_f32x4_min(v, w);
      }
      wasm_v128_store(o + c, v);
    }
    for (; c < N; c++) {
      float v = o[c] * scale[c] + offset[c];
      if (act) {
        float w = v * alpha;
        v = below ? (v > w ? v : w) : (v < w ? v : w);
      }
      o[c] = v;
    }
  }
}

/* Forward over rows rowStart..rowEnd, 4 rows at a time, reading x in place. */
static void fwd_direct(const int* g, const float* x, const float* bp, float* y, char* scratch,
                       int rowStart, int rowEnd) {
  float* tmp = (float*)(scratch + S_TMP);
  int* outOff = (int*)(scratch + S_OUT);
  int* rc = (int*)(scratch + S_ROWK);
  const int ID = g[G_ID], IH = g[G_IH], IW = g[G_IW], C = g[G_IC];
  const int OD = g[G_OD], OH = g[G_OH], OW = g[G_OW], N = g[G_OC];
  const int KD = g[G_KD], KH = g[G_KH], KW = g[G_KW];
  const int taps = KD * KH * KW, K = taps * C;
  u32* T = (u32*)(scratch + S_PANEL);
  float* zero = (float*)(scratch + S_PANEL + ((taps * 20 + 15) & ~15));
  zero_floats(zero, C);
  for (int r0 = rowStart; r0 < rowEnd; r0 += 4) {
    int nr = rowEnd - r0 < 4 ? rowEnd - r0 : 4;
    for (int r = 0; r < 4; r++) {
      int v = r0 + (r < nr ? r : 0), ow = v % OW, t = v / OW, oh = t % OH;
      t /= OH;
      int od = t % OD, b = t / OD;
      rc[4 * r] = r < nr ? b : -1;
      rc[4 * r + 1] = od * g[G_SD] - g[G_PF];
      rc[4 * r + 2] = oh * g[G_SH] - g[G_PT];
      rc[4 * r + 3] = ow * g[G_SW] - g[G_PL];
      outOff[r] = v * N;
    }
    /* per row and kernel axis: the offset (floats) of that axis' input index, or -1 outside */
    int* offD = rc + 16;
    int* offH = offD + 4 * KD;
    int* offW = offH + 4 * KH;
    for (int r = 0; r < 4; r++) {
      for (int k = 0; k < KD; k++) {
        int id = rc[4 * r + 1] + k * g[G_DD];
        offD[4 * k + r] = rc[4 * r] >= 0 && id >= 0 && id < ID ? ((rc[4 * r] * ID + id) * IH) * IW * C : -1;
      }
      for (int k = 0; k < KH; k++) {
        int ih = rc[4 * r + 2] + k * g[G_DH];
        offH[4 * k + r] = ih >= 0 && ih < IH ? ih * IW * C : -1;
      }
      for (int k = 0; k < KW; k++) {
        int iw = rc[4 * r + 3] + k * g[G_DW];
        offW[4 * k + r] = iw >= 0 && iw < IW ? iw * C : -1;
      }
    }
    int ntap = 0, tap = 0;
    for (int kd = 0; kd < KD; kd++)
      for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < KW; kw++, tap++) {
          int any = 0;
          for (int r = 0; r < 4; r++) {
            int d = offD[4 * kd + r], h = offH[4 * kh + r], w = offW[4 * kw + r];
            int ok = (d | h | w) >= 0;
            T[5 * ntap + r] = ok ? (u32)(x + d + h + w) : (u32)zero;
            any |= ok;
          }
          if (any) T[5 * ntap++ + 4] = (u32)(tap * C);
        }
    if (ntap == 0) {
      for (int r = 0; r < nr; r++) zero_floats(y + outOff[r], N);
      epilogue_rows(g, y, r0, r0 + nr);
      continue;
    }
    gemm_direct(T, ntap, C, bp, K, N, y, outOff, nr, tmp);
    epilogue_rows(g, y, r0, r0 + nr);
  }
}

/* Backprop input, direct: like conv3d_bwd_input with 4-row groups reading dy in place. */
static void bwd_input_direct(const int* g, const float* dy, const float* bp, float* dx,
                             char* scratch, int lineStart, int lineEnd) {
  float* tmp = (float*)(scratch + S_TMP);
  int* outOff = (int*)(scratch + S_OUT);
  int* rc = (int*)(scratch + S_ROWK);
  const int ID = g[G_ID], IH = g[G_IH], IW = g[G_IW], N = g[G_IC];
  const int OD = g[G_OD], OH = g[G_OH], OW = g[G_OW], C = g[G_OC];
  const int KD = g[G_KD], KH = g[G_KH], KW = g[G_KW];
  const int SD = g[G_SD], SH = g[G_SH], SW = g[G_SW];
  const int taps = KD * KH * KW, K = taps * C;
  u32* T = (u32*)(scratch + S_PANEL);
  float* zero = (float*)(scratch + S_PANEL + ((taps * 20 + 15) & ~15));
  zero_floats(zero, C);
  for (int line = lineStart; line < lineEnd; line++) {
    int ih = line % IH, t = line / IH, id = t % ID, b = t / ID;
    for (int p = 0; p < SW && p < IW; p++) {
      int cnt = (IW - p + SW - 1) / SW;
      for (int j0 = 0; j0 < cnt; j0 += 4) {
        int nr = cnt - j0 < 4 ? cnt - j0 : 4;
        for (int r = 0; r < 4; r++) {
          int iw = p + (j0 + (r < nr ? r : 0)) * SW;
          rc[r] = r < nr ? iw : -1;
          outOff[r] = ((((b * ID + id) * IH + ih) * IW) + iw) * N;
        }
        /* per kernel W tap and row: offset of the dy voxel (floats), or -1 */
        int* offW = rc + 4;
        for (int kw = 0; kw < KW; kw++) {
          int nw0 = p + g[G_PL] - kw * g[G_DW];
          int par = ((nw0 % SW) + SW) % SW == 0;
          for (int r = 0; r < 4; r++) {
            int nw = rc[r] + g[G_PL] - kw * g[G_DW];
            int ow = nw / SW;
            offW[4 * kw + r] = par && rc[r] >= 0 && nw >= 0 && ow < OW ? ow * C : -1;
          }
        }
        int ntap = 0, tap = 0;
        for (int kd = 0; kd < KD; kd++) {
          int nd = id + g[G_PF] - kd * g[G_DD];
          int od = nd / SD;
          int okd = nd >= 0 && nd % SD == 0 && od < OD;
          for (int kh = 0; kh < KH; kh++) {
            int nh = ih + g[G_PT] - kh * g[G_DH];
            int oh = nh / SH;
            if (!(okd && nh >= 0 && nh % SH == 0 && oh < OH)) {
              tap += KW;
              continue;
            }
            const float* src = dy + (((long)b * OD + od) * OH + oh) * OW * C;
            for (int kw = 0; kw < KW; kw++, tap++) {
              const int* o = offW + 4 * kw;
              if ((o[0] & o[1] & o[2] & o[3]) < 0) continue; /* no row valid */
              for (int r = 0; r < 4; r++) T[5 * ntap + r] = o[r] >= 0 ? (u32)(src + o[r]) : (u32)zero;
              T[5 * ntap++ + 4] = (u32)(tap * C);
            }
          }
        }
        if (ntap == 0) {
          for (int r = 0; r < nr; r++) zero_floats(dx + outOff[r], N);
          continue;
        }
        gemm_direct(T, ntap, C, bp, K, N, dx, outOff, nr, tmp);
      }
    }
  }
}

/* ---- forward ----------------------------------------------------------------------- */

/* y[rows rowStart..rowEnd) where a row is one output voxel (b, od, oh, ow). */
EXPORT(conv3d_fwd) void conv3d_fwd(const int* g, const float* x, const float* bp, float* y, char* scratch,
                int rowStart, int rowEnd) {
  float* tmp = (float*)(scratch + S_TMP);
  int* outOff = (int*)(scratch + S_OUT);
  int* runs = (int*)(scratch + S_RUNS);
  int* rc = (int*)(scratch + S_ROWK);
  float* A = (float*)(scratch + S_PANEL);
  const int ID = g[G_ID], IH = g[G_IH], IW = g[G_IW], C = g[G_IC];
  const int OD = g[G_OD], OH = g[G_OH], OW = g[G_OW], N = g[G_OC];
  const int KD = g[G_KD], KH = g[G_KH], KW = g[G_KW];
  const int K = KD * KH * KW * C, lda = (K + 3) & ~3;
  if (C >= DIRECT_MIN_C && KD + KH + KW <= 60) { /* per-axis offsets fit the row area */
    fwd_direct(g, x, bp, y, scratch, rowStart, rowEnd);
    return;
  }
  float* Ai = A + MB * lda;
  for (int r0 = rowStart; r0 < rowEnd; r0 += MB) {
    int nrows = rowEnd - r0 < MB ? rowEnd - r0 : MB;
    int nrPad = (nrows + 3) & ~3;
    for (int r = 0; r < nrows; r++) {
      int v = r0 + r, ow = v % OW, t = v / OW, oh = t % OH;
      t /= OH;
      int od = t % OD, b = t / OD;
      rc[4 * r] = b;
      rc[4 * r + 1] = od * g[G_SD] - g[G_PF];
      rc[4 * r + 2] = oh * g[G_SH] - g[G_PT];
      rc[4 * r + 3] = ow * g[G_SW] - g[G_PL];
      outOff[r] = v * N;
    }
    int nruns = 0, aoff = 0, tap = 0;
    for (int kd = 0; kd < KD; kd++)
      for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < KW; kw++, tap++) {
          int any = 0;
          for (int r = 0; r < nrows; r++) {
            int id = rc[4 * r + 1] + kd * g[G_DD], ih = rc[4 * r + 2] + kh * g[G_DH],
                iw = rc[4 * r + 3] + kw * g[G_DW];
            float* dst = A + r * lda + aoff;
            if (id >= 0 && id < ID && ih >= 0 && ih < IH && iw >= 0 && iw < IW) {
              copy_floats(dst, x + ((((long)rc[4 * r] * ID + id) * IH + ih) * IW + iw) * C, C);
              any = 1;
            } else {
              zero_floats(dst, C);
            }
          }
          if (any) {
            nruns = add_run(runs, nruns, aoff, tap * C, C);
            aoff += C;
          }
        }
    for (int r = nrows; r < nrPad; r++) zero_floats(A + r * lda, aoff);
    gemm_group(A, lda, aoff, nrows, runs, nruns, bp, K, N, y, outOff, Ai, tmp);
    epilogue_rows(g, y, r0, r0 + nrows);
  }
}

/* ---- backprop input ---------------------------------------------------------------- */

/*
 * dx rows of "lines" lineStart..lineEnd, a line being (b, id, ih). Within a line the voxels
 * iw are grouped by iw mod sW so all rows of a group use the same kernel taps along W.
 */
EXPORT(conv3d_bwd_input) void conv3d_bwd_input(const int* g, const float* dy, const float* bp, float* dx, char* scratch,
                      int lineStart, int lineEnd) {
  float* tmp = (float*)(scratch + S_TMP);
  int* outOff = (int*)(scratch + S_OUT);
  int* runs = (int*)(scratch + S_RUNS);
  int* rc = (int*)(scratch + S_ROWK);
  float* A = (float*)(scratch + S_PANEL);
  const int ID = g[G_ID], IH = g[G_IH], IW = g[G_IW], N = g[G_IC];
  const int OD = g[G_OD], OH = g[G_OH], OW = g[G_OW], C = g[G_OC];
  const int KD = g[G_KD], KH = g[G_KH], KW = g[G_KW];
  const int SD = g[G_SD], SH = g[G_SH], SW = g[G_SW];
  const int K = KD * KH * KW * C, lda = (K + 3) & ~3;
  float* Ai = A + MB * lda;
  if (C >= DIRECT_MIN_C && KW <= 60) {
    bwd_input_direct(g, dy, bp, dx, scratch, lineStart, lineEnd);
    return;
  }
  for (int line = lineStart; line < lineEnd; line++) {
    int ih = line % IH, t = line / IH, id = t % ID, b = t / ID;
    for (int p = 0; p < SW && p < IW; p++) {
      int cnt = (IW - p + SW - 1) / SW;
      for (int j0 = 0; j0 < cnt; j0 += MB) {
        int nrows = cnt - j0 < MB ? cnt - j0 : MB;
        int nrPad = (nrows + 3) & ~3;
        for (int r = 0; r < nrows; r++) {
          int iw = p + (j0 + r) * SW;
          rc[r] = iw;
          outOff[r] = ((((b * ID + id) * IH + ih) * IW) + iw) * N;
        }
        int nruns = 0, aoff = 0, tap = 0;
        for (int kd = 0; kd < KD; kd++) {
          int nd = id + g[G_PF] - kd * g[G_DD];
          int od = nd / SD;
          int okd = nd >= 0 && nd % SD == 0 && od < OD;
          for (int kh = 0; kh < KH; kh++) {
            int nh = ih + g[G_PT] - kh * g[G_DH];
            int oh = nh / SH;
            int okh = okd && nh >= 0 && nh % SH == 0 && oh < OH;
            for (int kw = 0; kw < KW; kw++, tap++) {
              if (!okh) continue;
              int nw0 = p + g[G_PL] - kw * g[G_DW];
              if (((nw0 % SW) + SW) % SW != 0) continue;
              int any = 0;
              const float* src = dy + (((long)b * OD + od) * OH + oh) * OW * C;
              for (int r = 0; r < nrows; r++) {
                int nw = rc[r] + g[G_PL] - kw * g[G_DW];
                float* dst = A + r * lda + aoff;
                int ow = nw / SW;
                if (nw >= 0 && ow < OW) {
                  copy_floats(dst, src + (long)ow * C, C);
                  any = 1;
                } else {
                  zero_floats(dst, C);
                }
              }
              if (any) {
                nruns = add_run(runs, nruns, aoff, tap * C, C);
                aoff += C;
              }
            }
          }
        }
        if (nruns == 0) {
          for (int r = 0; r < nrows; r++) zero_floats(dx + outOff[r], N);
          continue;
        }
        for (int r = nrows; r < nrPad; r++) zero_floats(A + r * lda, aoff);
        gemm_group(A, lda, aoff, nrows, runs, nruns, bp, K, N, dx, outOff, Ai, tmp);
      }
    }
  }
}

/* ---- backprop filter --------------------------------------------------------------- */

#define YB 256 /* output voxels per block */

/*
 * dw[taps*Cin][Cout] += sum over output voxels rowStart..rowEnd of x(tap, ci) * dy[voxel][:].
 * dw is this thread's partial sum (zeroed by the caller). dy must be readable 8 floats past
 * its end. Scratch after the header: src [taps][YB] pointers to each voxel's input row (or a
 * zero row outside the volume), panel [YB][4] floats, panel row pointers [YB], zero row.
 * Four dW rows of one tap with 4 consecutive channels read x in place through src; other
 * groups (taps crossing, Cin % 4) are gathered into the panel first.
 */
EXPORT(conv3d_bwd_filter) void conv3d_bwd_filter(const int* g, const float* x, const float* dy, float* dw, char* scratch,
                       int rowStart, int rowEnd) {
  const int ID = g[G_ID], IH = g[G_IH], IW = g[G_IW], C = g[G_IC];
  const int OD = g[G_OD], OH = g[G_OH], OW = g[G_OW], N = g[G_OC];
  const int KD = g[G_KD], KH = g[G_KH], KW = g[G_KW];
  const int taps = KD * KH * KW, K = taps * C;
  float* tmp = (float*)(scratch + S_TMP);
  u32* src = (u32*)(scratch + S_PANEL);
  float* P = (float*)(scratch + S_PANEL + taps * YB * 4);
  u32* prow = (u32*)(P + 4 * YB);
  float* zero = (float*)(prow + YB);
  zero_floats(zero, C + 4);
  for (int yy = 0; yy < YB; yy++) prow[yy] = (u32)(P + 4 * yy);
  for (int y0 = rowStart; y0 < rowEnd; y0 += YB) {
    int ny = rowEnd - y0 < YB ? rowEnd - y0 : YB;
    for (int yy = 0; yy < ny; yy++) {
      int v = y0 + yy, ow = v % OW, t = v / OW, oh = t % OH;
      t /= OH;
      int od = t % OD, b = t / OD;
      int bd = od * g[G_SD] - g[G_PF], bh = oh * g[G_SH] - g[G_PT], bw = ow * g[G_SW] - g[G_PL];
      int tap = 0;
      for (int kd = 0; kd < KD; kd++)
        for (int kh = 0; kh < KH; kh++)
          for (int kw = 0; kw < KW; kw++, tap++) {
            int id = bd + kd * g[G_DD], ih = bh + kh * g[G_DH], iw = bw + kw * g[G_DW];
            src[tap * YB + yy] = (id >= 0 && id < ID && ih >= 0 && ih < IH && iw >= 0 && iw < IW)
                                     ? (u32)(x + (((b * ID + id) * IH + ih) * IW + iw) * C)
                                     : (u32)zero;
          }
    }
    const float* dyb = dy + (long)y0 * N;
    for (int k0 = 0; k0 < K; k0 += 4) {
      int nk = K - k0 < 4 ? K - k0 : 4;
      int t0 = k0 / C, c0 = k0 % C;
      const u32* tab;
      int off;
      if (nk == 4 && c0 + 4 <= C) {
        tab = src + t0 * YB;
        off = c0;
      } else {
        for (int r = 0; r < 4; r++) {
          int k = k0 + r, tt = k / C, cc = k % C;
          const u32* ix = src + tt * YB;
          for (int yy = 0; yy < ny; yy++) P[4 * yy + r] = r < nk ? ((const float*)ix[yy])[cc] : 0.0f;
        }
        tab = prow;
        off = 0;
      }
      for (int nb = 0; nb * 8 < N; nb++) {
        int ncols = N - nb * 8 < 8 ? N - nb * 8 : 8;
        float* o0 = dw + (long)k0 * N + nb * 8;
        const float* d = dyb + nb * 8;
        if (ncols > 4) {
          v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00;
          v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
          for (int yy = 0; yy < ny; yy++) {
            v128_t b0 = wasm_v128_load(d), b1 = wasm_v128_load(d + 4);
            d += N;
            const float* a = (const float*)tab[yy] + off;
            v128_t xv = wasm_v128_load32_splat(a);
            c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(xv, b0));
            c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(xv, b1));
            xv = wasm_v128_load32_splat(a + 1);
            c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(xv, b0));
            c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(xv, b1));
            xv = wasm_v128_load32_splat(a + 2);
            c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(xv, b0));
            c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(xv, b1));
            xv = wasm_v128_load32_splat(a + 3);
            c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(xv, b0));
            c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(xv, b1));
          }
          wasm_v128_store(tmp, c00);
          wasm_v128_store(tmp + 4, c01);
          wasm_v128_store(tmp + 8, c10);
          wasm_v128_store(tmp + 12, c11);
          wasm_v128_store(tmp + 16, c20);
          wasm_v128_store(tmp + 20, c21);
          wasm_v128_store(tmp + 24, c30);
          wasm_v128_store(tmp + 28, c31);
          for (int r = 0; r < nk; r++)
            for (int c = 0; c < ncols; c++) o0[r * N + c] += tmp[8 * r + c];
        } else {
          v128_t c0v = wasm_f32x4_splat(0), c1v = c0v, c2v = c0v, c3v = c0v;
          for (int yy = 0; yy < ny; yy++) {
            v128_t b0 = wasm_v128_load(d);
            d += N;
            const float* a = (const float*)tab[yy] + off;
            c0v = wasm_f32x4_add(c0v, wasm_f32x4_mul(wasm_v128_load32_splat(a), b0));
            c1v = wasm_f32x4_add(c1v, wasm_f32x4_mul(wasm_v128_load32_splat(a + 1), b0));
            c2v = wasm_f32x4_add(c2v, wasm_f32x4_mul(wasm_v128_load32_splat(a + 2), b0));
            c3v = wasm_f32x4_add(c3v, wasm_f32x4_mul(wasm_v128_load32_splat(a + 3), b0));
          }
          wasm_v128_store(tmp, c0v);
          wasm_v128_store(tmp + 8, c1v);
          wasm_v128_store(tmp + 16, c2v);
          wasm_v128_store(tmp + 24, c3v);
          for (int r = 0; r < nk; r++)
            for (int c = 0; c < ncols; c++) o0[r * N + c] += tmp[8 * r + c];
        }
      }
    }
  }
}

/* Sum `count` partial buffers of n floats laid out back to back into the first one. */
EXPORT(sum_partials) void sum_partials(float* base, int n, int count) {
  for (int p = 1; p < count; p++) {
    const float* s = base + (long)p * n;
    int i = 0;
    for (; i + 4 <= n; i += 4)
      wasm_v128_store(base + i, wasm_f32x4_add(wasm_v128_load(base + i), wasm_v128_load(s + i)));
    for (; i < n; i++) base[i] += s[i];
  }
}

/*
 * Peak probe: `reps` passes of the 4x8 micro-kernel over an L1-resident K-long panel
 * (A [K][4], B [K][8]); performs 64 * K * reps FLOP. Output tile goes to out[4][8].
 */
EXPORT(peak_4x8) void peak_4x8(const float* A, const float* B, int K, int reps, float* out,
                               char* scratch) {
  int* runs = (int*)(scratch + S_RUNS);
  int* rowOff = (int*)(scratch + S_OUT);
  runs[0] = 0;
  runs[1] = 0;
  runs[2] = K;
  for (int r = 0; r < 4; r++) rowOff[r] = r * 8;
  for (int i = 0; i < reps; i++)
    mk4x8(A, runs, 1, B, out, rowOff, 4, 8, (float*)(scratch + S_TMP));
}
