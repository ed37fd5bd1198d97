/* NEON causal attention over a KV cache: dots and V sums vectorized over head_dim. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "neon_util.h"

/* scores[j] = scale * dot(q, k_j) for j < n, four keys per pass so each q
 * vector loaded serves four keys; full 4-lane chunks with plain loads, the
 * head_dim tail (hd mod 4) zero-padded. */
static void qk_scores(const float *q, const float *k, size_t kstride,
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
static float softmax_unnormalized(float *scores, size_t n) {
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

/* out = inv * sum_j p_j v_j, 32 lanes of head_dim in 8 named registers at a
 * time (GCC keeps an array of them on the stack), the last < 32 lanes with
 * zero-padded loads. */
static void weighted_v(const float *p, const float *v, size_t vstride,
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
    float *o = out + d0;
    vst1q_f32(o, vmulq_n_f32(a0, inv));
    vst1q_f32(o + 4, vmulq_n_f32(a1, inv));
    vst1q_f32(o + 8, vmulq_n_f32(a2, inv));
    vst1q_f32(o + 12, vmulq_n_f32(a3, inv));
    vst1q_f32(o + 16, vmulq_n_f32(a4, inv));
    vst1q_f32(o + 20, vmulq_n_f32(a5, inv));
    vst1q_f32(o + 24, vmulq_n_f32(a6, inv));
    vst1q_f32(o + 28, vmulq_n_f32(a7, inv));
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

void mote_attention_f32_neon(const float *q, const float *kc, const float *vc,
                             const int32_t *pos, float *out, size_t T,
                             size_t Hq, size_t Hkv, size_t head_dim,
                             float scale, float *scores, size_t h_begin,
                             size_t h_end) {
  size_t group = Hq / Hkv;
  size_t qstride = Hq * head_dim, kvstride = Hkv * head_dim;
  for (size_t h = h_begin; h < h_end; ++h) {
    size_t kvoff = (h / group) * head_dim;
    for (size_t t = 0; t < T; ++t) {
      size_t n = (size_t)pos[t] + 1; /* causal: cache rows 0..pos[t] */
      const float *qh = q + t * qstride + h * head_dim;
      qk_scores(qh, kc + kvoff, kvstride, head_dim, n, scale, scores);
      float sum = softmax_unnormalized(scores, n);
      weighted_v(scores, vc + kvoff, kvstride, head_dim, n, 1.0f / sum,
                 out + t * qstride + h * head_dim);
    }
  }
}

#else
typedef int mote_attention_neon_unused_t; /* not an AArch64 build */
#endif
