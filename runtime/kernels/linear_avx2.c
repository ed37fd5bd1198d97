/* AVX2+FMA linear_f32 / linear_f16 (F16C): register-blocked tiles of tokens x
 * rows, dots along K. */
#include <string.h>

#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "avx2_util.h"

/* 8 weights of W from element i: f32, or IEEE half widened by F16C (H). */
MOTE_INLINE __m256 load_w(const void *w, size_t i, const int H) {
  if (H)
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
  return _mm256_loadu_ps((const float *)w + i);
}

/* The r < 8 weights of a row's tail at element i, zeros after them; reads
 * nothing past the row. */
MOTE_INLINE __m256 load_w_tail(const void *w, size_t i, size_t r, __m256i m,
                               const int H) {
  if (H) {
    uint16_t h[8] = {0};
    memcpy(h, (const uint16_t *)w + i, r * sizeof(uint16_t));
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
  }
  return _mm256_maskload_ps((const float *)w + i, m);
}

/* One tile: TT tokens x NN rows of W, one 8-lane accumulator per (token, row),
 * reduced horizontally at the end. Each W vector loaded serves TT tokens and
 * each x vector NN rows, so 4x3 does 12 FMAs per 7 loads (FMA-bound), and a
 * 1xN tile streams N rows at once for decode. TT, NN and H (W stored as
 * half) are constants at every call site, so the loops unroll, the weight
 * load is one instruction, and acc lives in registers. */
MOTE_INLINE void tile(const float *x, size_t K, const void *w,
                      const float *bias, float *y, size_t N, const int TT,
                      const int NN, const int H) {
  /* The K tail goes first, with masked loads that read nothing past a row;
   * it also initializes the accumulators, so K < 8 needs no special case. */
  __m256 acc[4][8];
  size_t kfull = K & ~(size_t)7;
  __m256i m = mote_tail_mask(K - kfull);
  __m256 wv[8];
  for (int n = 0; n < NN; ++n) wv[n] = load_w_tail(w, n * K + kfull, K - kfull, m, H);
  for (int t = 0; t < TT; ++t) {
    __m256 xv = _mm256_maskload_ps(x + t * K + kfull, m);
    for (int n = 0; n < NN; ++n) acc[t][n] = _mm256_mul_ps(xv, wv[n]);
  }
  for (size_t k = 0; k < kfull; k += 8) {
    for (int n = 0; n < NN; ++n) wv[n] = load_w(w, n * K + k, H);
    for (int t = 0; t < TT; ++t) {
      __m256 xv = _mm256_loadu_ps(x + t * K + k);
      for (int n = 0; n < NN; ++n) acc[t][n] = _mm256_fmadd_ps(xv, wv[n], acc[t][n]);
    }
  }
  const __m256 z = _mm256_setzero_ps();
  for (int t = 0; t < TT; ++t) {
    for (int n0 = 0; n0 < NN; n0 += 4) {
      __m128 s = mote_hsum4(acc[t][n0], n0 + 1 < NN ? acc[t][n0 + 1] : z,
                            n0 + 2 < NN ? acc[t][n0 + 2] : z,
                            n0 + 3 < NN ? acc[t][n0 + 3] : z);
      float out[4];
      _mm_storeu_ps(out, s);
      for (int n = n0; n < NN && n < n0 + 4; ++n)
        y[t * N + n] = bias ? out[n - n0] + bias[n] : out[n - n0];
    }
  }
}

typedef void (*tile_fn)(const float *x, size_t K, const void *w,
                        const float *bias, float *y, size_t N);

#define TILE(TT, NN)                                                           \
  static void tile_##TT##x##NN(const float *x, size_t K, const void *w,        \
                               const float *bias, float *y, size_t N) {        \
    tile(x, K, w, bias, y, N, TT, NN, 0);                                      \
  }                                                                            \
  static void tile_h_##TT##x##NN(const float *x, size_t K, const void *w,      \
                                 const float *bias, float *y, size_t N) {      \
    tile(x, K, w, bias, y, N, TT, NN, 1);                                      \
  }
TILE(4, 1) TILE(4, 2) TILE(4, 3)
TILE(3, 1) TILE(3, 2) TILE(3, 3)
TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(2, 4)
TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4)
TILE(1, 5) TILE(1, 6) TILE(1, 7) TILE(1, 8)

/* kTiles[h][tt][nn]: W f32 (h = 0) or half (h = 1), tt tokens x nn rows;
 * kRows[tt] is the full row block. */
static const tile_fn kTiles[2][5][9] = {
    {{0},
     {0, tile_1x1, tile_1x2, tile_1x3, tile_1x4, tile_1x5, tile_1x6, tile_1x7,
      tile_1x8},
     {0, tile_2x1, tile_2x2, tile_2x3, tile_2x4},
     {0, tile_3x1, tile_3x2, tile_3x3, 0},
     {0, tile_4x1, tile_4x2, tile_4x3, 0}},
    {{0},
     {0, tile_h_1x1, tile_h_1x2, tile_h_1x3, tile_h_1x4, tile_h_1x5, tile_h_1x6,
      tile_h_1x7, tile_h_1x8},
     {0, tile_h_2x1, tile_h_2x2, tile_h_2x3, tile_h_2x4},
     {0, tile_h_3x1, tile_h_3x2, tile_h_3x3, 0},
     {0, tile_h_4x1, tile_h_4x2, tile_h_4x3, 0}},
};
static const size_t kRows[5] = {0, 8, 4, 3, 3};

/* tt tokens (1..4) starting at x over rows [n0, n1) of W (elements of es
 * bytes). */
static void tile_rows(const float *x, size_t tt, size_t K, const char *w,
                      size_t es, const float *bias, float *y, size_t N,
                      size_t n0, size_t n1) {
  const tile_fn *tiles = kTiles[es == 2][tt];
  size_t nb = kRows[tt];
  size_t n = n0;
  for (; n + nb <= n1; n += nb)
    tiles[nb](x, K, w + n * K * es, bias ? bias + n : NULL, y + n, N);
  if (n < n1)
    tiles[n1 - n](x, K, w + n * K * es, bias ? bias + n : NULL, y + n, N);
}

static void linear(const float *x, size_t T, size_t K, const char *w, size_t es,
                   const float *bias, float *y, size_t N, size_t n_begin,
                   size_t n_end) {
  if (n_begin >= n_end || T == 0) return;
  /* Block so a chunk of W rows stays in L1/L2 while every token of a chunk
   * of tokens (kept in L2) passes over it: W is read from memory once per
   * token chunk, not once per 4 tokens. */
  size_t row_bytes = K ? K * es : es;
  size_t tc = ((size_t)(256 * 1024) / row_bytes) & ~(size_t)3;
  size_t nc = ((size_t)(32 * 1024) / row_bytes) / 12 * 12;
  if (tc < 4) tc = 4;
  if (nc < 12) nc = 12;
  for (size_t t0 = 0; t0 < T; t0 += tc) {
    size_t t1 = T - t0 < tc ? T : t0 + tc;
    for (size_t n0 = n_begin; n0 < n_end; n0 += nc) {
      size_t n1 = n_end - n0 < nc ? n_end : n0 + nc;
      size_t t = t0;
      for (; t < t1; t += 4) {
        size_t tt = t1 - t < 4 ? t1 - t : 4;
        tile_rows(x + t * K, tt, K, w, es, bias, y + t * N, N, n0, n1);
      }
    }
  }
}

void mote_linear_f32_avx2(const float *x, size_t T, size_t K, const float *w,
                          const float *bias, float *y, size_t N,
                          size_t n_begin, size_t n_end) {
  linear(x, T, K, (const char *)w, sizeof(float), bias, y, N, n_begin, n_end);
}

void mote_linear_f16_avx2(const float *x, size_t T, size_t K, const uint16_t *w,
                          const float *bias, float *y, size_t N,
                          size_t n_begin, size_t n_end) {
  linear(x, T, K, (const char *)w, sizeof(uint16_t), bias, y, N, n_begin, n_end);
}

#else
typedef int mote_linear_avx2_unused_t; /* not an x86-64 build */
#endif
