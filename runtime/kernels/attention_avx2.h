/* attention_avx2.h: the f32 pieces of AVX2 attention (dots of q with f32
 * key rows, the unnormalized softmax, the weighted V sum), shared by
 * attention_avx2.c and the 8-bit cache's prefill path in
 * attention_q8_avx2.c (which widens a KV head's rows to f32 first).
 * *_avx2.c only. */
#ifndef MOTE_ATTENTION_AVX2_H
#define MOTE_ATTENTION_AVX2_H

#include "avx2_util.h"

MOTE_INLINE __m256 att_load_n(const float *p, size_t n) {
  return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mote_tail_mask(n));
}

/* scores[j] = scale * dot(q, k_j) for j < n, four keys per pass so one
 * horizontal reduction yields four scores. */
MOTE_INLINE void att_qk_scores(const float *q, const float *k, size_t kstride,
                      size_t hd, size_t n, float scale, float *scores) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *k0 = k + j * kstride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t d = 0; d < hd; d += 8) {
      size_t m = hd - d;
      __m256 qv = att_load_n(q + d, m);
      a0 = _mm256_fmadd_ps(qv, att_load_n(k0 + d, m), a0);
      a1 = _mm256_fmadd_ps(qv, att_load_n(k0 + kstride + d, m), a1);
      a2 = _mm256_fmadd_ps(qv, att_load_n(k0 + 2 * kstride + d, m), a2);
      a3 = _mm256_fmadd_ps(qv, att_load_n(k0 + 3 * kstride + d, m), a3);
    }
    _mm_storeu_ps(scores + j, _mm_mul_ps(mote_hsum4(a0, a1, a2, a3), _mm_set1_ps(scale)));
  }
  for (; j < n; ++j) {
    const float *kj = k + j * kstride;
    __m256 a = _mm256_setzero_ps();
    for (size_t d = 0; d < hd; d += 8)
      a = _mm256_fmadd_ps(att_load_n(q + d, hd - d), att_load_n(kj + d, hd - d), a);
    scores[j] = mote_hsum(a) * scale;
  }
}

/* scores[j] = exp(scores[j] - max) for j < n; returns their sum. */
MOTE_INLINE float att_softmax_unnormalized(float *scores, size_t n) {
  float m = scores[0];
  size_t j = 1;
  if (n >= 9) { /* the max in 8 lanes, then across them (exact in any order) */
    __m256 mx = _mm256_loadu_ps(scores + 1);
    for (j = 9; j + 8 <= n; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(scores + j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float hm = _mm_cvtss_f32(h);
    m = hm > m ? hm : m;
  }
  for (; j < n; ++j) m = scores[j] > m ? scores[j] : m;
  __m256 mv = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
  j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 e = mote_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(scores + j), mv));
    _mm256_storeu_ps(scores + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  float s = mote_hsum(sum);
  for (; j < n; ++j) {
    scores[j] = expf(scores[j] - m);
    s += scores[j];
  }
  return s;
}

/* out[0..min(m, 32)) = inv * (a0 | a1 | a2 | a3): a weighted-V sum's 32
 * lanes, the lanes past m not stored (masked). */
MOTE_INLINE void att_store32(float *out, size_t m, float inv, __m256 a0, __m256 a1,
                             __m256 a2, __m256 a3) {
  __m256 iv = _mm256_set1_ps(inv);
  __m256 r[4] = {_mm256_mul_ps(a0, iv), _mm256_mul_ps(a1, iv), _mm256_mul_ps(a2, iv),
                 _mm256_mul_ps(a3, iv)};
  for (size_t c = 0; c < 4 && 8 * c < m; ++c) {
    size_t left = m - 8 * c;
    if (left >= 8) _mm256_storeu_ps(out + 8 * c, r[c]);
    else _mm256_maskstore_ps(out + 8 * c, mote_tail_mask(left), r[c]);
  }
}

/* out = inv * sum_j p_j v_j, 32 lanes of head_dim at a time in registers. */
MOTE_INLINE void att_weighted_v(const float *p, const float *v, size_t vstride,
                       size_t hd, size_t n, float inv, float *out) {
  for (size_t d0 = 0; d0 < hd; d0 += 32) {
    size_t m = hd - d0;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < n; ++j) {
      const float *vj = v + j * vstride + d0;
      __m256 pj = _mm256_set1_ps(p[j]);
      a0 = _mm256_fmadd_ps(pj, att_load_n(vj, m), a0);
      if (m > 8) a1 = _mm256_fmadd_ps(pj, att_load_n(vj + 8, m - 8), a1);
      if (m > 16) a2 = _mm256_fmadd_ps(pj, att_load_n(vj + 16, m - 16), a2);
      if (m > 24) a3 = _mm256_fmadd_ps(pj, att_load_n(vj + 24, m - 24), a3);
    }
    att_store32(out + d0, m, inv, a0, a1, a2, a3);
  }
}

#endif /* MOTE_ATTENTION_AVX2_H */
