/* AVX-512 VNNI int8-activation quantized linear (issue 4). One 64-byte load
 * of codes (a "super-chunk": 256 / 128 / 64 weights for 2 / 4 / 8 bits, the
 * AVX2 kernel's two 32-byte chunks side by side), one shift and mask per bit
 * plane on zmm, one `vpdpbusd` per plane into 16 int32 lanes; lane L holds
 * one 32-block's share (blocks per super-chunk bps = 8 / 4 / 2, 16 / bps
 * lanes each). The activations are quantized into the matching layout
 * (qact_i8_x86 with wide = 1, linear_q_i8_x86.h): plane j of super-chunk C is
 * 64 consecutive bytes. 2-bit rows whose padded length kp is not a multiple
 * of 256 keep the 32-byte layout and run the 256-bit tile with the EVEX
 * `vpdpbusd` on ymm; quantizer and kernel decide that with the same
 * predicate (wide512). The per-lane float work and the balanced grid's
 * offset are the AVX2 kernel's (linear_q_i8_avx2.c), at twice the width.
 * Tails: masked loads (codes past the row's bytes read as 0 and meet zero
 * activations; no byte past W or past a row's scales is read). */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2) && defined(MOTE_HAVE_AVX512VNNI)
#if !defined(__AVX512VNNI__) || !defined(__AVX512BW__) || !defined(__AVX512VL__)
#error "compile *_avx512.c with -mavx512f -mavx512bw -mavx512vl -mavx512vnni"
#endif
#include "avx2_util.h"

/* The 256-bit chunk (kp % 256 != 0 at 2 bits): the EVEX encoding. */
#define MOTE_QI8_DPBUSD256 _mm256_dpbusd_epi32

/* The 64-byte tile, defined below, used by the header's driver for wide calls. */
MOTE_INLINE void qi8_tile512(const int bits, const int SH, const int NN, const int8_t *xq,
                             const float *d, const float *bs, size_t K,
                             const uint8_t *row0, const uint8_t *s0, size_t ng,
                             size_t group, size_t row_bytes, const uint8_t *codes_end,
                             float *out);
#define MOTE_QI8_WIDE_TILE qi8_tile512
#include "linear_q_i8_x86.h"

/* Whether rows of padded length kp use the 64-byte layout (quantizer and
 * kernel ask the same question). */
static inline int wide512(unsigned bits, size_t kp) { return bits != 2 || kp % 256 == 0; }

/* 16 int32 lanes of one super-chunk v against its activation planes. */
MOTE_INLINE __m512i dot_super(const int bits, __m512i v, const int8_t *xq) {
  const __m512i *x = (const __m512i *)xq;
  __m512i acc = _mm512_setzero_si512();
  if (bits == 2) {
    const __m512i m = _mm512_set1_epi8(3);
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(v, m), _mm512_loadu_si512(x));
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(v, 2), m),
                              _mm512_loadu_si512(x + 1));
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(v, 4), m),
                              _mm512_loadu_si512(x + 2));
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(v, 6), m),
                              _mm512_loadu_si512(x + 3));
  } else if (bits == 4) {
    const __m512i m = _mm512_set1_epi8(15);
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(v, m), _mm512_loadu_si512(x));
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(v, 4), m),
                              _mm512_loadu_si512(x + 1));
  } else { /* signed codes: |w| times x negated where w < 0 */
    const __m512i xv = _mm512_loadu_si512(x);
    const __mmask64 neg = _mm512_movepi8_mask(v);
    acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(v),
                              _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv));
  }
  return acc;
}

/* n (<= 8) consecutive scales from index i, the first `have` of them read
 * (the rest 0), in the low lanes. */
MOTE_INLINE __m512 scales16(const int SH, const void *s, size_t i, size_t have) {
  const __mmask8 m = (__mmask8)((1u << (have < 8 ? have : 8)) - 1u);
  if (SH)
    return _mm512_castps256_ps512(
        _mm256_cvtph_ps(_mm_maskz_loadu_epi16(m, (const uint16_t *)s + i)));
  return _mm512_maskz_loadu_ps((__mmask16)m, (const float *)s + i);
}

/* The 512-bit tile prefetches as far ahead as the 256-bit one
 * (qi8_prefetch_distance: the same rule measured best for both). */

enum { SC_ONE, SC_PER_SUPER, SC_LOAD, SC_GENERIC };

/* The tile for one way of finding scales (MODE, a compile-time constant per
 * instance, so the row loop below unrolls with its accumulators in registers
 * and no per-row branch or mask arithmetic is left in it). */
MOTE_INLINE void tile512_mode(const int bits, const int SH, const int NN, const int MODE,
                              const int8_t *xq, const float *d, const float *bs, size_t K,
                              const uint8_t *row0, const uint8_t *s0, size_t ng,
                              size_t group, size_t row_bytes, float *out) {
  const size_t bps = 2 * BPC(bits), cw = 32 * bps; /* blocks, weights per super-chunk */
  const size_t nsc = (K + cw - 1) / cw, nblk = (K + 31) / 32;
  const size_t sbytes = ng * (SH ? 2 : 4); /* one row's scales */
  const size_t pf = qi8_prefetch_distance(row_bytes);
  const float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.0f;
  const __m512 offv = _mm512_set1_ps(off * (float)bps / 16.0f); /* per lane */
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i bidx = _mm512_srli_epi32(lane, bits == 2 ? 1 : bits == 4 ? 2 : 3);
  const __mmask16 bmask = (__mmask16)((1u << bps) - 1u);
  const size_t nps = MODE == SC_LOAD ? cw / group : 1; /* scales per super-chunk */
  const __m512i sidx = _mm512_srli_epi32(
      lane, nps == 8 ? 1 : nps == 4 ? 2 : nps == 2 ? 3 : 4);
  __m512 acc[4];
  for (int r = 0; r < NN; ++r) acc[r] = _mm512_setzero_ps();
  for (size_t c = 0; c < nsc; ++c) {
    const int8_t *xc = xq + c * cw;
    const __m512 dv = _mm512_permutexvar_ps(bidx, _mm512_maskz_loadu_ps(bmask, d + c * bps));
    const __m512 ov =
        bits == 8 ? _mm512_setzero_ps()
                  : _mm512_mul_ps(_mm512_permutexvar_ps(
                                      bidx, _mm512_maskz_loadu_ps(bmask, bs + c * bps)),
                                  offv);
    const size_t rem = row_bytes - c * 64;
    const __mmask64 cmask = rem >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << rem) - 1);
    const size_t i0 = c * nps, have = ng - i0; /* SC_LOAD: this chunk's first scale */
    for (int r = 0; r < NN; ++r) {
      const uint8_t *w = row0 + (size_t)r * row_bytes + c * 64;
      _mm_prefetch((const char *)(w + pf), _MM_HINT_T0);
      const __m512i v = _mm512_maskz_loadu_epi8(cmask, w);
      const __m512 is = _mm512_cvtepi32_ps(dot_super(bits, v, xc));
      const __m512 t = bits == 8 ? _mm512_mul_ps(is, dv) : _mm512_fmsub_ps(is, dv, ov);
      const void *sr = s0 + (size_t)r * sbytes;
      __m512 ws;
      if (MODE == SC_ONE) {
        ws = _mm512_set1_ps(scale_at(SH, sr, 0));
      } else if (MODE == SC_PER_SUPER) {
        ws = _mm512_set1_ps(scale_at(SH, sr, c * cw / group));
      } else if (MODE == SC_LOAD) {
        ws = _mm512_permutexvar_ps(sidx, scales16(SH, sr, i0, have));
      } else { /* a group size that neither holds nor divides a super-chunk */
        float v16[16];
        for (int l = 0; l < 16; ++l) {
          size_t b = c * bps + (size_t)l * bps / 16;
          v16[l] = b < nblk ? scale_at(SH, sr, b * 32 / group) : 0.0f;
        }
        ws = _mm512_loadu_ps(v16);
      }
      acc[r] = _mm512_fmadd_ps(ws, t, acc[r]);
    }
  }
  for (int r = 0; r < NN; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

MOTE_INLINE void qi8_tile512(const int bits, const int SH, const int NN, const int8_t *xq,
                             const float *d, const float *bs, size_t K,
                             const uint8_t *row0, const uint8_t *s0, size_t ng,
                             size_t group, size_t row_bytes, const uint8_t *codes_end,
                             float *out) {
  (void)codes_end; /* masked loads never read past a row */
  const size_t cw = 64 * BPC(bits); /* weights per super-chunk */
  if (group >= K)
    tile512_mode(bits, SH, NN, SC_ONE, xq, d, bs, K, row0, s0, ng, group, row_bytes, out);
  else if (group % cw == 0)
    tile512_mode(bits, SH, NN, SC_PER_SUPER, xq, d, bs, K, row0, s0, ng, group, row_bytes,
                 out);
  else if (cw % group == 0)
    tile512_mode(bits, SH, NN, SC_LOAD, xq, d, bs, K, row0, s0, ng, group, row_bytes, out);
  else
    tile512_mode(bits, SH, NN, SC_GENERIC, xq, d, bs, K, row0, s0, ng, group, row_bytes,
                 out);
}

void mote_linear_qact_i8_avx512(unsigned bits, const float *x, size_t K,
                                const mote_act_i8_t *a, size_t t_begin, size_t t_end) {
  qact_i8_x86(bits, wide512(bits, a->kp), x, K, a, t_begin, t_end);
}

MOTE_QI8_X86_ENTRY(2, avx512, wide512(2, a->kp))
MOTE_QI8_X86_ENTRY(4, avx512, wide512(4, a->kp))
MOTE_QI8_X86_ENTRY(8, avx512, wide512(8, a->kp))

#endif /* MOTE_HAVE_AVX2 && MOTE_HAVE_AVX512VNNI */
