/* AVX2+FMA rope_f32: cos/sin once per row (shared by all heads), rotation vectorized. */
#include "kernels_internal.h"
#include "rope_tables.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile *_avx2.c with -mavx2 -mfma -mf16c"
#endif
#include "avx2_util.h"

#define MAX_HD MOTE_ROPE_MAX_HD

MOTE_INLINE __m256 load_n(const float *p, size_t n) {
  return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mote_tail_mask(n));
}
MOTE_INLINE void store_n(float *p, __m256 v, size_t n) {
  if (n >= 8) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, mote_tail_mask(n), v);
}

/* Rotate-half (style 1): y0 = x0 c - x1 s, y1 = x1 c + x0 s over i < hd/2. */
static void rope_half(const float *x, float *y, size_t hd, const float *c,
                      const float *s) {
  size_t half = hd / 2;
  for (size_t i = 0; i < half; i += 8) {
    size_t n = half - i;
    __m256 x0 = load_n(x + i, n), x1 = load_n(x + half + i, n);
    __m256 cv = load_n(c + i, n), sv = load_n(s + i, n);
    __m256 y0 = _mm256_fmsub_ps(x0, cv, _mm256_mul_ps(x1, sv));
    __m256 y1 = _mm256_fmadd_ps(x1, cv, _mm256_mul_ps(x0, sv));
    store_n(y + i, y0, n);
    store_n(y + half + i, y1, n);
  }
}

/* Interleaved pairs (style 0): with cc = (c,c) and sn = (-s,s) per pair,
 * y = x cc + swap(x) sn. */
static void rope_pairs(const float *x, float *y, size_t hd, const float *cc,
                       const float *sn) {
  for (size_t d = 0; d < hd; d += 8) {
    size_t n = hd - d;
    __m256 xv = load_n(x + d, n);
    __m256 sw = _mm256_permute_ps(xv, 0xB1); /* (b0 a0 b1 a1 ...) */
    __m256 r = _mm256_fmadd_ps(xv, load_n(cc + d, n),
                               _mm256_mul_ps(sw, load_n(sn + d, n)));
    store_n(y + d, r, n);
  }
}

void mote_rope_f32_avx2(const float *x, float *y, const int32_t *pos, size_t H,
                        size_t head_dim, int style, const mote_rope_spec_t *rope,
                        size_t t_begin, size_t t_end) {
  if (head_dim > MAX_HD || head_dim % 2) {
    mote_rope_f32_ref(x, y, pos, H, head_dim, style, rope, t_begin, t_end);
    return;
  }
  float inv[MAX_HD / 2], a[MAX_HD], b[MAX_HD];
  mote_rope_inv_table(inv, rope, head_dim);
  for (size_t t = t_begin; t < t_end; ++t) {
    mote_rope_row_table(a, b, inv, (float)pos[t], head_dim, style);
    for (size_t h = 0; h < H; ++h) {
      size_t off = (t * H + h) * head_dim;
      if (style == 0) rope_pairs(x + off, y + off, head_dim, a, b);
      else rope_half(x + off, y + off, head_dim, a, b);
    }
  }
}

#else
typedef int mote_rope_avx2_unused_t; /* not an x86-64 build */
#endif
