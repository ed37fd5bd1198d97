/* NEON rms_norm_f32: vectorized sum of squares and scale. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "neon_util.h"

void mote_rms_norm_f32_neon(const float *x, const float *w, float *y, size_t D,
                            float eps, size_t t_begin, size_t t_end) {
  for (size_t t = t_begin; t < t_end; ++t) {
    const float *xt = x + t * D; /* (D) */
    float *yt = y + t * D;       /* (D), may alias xt: read all before writing */
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    size_t d = 0;
    for (; d + 16 <= D; d += 16) {
      float32x4_t v0 = vld1q_f32(xt + d), v1 = vld1q_f32(xt + d + 4);
      float32x4_t v2 = vld1q_f32(xt + d + 8), v3 = vld1q_f32(xt + d + 12);
      a0 = vfmaq_f32(a0, v0, v0);
      a1 = vfmaq_f32(a1, v1, v1);
      a2 = vfmaq_f32(a2, v2, v2);
      a3 = vfmaq_f32(a3, v3, v3);
    }
    for (; d < D; d += 4) {
      float32x4_t v = mote_load_n(xt + d, D - d);
      a0 = vfmaq_f32(a0, v, v);
    }
    float ss = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    float inv = 1.0f / sqrtf(ss / (float)D + eps);
    for (d = 0; d + 4 <= D; d += 4)
      vst1q_f32(yt + d, vmulq_f32(vmulq_n_f32(vld1q_f32(xt + d), inv), vld1q_f32(w + d)));
    for (; d < D; ++d) yt[d] = (xt[d] * inv) * w[d];
  }
}

#else
typedef int mote_rms_norm_neon_unused_t; /* not an AArch64 build */
#endif
