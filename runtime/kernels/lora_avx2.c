/* AVX2+FMA LoRA up-projection (lora_kernels.h): 32 outputs at a time in four
 * accumulators; each k broadcasts tmp[t,k] once and streams one row of bt. */
#include "lora_kernels.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "avx2_util.h"

void mote_lora_b_f32_avx2(const float *tmp, size_t T, size_t r, const float *bt, float *y,
                          size_t N, size_t n_begin, size_t n_end) {
  for (size_t t = 0; t < T; ++t) {
    const float *a = tmp + t * r;
    float *yt = y + t * N;
    size_t n = n_begin;
    for (; n + 32 <= n_end; n += 32) {
      __m256 c0 = _mm256_loadu_ps(yt + n), c1 = _mm256_loadu_ps(yt + n + 8);
      __m256 c2 = _mm256_loadu_ps(yt + n + 16), c3 = _mm256_loadu_ps(yt + n + 24);
      for (size_t k = 0; k < r; ++k) {
        const float *b = bt + k * N + n;
        __m256 av = _mm256_broadcast_ss(a + k);
        c0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), c0);
        c1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 8), c1);
        c2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 16), c2);
        c3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 24), c3);
      }
      _mm256_storeu_ps(yt + n, c0);
      _mm256_storeu_ps(yt + n + 8, c1);
      _mm256_storeu_ps(yt + n + 16, c2);
      _mm256_storeu_ps(yt + n + 24, c3);
    }
    for (; n < n_end; n += 8) { /* 8 at a time, the last one masked */
      size_t w = n_end - n < 8 ? n_end - n : 8;
      __m256i m = mote_tail_mask(w);
      __m256 c = _mm256_maskload_ps(yt + n, m);
      for (size_t k = 0; k < r; ++k)
        c = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k), _mm256_maskload_ps(bt + k * N + n, m), c);
      _mm256_maskstore_ps(yt + n, m, c);
    }
  }
}

#else
typedef int mote_lora_avx2_unused_t; /* not an x86-64 build */
#endif
