/* rope_tables.h: the per-row cos/sin tables every SIMD RoPE kernel uses, so
 * the ISAs share one angle computation (and so one rounding) with the
 * reference. */
#ifndef MOTE_ROPE_TABLES_H
#define MOTE_ROPE_TABLES_H

#include <math.h>
#include <stddef.h>

#include "kernels_internal.h"

#define MOTE_ROPE_MAX_HD 512 /* larger (or odd) head_dim uses the reference */

/* inv[i] = freq_i of `rope` (theta^(-2i/head_dim), scaled), i < head_dim/2. */
static inline void mote_rope_inv_table(float *inv, const mote_rope_spec_t *rope,
                                       size_t head_dim) {
  for (size_t i = 0; i < head_dim / 2; ++i) inv[i] = mote_rope_inv_freq(rope, i, head_dim);
}

/* Multipliers for one position: y = x*a + swap(x)*b, where swap exchanges
 * the two members of each rotated pair. style 0 (pairs 2i, 2i+1): a and b
 * interleaved per pair, with -sin on the first member; style 1 (i, i+hd/2):
 * a = cos, b = sin over the first half (the kernel applies the signs). */
static inline void mote_rope_row_table(float *a, float *b, const float *inv, float p,
                                       size_t head_dim, int style) {
  for (size_t i = 0; i < head_dim / 2; ++i) {
    float angle = p * inv[i]; /* same f32 angle as the reference */
    float c = cosf(angle), s = sinf(angle);
    if (style == 0) {
      a[2 * i] = a[2 * i + 1] = c;
      b[2 * i] = -s;
      b[2 * i + 1] = s;
    } else {
      a[i] = c;
      b[i] = s;
    }
  }
}

#endif /* MOTE_ROPE_TABLES_H */
