/* Scalar references for the int8-activation path (issue 4): the activation
 * quantizer every table shares the rounding of, and the integer-dot linear
 * kernels for 2-, 4- and 8-bit packed weights (layouts in kernels.h). */
#include <math.h>

#include "kernels_internal.h"

/* Position of natural activation k in a row laid out for weight width bits. */
static inline size_t act_pos(unsigned bits, size_t k) {
  if (bits == 2) return (k & ~(size_t)127) + (k & 3) * 32 + ((k & 127) >> 2);
  if (bits == 4) return (k & ~(size_t)63) + (k & 1) * 32 + ((k & 63) >> 1);
  return k;
}

void mote_linear_qact_i8_ref(unsigned bits, const float *x, size_t K,
                             const mote_act_i8_t *a, size_t t_begin,
                             size_t t_end) {
  const size_t kp = a->kp, nb = kp / 32;
  for (size_t t = t_begin; t < t_end; ++t) {
    const float *xt = x + t * K;
    int8_t *q = a->q + t * kp;
    float *d = a->d + t * nb, *bs = a->bs + t * nb;
    for (size_t b = 0; b < nb; ++b) {
      size_t k0 = b * 32, k1 = k0 + 32 < K ? k0 + 32 : K;
      float amax = 0.0f;
      for (size_t k = k0; k < k1; ++k) amax = fmaxf(amax, fabsf(xt[k]));
      /* The same two f32 operations as the SIMD quantizers: one division for
       * the inverse scale, one multiply and a round-to-nearest-even per code. */
      float id = amax > 0.0f ? 127.0f / amax : 0.0f;
      int sum = 0;
      for (size_t k = k0; k < k0 + 32; ++k) {
        int c = k < k1 ? (int)nearbyintf(xt[k] * id) : 0;
        q[act_pos(bits, k)] = (int8_t)c;
        sum += c;
      }
      d[b] = amax / 127.0f;
      bs[b] = d[b] * (float)sum;
    }
  }
}

/* Code of weight k of a packed row: unsigned 2/4-bit code, or int8. */
static inline int q_code(unsigned bits, const uint8_t *row, size_t k) {
  if (bits == 8) return (int8_t)row[k];
  unsigned per = 8u / bits;
  return (int)((row[k / per] >> ((k % per) * bits)) & ((1u << bits) - 1u));
}

/* Weight scale i of an f32 or IEEE-half scale array. */
static inline float wscale(const void *scales, int f16, size_t i) {
  return f16 ? mote_half_to_float(((const uint16_t *)scales)[i]) : ((const float *)scales)[i];
}

static void linear_q_i8_ref(unsigned bits, const mote_act_i8_t *a, size_t T,
                            size_t K, const uint8_t *codes, const void *scales,
                            int f16, size_t group, size_t row_bytes, const float *bias,
                            float *y, size_t N, size_t n_begin, size_t n_end) {
  const float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.0f;
  const size_t ng = (K + group - 1) / group, nb = (K + 31) / 32, kp = a->kp;
  for (size_t t = 0; t < T; ++t) {
    const int8_t *q = a->q + t * kp;
    const float *d = a->d + t * (kp / 32), *bs = a->bs + t * (kp / 32);
    for (size_t n = n_begin; n < n_end; ++n) {
      const uint8_t *r = codes + n * row_bytes;
      const size_t s0 = n * ng;
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        size_t k1 = b * 32 + 32 < K ? b * 32 + 32 : K;
        int32_t isum = 0;
        for (size_t k = b * 32; k < k1; ++k) isum += q_code(bits, r, k) * q[act_pos(bits, k)];
        acc += wscale(scales, f16, s0 + b * 32 / group) * (d[b] * (float)isum - off * bs[b]);
      }
      y[t * N + n] = bias ? acc + bias[n] : acc;
    }
  }
}

#define QI8REF(B)                                                              \
  void mote_linear_q##B##_i8_ref(const mote_act_i8_t *a, size_t T, size_t K,   \
                                 const uint8_t *codes, const void *scales,     \
                                 int f16, size_t group, size_t row_bytes,      \
                                 const float *bias, float *y, size_t N,        \
                                 size_t n_begin, size_t n_end) {               \
    linear_q_i8_ref(B, a, T, K, codes, scales, f16, group, row_bytes, bias, y, \
                    N, n_begin, n_end);                                        \
  }
QI8REF(2)
QI8REF(4)
QI8REF(8)
