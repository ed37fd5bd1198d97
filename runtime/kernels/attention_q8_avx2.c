/* AVX2+FMA causal attention over the 8-bit KV cache: int8 K/V codes widened
 * to f32 eight at a time, per-(row, KV head) scales folded into the score
 * (K) and the softmax weight (V). Same math as attention_q8_ref.c. */
#include <string.h>

#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "attention_avx2.h"

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

/* scores[j] = scale * ks[j*sstride] * dot(q, codes_j) for j < n, four keys
 * per pass so one horizontal reduction yields four scores. */
static void qk_scores(const float *q, const int8_t *k, size_t kstride, const float *ks,
                      size_t sstride, size_t hd, size_t n, float scale, float *scores) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const int8_t *k0 = k + j * kstride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t d = 0; d < hd; d += 8) {
      size_t m = hd - d;
      __m256 qv = att_load_n(q + d, m);
      a0 = _mm256_fmadd_ps(qv, load_q8(k0 + d, m), a0);
      a1 = _mm256_fmadd_ps(qv, load_q8(k0 + kstride + d, m), a1);
      a2 = _mm256_fmadd_ps(qv, load_q8(k0 + 2 * kstride + d, m), a2);
      a3 = _mm256_fmadd_ps(qv, load_q8(k0 + 3 * kstride + d, m), a3);
    }
    const float *s = ks + j * sstride;
    __m128 sv = _mm_setr_ps(s[0], s[sstride], s[2 * sstride], s[3 * sstride]);
    _mm_storeu_ps(scores + j, _mm_mul_ps(_mm_mul_ps(mote_hsum4(a0, a1, a2, a3), sv),
                                         _mm_set1_ps(scale)));
  }
  for (; j < n; ++j) {
    const int8_t *kj = k + j * kstride;
    __m256 a = _mm256_setzero_ps();
    for (size_t d = 0; d < hd; d += 8)
      a = _mm256_fmadd_ps(att_load_n(q + d, hd - d), load_q8(kj + d, hd - d), a);
    scores[j] = mote_hsum(a) * ks[j * sstride] * scale;
  }
}

/* out = inv * sum_j (p_j vs_j) codes_j, 32 lanes of head_dim at a time. */
static void weighted_v(const float *p, const int8_t *v, size_t vstride, const float *vs,
                       size_t sstride, size_t hd, size_t n, float inv, float *out) {
  for (size_t d0 = 0; d0 < hd; d0 += 32) {
    size_t m = hd - d0;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < n; ++j) {
      const int8_t *vj = v + j * vstride + d0;
      __m256 pj = _mm256_set1_ps(p[j] * vs[j * sstride]);
      a0 = _mm256_fmadd_ps(pj, load_q8(vj, m), a0);
      if (m > 8) a1 = _mm256_fmadd_ps(pj, load_q8(vj + 8, m - 8), a1);
      if (m > 16) a2 = _mm256_fmadd_ps(pj, load_q8(vj + 16, m - 16), a2);
      if (m > 24) a3 = _mm256_fmadd_ps(pj, load_q8(vj + 24, m - 24), a3);
    }
    att_store32(out + d0, m, inv, a0, a1, a2, a3);
  }
}

/* Prefill (T > 1): rows [0, n) of one KV head, codes times their scale,
 * widened once into buf (n, hd) f32, then the f32 dots below serve all T
 * query rows instead of widening the codes again per row. */
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

void mote_attention_q8_f32_avx2(const float *q, const int8_t *kc, const float *ks,
                                const int8_t *vc, const float *vs, const int32_t *pos,
                                float *out, size_t T, size_t Hq, size_t Hkv,
                                size_t head_dim, float scale, float *scores, float *kvbuf,
                                size_t h_begin, size_t h_end) {
  size_t group = Hq / Hkv;
  size_t qstride = Hq * head_dim, kvstride = Hkv * head_dim;
  size_t nmax = 0, widened = (size_t)-1; /* KV head now in kvbuf */
  if (kvbuf && T > 1)
    for (size_t t = 0; t < T; ++t) nmax = (size_t)pos[t] + 1 > nmax ? (size_t)pos[t] + 1 : nmax;
  for (size_t h = h_begin; h < h_end; ++h) {
    size_t g = h / group, kvoff = g * head_dim;
    if (nmax) { /* prefill: widen head g's rows once, f32 dots for every row */
      float *kb = kvbuf, *vb = kvbuf + nmax * head_dim;
      if (g != widened) {
        widen(kc + kvoff, kvstride, ks + g, Hkv, head_dim, nmax, kb);
        widen(vc + kvoff, kvstride, vs + g, Hkv, head_dim, nmax, vb);
        widened = g;
      }
      for (size_t t = 0; t < T; ++t) {
        size_t n = (size_t)pos[t] + 1;
        att_qk_scores(q + t * qstride + h * head_dim, kb, head_dim, head_dim, n, scale, scores);
        float sum = att_softmax_unnormalized(scores, n);
        att_weighted_v(scores, vb, head_dim, head_dim, n, 1.0f / sum,
                       out + t * qstride + h * head_dim);
      }
      continue;
    }
    for (size_t t = 0; t < T; ++t) {
      size_t n = (size_t)pos[t] + 1; /* causal: cache rows 0..pos[t] */
      const float *qh = q + t * qstride + h * head_dim;
      qk_scores(qh, kc + kvoff, kvstride, ks + g, Hkv, head_dim, n, scale, scores);
      float sum = att_softmax_unnormalized(scores, n);
      weighted_v(scores, vc + kvoff, kvstride, vs + g, Hkv, head_dim, n, 1.0f / sum,
                 out + t * qstride + h * head_dim);
    }
  }
}

#else
typedef int mote_attention_q8_avx2_unused_t; /* not an x86-64 build */
#endif
