/* AVX2+FMA quantized linear (issue 4): unpack 8 codes with a broadcast,
 * per-lane shift and mask, convert, dequantize in f32 with one FMA
 * (s*c - s*offset), and FMA into tiles of tokens x rows like linear_avx2.c.
 * A strip of W rows is dequantized once per 8 weights and reused by every
 * token of the tile (prefill); decode streams 4 rows at once. Group scales
 * are the bundle's own bytes, f32 or IEEE half (F16C converts them in
 * registers); every path is compiled for both (the F16 template argument). */
#include <string.h>

#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "avx2_util.h"

/* Group scales: s points at a scale array of f32 (F16 == 0) or IEEE halves
 * (F16 == 1); F16 is a compile-time constant wherever these inline. */
MOTE_INLINE const void *qs_ptr(const void *s, const int F16, size_t i) {
  return (const uint8_t *)s + i * (F16 ? 2 : 4);
}
MOTE_INLINE float qs_at(const void *s, const int F16, size_t i) {
  return F16 ? _cvtsh_ss(((const uint16_t *)s)[i]) : ((const float *)s)[i];
}
MOTE_INLINE __m256 qs_bcast(const void *s, const int F16, size_t i) {
  return F16 ? _mm256_cvtph_ps(_mm_set1_epi16((short)((const uint16_t *)s)[i]))
             : _mm256_set1_ps(((const float *)s)[i]);
}
/* Scales i..i+7. */
MOTE_INLINE __m256 qs_load8(const void *s, const int F16, size_t i) {
  return F16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)s + i)))
             : _mm256_loadu_ps((const float *)s + i);
}
/* Scales i..i+n-1 (n = 2 or 4) in the low lanes. */
MOTE_INLINE __m128 qs_load_n(const void *s, const int F16, size_t i, size_t n) {
  if (F16) {
    const uint16_t *h = (const uint16_t *)s + i;
    if (n == 4) return _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)h));
    uint32_t v;
    memcpy(&v, h, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)v));
  }
  const float *f = (const float *)s + i;
  return n == 4 ? _mm_loadu_ps(f) : _mm_castpd_ps(_mm_load_sd((const double *)f));
}

/* Codes of weights k..k+7 of a packed row (k a multiple of 8) as f32 c. */
MOTE_INLINE __m256 codes8(const int bits, const uint8_t *row, size_t k) {
  if (bits == 2) {
    uint16_t v;
    memcpy(&v, row + k / 4, 2);
    __m256i c = _mm256_srlv_epi32(_mm256_set1_epi32(v),
                                  _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    return _mm256_cvtepi32_ps(_mm256_and_si256(c, _mm256_set1_epi32(3)));
  }
  if (bits == 4) {
    uint32_t v;
    memcpy(&v, row + k / 2, 4);
    __m256i c = _mm256_srlv_epi32(_mm256_set1_epi32((int)v),
                                  _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    return _mm256_cvtepi32_ps(_mm256_and_si256(c, _mm256_set1_epi32(15)));
  }
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + k))));
}

/* One tile: TT tokens x NN rows over the whole of K, group by group. */
MOTE_INLINE void qtile(const int bits, const int F16, const float *x, size_t K,
                       const uint8_t *codes, const void *scales, size_t group,
                       size_t row_bytes, const float *bias, float *y, size_t N,
                       const int TT, const int NN) {
  const float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.0f;
  size_t ng = (K + group - 1) / group;
  __m256 acc[4][4];
  for (int t = 0; t < TT; ++t)
    for (int n = 0; n < NN; ++n) acc[t][n] = _mm256_setzero_ps();
  for (size_t g = 0; g < ng; ++g) {
    size_t k0 = g * group, k1 = k0 + group < K ? k0 + group : K;
    __m256 s[4], so[4];
    for (int n = 0; n < NN; ++n) {
      float sc = qs_at(scales, F16, (size_t)n * ng + g);
      s[n] = _mm256_set1_ps(sc);
      so[n] = _mm256_set1_ps(sc * off);
    }
    for (size_t k = k0; k < k1; k += 8) {
      __m256 wv[4];
      for (int n = 0; n < NN; ++n) {
        __m256 c = codes8(bits, codes + (size_t)n * row_bytes, k);
        wv[n] = bits == 8 ? _mm256_mul_ps(c, s[n]) : _mm256_fmsub_ps(c, s[n], so[n]);
      }
      if (k + 8 <= K) {
        for (int t = 0; t < TT; ++t) {
          __m256 xv = _mm256_loadu_ps(x + (size_t)t * K + k);
          for (int n = 0; n < NN; ++n) acc[t][n] = _mm256_fmadd_ps(xv, wv[n], acc[t][n]);
        }
      } else { /* the row's end: lanes past K read x as 0 */
        __m256i m = mote_tail_mask(K - k);
        for (int t = 0; t < TT; ++t) {
          __m256 xv = _mm256_maskload_ps(x + (size_t)t * K + k, m);
          for (int n = 0; n < NN; ++n) acc[t][n] = _mm256_fmadd_ps(xv, wv[n], acc[t][n]);
        }
      }
    }
  }
  const __m256 z = _mm256_setzero_ps();
  for (int t = 0; t < TT; ++t) {
    __m128 r = mote_hsum4(acc[t][0], NN > 1 ? acc[t][1] : z, NN > 2 ? acc[t][2] : z,
                          NN > 3 ? acc[t][3] : z);
    float out[4];
    _mm_storeu_ps(out, r);
    for (int n = 0; n < NN; ++n) y[(size_t)t * N + n] = bias ? out[n] + bias[n] : out[n];
  }
}

/* One token x NN rows (decode outside the fast path, and 8-bit decode):
 * codes convert straight into per-group accumulators (sum c*x), scaled once
 * per group; the grid offset is folded as off * sum_g s_g * (sum_g x), with
 * sum_g x accumulated once for all NN rows. One convert and one FMA per 8
 * weights and row after the unpack, no per-weight dequantization. */
MOTE_INLINE void qtile1(const int bits, const int F16, const float *x, size_t K,
                        const uint8_t *codes, const void *scales, size_t group,
                        size_t row_bytes, const float *bias, float *y,
                        const int NN) {
  const float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.0f;
  size_t ng = (K + group - 1) / group;
  __m256 tot[4], ov[4];
  for (int n = 0; n < NN; ++n) tot[n] = ov[n] = _mm256_setzero_ps();
  for (size_t g = 0; g < ng; ++g) {
    size_t k0 = g * group, k1 = k0 + group < K ? k0 + group : K;
    __m256 acc[4], xs = _mm256_setzero_ps();
    for (int n = 0; n < NN; ++n) acc[n] = _mm256_setzero_ps();
    for (size_t k = k0; k < k1; k += 8) {
      __m256 xv = k + 8 <= K ? _mm256_loadu_ps(x + k)
                             : _mm256_maskload_ps(x + k, mote_tail_mask(K - k));
      if (bits != 8) xs = _mm256_add_ps(xs, xv);
      for (int n = 0; n < NN; ++n)
        acc[n] = _mm256_fmadd_ps(codes8(bits, codes + (size_t)n * row_bytes, k), xv, acc[n]);
    }
    for (int n = 0; n < NN; ++n) {
      __m256 sv = qs_bcast(scales, F16, (size_t)n * ng + g);
      tot[n] = _mm256_fmadd_ps(acc[n], sv, tot[n]);
      if (bits != 8) ov[n] = _mm256_fmadd_ps(xs, sv, ov[n]);
    }
  }
  const __m256 z = _mm256_setzero_ps();
  __m128 r = mote_hsum4(tot[0], NN > 1 ? tot[1] : z, NN > 2 ? tot[2] : z, NN > 3 ? tot[3] : z);
  __m128 o = mote_hsum4(ov[0], NN > 1 ? ov[1] : z, NN > 2 ? ov[2] : z, NN > 3 ? ov[3] : z);
  float out[4], oo[4];
  _mm_storeu_ps(out, r);
  _mm_storeu_ps(oo, o);
  for (int n = 0; n < NN; ++n)
    y[n] = (out[n] - off * oo[n]) + (bias ? bias[n] : 0.0f);
}

typedef void (*qtile_fn)(const float *x, size_t K, const uint8_t *codes,
                         const void *scales, int f16, size_t group, size_t row_bytes,
                         const float *bias, float *y, size_t N);

#define QTILE(B, TT, NN)                                                       \
  static void qtile_##B##_##TT##x##NN(const float *x, size_t K,                \
                                      const uint8_t *codes,                    \
                                      const void *scales, int f16,             \
                                      size_t group, size_t row_bytes,          \
                                      const float *bias, float *y, size_t N) { \
    if (TT == 1 && f16)                                                        \
      qtile1(B, 1, x, K, codes, scales, group, row_bytes, bias, y, NN);        \
    else if (TT == 1)                                                          \
      qtile1(B, 0, x, K, codes, scales, group, row_bytes, bias, y, NN);        \
    else if (f16)                                                              \
      qtile(B, 1, x, K, codes, scales, group, row_bytes, bias, y, N, TT, NN);  \
    else                                                                       \
      qtile(B, 0, x, K, codes, scales, group, row_bytes, bias, y, N, TT, NN);  \
  }
#define QTILES(B)                                                              \
  QTILE(B, 1, 1) QTILE(B, 1, 2) QTILE(B, 1, 3) QTILE(B, 1, 4)                 \
  QTILE(B, 2, 1) QTILE(B, 2, 2) QTILE(B, 3, 1) QTILE(B, 3, 2)                 \
  QTILE(B, 4, 1) QTILE(B, 4, 2)                                               \
  static const qtile_fn kQTiles##B[5][5] = {                                   \
      {0},                                                                     \
      {0, qtile_##B##_1x1, qtile_##B##_1x2, qtile_##B##_1x3, qtile_##B##_1x4}, \
      {0, qtile_##B##_2x1, qtile_##B##_2x2, 0, 0},                             \
      {0, qtile_##B##_3x1, qtile_##B##_3x2, 0, 0},                             \
      {0, qtile_##B##_4x1, qtile_##B##_4x2, 0, 0},                             \
  };
QTILES(2)
QTILES(4)
QTILES(8)

/* Rows per full tile for tt tokens: 4 rows stream at once for decode; two
 * rows x up to 4 tokens for prefill (8 accumulators, 2 dequantized rows). */
static const size_t kQRows[5] = {0, 4, 2, 2, 2};

static void linear_q_avx2(const qtile_fn (*tiles)[5], const float *x, size_t T,
                          size_t K, const uint8_t *codes, const void *scales, int f16,
                          size_t group, size_t row_bytes, const float *bias,
                          float *y, size_t N, size_t n_begin, size_t n_end) {
  size_t ng = (K + group - 1) / group;
  /* A chunk of W rows (packed) stays in L1 while every token of a chunk of
   * tokens (in L2) passes over it. */
  size_t tc = ((size_t)(256 * 1024) / (K * sizeof(float))) & ~(size_t)3;
  size_t nc = ((size_t)(16 * 1024) / (row_bytes ? row_bytes : 1)) & ~(size_t)3;
  if (tc < 4) tc = 4;
  if (nc < 4) nc = 4;
  for (size_t t0 = 0; t0 < T; t0 += tc) {
    size_t t1 = T - t0 < tc ? T : t0 + tc;
    for (size_t n0 = n_begin; n0 < n_end; n0 += nc) {
      size_t n1 = n_end - n0 < nc ? n_end : n0 + nc;
      for (size_t t = t0; t < t1; t += 4) {
        size_t tt = t1 - t < 4 ? t1 - t : 4, nb = kQRows[tt];
        for (size_t n = n0; n < n1; n += nb) {
          size_t nn = n1 - n < nb ? n1 - n : nb;
          if (tt == 1 && n + 12 <= n_end) { /* decode streams W: fetch ahead */
            const char *c0 = (const char *)(codes + (n + 8) * row_bytes);
            for (size_t b = 0; b < 4 * row_bytes; b += 64) _mm_prefetch(c0 + b, _MM_HINT_T0);
          }
          tiles[tt][nn](x + t * K, K, codes + n * row_bytes, qs_ptr(scales, f16, n * ng),
                        f16, group, row_bytes, bias ? bias + n : NULL, y + t * N + n, N);
        }
      }
    }
  }
}

/* ---- decode (T = 1), 2- and 4-bit: no per-weight shift -------------------
 * A 32-byte chunk of a row holds 8 little-endian 32-bit lanes of wpl = 32/B
 * codes each; weight j of lane l (k = chunk*8*wpl + l*wpl + j) sits at bit
 * j*B. x is permuted once per call into xp[chunk][j][l] = x[k] * 2^-(B*j),
 * so (word & (mask << j*B)) converted to f32 times xp is exactly c*x: one
 * AND, one convert and one FMA per 8 weights. The top j would set the sign
 * bit, so it is shifted down by B first (scale 2^-(B*(j-1))). The offset
 * term is folded: sum_g s_g*(sum c*x - off*sum_g x), with sum_g x per
 * group computed once per call. Needs K % (8*wpl) == 0, group a multiple of
 * the lane width (wpl) dividing 8*wpl or a multiple of it, K <= 8192. */
#define QD_MAX_K 8192

MOTE_INLINE int qdecode_ok(const int B, size_t K, size_t group) {
  size_t wpl = 32 / B, cw = 8 * wpl;
  if (K % cw != 0 || K > QD_MAX_K) return 0;
  if (group >= K) return 1;
  return group % cw == 0 || (group % wpl == 0 && cw % group == 0 && cw / group <= 4);
}

/* NN rows of one call; xp, xs prepared by the caller. */
MOTE_INLINE void qdecode_rows(const int B, const int F16, const float *xp,
                              const float *xs, size_t K, const uint8_t *codes,
                              const void *scales, size_t group,
                              size_t row_bytes, const float *bias, float *y,
                              const int NN) {
  const int wpl = 32 / B;
  const size_t cw = (size_t)8 * wpl, nch = K / cw;
  const size_t ng = (K + group - 1) / group;
  const float off = B == 2 ? 1.5f : 7.5f;
  const __m256i cmask = _mm256_set1_epi32((1 << B) - 1);
  __m256 tot[4];
  for (int n = 0; n < NN; ++n) tot[n] = _mm256_setzero_ps();
  /* lane -> scale index within a chunk when a chunk spans several groups */
  const size_t gpc = group < cw ? cw / group : 1; /* groups per chunk */
  __m256i sidx = _mm256_setzero_si256();
  if (gpc > 1) {
    int lpg = (int)(group / (size_t)wpl); /* lanes per group */
    sidx = _mm256_setr_epi32(0 / lpg, 1 / lpg, 2 / lpg, 3 / lpg, 4 / lpg, 5 / lpg,
                             6 / lpg, 7 / lpg);
  }
  for (size_t ch = 0; ch < nch; ++ch) {
    __m256i wd[4];
    __m256 acc[4];
    for (int n = 0; n < NN; ++n) {
      wd[n] = _mm256_loadu_si256((const __m256i *)(codes + (size_t)n * row_bytes + ch * 32));
      acc[n] = _mm256_setzero_ps();
    }
    const float *xc = xp + ch * cw;
    for (int j = 0; j < wpl - 1; ++j) {
      __m256 xv = _mm256_loadu_ps(xc + 8 * j);
      __m256i m = _mm256_slli_epi32(cmask, B * j);
      for (int n = 0; n < NN; ++n)
        acc[n] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(wd[n], m)), xv, acc[n]);
    }
    {
      __m256 xv = _mm256_loadu_ps(xc + 8 * (wpl - 1));
      __m256i m = _mm256_slli_epi32(cmask, B * (wpl - 2));
      for (int n = 0; n < NN; ++n)
        acc[n] = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(wd[n], B), m)), xv,
            acc[n]);
    }
    for (int n = 0; n < NN; ++n) {
      const void *sr = qs_ptr(scales, F16, (size_t)n * ng);
      __m256 sv;
      if (gpc == 1) {
        sv = qs_bcast(sr, F16, ch * cw / group);
      } else { /* gpc in {2, 4}: the chunk's scales, spread over its lanes */
        __m128 s4 = qs_load_n(sr, F16, ch * gpc, gpc);
        sv = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s4), sidx);
      }
      tot[n] = _mm256_fmadd_ps(acc[n], sv, tot[n]);
    }
  }
  /* offset: off * sum_g s_g * xs_g */
  float o[4];
  for (int n = 0; n < NN; ++n) {
    const void *sr = qs_ptr(scales, F16, (size_t)n * ng);
    __m256 a = _mm256_setzero_ps();
    size_t g = 0;
    for (; g + 8 <= ng; g += 8)
      a = _mm256_fmadd_ps(qs_load8(sr, F16, g), _mm256_loadu_ps(xs + g), a);
    float r = mote_hsum(a);
    for (; g < ng; ++g) r = fmaf(qs_at(sr, F16, g), xs[g], r); /* one rounding either way */
    o[n] = off * r;
  }
  const __m256 z = _mm256_setzero_ps();
  __m128 r = mote_hsum4(tot[0], NN > 1 ? tot[1] : z, NN > 2 ? tot[2] : z, NN > 3 ? tot[3] : z);
  float out[4];
  _mm_storeu_ps(out, r);
  for (int n = 0; n < NN; ++n) y[n] = (out[n] - o[n]) + (bias ? bias[n] : 0.0f);
}

MOTE_INLINE void qdecode(const int B, const int F16, const float *x, size_t K,
                         const uint8_t *codes, const void *scales,
                         size_t group, size_t row_bytes, const float *bias,
                         float *y, size_t n_begin, size_t n_end) {
  float xp[QD_MAX_K] __attribute__((aligned(32)));
  float xs[QD_MAX_K / 8];
  const int wpl = 32 / B;
  const size_t cw = (size_t)8 * wpl, ng = (K + group - 1) / group;
  /* xp: one gather of 8 lanes per (chunk, j), times 2^-(B*j) (exact). This
   * runs once per call (per thread chunk), ~K/8 gathers. */
  const __m256i vidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                          _mm256_set1_epi32(wpl));
  for (size_t ch = 0; ch < K / cw; ++ch)
    for (int j = 0; j < wpl; ++j) {
      int e = B * (j < wpl - 1 ? j : j - 1);
      __m256 f = _mm256_set1_ps(1.0f / (float)(1u << e));
      __m256 v = _mm256_i32gather_ps(x + ch * cw + (size_t)j, vidx, 4);
      _mm256_store_ps(xp + ch * cw + (size_t)j * 8, _mm256_mul_ps(v, f));
    }
  /* per-group sums of x; groups here are whole multiples of 8 weights */
  for (size_t g = 0; g < ng; ++g) {
    size_t k1 = (g + 1) * group < K ? (g + 1) * group : K;
    __m256 a = _mm256_setzero_ps();
    for (size_t k = g * group; k < k1; k += 8) a = _mm256_add_ps(a, _mm256_loadu_ps(x + k));
    xs[g] = mote_hsum(a);
  }
  size_t ngr = ng;
  size_t n = n_begin;
  /* Rows are short (512 B at K = 2048, 2-bit) and stream from DRAM for big
   * matrices: fetch the codes and scales of the tile two ahead. */
  const size_t pf = 8;
  for (; n + 4 <= n_end; n += 4) {
    if (n + pf + 4 <= n_end) {
      const char *c0 = (const char *)(codes + (n + pf) * row_bytes);
      for (size_t b = 0; b < 4 * row_bytes; b += 64) _mm_prefetch(c0 + b, _MM_HINT_T0);
      const char *s0 = (const char *)qs_ptr(scales, F16, (n + pf) * ngr);
      for (size_t b = 0; b < 4 * ngr * (F16 ? 2 : 4); b += 64) _mm_prefetch(s0 + b, _MM_HINT_T0);
    }
    qdecode_rows(B, F16, xp, xs, K, codes + n * row_bytes, qs_ptr(scales, F16, n * ngr),
                 group, row_bytes, bias ? bias + n : NULL, y + n, 4);
  }
  for (; n < n_end; ++n)
    qdecode_rows(B, F16, xp, xs, K, codes + n * row_bytes, qs_ptr(scales, F16, n * ngr),
                 group, row_bytes, bias ? bias + n : NULL, y + n, 1);
}

static void qdecode2(const float *x, size_t K, const uint8_t *codes, const void *scales,
                     int f16, size_t group, size_t row_bytes, const float *bias, float *y,
                     size_t n_begin, size_t n_end) {
  if (f16)
    qdecode(2, 1, x, K, codes, scales, group, row_bytes, bias, y, n_begin, n_end);
  else
    qdecode(2, 0, x, K, codes, scales, group, row_bytes, bias, y, n_begin, n_end);
}
static void qdecode4(const float *x, size_t K, const uint8_t *codes, const void *scales,
                     int f16, size_t group, size_t row_bytes, const float *bias, float *y,
                     size_t n_begin, size_t n_end) {
  if (f16)
    qdecode(4, 1, x, K, codes, scales, group, row_bytes, bias, y, n_begin, n_end);
  else
    qdecode(4, 0, x, K, codes, scales, group, row_bytes, bias, y, n_begin, n_end);
}

/* ---- prefill (T >= 4): dequantize a strip of rows, run linear_f32 ------
 * A strip of W rows is dequantized once into a 64 KiB stack buffer (it stays
 * in L1/L2) and every token of the call passes over it with the f32 4x3
 * tiles of linear_avx2.c, so the unpacking is amortized over all T tokens. */
#define QP_BUF_FLOATS 16384

MOTE_INLINE void dequant_row_avx2(const int B, const uint8_t *row, const void *sr,
                                  int f16, size_t K, size_t group, float *out) {
  const float off = B == 2 ? 1.5f : B == 4 ? 7.5f : 0.0f;
  size_t ng = (K + group - 1) / group;
  for (size_t g = 0; g < ng; ++g) {
    size_t k0 = g * group, k1 = k0 + group < K ? k0 + group : K;
    const float s = f16 ? qs_at(sr, 1, g) : qs_at(sr, 0, g);
    __m256 sv = _mm256_set1_ps(s), so = _mm256_set1_ps(s * off);
    for (size_t k = k0; k < k1; k += 8) {
      __m256 w = _mm256_fmsub_ps(codes8(B, row, k), sv, so);
      if (k + 8 <= K)
        _mm256_storeu_ps(out + k, w);
      else
        _mm256_maskstore_ps(out + k, mote_tail_mask(K - k), w);
    }
  }
}

MOTE_INLINE void qprefill(const int B, const float *x, size_t T, size_t K,
                          const uint8_t *codes, const void *scales, int f16, size_t group,
                          size_t row_bytes, const float *bias, float *y, size_t N,
                          size_t n_begin, size_t n_end) {
  float wbuf[QP_BUF_FLOATS] __attribute__((aligned(32)));
  size_t ng = (K + group - 1) / group, nr = QP_BUF_FLOATS / K;
  if (nr > 12) nr = 12;
  for (size_t n0 = n_begin; n0 < n_end; n0 += nr) {
    size_t n1 = n_end - n0 < nr ? n_end : n0 + nr;
    for (size_t n = n0; n < n1; ++n)
      dequant_row_avx2(B, codes + n * row_bytes, qs_ptr(scales, f16, n * ng), f16, K, group,
                       wbuf + (n - n0) * K);
    mote_linear_f32_avx2(x, T, K, wbuf, bias ? bias + n0 : NULL, y + n0, N, 0, n1 - n0);
  }
}

/* Group boundaries inside a row must fall on 8-weight chunks; any other
 * group size (not produced by motec) takes the scalar reference. */
#define QAVX2(B)                                                               \
  void mote_linear_q##B##_f32_avx2(const float *x, size_t T, size_t K,         \
                                   const uint8_t *codes, const void *scales,   \
                                   int f16, size_t group, size_t row_bytes,    \
                                   const float *bias, float *y, size_t N,      \
                                   size_t n_begin, size_t n_end) {             \
    if (n_begin >= n_end || T == 0 || K == 0) {                                \
      if (K == 0)                                                              \
        mote_linear_q##B##_f32_ref(x, T, K, codes, scales, f16, group,         \
                                   row_bytes, bias, y, N, n_begin, n_end);     \
      return;                                                                  \
    }                                                                          \
    if (group % 8 != 0 && group < K) {                                         \
      mote_linear_q##B##_f32_ref(x, T, K, codes, scales, f16, group,           \
                                 row_bytes, bias, y, N, n_begin, n_end);       \
      return;                                                                  \
    }                                                                          \
    if (T == 1 && (B == 2 || B == 4) && qdecode_ok(B == 2 ? 2 : 4, K, group)) { \
      (B == 2 ? qdecode2 : qdecode4)(x, K, codes, scales, f16, group,          \
                                     row_bytes, bias, y, n_begin, n_end);      \
      return;                                                                  \
    }                                                                          \
    if (T >= 4 && K <= QP_BUF_FLOATS) {                                        \
      qprefill(B, x, T, K, codes, scales, f16, group, row_bytes, bias, y, N,   \
               n_begin, n_end);                                                \
      return;                                                                  \
    }                                                                          \
    linear_q_avx2(kQTiles##B, x, T, K, codes, scales, f16, group, row_bytes,   \
                  bias, y, N, n_begin, n_end);                                 \
  }
QAVX2(2)
QAVX2(4)
QAVX2(8)

#else
typedef int mote_linear_q_avx2_unused_t; /* not an x86-64 build */
#endif
