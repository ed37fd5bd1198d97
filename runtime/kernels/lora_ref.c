/* Scalar reference of the LoRA up-projection (lora_kernels.h). */
#include "lora_kernels.h"

void mote_lora_b_f32_ref(const float *tmp, size_t T, size_t r, const float *bt, float *y,
                         size_t N, size_t n_begin, size_t n_end) {
  for (size_t t = 0; t < T; ++t)
    for (size_t n = n_begin; n < n_end; ++n) {
      float s = y[t * N + n];
      for (size_t k = 0; k < r; ++k) s += tmp[t * r + k] * bt[k * N + n];
      y[t * N + n] = s;
    }
}
