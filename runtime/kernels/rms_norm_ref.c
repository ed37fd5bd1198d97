/* Scalar reference for rms_norm_f32: y = x / sqrt(mean(x^2) + eps) * w. */
#include "kernels_internal.h"

void mote_rms_norm_f32_ref(const float *x, const float *w, float *y, size_t D,
                           float eps, size_t t_begin, size_t t_end) {
  for (size_t t = t_begin; t < t_end; ++t) {
    const float *xt = x + t * D; /* (D) */
    float *yt = y + t * D;       /* (D), may alias xt: read all before writing */
    float ss = 0.0f;
    for (size_t d = 0; d < D; ++d) ss += xt[d] * xt[d];
    float inv = 1.0f / sqrtf(ss / (float)D + eps);
    for (size_t d = 0; d < D; ++d) yt[d] = (xt[d] * inv) * w[d];
  }
}
