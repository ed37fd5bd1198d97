/* AVX2+FMA elementwise kernels: swiglu (vectorized exp) and add. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "avx2_util.h"

void mote_exp_f32_avx2(const float *in, float *out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, mote_exp_ps(_mm256_loadu_ps(in + i)));
  if (i < n) {
    __m256i m = mote_tail_mask(n - i);
    _mm256_maskstore_ps(out + i, m, mote_exp_ps(_mm256_maskload_ps(in + i, m)));
  }
}

/* silu(g) * u = g / (1 + exp(-g)) * u; exp(-g) = inf for g < -88.7 gives -0
 * like the reference. */
MOTE_INLINE __m256 swiglu8(__m256 g, __m256 u) {
  __m256 e = mote_exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));
  __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  return _mm256_mul_ps(s, u);
}

void mote_swiglu_f32_avx2(const float *g, const float *u, float *out,
                          size_t begin, size_t end) {
  size_t i = begin;
  for (; i + 8 <= end; i += 8)
    _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
  if (i < end) {
    __m256i m = mote_tail_mask(end - i);
    __m256 r = swiglu8(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(u + i, m));
    _mm256_maskstore_ps(out + i, m, r);
  }
}

void mote_add_f32_avx2(const float *a, const float *b, float *out,
                       size_t begin, size_t end) {
  size_t i = begin;
  for (; i + 8 <= end; i += 8)
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  if (i < end) {
    __m256i m = mote_tail_mask(end - i);
    __m256 r = _mm256_add_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
    _mm256_maskstore_ps(out + i, m, r);
  }
}

#else
typedef int mote_elementwise_avx2_unused_t; /* not an x86-64 build */
#endif
