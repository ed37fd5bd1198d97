/* linear_q_i8_x86.h: the x86 int8-activation quantized linear (issue 4),
 * shared by the AVX2 (`vpmaddubsw` + `vpmaddwd`), AVX-VNNI and AVX-512 VNNI
 * (`vpdpbusd`) files. The includer defines, before including this header,
 * MOTE_QI8_DPBUSD256 (below) or
 *
 *   MOTE_INLINE __m256i dot_chunk(int bits, const uint8_t *w, const int8_t *xq)
 *
 * (8 int32 lanes of one 32-byte chunk of codes against its activation codes,
 * lanes of one 32-block adjacent: linear_q_i8_avx2.c) and then expands
 * MOTE_QI8_X86_ENTRY(bits, suffix, wide) for each width. Everything else --
 * the activation quantizer, the scales, the balanced grid's offset, tiles of
 * 4 rows, prefetch, tails -- is here, once. The AVX-512 file adds a tile over
 * 64-byte super-chunks (MOTE_QI8_WIDE_TILE) with its activation layout. */
#ifndef MOTE_LINEAR_Q_I8_X86_H
#define MOTE_LINEAR_Q_I8_X86_H

#include <string.h>

#include "avx2_util.h"
#include "kernels_internal.h"

/* ------------------------------------------------------------- quantizer */

/* Rows [t_begin, t_end) of x into a, per 32-block: codes, d and bs. wide:
 * the 512-bit kernels' layout (linear_q_i8_avx512.c), planes of 64 bytes
 * over 256 (2-bit) / 128 (4-bit) weights; else the 32-byte planes of
 * kernels.h. 8-bit codes are in order either way. */
MOTE_INLINE void qact_i8_x86(unsigned bits, int wide, const float *x, size_t K,
                             const mote_act_i8_t *a, size_t t_begin, size_t t_end) {
  const size_t kp = a->kp, nb = kp / 32;
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (size_t t = t_begin; t < t_end; ++t) {
    const float *xt = x + t * K;
    int8_t *q = a->q + t * kp;
    float *d = a->d + t * nb, *bs = a->bs + t * nb;
    for (size_t b = 0; b < nb; ++b) {
      size_t k0 = b * 32;
      __m256 v[4];
      for (int i = 0; i < 4; ++i) {
        size_t k = k0 + 8 * (size_t)i;
        if (k + 8 <= K) v[i] = _mm256_loadu_ps(xt + k);
        else if (k < K) v[i] = _mm256_maskload_ps(xt + k, mote_tail_mask(K - k));
        else v[i] = _mm256_setzero_ps();
      }
      __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absmask),
                                             _mm256_and_ps(v[1], absmask)),
                               _mm256_max_ps(_mm256_and_ps(v[2], absmask),
                                             _mm256_and_ps(v[3], absmask)));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      float amax = _mm_cvtss_f32(m4);
      float id = amax > 0.0f ? 127.0f / amax : 0.0f;
      const __m256 idv = _mm256_set1_ps(id);
      __m256i c[4];
      for (int i = 0; i < 4; ++i) c[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], idv));
      /* int32 -> int8 in order: packs interleave 128-bit lanes, undo it. */
      __m256i p16a = _mm256_packs_epi32(c[0], c[1]), p16b = _mm256_packs_epi32(c[2], c[3]);
      __m256i p8 = _mm256_packs_epi16(p16a, p16b);
      p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      __m256i s32 = _mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3]));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
      d[b] = amax / 127.0f;
      bs[b] = d[b] * (float)_mm_cvtsi128_si32(s4);
      if (bits == 8) {
        _mm256_storeu_si256((__m256i *)(q + k0), p8);
      } else {
        int8_t tmp[32];
        _mm256_storeu_si256((__m256i *)tmp, p8);
        if (bits == 2 && wide) { /* k = 256C + 128h + 4i + j -> 256C + 64j + 32h + i */
          int8_t *o = q + (k0 & ~(size_t)255) + ((k0 & 128) >> 2) + ((k0 & 127) >> 2);
          for (int i = 0; i < 8; ++i)
            for (int j = 0; j < 4; ++j) o[64 * j + i] = tmp[4 * i + j];
        } else if (bits == 2) { /* k = 128c + 4i + j -> 128c + 32j + i */
          int8_t *o = q + (k0 & ~(size_t)127) + ((k0 & 127) >> 2);
          for (int i = 0; i < 8; ++i)
            for (int j = 0; j < 4; ++j) o[32 * j + i] = tmp[4 * i + j];
        } else if (wide) { /* k = 128C + 64h + 2i + j -> 128C + 64j + 32h + i */
          int8_t *o = q + (k0 & ~(size_t)127) + ((k0 & 64) >> 1) + ((k0 & 63) >> 1);
          for (int i = 0; i < 16; ++i) {
            o[i] = tmp[2 * i];
            o[64 + i] = tmp[2 * i + 1];
          }
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
}

/* ------------------------------------------------------------- kernels */

/* The 256-bit dot on `vpdpbusd` for the VNNI files, which name the intrinsic
 * of their encoding in MOTE_QI8_DPBUSD256 (VEX `_mm256_dpbusd_avx_epi32`,
 * EVEX `_mm256_dpbusd_epi32`) instead of defining dot_chunk: one per bit
 * plane, unsigned codes times signed activation codes, four products summed
 * into each int32 lane in the AVX2 kernel's lane order; 8-bit codes are
 * |w| times sign(w) * x. */
#ifdef MOTE_QI8_DPBUSD256
MOTE_INLINE __m256i dot_chunk(const int bits, const uint8_t *w, const int8_t *xq) {
  const __m256i v = _mm256_loadu_si256((const __m256i *)w);
  const __m256i *x = (const __m256i *)xq;
  __m256i acc = _mm256_setzero_si256();
  if (bits == 8) {
    const __m256i xv = _mm256_loadu_si256(x);
    return MOTE_QI8_DPBUSD256(acc, _mm256_sign_epi8(v, v), _mm256_sign_epi8(xv, v));
  }
  const __m256i m = _mm256_set1_epi8(bits == 2 ? 3 : 15);
  for (int j = 0; j < 8 / bits; ++j)
    acc = MOTE_QI8_DPBUSD256(acc, _mm256_and_si256(_mm256_srli_epi16(v, bits * j), m),
                             _mm256_loadu_si256(x + j));
  return acc;
}
#endif

/* Blocks per 32-byte chunk of codes, and weights per chunk. */
#define BPC(bits) ((bits) == 2 ? 4 : (bits) == 4 ? 2 : 1)

/* n (1, 2 or 4) consecutive scales from index i in the low lanes (SH: the
 * array holds IEEE halves, converted with F16C; else f32). */
MOTE_INLINE __m128 scales_n(const int SH, const void *s, size_t i, const int n) {
  if (!SH) {
    const float *f = (const float *)s + i;
    if (n == 4) return _mm_loadu_ps(f);
    if (n == 2) return _mm_castpd_ps(_mm_load_sd((const double *)f));
    return _mm_set1_ps(*f);
  }
  const uint16_t *h = (const uint16_t *)s + i;
  if (n == 4) return _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)h));
  if (n == 2) {
    uint32_t v;
    memcpy(&v, h, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)v));
  }
  return _mm_set1_ps(_cvtsh_ss(*h));
}

MOTE_INLINE float scale_at(const int SH, const void *s, size_t i) {
  return SH ? _cvtsh_ss(((const uint16_t *)s)[i]) : ((const float *)s)[i];
}

/* BPC(bits) per-block values (low lanes of v) spread over the 8 int32 lanes
 * of a chunk: block i owns 8 / BPC adjacent lanes. */
MOTE_INLINE __m256 expand4(const int bits, __m128 v) {
  if (bits == 2)
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v),
                                    _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
  if (bits == 4)
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v),
                                    _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
  return _mm256_broadcastss_ps(v);
}

/* The activations' per-block floats (d or bs) of chunk starting at p. */
MOTE_INLINE __m256 expand_blocks(const int bits, const float *p) {
  return expand4(bits, scales_n(0, p, 0, BPC(bits)));
}

/* Weight scales of chunk c of a row (s: the row's ng scales) per lane; gi =
 * the chunk's group when groups hold whole chunks (kept by the caller, no
 * division per chunk). */
MOTE_INLINE __m256 wscale(const int bits, const int SH, const void *s, size_t ng,
                          size_t group, size_t K, size_t c, size_t gi) {
  const size_t bpc = BPC(bits), b0 = c * bpc;
  if (group >= K) return _mm256_set1_ps(scale_at(SH, s, 0));
  if (group % (32 * bpc) == 0) return _mm256_set1_ps(scale_at(SH, s, gi));
  if (group == 32 && b0 + bpc <= ng) return expand4(bits, scales_n(SH, s, b0, (int)bpc));
  if (bits == 2 && group == 64 && b0 / 2 + 2 <= ng)
    return expand4(4, scales_n(SH, s, b0 / 2, 2));
  float v[4] = {0.0f, 0.0f, 0.0f, 0.0f}; /* the row's end: blocks past K get 0 */
  for (size_t i = 0; i < bpc; ++i)
    if ((b0 + i) * 32 < K) v[i] = scale_at(SH, s, (b0 + i) * 32 / group);
  return expand4(bits, _mm_loadu_ps(v));
}

/* Prefetch distance in bytes of codes, ahead of each row's current line,
 * by row length: 6 rows ahead for rows of up to 1 KiB, 3 rows for longer
 * ones. Measured with both threads streaming a ~0.7 GB W (session 4,
 * docs/quant-kernels.md "Prefetch distance"): the best distance depends on
 * the row length, not on a byte count (one fixed distance lost up to 40% on
 * some shape), and a whole number of 4-row tiles is never the best.
 * PF_BYTES fixes a distance, for measuring. */
MOTE_INLINE size_t qi8_prefetch_distance(size_t row_bytes) {
#ifdef PF_BYTES
  (void)row_bytes;
  return PF_BYTES;
#else
  if (row_bytes < 256) return 1536; /* small W: in cache anyway */
  return row_bytes * (row_bytes >= 2048 ? 3 : 6);
#endif
}

/* NN (1..4) rows from row0 against one token's activations. */
MOTE_INLINE void qi8_tile(const int bits, const int SH, const int NN, const int8_t *xq,
                          const float *d, const float *bs, size_t K,
                          const uint8_t *row0, const uint8_t *s0, size_t ng,
                          size_t group, size_t row_bytes, const uint8_t *codes_end,
                          float *out) {
  const size_t bpc = BPC(bits), cw = 32 * bpc; /* weights per chunk */
  const size_t nch = (K + cw - 1) / cw, nfull = row_bytes / 32;
  const float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.0f;
  const __m256 offv = _mm256_set1_ps(off * (float)bpc / 8.0f); /* per lane */
  const size_t cpg = group % cw == 0 ? group / cw : 1; /* chunks per group */
  const size_t pf = qi8_prefetch_distance(row_bytes);
  size_t gi = 0, gc = 0;
  __m256 acc[4];
  for (int r = 0; r < NN; ++r) acc[r] = _mm256_setzero_ps();
  for (size_t c = 0; c < nch; ++c, gi += (++gc == cpg), gc = gc == cpg ? 0 : gc) {
    const int8_t *xc = xq + c * cw;
    const __m256 dv = expand_blocks(bits, d + c * bpc);
    const __m256 ov = bits == 8 ? _mm256_setzero_ps()
                                : _mm256_mul_ps(expand_blocks(bits, bs + c * bpc), offv);
    for (int r = 0; r < NN; ++r) {
      const uint8_t *w = row0 + (size_t)r * row_bytes + c * 32;
      /* Software prefetch pf ahead (codes are read row after row, 4 rows
       * interleaved), each line once: decode streams W from DRAM, and one
       * core's demand misses alone leave up to half the bandwidth unused
       * (measured). */
      if ((c & 1) == 0) _mm_prefetch((const char *)(w + pf), _MM_HINT_T0);
      uint8_t tail[32];
      /* The row's last, partial chunk: its bytes past the row (the next row's
       * codes) meet zero activations; only at the end of W are they copied. */
      if (c >= nfull && w + 32 > codes_end) {
        memset(tail, 0, sizeof tail);
        memcpy(tail, w, row_bytes - c * 32);
        w = tail;
      }
      __m256 is = _mm256_cvtepi32_ps(dot_chunk(bits, w, xc));
      __m256 t = bits == 8 ? _mm256_mul_ps(is, dv) : _mm256_fmsub_ps(is, dv, ov);
      const void *sr = s0 + (size_t)r * ng * (SH ? 2 : 4);
      acc[r] = _mm256_fmadd_ps(wscale(bits, SH, sr, ng, group, K, c, gi), t, acc[r]);
    }
  }
  const __m256 z = _mm256_setzero_ps();
  __m128 h = mote_hsum4(acc[0], NN > 1 ? acc[1] : z, NN > 2 ? acc[2] : z, NN > 3 ? acc[3] : z);
  _mm_storeu_ps(out, h);
}

/* A tile of rows: the 32-byte-chunk one above, or with `wide` the includer's
 * MOTE_QI8_WIDE_TILE (same parameters, 64-byte super-chunks; declared before
 * this header is included, linear_q_i8_avx512.c). */
#ifdef MOTE_QI8_WIDE_TILE
#define QI8_TILE(wide, ...) ((wide) ? MOTE_QI8_WIDE_TILE(__VA_ARGS__) : qi8_tile(__VA_ARGS__))
#else
#define QI8_TILE(wide, ...) qi8_tile(__VA_ARGS__)
#endif

MOTE_INLINE void linear_q_i8_x86(const int bits, const int SH, const int wide,
                                  const mote_act_i8_t *a,
                                  size_t T, size_t K, const uint8_t *codes,
                                  const void *scales, size_t group, size_t row_bytes,
                                  const float *bias, float *y, size_t N, size_t n_begin,
                                  size_t n_end) {
  const size_t ng = (K + group - 1) / group, kp = a->kp, nb = kp / 32;
  const size_t esz = SH ? 2 : 4; /* bytes per scale */
  const uint8_t *codes_end = codes + N * row_bytes;
  for (size_t n0 = n_begin; n0 < n_end; n0 += 4) {
    const size_t nn = n_end - n0 < 4 ? n_end - n0 : 4;
    const uint8_t *row0 = codes + n0 * row_bytes;
    const uint8_t *s0 = (const uint8_t *)scales + n0 * ng * esz;
    if (n0 + 4 <= n_end) { /* the scales as far ahead, in rows: every line of
                              * the 4 rows' scales (g32: 8 lines at K = 2048) */
      const uint8_t *sp = s0 + (qi8_prefetch_distance(row_bytes) / row_bytes + 4) * ng * esz;
      for (size_t o = 0; o < 4 * ng * esz; o += 64)
        _mm_prefetch((const char *)(sp + o), _MM_HINT_T0);
    }
    for (size_t t = 0; t < T; ++t) {
      const int8_t *xq = a->q + t * kp;
      const float *d = a->d + t * nb, *bs = a->bs + t * nb;
      float out[4];
      switch (nn) {
        case 4: QI8_TILE(wide, bits, SH, 4, xq, d, bs, K, row0, s0, ng, group, row_bytes, codes_end, out); break;
        case 3: QI8_TILE(wide, bits, SH, 3, xq, d, bs, K, row0, s0, ng, group, row_bytes, codes_end, out); break;
        case 2: QI8_TILE(wide, bits, SH, 2, xq, d, bs, K, row0, s0, ng, group, row_bytes, codes_end, out); break;
        default: QI8_TILE(wide, bits, SH, 1, xq, d, bs, K, row0, s0, ng, group, row_bytes, codes_end, out); break;
      }
      for (size_t r = 0; r < nn; ++r)
        y[t * N + n0 + r] = bias ? out[r] + bias[n0 + r] : out[r];
    }
  }
}

/* mote_linear_q<B>_i8_<SUFFIX>: the kernel-table entry (kernels.h). Shapes
 * the x86 kernels do not take (mote_linear_q_i8_ok) run the reference. */
#define MOTE_QI8_X86_ENTRY(B, SUFFIX, WIDE)                                    \
  void mote_linear_q##B##_i8_##SUFFIX(                                         \
      const mote_act_i8_t *a, size_t T, size_t K, const uint8_t *codes,        \
      const void *scales, int f16, size_t group, size_t row_bytes,             \
      const float *bias, float *y, size_t N, size_t n_begin, size_t n_end) {   \
    if (!mote_linear_q_i8_ok(K, group)) {                                      \
      mote_linear_q##B##_i8_ref(a, T, K, codes, scales, f16, group, row_bytes, \
                                bias, y, N, n_begin, n_end);                   \
      return;                                                                  \
    }                                                                          \
    if (f16)                                                                   \
      linear_q_i8_x86(B, 1, WIDE, a, T, K, codes, scales, group, row_bytes,     \
                      bias, y, N, n_begin, n_end);                             \
    else                                                                       \
      linear_q_i8_x86(B, 0, WIDE, a, T, K, codes, scales, group, row_bytes,     \
                      bias, y, N, n_begin, n_end);                             \
  }

#endif /* MOTE_LINEAR_Q_I8_X86_H */
