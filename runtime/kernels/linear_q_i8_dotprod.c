/* AArch64 int8-activation quantized linear with the dot-product instructions
 * (issue 4): compiled with -march=armv8.2-a+dotprod (runtime/CMakeLists.txt)
 * and called only when getauxval(AT_HWCAP) has HWCAP_ASIMDDP (dispatch.c).
 * The activation layout is the one of kernels.h (shared with AVX2), taken 128
 * weights (4 blocks of 32) at a time: bit planes are one shift and mask of
 * 16 packed bytes, `sdot` multiplies 16 codes by 16 activation codes into 4
 * int32 lanes, pairwise adds leave one int32 per block, and the f32 side is
 * s_w * (d_x * isum - off * bs_x) for 4 blocks in one vector. */
#include <string.h>

#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "compile linear_q_i8_dotprod.c with -march=armv8.2-a+dotprod"
#endif
#include <arm_neon.h>

/* ------------------------------------------------------------- quantizer */

void mote_linear_qact_i8_dotprod(unsigned bits, const float *x, size_t K,
                                 const mote_act_i8_t *a, size_t t_begin,
                                 size_t t_end) {
  const size_t kp = a->kp, nb = kp / 32;
  for (size_t t = t_begin; t < t_end; ++t) {
    const float *xt = x + t * K;
    int8_t *q = a->q + t * kp;
    float *d = a->d + t * nb, *bs = a->bs + t * nb;
    for (size_t b = 0; b < nb; ++b) {
      const size_t k0 = b * 32;
      float buf[32];
      const float *src = xt + k0;
      if (k0 + 32 > K) { /* the row's end (or past it): zeros */
        memset(buf, 0, sizeof buf);
        if (k0 < K) memcpy(buf, xt + k0, (K - k0) * sizeof(float));
        src = buf;
      }
      float32x4_t v[8];
      float32x4_t m = vdupq_n_f32(0.0f);
      for (int i = 0; i < 8; ++i) {
        v[i] = vld1q_f32(src + 4 * i);
        m = vmaxq_f32(m, vabsq_f32(v[i]));
      }
      const float amax = vmaxvq_f32(m);
      const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
      int8_t tmp[32];
      int32x4_t sum = vdupq_n_s32(0);
      for (int i = 0; i < 8; i += 2) {
        int32x4_t c0 = vcvtnq_s32_f32(vmulq_n_f32(v[i], id)); /* nearest, ties to even */
        int32x4_t c1 = vcvtnq_s32_f32(vmulq_n_f32(v[i + 1], id));
        sum = vaddq_s32(sum, vaddq_s32(c0, c1));
        int16x8_t c16 = vcombine_s16(vqmovn_s32(c0), vqmovn_s32(c1));
        vst1_s8(tmp + 4 * i, vqmovn_s16(c16));
      }
      d[b] = amax / 127.0f;
      bs[b] = d[b] * (float)vaddvq_s32(sum);
      if (bits == 8) {
        memcpy(q + k0, tmp, 32);
      } else if (bits == 2) { /* k = 128c + 4i + j -> 128c + 32j + i */
        int8_t *o = q + (k0 & ~(size_t)127) + ((k0 & 127) >> 2);
        for (int i = 0; i < 8; ++i)
          for (int j = 0; j < 4; ++j) o[32 * j + i] = tmp[4 * i + j];
      } else { /* k = 64c + 2i + j -> 64c + 32j + i */
        int8_t *o = q + (k0 & ~(size_t)63) + ((k0 & 63) >> 1);
        for (int i = 0; i < 16; ++i) {
          o[i] = tmp[2 * i];
          o[32 + i] = tmp[2 * i + 1];
        }
      }
    }
  }
}

/* --------------------------------------------------------------- kernels */

/* Integer sums of the 4 blocks of 128 weights: w = the packed bytes of
 * those weights (32 / 64 / 128 for 2 / 4 / 8 bits), xq = their 128
 * activation codes (kernels.h layout). */
static inline int32x4_t dot128(const int bits, const uint8_t *w, const int8_t *xq) {
  const int32x4_t z = vdupq_n_s32(0);
  if (bits == 2) {
    const uint8x16_t m = vdupq_n_u8(3);
    const uint8x16_t w0 = vld1q_u8(w), w1 = vld1q_u8(w + 16);
    int32x4_t a = z, b = z;
    a = vdotq_s32(a, vreinterpretq_s8_u8(vandq_u8(w0, m)), vld1q_s8(xq));
    b = vdotq_s32(b, vreinterpretq_s8_u8(vandq_u8(w1, m)), vld1q_s8(xq + 16));
    a = vdotq_s32(a, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(w0, 2), m)), vld1q_s8(xq + 32));
    b = vdotq_s32(b, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(w1, 2), m)), vld1q_s8(xq + 48));
    a = vdotq_s32(a, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(w0, 4), m)), vld1q_s8(xq + 64));
    b = vdotq_s32(b, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(w1, 4), m)), vld1q_s8(xq + 80));
    a = vdotq_s32(a, vreinterpretq_s8_u8(vshrq_n_u8(w0, 6)), vld1q_s8(xq + 96));
    b = vdotq_s32(b, vreinterpretq_s8_u8(vshrq_n_u8(w1, 6)), vld1q_s8(xq + 112));
    return vpaddq_s32(a, b); /* a: blocks 0,0,1,1; b: 2,2,3,3 */
  }
  if (bits == 4) {
    const uint8x16_t m = vdupq_n_u8(15);
    int32x4_t s[4];
    for (int h = 0; h < 2; ++h) { /* 64 weights = 32 bytes = 2 blocks */
      const uint8_t *wh = w + 32 * h;
      const int8_t *xh = xq + 64 * h;
      const uint8x16_t w0 = vld1q_u8(wh), w1 = vld1q_u8(wh + 16);
      int32x4_t a = vdotq_s32(z, vreinterpretq_s8_u8(vandq_u8(w0, m)), vld1q_s8(xh));
      a = vdotq_s32(a, vreinterpretq_s8_u8(vshrq_n_u8(w0, 4)), vld1q_s8(xh + 32));
      int32x4_t b = vdotq_s32(z, vreinterpretq_s8_u8(vandq_u8(w1, m)), vld1q_s8(xh + 16));
      b = vdotq_s32(b, vreinterpretq_s8_u8(vshrq_n_u8(w1, 4)), vld1q_s8(xh + 48));
      s[2 * h] = a;
      s[2 * h + 1] = b;
    }
    return vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
  }
  int32x4_t s[4];
  for (int k = 0; k < 4; ++k) {
    int32x4_t a = vdotq_s32(z, vld1q_s8((const int8_t *)w + 32 * k), vld1q_s8(xq + 32 * k));
    s[k] = vdotq_s32(a, vld1q_s8((const int8_t *)w + 32 * k + 16), vld1q_s8(xq + 32 * k + 16));
  }
  return vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
}

/* Scale i of a row's f32 or IEEE-half (f16) scales. */
static inline float scale_at(int f16, const void *s, size_t i) {
  return f16 ? mote_half_to_float(((const uint16_t *)s)[i]) : ((const float *)s)[i];
}

/* Weight scales of blocks 4C..4C+3 of a row (s: its ng scales); 0 past K. */
static inline float32x4_t wscale4(int f16, const void *s, size_t ng, size_t group,
                                  size_t K, size_t C) {
  const size_t b0 = 4 * C;
  if (group >= K) return vdupq_n_f32(scale_at(f16, s, 0));
  if (group % 128 == 0) return vdupq_n_f32(scale_at(f16, s, b0 * 32 / group));
  if (group == 32 && b0 + 4 <= ng)
    return f16 ? vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)s + b0)))
               : vld1q_f32((const float *)s + b0);
  float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (size_t i = 0; i < 4; ++i)
    if ((b0 + i) * 32 < K) v[i] = scale_at(f16, s, (b0 + i) * 32 / group);
  return vld1q_f32(v);
}

static void linear_q_i8_dotprod(const int bits, const mote_act_i8_t *a, size_t T,
                                size_t K, const uint8_t *codes, const void *scales,
                                int f16, size_t group, size_t row_bytes, const float *bias,
                                float *y, size_t N, size_t n_begin, size_t n_end) {
  const size_t ng = (K + group - 1) / group, kp = a->kp, nb = kp / 32;
  const size_t cb = (size_t)bits * 16;        /* packed bytes per 128 weights */
  const size_t nc = (K + 127) / 128, nfull = row_bytes / cb;
  const float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.0f;
  for (size_t n = n_begin; n < n_end; ++n) {
    const uint8_t *row = codes + n * row_bytes;
    const void *s = (const uint8_t *)scales + n * ng * (f16 ? 2 : 4);
    for (size_t t = 0; t < T; ++t) {
      const int8_t *xq = a->q + t * kp;
      const float *d = a->d + t * nb, *bs = a->bs + t * nb;
      float32x4_t acc = vdupq_n_f32(0.0f);
      for (size_t c = 0; c < nc; ++c) {
        const uint8_t *w = row + c * cb;
        uint8_t tail[128];
        if (c >= nfull) { /* the row's last, partial 128 weights */
          memset(tail, 0, sizeof tail);
          memcpy(tail, w, row_bytes - c * cb);
          w = tail;
        }
        float32x4_t is = vcvtq_f32_s32(dot128(bits, w, xq + 128 * c));
        float32x4_t tv = vmulq_f32(is, vld1q_f32(d + 4 * c));
        if (bits != 8) tv = vmlsq_n_f32(tv, vld1q_f32(bs + 4 * c), off);
        acc = vfmaq_f32(acc, wscale4(f16, s, ng, group, K, c), tv);
      }
      float r = vaddvq_f32(acc);
      y[t * N + n] = bias ? r + bias[n] : r;
    }
  }
}

#define QI8DOT(B)                                                              \
  void mote_linear_q##B##_i8_dotprod(const mote_act_i8_t *a, size_t T,         \
                                     size_t K, const uint8_t *codes,           \
                                     const void *scales, int f16,              \
                                     size_t group, size_t row_bytes,           \
                                     const float *bias,                        \
                                     float *y, size_t N, size_t n_begin,       \
                                     size_t n_end) {                           \
    if (!mote_linear_q_i8_ok(K, group)) {                                      \
      mote_linear_q##B##_i8_ref(a, T, K, codes, scales, f16, group, row_bytes, \
                                bias, y, N, n_begin, n_end);                   \
      return;                                                                  \
    }                                                                          \
    linear_q_i8_dotprod(B, a, T, K, codes, scales, f16, group, row_bytes,      \
                        bias, y, N, n_begin, n_end);                           \
  }
QI8DOT(2)
QI8DOT(4)
QI8DOT(8)

#endif /* MOTE_HAVE_NEON */
