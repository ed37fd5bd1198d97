/* attention_avx2.h: the f32 pieces of AVX2 attention (dots of q with f32
 * key rows, the unnormalized softmax, the weighted V sum), shared by
 * attention_avx2.c and the 8-bit cache's prefill path in
 * attention_q8_avx2.c (which widens a KV head's rows to f32 first).
 * *_avx2.c only. */
#ifndef MOTE_ATTENTION_AVX2_H
#define MOTE_ATTENTION_AVX2_H

#include <string.h>

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

/* Eight elements i..i+7 of a cache row (m < 8: the first m, zeros past;
 * never reads past them): f32, or int8 codes widened. The grouped pieces
 * below are written over one of these (a constant: always inlined). */
typedef __m256 (*att_row_load_fn)(const char *row, size_t i, size_t m);
MOTE_INLINE __m256 att_row_f32(const char *row, size_t i, size_t m) {
  return att_load_n((const float *)row + i, m);
}
MOTE_INLINE __m256 att_row_q8(const char *row, size_t i, size_t m) {
  const int8_t *p = (const int8_t *)row + i;
  __m128i b;
  if (m >= 8) {
    b = _mm_loadl_epi64((const __m128i *)p);
  } else {
    long long t = 0;
    memcpy(&t, p, m);
    b = _mm_cvtsi64_si128(t);
  }
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}

/* Scores of keys j..j+3 (rows from k0, kb bytes apart) for nq (1 or 2)
 * query heads, each key's row loaded once for both: sc[i][j+r] = (dot *
 * sv[r]) * scale, sv the keys' scales (ones for an f32 cache: exact). */
MOTE_INLINE void att_dots4(att_row_load_fn load, const float *const *qs, int nq,
                           const char *k0, size_t kb, size_t hd, __m128 sv, float scale,
                           float *const *sc, size_t j) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (size_t d = 0; d < hd; d += 8) {
    size_t m = hd - d;
    __m256 k0v = load(k0, d, m), k1v = load(k0 + kb, d, m);
    __m256 k2v = load(k0 + 2 * kb, d, m), k3v = load(k0 + 3 * kb, d, m);
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

/* Key rows ahead to prefetch (16 of 0/8/16/32/64 measured best on a cold
 * cache, f32): a decode step finds its layer's cache evicted by the weights. */
#define ATT_PF_ROWS 16

/* Prefetches the first `bytes` of cache row j (rows rb bytes apart; when j < n). */
MOTE_INLINE void att_prefetch_row(const char *base, size_t rb, size_t bytes, size_t j,
                                  size_t n) {
  if (j >= n) return;
  const char *p = base + j * rb;
  for (size_t b = 0; b < bytes; b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}

/* sc[i][j] = (dot(q_i, k_j) * s_j) * scale for nh query heads of one KV
 * head, j < n, over rows of esz-byte elements kb bytes apart read by load;
 * s_j = rs[j * rss] (rs NULL: none). Blocks of four keys, heads two at a
 * time over the block's rows; v: the head's value rows, prefetched
 * alongside (in flight long before the V sum needs them: -7% on a cold
 * f32 cache). */
MOTE_INLINE void att_scores(att_row_load_fn load, size_t esz, const float *const *qs,
                            size_t nh, const char *k, size_t kb, const float *rs, size_t rss,
                            size_t hd, size_t n, float scale, float *const *sc,
                            const char *v) {
  const size_t bytes = hd * esz;
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    for (size_t r = 0; r < 4; ++r) att_prefetch_row(k, kb, bytes, j + ATT_PF_ROWS + r, n);
    for (size_t r = 0; r < 4; ++r) att_prefetch_row(v, kb, bytes, j + r, n);
    __m128 sv = rs ? _mm_setr_ps(rs[j * rss], rs[(j + 1) * rss], rs[(j + 2) * rss],
                                 rs[(j + 3) * rss])
                   : _mm_set1_ps(1.0f); /* exact */
    const char *k0 = k + j * kb;
    size_t i = 0;
    for (; i + 2 <= nh; i += 2) att_dots4(load, qs + i, 2, k0, kb, hd, sv, scale, sc + i, j);
    if (i < nh) att_dots4(load, qs + i, 1, k0, kb, hd, sv, scale, sc + i, j);
  }
  for (; j < n; ++j)
    for (size_t i = 0; i < nh; ++i) {
      const char *kj = k + j * kb;
      __m256 a = _mm256_setzero_ps();
      for (size_t d = 0; d < hd; d += 8)
        a = _mm256_fmadd_ps(att_load_n(qs[i] + d, hd - d), load(kj, d, hd - d), a);
      sc[i][j] = rs ? mote_hsum(a) * rs[j * rss] * scale : mote_hsum(a) * scale;
    }
}

/* out_i = inv_i * sum_j (p_i[j] s_j) v_j for NH (1, 2 or 4: a constant, so
 * the accumulators stay in registers) heads, rows from v, vb bytes apart,
 * s_j = rs[j * rss] (rs NULL: 1, exact), 16 lanes of head_dim per pass over
 * the rows; each lane's sum runs in row order, as att_weighted_v's. */
MOTE_INLINE void att_v_heads(att_row_load_fn load, const float *const *p, size_t NH,
                             const char *v, size_t vb, const float *rs, size_t rss, size_t hd,
                             size_t n, const float *inv, float *const *out) {
  for (size_t d0 = 0; d0 < hd; d0 += 16) {
    size_t m = hd - d0;
    __m256 acc[4][2];
    for (size_t i = 0; i < NH; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t j = 0; j < n; ++j) {
      const char *vj = v + j * vb;
      __m256 v0 = load(vj, d0, m);
      __m256 v1 = m > 8 ? load(vj, d0 + 8, m - 8) : _mm256_setzero_ps();
      float sj = rs ? rs[j * rss] : 1.0f;
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

#endif /* MOTE_ATTENTION_AVX2_H */
