/* NEON elementwise kernels: swiglu (vectorized exp) and add. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "neon_util.h"

void mote_exp_f32_neon(const float *in, float *out, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, mote_exp_f32x4(vld1q_f32(in + i)));
  if (i < n) mote_store_n(out + i, mote_exp_f32x4(mote_load_n(in + i, n - i)), n - i);
}

/* silu(g) * u = g / (1 + exp(-g)) * u; exp(-g) = inf for g < -88.7 gives -0
 * like the reference. */
MOTE_INLINE float32x4_t swiglu4(float32x4_t g, float32x4_t u) {
  float32x4_t e = mote_exp_f32x4(vnegq_f32(g));
  float32x4_t s = vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e));
  return vmulq_f32(s, u);
}

void mote_swiglu_f32_neon(const float *g, const float *u, float *out,
                          size_t begin, size_t end) {
  size_t i = begin;
  for (; i + 4 <= end; i += 4)
    vst1q_f32(out + i, swiglu4(vld1q_f32(g + i), vld1q_f32(u + i)));
  if (i < end) {
    size_t n = end - i;
    mote_store_n(out + i, swiglu4(mote_load_n(g + i, n), mote_load_n(u + i, n)), n);
  }
}

void mote_add_f32_neon(const float *a, const float *b, float *out, size_t begin,
                       size_t end) {
  size_t i = begin;
  for (; i + 4 <= end; i += 4)
    vst1q_f32(out + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
  for (; i < end; ++i) out[i] = a[i] + b[i];
}

#else
typedef int mote_elementwise_neon_unused_t; /* not an AArch64 build */
#endif
