/* Scalar reference for causal attention over a KV cache (MHA, GQA, MQA). */
#include <math.h>

#include "kernels_internal.h"

/* Stable softmax of s[0..n) in place (subtract the max so exp never overflows). */
static void softmax(float *s, size_t n) {
  float m = s[0];
  for (size_t j = 1; j < n; ++j) m = s[j] > m ? s[j] : m;
  float sum = 0.0f;
  for (size_t j = 0; j < n; ++j) {
    s[j] = expf(s[j] - m);
    sum += s[j];
  }
  float inv = 1.0f / sum;
  for (size_t j = 0; j < n; ++j) s[j] *= inv;
}

void mote_attention_f32_ref(const float *q, const float *kc, const float *vc,
                            size_t kv_row, size_t kv_head,
                            const int32_t *pos, float *out, size_t T,
                            size_t Hq, size_t Hkv, size_t head_dim,
                            float scale, float *scores, size_t h_begin,
                            size_t h_end) {
  size_t group = Hq / Hkv;      /* query heads per kv head */
  size_t qstride = Hq * head_dim; /* one row of q/out */
  for (size_t h = h_begin; h < h_end; ++h) {
    size_t kvoff = (h / group) * kv_head;
    for (size_t t = 0; t < T; ++t) {
      const float *qh = q + t * qstride + h * head_dim; /* (hd) */
      size_t n = (size_t)pos[t] + 1; /* causal: cache rows 0..pos[t] */
      for (size_t j = 0; j < n; ++j) {
        const float *kj = kc + j * kv_row + kvoff;
        float s = 0.0f;
        for (size_t d = 0; d < head_dim; ++d) s += qh[d] * kj[d];
        scores[j] = s * scale;
      }
      softmax(scores, n);
      float *oh = out + t * qstride + h * head_dim; /* (hd) */
      for (size_t d = 0; d < head_dim; ++d) oh[d] = 0.0f;
      for (size_t j = 0; j < n; ++j) {
        const float *vj = vc + j * kv_row + kvoff;
        float a = scores[j];
        for (size_t d = 0; d < head_dim; ++d) oh[d] += a * vj[d];
      }
    }
  }
}
