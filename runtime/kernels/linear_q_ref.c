/* Scalar references for the quantized linear kernels (issue 4): dequantize
 * each weight as the storage contract says, dot products in index order.
 * Scales are the bundle's own: f32, or IEEE half (f16 != 0) converted here
 * with the portable mote_half_to_float. */
#include "kernels_internal.h"

/* Code c of weight k of a packed row, and its level (c - offset) on the
 * balanced grid (2/4-bit) or as int8 (8-bit). */
static inline float q_level(unsigned bits, const uint8_t *row, size_t k) {
  if (bits == 8) return (float)(int8_t)row[k];
  unsigned per = 8u / bits;
  unsigned c = (row[k / per] >> ((k % per) * bits)) & ((1u << bits) - 1u);
  return bits == 2 ? (float)c - 1.5f : (float)c - 7.5f;
}

/* Scale i of an f32 or IEEE-half scale array. */
static inline float q_scale(const void *scales, int f16, size_t i) {
  return f16 ? mote_half_to_float(((const uint16_t *)scales)[i]) : ((const float *)scales)[i];
}

void mote_dequant_row_q(unsigned bits, const uint8_t *codes, const void *scales,
                        int scales_f16, size_t K, size_t group, size_t row_bytes,
                        size_t row, float *out) {
  const uint8_t *r = codes + row * row_bytes;
  const size_t s0 = row * ((K + group - 1) / group);
  for (size_t k = 0; k < K; ++k)
    out[k] = q_scale(scales, scales_f16, s0 + k / group) * q_level(bits, r, k);
}

static void linear_q_ref(unsigned bits, const float *x, size_t T, size_t K,
                         const uint8_t *codes, const void *scales, int f16,
                         size_t group, size_t row_bytes, const float *bias,
                         float *y, size_t N, size_t n_begin, size_t n_end) {
  size_t ng = (K + group - 1) / group;
  for (size_t t = 0; t < T; ++t) {
    const float *xt = x + t * K; /* (K) */
    for (size_t n = n_begin; n < n_end; ++n) {
      const uint8_t *r = codes + n * row_bytes;
      const size_t s0 = n * ng;
      float acc = 0.0f;
      for (size_t k = 0; k < K; ++k)
        acc += xt[k] * (q_scale(scales, f16, s0 + k / group) * q_level(bits, r, k));
      y[t * N + n] = bias ? acc + bias[n] : acc;
    }
  }
}

#define QREF(B)                                                                \
  void mote_linear_q##B##_f32_ref(const float *x, size_t T, size_t K,          \
                                  const uint8_t *codes, const void *scales,    \
                                  int scales_f16, size_t group,                \
                                  size_t row_bytes, const float *bias,         \
                                  float *y, size_t N, size_t n_begin,          \
                                  size_t n_end) {                              \
    linear_q_ref(B, x, T, K, codes, scales, scales_f16, group, row_bytes,      \
                 bias, y, N, n_begin, n_end);                                  \
  }
QREF(2)
QREF(4)
QREF(8)
