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

/* att_scores over f32 rows (no row scales). */
static void att_group_scores(const float *const *qs, size_t nh, const float *k, size_t ks,
                             size_t hd, size_t n, float scale, float *const *sc, const float *v) {
  att_scores(att_row_f32, sizeof(float), qs, nh, (const char *)k, ks * sizeof(float), NULL, 0,
             hd, n, scale, sc, (const char *)v);
}

/* att_v_heads over f32 rows (no row scales). */
MOTE_INLINE void f32_v_heads(const float *const *p, size_t NH, const float *v, size_t vs,
                             size_t hd, size_t n, const float *inv, float *const *out) {
  att_v_heads(att_row_f32, p, NH, (const char *)v, vs * sizeof(float), NULL, 0, hd, n, inv, out);
}

static void att_group_v(const float *const *p, size_t nh, const float *v, size_t vs,
                        size_t hd, size_t n, const float *inv, float *const *out) {
  ATT_V_RUNS_4_2_1(f32_v_heads, p, nh, v, vs, hd, n, inv, out);
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
