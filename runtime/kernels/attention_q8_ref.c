/* The 8-bit KV cache (motec --kv-dtype q8): row quantization and the scalar
 * reference of causal attention over int8 K/V codes with per-(row, KV head)
 * f32 scales. docs/quantization.md ("8-bit KV cache") has the contract. */
#include <math.h>

#include "kernels_internal.h"

/* One portable quantizer for every ISA, so a q8 cache holds the same bytes
 * on x86-64 and AArch64: per group of `group` columns, s = max|x|/127 (f32),
 * code = rint(x/s) (ties to even, clamped to [-127, 127]); s = 0 and codes 0
 * for an all-zero group. */
void mote_kv_quant_row_q8(const float *x, size_t W, size_t group, int8_t *codes,
                          float *scales) {
  for (size_t g0 = 0, gi = 0; g0 < W; g0 += group, ++gi) {
    size_t n = W - g0 < group ? W - g0 : group;
    float m = 0.0f;
    for (size_t d = 0; d < n; ++d) {
      float a = fabsf(x[g0 + d]);
      m = a > m ? a : m; /* a NaN row keeps m; its codes come out 0 below */
    }
    float s = m / 127.0f;
    scales[gi] = s;
    for (size_t d = 0; d < n; ++d) {
      float c = s > 0.0f ? nearbyintf(x[g0 + d] / s) : 0.0f;
      c = c > 127.0f ? 127.0f : c < -127.0f ? -127.0f : c;
      codes[g0 + d] = (int8_t)(c == c ? c : 0.0f);
    }
  }
}

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

void mote_attention_q8_f32_ref(const float *q, const int8_t *kc, const float *ks,
                               const int8_t *vc, const float *vs, size_t kv_row,
                               size_t kv_head, const int32_t *pos, float *out, size_t T,
                               size_t Hq, size_t Hkv, size_t head_dim, float scale,
                               float *scores, float *kvbuf, size_t h_begin, size_t h_end) {
  size_t group = Hq / Hkv;          /* query heads per kv head */
  size_t qstride = Hq * head_dim;   /* one row of q/out */
  size_t srow = kv_row / head_dim, shead = kv_head / head_dim; /* scale strides */
  for (size_t h = h_begin; h < h_end; ++h) {
    size_t g = h / group, kvoff = g * kv_head;
    for (size_t t = 0; t < T; ++t) {
      const float *qh = q + t * qstride + h * head_dim;
      size_t n = (size_t)pos[t] + 1; /* causal: cache rows 0..pos[t] */
      for (size_t j = 0; j < n; ++j) {
        const int8_t *kj = kc + j * kv_row + kvoff;
        float s = 0.0f;
        for (size_t d = 0; d < head_dim; ++d) s += qh[d] * (float)kj[d];
        scores[j] = s * ks[j * srow + g * shead] * scale;
      }
      softmax(scores, n);
      float *oh = out + t * qstride + h * head_dim;
      for (size_t d = 0; d < head_dim; ++d) oh[d] = 0.0f;
      for (size_t j = 0; j < n; ++j) {
        const int8_t *vj = vc + j * kv_row + kvoff;
        float a = scores[j] * vs[j * srow + g * shead];
        for (size_t d = 0; d < head_dim; ++d) oh[d] += a * (float)vj[d];
      }
    }
  }
}
