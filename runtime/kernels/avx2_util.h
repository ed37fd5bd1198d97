/* Shared AVX2 helpers (horizontal sums, tail masks, vectorized exp); *_avx2.c only. */
#ifndef MOTE_AVX2_UTIL_H
#define MOTE_AVX2_UTIL_H

#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define MOTE_INLINE static inline __attribute__((always_inline))

/* Mask with the first n (0..8) lanes set, for maskload/maskstore tails. */
MOTE_INLINE __m256i mote_tail_mask(size_t n) {
  static const int32_t tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                  0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256((const __m256i *)(tab + 8 - n));
}

MOTE_INLINE float mote_hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* Four horizontal sums at once: lane i of the result is the sum of ai. */
MOTE_INLINE __m128 mote_hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* exp(x) to ~2 ulp on the normal range: x = n ln2 + r, |r| <= ln2/2, exp(r) by
 * a degree-7 Taylor polynomial (truncation < 1e-8 relative), times 2^n built
 * in the exponent bits. Below -87.3 the result is 0 (expf gives subnormals
 * there); above 88.72 it is +inf like expf. */
MOTE_INLINE __m256 mote_exp_ps(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-87.3365447505531f);
  __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 n = _mm256_round_ps(
      _mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  /* ln2 split in a high part exact in f32 and a low correction. */
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY),
                       _mm256_cmp_ps(x, _mm256_set1_ps(88.7228391f), _CMP_GT_OQ));
  return y;
}

#endif /* MOTE_AVX2_UTIL_H */
