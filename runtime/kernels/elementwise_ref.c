/* Scalar references for the elementwise kernels: swiglu and add. */
#include <math.h>

#include "kernels_internal.h"

void mote_swiglu_f32_ref(const float *g, const float *u, float *out,
                         size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    float gi = g[i];
    out[i] = gi / (1.0f + expf(-gi)) * u[i];
  }
}

void mote_add_f32_ref(const float *a, const float *b, float *out, size_t begin,
                      size_t end) {
  for (size_t i = begin; i < end; ++i) out[i] = a[i] + b[i];
}
