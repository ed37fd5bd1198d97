/* NEON linear_f32: register-blocked tiles of tokens x rows, dots along K. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "neon_util.h"

/* One tile: TT tokens x NN rows of W, one 4-lane accumulator per (token, row),
 * reduced at the end. Each W vector loaded serves TT tokens and each x vector
 * NN rows: the 4x4 prefill tile does 16 FMAs per 8 loads with 16 accumulators
 * + 4 W + 1 x of the 32 vector registers; the 1x8 decode tile streams eight
 * rows at once. TT, NN are literals in each expansion, so the loops unroll
 * and the exactly sized acc/wv arrays live in registers (GCC keeps a larger,
 * partly used array in memory and stores it every iteration).
 * The K tail (K mod 4) goes first, zero-padded; it also initializes the
 * accumulators, so K < 4 needs no special case. */
#define TILE(TT, NN)                                                           \
  static void tile_##TT##x##NN(const float *x, size_t K, const float *w,       \
                               const float *bias, float *y, size_t N) {        \
    float32x4_t acc[TT][NN], wv[NN];                                           \
    size_t kfull = K & ~(size_t)3, rem = K - kfull;                            \
    for (int n = 0; n < NN; ++n) wv[n] = mote_load_n(w + n * K + kfull, rem);  \
    for (int t = 0; t < TT; ++t) {                                             \
      float32x4_t xv = mote_load_n(x + t * K + kfull, rem);                    \
      for (int n = 0; n < NN; ++n) acc[t][n] = vmulq_f32(xv, wv[n]);           \
    }                                                                          \
    for (size_t k = 0; k < kfull; k += 4) {                                    \
      for (int n = 0; n < NN; ++n) wv[n] = vld1q_f32(w + n * K + k);           \
      for (int t = 0; t < TT; ++t) {                                           \
        float32x4_t xv = vld1q_f32(x + t * K + k);                             \
        for (int n = 0; n < NN; ++n)                                           \
          acc[t][n] = vfmaq_f32(acc[t][n], xv, wv[n]);                         \
      }                                                                        \
    }                                                                          \
    for (int t = 0; t < TT; ++t)                                               \
      for (int n = 0; n < NN; ++n) {                                           \
        float s = vaddvq_f32(acc[t][n]);                                       \
        y[t * N + n] = bias ? s + bias[n] : s;                                 \
      }                                                                        \
  }

typedef void (*tile_fn)(const float *x, size_t K, const float *w,
                        const float *bias, float *y, size_t N);

/* The edge tiles. */
TILE(4, 1) TILE(4, 2) TILE(4, 3)
TILE(3, 1) TILE(3, 2) TILE(3, 3) TILE(3, 4)
TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(2, 4)
TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4)
TILE(1, 5) TILE(1, 6) TILE(1, 7)

/* The two hot tiles with named accumulators: GCC 12 keeps even an exactly
 * sized array of 16 vectors on the stack and stores it every iteration. */

/* Lane i = the sum of the lanes of ai. */
MOTE_INLINE float32x4_t hsum4(float32x4_t a0, float32x4_t a1, float32x4_t a2,
                              float32x4_t a3) {
  return vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3));
}

/* Four contiguous outputs y[0..4) = sums + bias[0..4) (bias may be NULL). */
MOTE_INLINE void store4(float *y, float32x4_t sums, const float *bias) {
  vst1q_f32(y, bias ? vaddq_f32(sums, vld1q_f32(bias)) : sums);
}

#define INIT4(t, a)                                                            \
  float32x4_t c##t##0 = vmulq_f32(a, b0), c##t##1 = vmulq_f32(a, b1),          \
              c##t##2 = vmulq_f32(a, b2), c##t##3 = vmulq_f32(a, b3)
#define FMA4(t, a)                                                             \
  c##t##0 = vfmaq_f32(c##t##0, a, b0);                                         \
  c##t##1 = vfmaq_f32(c##t##1, a, b1);                                         \
  c##t##2 = vfmaq_f32(c##t##2, a, b2);                                         \
  c##t##3 = vfmaq_f32(c##t##3, a, b3)

/* Prefill: 4 tokens x 4 rows, 16 FMAs per 8 loads. */
static void tile_4x4(const float *x, size_t K, const float *w,
                     const float *bias, float *y, size_t N) {
  size_t kfull = K & ~(size_t)3, rem = K - kfull;
  const float *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
  const float *x1 = x + K, *x2 = x + 2 * K, *x3 = x + 3 * K;
  /* K tail first, zero-padded: it initializes the accumulators. */
  float32x4_t b0 = mote_load_n(w + kfull, rem), b1 = mote_load_n(w1 + kfull, rem);
  float32x4_t b2 = mote_load_n(w2 + kfull, rem), b3 = mote_load_n(w3 + kfull, rem);
  float32x4_t a = mote_load_n(x + kfull, rem);
  INIT4(0, a);
  a = mote_load_n(x1 + kfull, rem);
  INIT4(1, a);
  a = mote_load_n(x2 + kfull, rem);
  INIT4(2, a);
  a = mote_load_n(x3 + kfull, rem);
  INIT4(3, a);
  for (size_t k = 0; k < kfull; k += 4) {
    b0 = vld1q_f32(w + k);
    b1 = vld1q_f32(w1 + k);
    b2 = vld1q_f32(w2 + k);
    b3 = vld1q_f32(w3 + k);
    a = vld1q_f32(x + k);
    FMA4(0, a);
    a = vld1q_f32(x1 + k);
    FMA4(1, a);
    a = vld1q_f32(x2 + k);
    FMA4(2, a);
    a = vld1q_f32(x3 + k);
    FMA4(3, a);
  }
  store4(y, hsum4(c00, c01, c02, c03), bias);
  store4(y + N, hsum4(c10, c11, c12, c13), bias);
  store4(y + 2 * N, hsum4(c20, c21, c22, c23), bias);
  store4(y + 3 * N, hsum4(c30, c31, c32, c33), bias);
}

/* Decode: 1 token x 8 rows, eight independent FMA chains. */
static void tile_1x8(const float *x, size_t K, const float *w,
                     const float *bias, float *y, size_t N) {
  (void)N;
  size_t kfull = K & ~(size_t)3, rem = K - kfull;
  const float *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K, *w4 = w + 4 * K;
  const float *w5 = w + 5 * K, *w6 = w + 6 * K, *w7 = w + 7 * K;
  float32x4_t a = mote_load_n(x + kfull, rem);
  float32x4_t c0 = vmulq_f32(a, mote_load_n(w + kfull, rem));
  float32x4_t c1 = vmulq_f32(a, mote_load_n(w1 + kfull, rem));
  float32x4_t c2 = vmulq_f32(a, mote_load_n(w2 + kfull, rem));
  float32x4_t c3 = vmulq_f32(a, mote_load_n(w3 + kfull, rem));
  float32x4_t c4 = vmulq_f32(a, mote_load_n(w4 + kfull, rem));
  float32x4_t c5 = vmulq_f32(a, mote_load_n(w5 + kfull, rem));
  float32x4_t c6 = vmulq_f32(a, mote_load_n(w6 + kfull, rem));
  float32x4_t c7 = vmulq_f32(a, mote_load_n(w7 + kfull, rem));
  for (size_t k = 0; k < kfull; k += 4) {
    a = vld1q_f32(x + k);
    c0 = vfmaq_f32(c0, a, vld1q_f32(w + k));
    c1 = vfmaq_f32(c1, a, vld1q_f32(w1 + k));
    c2 = vfmaq_f32(c2, a, vld1q_f32(w2 + k));
    c3 = vfmaq_f32(c3, a, vld1q_f32(w3 + k));
    c4 = vfmaq_f32(c4, a, vld1q_f32(w4 + k));
    c5 = vfmaq_f32(c5, a, vld1q_f32(w5 + k));
    c6 = vfmaq_f32(c6, a, vld1q_f32(w6 + k));
    c7 = vfmaq_f32(c7, a, vld1q_f32(w7 + k));
  }
  store4(y, hsum4(c0, c1, c2, c3), bias);
  store4(y + 4, hsum4(c4, c5, c6, c7), bias ? bias + 4 : NULL);
}

/* kTiles[tt][nn]: tt tokens x nn rows; kRows[tt] is the full row block. */
static const tile_fn kTiles[5][9] = {
    {0},
    {0, tile_1x1, tile_1x2, tile_1x3, tile_1x4, tile_1x5, tile_1x6, tile_1x7,
     tile_1x8},
    {0, tile_2x1, tile_2x2, tile_2x3, tile_2x4},
    {0, tile_3x1, tile_3x2, tile_3x3, tile_3x4},
    {0, tile_4x1, tile_4x2, tile_4x3, tile_4x4},
};
static const size_t kRows[5] = {0, 8, 4, 4, 4};

/* tt tokens (1..4) starting at x over rows [n0, n1). */
static void tile_rows(const float *x, size_t tt, size_t K, const float *w,
                      const float *bias, float *y, size_t N, size_t n0,
                      size_t n1) {
  size_t nb = kRows[tt];
  tile_fn full = kTiles[tt][nb];
  size_t n = n0;
  for (; n + nb <= n1; n += nb)
    full(x, K, w + n * K, bias ? bias + n : NULL, y + n, N);
  if (n < n1)
    kTiles[tt][n1 - n](x, K, w + n * K, bias ? bias + n : NULL, y + n, N);
}

void mote_linear_f32_neon(const float *x, size_t T, size_t K, const float *w,
                          const float *bias, float *y, size_t N,
                          size_t n_begin, size_t n_end) {
  if (n_begin >= n_end || T == 0) return;
  /* Block so a chunk of W rows stays in L1/L2 while every token of a chunk
   * of tokens (kept in L2) passes over it: W is read from memory once per
   * token chunk, not once per 4 tokens. */
  size_t row_bytes = K ? K * sizeof(float) : sizeof(float);
  size_t tc = ((size_t)(256 * 1024) / row_bytes) & ~(size_t)3;
  size_t nc = ((size_t)(32 * 1024) / row_bytes) & ~(size_t)7;
  if (tc < 4) tc = 4;
  if (nc < 8) nc = 8;
  for (size_t t0 = 0; t0 < T; t0 += tc) {
    size_t t1 = T - t0 < tc ? T : t0 + tc;
    for (size_t n0 = n_begin; n0 < n_end; n0 += nc) {
      size_t n1 = n_end - n0 < nc ? n_end : n0 + nc;
      for (size_t t = t0; t < t1; t += 4) {
        size_t tt = t1 - t < 4 ? t1 - t : 4;
        tile_rows(x + t * K, tt, K, w, bias, y + t * N, N, n0, n1);
      }
    }
  }
}

#else
typedef int mote_linear_neon_unused_t; /* not an AArch64 build */
#endif
