/* Shared NEON helpers (tail loads/stores, vectorized exp); *_neon.c only. */
#ifndef MOTE_NEON_UTIL_H
#define MOTE_NEON_UTIL_H

#include <arm_neon.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define MOTE_INLINE static inline __attribute__((always_inline))

/* The first n lanes of p (n may exceed 4: then all four), zeros after; NEON
 * has no masked loads, so a tail goes through a small zeroed buffer and never
 * reads past p[n-1]. */
MOTE_INLINE float32x4_t mote_load_n(const float *p, size_t n) {
  if (n >= 4) return vld1q_f32(p);
  float b[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (size_t i = 0; i < n; ++i) b[i] = p[i];
  return vld1q_f32(b);
}

/* Stores the first min(n, 4) lanes of v to p; nothing past p[n-1]. */
MOTE_INLINE void mote_store_n(float *p, float32x4_t v, size_t n) {
  if (n >= 4) {
    vst1q_f32(p, v);
    return;
  }
  float b[4];
  vst1q_f32(b, v);
  for (size_t i = 0; i < n; ++i) p[i] = b[i];
}

/* exp(x), the same range reduction and degree-7 polynomial as the AVX2
 * mote_exp_ps (avx2_util.h): x = n ln2 + r, 2^n built in the exponent bits.
 * Below -87.3 the result is 0, above 88.72 it is +inf like expf. */
MOTE_INLINE float32x4_t mote_exp_f32x4(float32x4_t x) {
  const float32x4_t hi = vdupq_n_f32(88.3762626647949f);
  const float32x4_t lo = vdupq_n_f32(-87.3365447505531f);
  float32x4_t xc = vminq_f32(vmaxq_f32(x, lo), hi);
  float32x4_t n = vrndnq_f32(vmulq_n_f32(xc, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(xc, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.0f / 5040.0f);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 720.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
  y = vbslq_f32(vcltq_f32(x, lo), vdupq_n_f32(0.0f), y);
  y = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(88.7228391f)), vdupq_n_f32(INFINITY), y);
  return y;
}

#endif /* MOTE_NEON_UTIL_H */
