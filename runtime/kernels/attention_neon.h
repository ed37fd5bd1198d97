/* attention_neon.h: the f32 pieces of NEON attention (dots of q with f32
 * key rows, the unnormalized softmax, the weighted V sum), shared by
 * attention_neon.c and the 8-bit cache's prefill path in
 * attention_q8_neon.c (which widens a KV head's rows to f32 first).
 * *_neon.c only. */
#ifndef MOTE_ATTENTION_NEON_H
#define MOTE_ATTENTION_NEON_H

#include "neon_util.h"

/* scores[j] = scale * dot(q, k_j) for j < n, four keys per pass so each q
 * vector loaded serves four keys; full 4-lane chunks with plain loads, the
 * head_dim tail (hd mod 4) zero-padded. */
MOTE_INLINE void att_qk_scores(const float *q, const float *k, size_t kstride,
                      size_t hd, size_t n, float scale, float *scores) {
  size_t dfull = hd & ~(size_t)3, rem = hd - dfull;
  float32x4_t qt = mote_load_n(q + dfull, rem);
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *k0 = k + j * kstride, *k1 = k0 + kstride;
    const float *k2 = k1 + kstride, *k3 = k2 + kstride;
    float32x4_t a0 = vmulq_f32(qt, mote_load_n(k0 + dfull, rem));
    float32x4_t a1 = vmulq_f32(qt, mote_load_n(k1 + dfull, rem));
    float32x4_t a2 = vmulq_f32(qt, mote_load_n(k2 + dfull, rem));
    float32x4_t a3 = vmulq_f32(qt, mote_load_n(k3 + dfull, rem));
    for (size_t d = 0; d < dfull; d += 4) {
      float32x4_t qv = vld1q_f32(q + d);
      a0 = vfmaq_f32(a0, qv, vld1q_f32(k0 + d));
      a1 = vfmaq_f32(a1, qv, vld1q_f32(k1 + d));
      a2 = vfmaq_f32(a2, qv, vld1q_f32(k2 + d));
      a3 = vfmaq_f32(a3, qv, vld1q_f32(k3 + d));
    }
    /* Pairwise adds: lane i of s is the sum of ai. */
    float32x4_t s = vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3));
    vst1q_f32(scores + j, vmulq_n_f32(s, scale));
  }
  for (; j < n; ++j) {
    const float *kj = k + j * kstride;
    float32x4_t a = vmulq_f32(qt, mote_load_n(kj + dfull, rem));
    for (size_t d = 0; d < dfull; d += 4)
      a = vfmaq_f32(a, vld1q_f32(q + d), vld1q_f32(kj + d));
    scores[j] = vaddvq_f32(a) * scale;
  }
}

/* scores[j] = exp(scores[j] - max) for j < n; returns their sum. */
MOTE_INLINE float att_softmax_unnormalized(float *scores, size_t n) {
  float m = scores[0];
  for (size_t j = 1; j < n; ++j) m = scores[j] > m ? scores[j] : m;
  float32x4_t mv = vdupq_n_f32(m), sum = vdupq_n_f32(0.0f);
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    float32x4_t e = mote_exp_f32x4(vsubq_f32(vld1q_f32(scores + j), mv));
    vst1q_f32(scores + j, e);
    sum = vaddq_f32(sum, e);
  }
  float s = vaddvq_f32(sum);
  for (; j < n; ++j) {
    scores[j] = expf(scores[j] - m);
    s += scores[j];
  }
  return s;
}

/* o[0..32) = inv * (a0 | ... | a7): a weighted-V sum's 32 full lanes. */
MOTE_INLINE void att_store32(float *o, float inv, float32x4_t a0, float32x4_t a1,
                             float32x4_t a2, float32x4_t a3, float32x4_t a4,
                             float32x4_t a5, float32x4_t a6, float32x4_t a7) {
  vst1q_f32(o, vmulq_n_f32(a0, inv));
  vst1q_f32(o + 4, vmulq_n_f32(a1, inv));
  vst1q_f32(o + 8, vmulq_n_f32(a2, inv));
  vst1q_f32(o + 12, vmulq_n_f32(a3, inv));
  vst1q_f32(o + 16, vmulq_n_f32(a4, inv));
  vst1q_f32(o + 20, vmulq_n_f32(a5, inv));
  vst1q_f32(o + 24, vmulq_n_f32(a6, inv));
  vst1q_f32(o + 28, vmulq_n_f32(a7, inv));
}

/* out = inv * sum_j p_j v_j, 32 lanes of head_dim in 8 named registers at a
 * time (GCC keeps an array of them on the stack), the last < 32 lanes with
 * zero-padded loads. */
MOTE_INLINE void att_weighted_v(const float *p, const float *v, size_t vstride,
                       size_t hd, size_t n, float inv, float *out) {
  size_t d0 = 0;
  for (; d0 + 32 <= hd; d0 += 32) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float32x4_t a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t j = 0; j < n; ++j) {
      const float *vj = v + j * vstride + d0;
      float pj = p[j];
      a0 = vfmaq_n_f32(a0, vld1q_f32(vj), pj);
      a1 = vfmaq_n_f32(a1, vld1q_f32(vj + 4), pj);
      a2 = vfmaq_n_f32(a2, vld1q_f32(vj + 8), pj);
      a3 = vfmaq_n_f32(a3, vld1q_f32(vj + 12), pj);
      a4 = vfmaq_n_f32(a4, vld1q_f32(vj + 16), pj);
      a5 = vfmaq_n_f32(a5, vld1q_f32(vj + 20), pj);
      a6 = vfmaq_n_f32(a6, vld1q_f32(vj + 24), pj);
      a7 = vfmaq_n_f32(a7, vld1q_f32(vj + 28), pj);
    }
    att_store32(out + d0, inv, a0, a1, a2, a3, a4, a5, a6, a7);
  }
  if (d0 < hd) {
    size_t m = hd - d0, nv = (m + 3) / 4; /* 1..8 registers */
    float32x4_t a[8];
    for (size_t c = 0; c < nv; ++c) a[c] = vdupq_n_f32(0.0f);
    for (size_t j = 0; j < n; ++j) {
      const float *vj = v + j * vstride + d0;
      float pj = p[j];
      for (size_t c = 0; c < nv; ++c)
        a[c] = vfmaq_n_f32(a[c], mote_load_n(vj + 4 * c, m - 4 * c), pj);
    }
    for (size_t c = 0; c < nv; ++c)
      mote_store_n(out + d0 + 4 * c, vmulq_n_f32(a[c], inv), m - 4 * c);
  }
}

#endif /* MOTE_ATTENTION_NEON_H */
