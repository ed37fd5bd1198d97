/* NEON LoRA up-projection (contract in kernels.h): 16 outputs at a time in
 * four accumulators; each k broadcasts tmp[t,k] once and streams one row of
 * bt; the column tail goes through mote_load_n / mote_store_n. */
#include "lora_kernels.h"

#if defined(MOTE_HAVE_NEON)
#include "neon_util.h"

void mote_lora_b_f32_neon(const float *tmp, size_t T, size_t r, const float *bt, float *y,
                          size_t N, size_t n_begin, size_t n_end) {
  for (size_t t = 0; t < T; ++t) {
    const float *a = tmp + t * r;
    float *yt = y + t * N;
    size_t n = n_begin;
    for (; n + 16 <= n_end; n += 16) {
      float32x4_t c0 = vld1q_f32(yt + n), c1 = vld1q_f32(yt + n + 4);
      float32x4_t c2 = vld1q_f32(yt + n + 8), c3 = vld1q_f32(yt + n + 12);
      for (size_t k = 0; k < r; ++k) {
        const float *b = bt + k * N + n;
        c0 = vfmaq_n_f32(c0, vld1q_f32(b), a[k]);
        c1 = vfmaq_n_f32(c1, vld1q_f32(b + 4), a[k]);
        c2 = vfmaq_n_f32(c2, vld1q_f32(b + 8), a[k]);
        c3 = vfmaq_n_f32(c3, vld1q_f32(b + 12), a[k]);
      }
      vst1q_f32(yt + n, c0);
      vst1q_f32(yt + n + 4, c1);
      vst1q_f32(yt + n + 8, c2);
      vst1q_f32(yt + n + 12, c3);
    }
    for (; n < n_end; n += 4) { /* 4 at a time, the last one partial */
      size_t w = n_end - n < 4 ? n_end - n : 4;
      float32x4_t c = mote_load_n(yt + n, w);
      for (size_t k = 0; k < r; ++k) c = vfmaq_n_f32(c, mote_load_n(bt + k * N + n, w), a[k]);
      mote_store_n(yt + n, c, w);
    }
  }
}

#else
typedef int mote_lora_neon_unused_t; /* not an AArch64 build */
#endif
