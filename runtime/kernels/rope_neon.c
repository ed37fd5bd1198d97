/* NEON rope_f32: cos/sin once per row (shared by all heads), rotation vectorized. */
#include "kernels_internal.h"
#include "rope_tables.h"

#if defined(MOTE_HAVE_NEON)
#include "neon_util.h"

#define MAX_HD MOTE_ROPE_MAX_HD

/* Rotate-half (style 1): y0 = x0 c - x1 s, y1 = x1 c + x0 s over i < hd/2. */
static void rope_half(const float *x, float *y, size_t hd, const float *c,
                      const float *s) {
  size_t half = hd / 2;
  for (size_t i = 0; i < half; i += 4) {
    size_t n = half - i;
    float32x4_t x0 = mote_load_n(x + i, n), x1 = mote_load_n(x + half + i, n);
    float32x4_t cv = mote_load_n(c + i, n), sv = mote_load_n(s + i, n);
    float32x4_t y0 = vfmsq_f32(vmulq_f32(x0, cv), x1, sv);
    float32x4_t y1 = vfmaq_f32(vmulq_f32(x1, cv), x0, sv);
    mote_store_n(y + i, y0, n);
    mote_store_n(y + half + i, y1, n);
  }
}

/* Interleaved pairs (style 0): with cc = (c,c) and sn = (-s,s) per pair,
 * y = x cc + swap(x) sn; vrev64q swaps the two lanes of each pair. */
static void rope_pairs(const float *x, float *y, size_t hd, const float *cc,
                       const float *sn) {
  for (size_t d = 0; d < hd; d += 4) {
    size_t n = hd - d;
    float32x4_t xv = mote_load_n(x + d, n);
    float32x4_t sw = vrev64q_f32(xv); /* (b0 a0 b1 a1) */
    float32x4_t r = vfmaq_f32(vmulq_f32(xv, mote_load_n(cc + d, n)), sw,
                              mote_load_n(sn + d, n));
    mote_store_n(y + d, r, n);
  }
}

void mote_rope_f32_neon(const float *x, float *y, const int32_t *pos, size_t H,
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
typedef int mote_rope_neon_unused_t; /* not an AArch64 build */
#endif
