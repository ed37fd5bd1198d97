/* AVX2+FMA causal attention over the 8-bit KV cache. With the kvbuf scratch
 * (what the runtime passes) each KV head's rows are widened to f32 once and
 * the grouped f32 kernel (attention_avx2.c) serves all its query heads;
 * without, int8 K/V codes are widened eight at a time per head, the
 * per-(row, KV head) scales folded into the score (K) and the softmax
 * weight (V). Same math as attention_q8_ref.c. */
#include <string.h>

#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "attention_avx2.h"
#include "attention_group.h"

/* Codes p[0..min(n,8)) as eight floats, zero past n (never reads past n). */
MOTE_INLINE __m256 load_q8(const int8_t *p, size_t n) {
  __m128i b;
  if (n >= 8) {
    b = _mm_loadl_epi64((const __m128i *)p);
  } else {
    long long t = 0;
    memcpy(&t, p, n);
    b = _mm_cvtsi64_si128(t);
  }
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}

/* Code rows ahead to prefetch, as the f32 kernel's ATT_PF_ROWS: a decode
 * step finds its layer's cache evicted by the weight stream. */
#define Q8_PF_ROWS 16

/* Prefetches the hd codes of cache row j (when j < n). */
MOTE_INLINE void q8_prefetch_row(const int8_t *base, size_t stride, size_t hd, size_t j,
                                 size_t n) {
  if (j >= n) return;
  const char *p = (const char *)(base + j * stride);
  for (size_t b = 0; b < hd; b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}

/* Scores of keys j..j+3 (codes from k0, kstride apart; sv their scales)
 * for nq (1 or 2) query heads: each key's codes widened once for both. */
MOTE_INLINE void q8_dots4(const float *const *qs, int nq, const int8_t *k0, size_t kstride,
                          size_t hd, __m128 sv, float scale, float *const *sc, size_t j) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (size_t d = 0; d < hd; d += 8) {
    size_t m = hd - d;
    __m256 k0v = load_q8(k0 + d, m), k1v = load_q8(k0 + kstride + d, m);
    __m256 k2v = load_q8(k0 + 2 * kstride + d, m), k3v = load_q8(k0 + 3 * kstride + d, m);
    __m256 qv = att_load_n(qs[0] + d, m);
    a0 = _mm256_fmadd_ps(qv, k0v, a0);
    a1 = _mm256_fmadd_ps(qv, k1v, a1);
    a2 = _mm256_fmadd_ps(qv, k2v, a2);
    a3 = _mm256_fmadd_ps(qv, k3v, a3);
    if (nq > 1) {
      __m256 qw = att_load_n(qs[1] + d, m);
      b0 = _mm256_fmadd_ps(qw, k0v, b0);
      b1 = _mm256_fmadd_ps(qw, k1v, b1);
      b2 = _mm256_fmadd_ps(qw, k2v, b2);
      b3 = _mm256_fmadd_ps(qw, k3v, b3);
    }
  }
  __m128 s = _mm_set1_ps(scale);
  _mm_storeu_ps(sc[0] + j, _mm_mul_ps(_mm_mul_ps(mote_hsum4(a0, a1, a2, a3), sv), s));
  if (nq > 1)
    _mm_storeu_ps(sc[1] + j, _mm_mul_ps(_mm_mul_ps(mote_hsum4(b0, b1, b2, b3), sv), s));
}

/* sc[i][j] = scale * ks[j*sstride] * dot(q_i, codes_j) for nh query heads
 * of one KV head, j < n: blocks of four keys, heads two at a time over the
 * block's codes; the value rows (v) prefetched alongside. */
static void qk_scores(const float *const *qs, size_t nh, const int8_t *k, size_t kstride,
                      const float *ks, size_t sstride, size_t hd, size_t n, float scale,
                      float *const *sc, const int8_t *v) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    for (size_t r = 0; r < 4; ++r) q8_prefetch_row(k, kstride, hd, j + Q8_PF_ROWS + r, n);
    for (size_t r = 0; r < 4; ++r) q8_prefetch_row(v, kstride, hd, j + r, n);
    const float *s = ks + j * sstride;
    __m128 sv = _mm_setr_ps(s[0], s[sstride], s[2 * sstride], s[3 * sstride]);
    const int8_t *k0 = k + j * kstride;
    size_t i = 0;
    for (; i + 2 <= nh; i += 2) q8_dots4(qs + i, 2, k0, kstride, hd, sv, scale, sc + i, j);
    if (i < nh) q8_dots4(qs + i, 1, k0, kstride, hd, sv, scale, sc + i, j);
  }
  for (; j < n; ++j)
    for (size_t i = 0; i < nh; ++i) {
      const int8_t *kj = k + j * kstride;
      __m256 a = _mm256_setzero_ps();
      for (size_t d = 0; d < hd; d += 8)
        a = _mm256_fmadd_ps(att_load_n(qs[i] + d, hd - d), load_q8(kj + d, hd - d), a);
      sc[i][j] = mote_hsum(a) * ks[j * sstride] * scale;
    }
}

/* out_i = inv_i * sum_j (p_i[j] vs_j) codes_j for NH (1, 2 or 4: a
 * constant, so the accumulators stay in registers) query heads, 16 lanes of
 * head_dim per pass over the rows: each row's codes widened once for all. */
MOTE_INLINE void v_heads(const float *const *p, size_t NH, const int8_t *v, size_t vstride,
                         const float *vs, size_t sstride, size_t hd, size_t n,
                         const float *inv, float *const *out) {
  for (size_t d0 = 0; d0 < hd; d0 += 16) {
    size_t m = hd - d0;
    __m256 acc[4][2];
    for (size_t i = 0; i < NH; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t j = 0; j < n; ++j) {
      const int8_t *vj = v + j * vstride + d0;
      __m256 v0 = load_q8(vj, m);
      __m256 v1 = m > 8 ? load_q8(vj + 8, m - 8) : _mm256_setzero_ps();
      float sj = vs[j * sstride];
      for (size_t i = 0; i < NH; ++i) {
        __m256 pj = _mm256_set1_ps(p[i][j] * sj);
        acc[i][0] = _mm256_fmadd_ps(pj, v0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(pj, v1, acc[i][1]);
      }
    }
    for (size_t i = 0; i < NH; ++i) {
      __m256 iv = _mm256_set1_ps(inv[i]);
      __m256 r0 = _mm256_mul_ps(acc[i][0], iv), r1 = _mm256_mul_ps(acc[i][1], iv);
      float *o = out[i] + d0;
      if (m >= 8) _mm256_storeu_ps(o, r0);
      else _mm256_maskstore_ps(o, mote_tail_mask(m), r0);
      if (m >= 16) _mm256_storeu_ps(o + 8, r1);
      else if (m > 8) _mm256_maskstore_ps(o + 8, mote_tail_mask(m - 8), r1);
    }
  }
}

static void weighted_v(const float *const *p, size_t nh, const int8_t *v, size_t vstride,
                       const float *vs, size_t sstride, size_t hd, size_t n,
                       const float *inv, float *const *out) {
  size_t i = 0;
  for (; i + 4 <= nh; i += 4) v_heads(p + i, 4, v, vstride, vs, sstride, hd, n, inv + i, out + i);
  for (; i + 2 <= nh; i += 2) v_heads(p + i, 2, v, vstride, vs, sstride, hd, n, inv + i, out + i);
  for (; i < nh; ++i) v_heads(p + i, 1, v, vstride, vs, sstride, hd, n, inv + i, out + i);
}

/* Rows [0, n) of one KV head, codes times their scale, widened once into
 * buf (n, hd) f32 for all of the head's query heads and rows (att_q8). */
static void widen(const int8_t *c, size_t cstride, const float *s, size_t sstride,
                  size_t hd, size_t n, float *buf) {
  for (size_t j = 0; j < n; ++j) {
    const int8_t *cj = c + j * cstride;
    float *bj = buf + j * hd;
    __m256 sv = _mm256_set1_ps(s[j * sstride]);
    for (size_t d = 0; d < hd; d += 8) {
      size_t m = hd - d;
      __m256 v = _mm256_mul_ps(load_q8(cj + d, m), sv);
      if (m >= 8) _mm256_storeu_ps(bj + d, v);
      else _mm256_maskstore_ps(bj + d, mote_tail_mask(m), v);
    }
  }
}

/* att_softmax_unnormalized is an inline of the shared header: a static
 * function the driver can take the address of. */
static float softmax(float *scores, size_t n) { return att_softmax_unnormalized(scores, n); }

void mote_attention_q8_f32_avx2(const float *q, const int8_t *kc, const float *ks,
                                const int8_t *vc, const float *vs, size_t kv_row,
                                size_t kv_head, const int32_t *pos, float *out, size_t T,
                                size_t Hq, size_t Hkv, size_t head_dim, float scale,
                                float *scores, float *kvbuf, size_t h_begin, size_t h_end) {
  att_q8(q, kc, ks, vc, vs, kv_row, kv_head, pos, out, T, Hq, Hkv, head_dim, scale, scores,
         kvbuf, h_begin, h_end, widen, mote_attention_f32_avx2, qk_scores, softmax, weighted_v);
}

#else
typedef int mote_attention_q8_avx2_unused_t; /* not an x86-64 build */
#endif
