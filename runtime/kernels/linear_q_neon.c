/* NEON quantized linear with f32 activations (issue 4): 4 codes at a time
 * unpacked with a broadcast, per-lane shift and mask, converted to f32.
 * Decode (T = 1) keeps per-group sums of c*x and folds the grid offset once
 * per group (y = sum_g s_g * (sum c*x - off * sum x)); prefill dequantizes 4
 * weights of NN rows once and reuses them for TT tokens. Rows are padded to
 * 32 codes (the storage contract), so a 4-code read never leaves the row;
 * x past K is read as 0. A group size that is not a multiple of 4 (only a
 * hostile bundle has one: motec writes 32, 64, 128 or the whole row) runs
 * the reference kernel. Group scales are the bundle's own bytes, f32 or IEEE
 * half (widened in registers with vcvt_f32_f16), read once per group and
 * row. */
#include <string.h>

#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "neon_util.h"

/* Scale i of an f32 (f16 == 0) or IEEE-half (f16 == 1) scale array. */
MOTE_INLINE float qs_at(const void *s, const int f16, size_t i) {
  if (!f16) return ((const float *)s)[i];
  float16x4_t h = vreinterpret_f16_u16(vdup_n_u16(((const uint16_t *)s)[i]));
  return vgetq_lane_f32(vcvt_f32_f16(h), 0);
}

/* Codes of weights k..k+3 (k % 4 == 0) of a packed row, as f32 c. */
MOTE_INLINE float32x4_t codes4(const int bits, const uint8_t *row, size_t k) {
  if (bits == 2) {
    const int32x4_t sh = {0, -2, -4, -6};
    uint32x4_t v = vshlq_u32(vdupq_n_u32(row[k / 4]), sh);
    return vcvtq_f32_u32(vandq_u32(v, vdupq_n_u32(3)));
  }
  if (bits == 4) {
    const int32x4_t sh = {0, -4, -8, -12};
    uint16_t h;
    memcpy(&h, row + k / 2, 2);
    uint32x4_t v = vshlq_u32(vdupq_n_u32(h), sh);
    return vcvtq_f32_u32(vandq_u32(v, vdupq_n_u32(15)));
  }
  uint32_t u;
  memcpy(&u, row + k, 4);
  int16x8_t w = vmovl_s8(vreinterpret_s8_u32(vdup_n_u32(u)));
  return vcvtq_f32_s32(vmovl_s16(vget_low_s16(w)));
}

/* x[k..k+3], zeros past K. */
MOTE_INLINE float32x4_t load_x(const float *x, size_t k, size_t K) {
  return k + 4 <= K ? vld1q_f32(x + k) : mote_load_n(x + k, K - k);
}

/* One token x NN rows. */
MOTE_INLINE void qtile1(const int bits, const int f16, const float *x, size_t K,
                        const uint8_t *codes, const void *scales, size_t group, size_t row_bytes,
                        const float *bias, float *y, const int NN) {
  const float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.0f;
  size_t ng = (K + group - 1) / group;
  float32x4_t tot[4], ov[4];
  for (int n = 0; n < NN; ++n) tot[n] = ov[n] = vdupq_n_f32(0.0f);
  for (size_t g = 0; g < ng; ++g) {
    size_t k0 = g * group, k1 = k0 + group < K ? k0 + group : K;
    float32x4_t acc[4], xs = vdupq_n_f32(0.0f);
    for (int n = 0; n < NN; ++n) acc[n] = vdupq_n_f32(0.0f);
    for (size_t k = k0; k < k1; k += 4) {
      float32x4_t xv = load_x(x, k, K);
      xs = vaddq_f32(xs, xv);
      for (int n = 0; n < NN; ++n)
        acc[n] = vfmaq_f32(acc[n], codes4(bits, codes + (size_t)n * row_bytes, k), xv);
    }
    for (int n = 0; n < NN; ++n) {
      float s = qs_at(scales, f16, (size_t)n * ng + g);
      tot[n] = vfmaq_n_f32(tot[n], acc[n], s);
      ov[n] = vfmaq_n_f32(ov[n], xs, s);
    }
  }
  for (int n = 0; n < NN; ++n)
    y[n] = (vaddvq_f32(tot[n]) - off * vaddvq_f32(ov[n])) + (bias ? bias[n] : 0.0f);
}

/* TT tokens x NN rows: 4 weights of each row dequantized once per step. */
MOTE_INLINE void qtile(const int bits, const int f16, const float *x, size_t K,
                       const uint8_t *codes, const void *scales, size_t group, size_t row_bytes,
                       const float *bias, float *y, size_t N, const int TT, const int NN) {
  const float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.0f;
  size_t ng = (K + group - 1) / group;
  float32x4_t acc[4][4];
  for (int t = 0; t < TT; ++t)
    for (int n = 0; n < NN; ++n) acc[t][n] = vdupq_n_f32(0.0f);
  for (size_t g = 0; g < ng; ++g) {
    size_t k0 = g * group, k1 = k0 + group < K ? k0 + group : K;
    float s[4], so[4];
    for (int n = 0; n < NN; ++n) {
      s[n] = qs_at(scales, f16, (size_t)n * ng + g);
      so[n] = s[n] * off;
    }
    for (size_t k = k0; k < k1; k += 4) {
      float32x4_t wv[4];
      for (int n = 0; n < NN; ++n)
        wv[n] = vsubq_f32(vmulq_n_f32(codes4(bits, codes + (size_t)n * row_bytes, k), s[n]),
                          vdupq_n_f32(so[n]));
      for (int t = 0; t < TT; ++t) {
        float32x4_t xv = load_x(x + (size_t)t * K, k, K);
        for (int n = 0; n < NN; ++n) acc[t][n] = vfmaq_f32(acc[t][n], xv, wv[n]);
      }
    }
  }
  for (int t = 0; t < TT; ++t)
    for (int n = 0; n < NN; ++n) {
      float v = vaddvq_f32(acc[t][n]);
      y[(size_t)t * N + n] = bias ? v + bias[n] : v;
    }
}

/* tt (1..4) tokens over rows [n0, n1), four rows at a time. */
MOTE_INLINE void qrows(const int bits, const int f16, const float *x, size_t tt, size_t K,
                       const uint8_t *codes, const void *scales, size_t group,
                       size_t row_bytes, const float *bias, float *y, size_t N, size_t n0,
                       size_t n1) {
  size_t ng = (K + group - 1) / group;
  for (size_t n = n0; n < n1;) {
    size_t nn = n1 - n < 4 ? n1 - n : 4;
    const uint8_t *c = codes + n * row_bytes;
    const void *s = (const uint8_t *)scales + n * ng * (f16 ? 2 : 4);
    const float *b = bias ? bias + n : NULL;
    float *yn = y + n;
#define T1(NN) qtile1(bits, f16, x, K, c, s, group, row_bytes, b, yn, NN)
#define TN(TT, NN) qtile(bits, f16, x, K, c, s, group, row_bytes, b, yn, N, TT, NN)
#define ROWS(TT)                                                               \
  do {                                                                         \
    if (nn == 4) TN(TT, 4); else if (nn == 3) TN(TT, 3);                       \
    else if (nn == 2) TN(TT, 2); else TN(TT, 1);                               \
  } while (0)
    if (tt == 1) {
      if (nn == 4) T1(4); else if (nn == 3) T1(3); else if (nn == 2) T1(2); else T1(1);
    } else if (tt == 2) {
      ROWS(2);
    } else if (tt == 3) {
      ROWS(3);
    } else {
      ROWS(4);
    }
#undef T1
#undef TN
#undef ROWS
    n += nn;
  }
}

static void linear_q_neon(const int bits, const float *x, size_t T, size_t K,
                          const uint8_t *codes, const void *scales, int f16, size_t group,
                          size_t row_bytes, const float *bias, float *y, size_t N,
                          size_t n_begin, size_t n_end) {
  if (n_begin >= n_end || T == 0) return;
  if (group % 4 != 0 && group < K) { /* not a motec layout: see the top */
    const mote_kernels_t *r = mote_kernels_ref();
    mote_linear_q_f32_fn f =
        bits == 2 ? r->linear_q2_f32 : bits == 4 ? r->linear_q4_f32 : r->linear_q8_f32;
    f(x, T, K, codes, scales, f16, group, row_bytes, bias, y, N, n_begin, n_end);
    return;
  }
  /* Rows in chunks of 64 so a chunk's codes stay in L1 while every token
   * passes over it. */
  for (size_t n0 = n_begin; n0 < n_end; n0 += 64) {
    size_t n1 = n_end - n0 < 64 ? n_end : n0 + 64;
    for (size_t t = 0; t < T; t += 4) {
      size_t tt = T - t < 4 ? T - t : 4;
      if (f16)
        qrows(bits, 1, x + t * K, tt, K, codes, scales, group, row_bytes, bias, y + t * N, N,
              n0, n1);
      else
        qrows(bits, 0, x + t * K, tt, K, codes, scales, group, row_bytes, bias, y + t * N, N,
              n0, n1);
    }
  }
}

#define QNEON(B)                                                               \
  void mote_linear_q##B##_f32_neon(const float *x, size_t T, size_t K,         \
                                   const uint8_t *codes, const void *scales,   \
                                   int f16, size_t group, size_t row_bytes,    \
                                   const float *bias, float *y, size_t N,      \
                                   size_t n_begin, size_t n_end) {             \
    linear_q_neon(B, x, T, K, codes, scales, f16, group, row_bytes, bias, y,   \
                  N, n_begin, n_end);                                          \
  }
QNEON(2)
QNEON(4)
QNEON(8)

#else
typedef int mote_linear_q_neon_unused_t; /* not an AArch64 build */
#endif
