/* AVX2+FMA causal attention over a KV cache, the query heads that share a
 * KV head (GQA) taken together: each key and value row is fetched from
 * memory once for up to MOTE_ATTENTION_HEADS query heads, and prefetched
 * ahead (a decode step finds the cache evicted by the weight stream). Per
 * (head, key) the arithmetic is the one-head kernel's (attention_avx2.h),
 * so any split of the heads gives the same bits. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "attention_avx2.h"
#include "attention_group.h"

/* Key rows ahead to prefetch (16 of 0/8/16/32/64 measured best on a cold
 * cache): a decode step finds its layer's cache evicted by the weights. */
#define ATT_PF_ROWS 16

/* Prefetches the hd floats of cache row j (when j < n). */
MOTE_INLINE void att_prefetch_row(const float *base, size_t stride, size_t hd, size_t j,
                                  size_t n) {
  if (j >= n) return;
  const char *p = (const char *)(base + j * stride);
  for (size_t b = 0; b < hd * sizeof(float); b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}

/* Dots of keys j..j+3 with nq (1 or 2) query heads. */
MOTE_INLINE void att_dots4(const float *const *qs, int nq, const float *k0, size_t ks,
                           size_t hd, float scale, float *const *sc, size_t j) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (size_t d = 0; d < hd; d += 8) {
    size_t m = hd - d;
    __m256 k0v = att_load_n(k0 + d, m), k1v = att_load_n(k0 + ks + d, m);
    __m256 k2v = att_load_n(k0 + 2 * ks + d, m), k3v = att_load_n(k0 + 3 * ks + d, m);
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
  _mm_storeu_ps(sc[0] + j, _mm_mul_ps(mote_hsum4(a0, a1, a2, a3), s));
  if (nq > 1) _mm_storeu_ps(sc[1] + j, _mm_mul_ps(mote_hsum4(b0, b1, b2, b3), s));
}

/* sc[i][j] = scale * dot(q_i, k_j) for nh heads, j < n: blocks of four
 * keys as att_qk_scores, heads two at a time over the block's rows; v: the
 * group's value rows, prefetched alongside. */
static void att_group_scores(const float *const *qs, size_t nh, const float *k, size_t ks,
                             size_t hd, size_t n, float scale, float *const *sc, const float *v) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    for (size_t r = 0; r < 4; ++r) att_prefetch_row(k, ks, hd, j + ATT_PF_ROWS + r, n);
    /* The V rows too, while q.k computes: in flight long before the V sum
     * needs them (-7% on a cold cache). */
    for (size_t r = 0; r < 4; ++r) att_prefetch_row(v, ks, hd, j + r, n);
    const float *k0 = k + j * ks;
    size_t i = 0;
    for (; i + 2 <= nh; i += 2) att_dots4(qs + i, 2, k0, ks, hd, scale, sc + i, j);
    if (i < nh) att_dots4(qs + i, 1, k0, ks, hd, scale, sc + i, j);
  }
  for (; j < n; ++j)
    for (size_t i = 0; i < nh; ++i) {
      const float *kj = k + j * ks;
      __m256 a = _mm256_setzero_ps();
      for (size_t d = 0; d < hd; d += 8)
        a = _mm256_fmadd_ps(att_load_n(qs[i] + d, hd - d), att_load_n(kj + d, hd - d), a);
      sc[i][j] = mote_hsum(a) * scale;
    }
}

/* out_i = inv_i * sum_j p_i[j] v_j for NH (1, 2 or 4: a constant, so the
 * accumulators stay in registers) heads, 16 lanes of head_dim per pass over
 * the rows; each lane's sum runs in row order, as att_weighted_v's. */
MOTE_INLINE void att_v_heads(const float *const *p, size_t NH, const float *v, size_t vs,
                             size_t hd, size_t n, const float *inv, float *const *out) {
  for (size_t d0 = 0; d0 < hd; d0 += 16) {
    size_t m = hd - d0;
    __m256 acc[4][2];
    for (size_t i = 0; i < NH; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t j = 0; j < n; ++j) {
      const float *vj = v + j * vs + d0;
      __m256 v0 = att_load_n(vj, m);
      __m256 v1 = m > 8 ? att_load_n(vj + 8, m - 8) : _mm256_setzero_ps();
      for (size_t i = 0; i < NH; ++i) {
        __m256 pj = _mm256_set1_ps(p[i][j]);
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

static void att_group_v(const float *const *p, size_t nh, const float *v, size_t vs,
                        size_t hd, size_t n, const float *inv, float *const *out) {
  ATT_V_RUNS_4_2_1(att_v_heads, p, nh, v, vs, hd, n, inv, out);
}

/* att_softmax_unnormalized is an inline of the shared header: a static
 * function the driver can take the address of. */
static float att_softmax(float *scores, size_t n) { return att_softmax_unnormalized(scores, n); }

void mote_attention_f32_avx2(const float *q, const float *kc, const float *vc,
                             size_t kv_row, size_t kv_head,
                             const int32_t *pos, float *out, size_t T,
                             size_t Hq, size_t Hkv, size_t head_dim,
                             float scale, float *scores, size_t h_begin,
                             size_t h_end) {
  att_grouped(q, kc, vc, kv_row, kv_head, pos, out, T, Hq, Hkv, head_dim, scale, scores,
              h_begin, h_end, att_group_scores, att_softmax, att_group_v);
}

#else
typedef int mote_attention_avx2_unused_t; /* not an x86-64 build */
#endif
