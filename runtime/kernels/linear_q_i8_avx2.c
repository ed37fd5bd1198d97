/* AVX2 int8-activation quantized linear (issue 4). 32 packed bytes at a time
 * (128 / 64 / 32 weights for 2 / 4 / 8 bits): each bit plane is one shift and
 * mask, `vpmaddubsw` multiplies the unsigned codes by 32 signed activation
 * codes (laid out in plane order by the quantizer, kernels.h), the planes are
 * summed in int16 and `vpmaddwd` widens to 8 int32 lanes, where lanes of the
 * same 32-block are adjacent. Per lane, in f32: s_w * (d_x * isum - off *
 * bs_x / lanes_per_block) -- the balanced grid's offset costs one FMA per
 * chunk, not one per weight. 8-bit codes are signed: |w| times sign(w) * x.
 * Four rows share each activation load; prefill runs every token over a tile
 * of 4 rows while their codes sit in L1. */
#include <string.h>

#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "avx2_util.h"

/* --------------------------------------------------------------- kernels */

/* int32 lanes of one chunk: sum of code * activation per lane pair/quad/oct. */
MOTE_INLINE __m256i dot_chunk(const int bits, const uint8_t *w, const int8_t *xq) {
  const __m256i v = _mm256_loadu_si256((const __m256i *)w);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i p;
  if (bits == 2) {
    const __m256i m = _mm256_set1_epi8(3);
    p = _mm256_maddubs_epi16(_mm256_and_si256(v, m),
                             _mm256_loadu_si256((const __m256i *)xq));
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
                                _mm256_and_si256(_mm256_srli_epi16(v, 2), m),
                                _mm256_loadu_si256((const __m256i *)(xq + 32))));
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
                                _mm256_and_si256(_mm256_srli_epi16(v, 4), m),
                                _mm256_loadu_si256((const __m256i *)(xq + 64))));
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
                                _mm256_and_si256(_mm256_srli_epi16(v, 6), m),
                                _mm256_loadu_si256((const __m256i *)(xq + 96))));
  } else if (bits == 4) {
    const __m256i m = _mm256_set1_epi8(15);
    p = _mm256_maddubs_epi16(_mm256_and_si256(v, m),
                             _mm256_loadu_si256((const __m256i *)xq));
    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
                                _mm256_and_si256(_mm256_srli_epi16(v, 4), m),
                                _mm256_loadu_si256((const __m256i *)(xq + 32))));
  } else {
    __m256i x = _mm256_loadu_si256((const __m256i *)xq);
    p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(x, v));
  }
  return _mm256_madd_epi16(p, ones);
}

#include "linear_q_i8_x86.h"

/* ------------------------------------------------------------- quantizer */

void mote_linear_qact_i8_avx2(unsigned bits, const float *x, size_t K,
                              const mote_act_i8_t *a, size_t t_begin, size_t t_end) {
  qact_i8_x86(bits, 0, x, K, a, t_begin, t_end);
}

MOTE_QI8_X86_ENTRY(2, avx2, 0)
MOTE_QI8_X86_ENTRY(4, avx2, 0)
MOTE_QI8_X86_ENTRY(8, avx2, 0)

#endif /* MOTE_HAVE_AVX2 */
