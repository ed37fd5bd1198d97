/* AVX2+FMA rms_norm_f32: vectorized sum of squares and scale. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "avx2_util.h"

void mote_rms_norm_f32_avx2(const float *x, const float *w, float *y, size_t D,
                            float eps, size_t t_begin, size_t t_end) {
  for (size_t t = t_begin; t < t_end; ++t) {
    const float *xt = x + t * D; /* (D) */
    float *yt = y + t * D;       /* (D), may alias xt */
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t d = 0;
    for (; d + 16 <= D; d += 16) {
      __m256 v0 = _mm256_loadu_ps(xt + d), v1 = _mm256_loadu_ps(xt + d + 8);
      a0 = _mm256_fmadd_ps(v0, v0, a0);
      a1 = _mm256_fmadd_ps(v1, v1, a1);
    }
    for (; d < D; d += 8) {
      __m256 v = _mm256_maskload_ps(xt + d, mote_tail_mask(D - d < 8 ? D - d : 8));
      a0 = _mm256_fmadd_ps(v, v, a0);
    }
    float ss = mote_hsum(_mm256_add_ps(a0, a1));
    __m256 inv = _mm256_set1_ps(1.0f / sqrtf(ss / (float)D + eps));
    for (d = 0; d + 8 <= D; d += 8) {
      __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xt + d), inv);
      _mm256_storeu_ps(yt + d, _mm256_mul_ps(v, _mm256_loadu_ps(w + d)));
    }
    if (d < D) {
      __m256i m = mote_tail_mask(D - d);
      __m256 v = _mm256_mul_ps(_mm256_maskload_ps(xt + d, m), inv);
      _mm256_maskstore_ps(yt + d, m, _mm256_mul_ps(v, _mm256_maskload_ps(w + d, m)));
    }
  }
}

#else
typedef int mote_rms_norm_avx2_unused_t; /* not an x86-64 build */
#endif
