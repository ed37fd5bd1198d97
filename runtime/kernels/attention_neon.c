/* NEON causal attention over a KV cache: dots and V sums vectorized over head_dim. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "attention_neon.h"

void mote_attention_f32_neon(const float *q, const float *kc, const float *vc,
                             size_t kv_row, size_t kv_head,
                             const int32_t *pos, float *out, size_t T,
                             size_t Hq, size_t Hkv, size_t head_dim,
                             float scale, float *scores, size_t h_begin,
                             size_t h_end) {
  size_t group = Hq / Hkv;
  size_t qstride = Hq * head_dim;
  for (size_t h = h_begin; h < h_end; ++h) {
    size_t kvoff = (h / group) * kv_head;
    for (size_t t = 0; t < T; ++t) {
      size_t n = (size_t)pos[t] + 1; /* causal: cache rows 0..pos[t] */
      const float *qh = q + t * qstride + h * head_dim;
      att_qk_scores(qh, kc + kvoff, kv_row, head_dim, n, scale, scores);
      float sum = att_softmax_unnormalized(scores, n);
      att_weighted_v(scores, vc + kvoff, kv_row, head_dim, n, 1.0f / sum,
                 out + t * qstride + h * head_dim);
    }
  }
}

#else
typedef int mote_attention_neon_unused_t; /* not an AArch64 build */
#endif
