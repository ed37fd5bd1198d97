/* AVX2+FMA causal attention over the 8-bit KV cache (driver: att_q8).
 * Decode: the grouped pieces of the f32 kernel (attention_avx2.h) over int8
 * code rows, each row's codes widened to f32 in registers once for up to
 * four query heads, the per-(row, KV head) scales folded into the score (K)
 * and the softmax weight (V). Prefill with the kvbuf scratch: each KV head's
 * rows widened to f32 once, then the f32 kernel. Same math as
 * attention_q8_ref.c. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "attention_avx2.h"
#include "attention_group.h"

/* att_scores over int8 code rows and their scales. */
static void qk_scores(const float *const *qs, size_t nh, const int8_t *k, size_t kstride,
                      const float *ks, size_t sstride, size_t hd, size_t n, float scale,
                      float *const *sc, const int8_t *v) {
  att_scores(att_row_q8, 1, qs, nh, (const char *)k, kstride, ks, sstride, hd, n, scale, sc,
             (const char *)v);
}

/* att_v_heads over int8 code rows and their scales. */
MOTE_INLINE void v_heads(const float *const *p, size_t NH, const int8_t *v, size_t vstride,
                         const float *vs, size_t sstride, size_t hd, size_t n,
                         const float *inv, float *const *out) {
  att_v_heads(att_row_q8, p, NH, (const char *)v, vstride, vs, sstride, hd, n, inv, out);
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
      __m256 v = _mm256_mul_ps(att_row_q8((const char *)cj, d, m), sv);
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
