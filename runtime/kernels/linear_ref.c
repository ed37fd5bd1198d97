/* Scalar reference for linear_f32: y = x W^T (+ bias), dot products in index order. */
#include "kernels_internal.h"

void mote_linear_f32_ref(const float *x, size_t T, size_t K, const float *w,
                         const float *bias, float *y, size_t N, size_t n_begin,
                         size_t n_end) {
  for (size_t t = 0; t < T; ++t) {
    const float *xt = x + t * K; /* (K) */
    for (size_t n = n_begin; n < n_end; ++n) {
      const float *wn = w + n * K; /* (K) row n of W (N, K) */
      float s = 0.0f;
      for (size_t k = 0; k < K; ++k) s += xt[k] * wn[k];
      y[t * N + n] = bias ? s + bias[n] : s;
    }
  }
}

/* Scalar reference for linear_f16: as linear_f32 with each weight widened. */
void mote_linear_f16_ref(const float *x, size_t T, size_t K, const uint16_t *w,
                         const float *bias, float *y, size_t N, size_t n_begin,
                         size_t n_end) {
  for (size_t t = 0; t < T; ++t) {
    const float *xt = x + t * K;
    for (size_t n = n_begin; n < n_end; ++n) {
      const uint16_t *wn = w + n * K;
      float s = 0.0f;
      for (size_t k = 0; k < K; ++k) s += xt[k] * mote_half_to_float(wn[k]);
      y[t * N + n] = bias ? s + bias[n] : s;
    }
  }
}
