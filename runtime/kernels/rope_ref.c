/* Scalar reference for rope_f32 (llama2.c pairs and Hugging Face rotate-half). */
#include "kernels_internal.h"

/* Rotates one head in place-safe order: each pair is read before written. */
static void rope_head(const float *x, float *y, size_t head_dim, int style,
                      const mote_rope_spec_t *rope, float p) {
  size_t half = head_dim / 2;
  for (size_t i = 0; i < half; ++i) {
    /* f32 angle like the PyTorch reference: pos * inv_freq, then cos/sin. */
    float angle = p * mote_rope_inv_freq(rope, i, head_dim);
    float c = cosf(angle), s = sinf(angle);
    size_t i0 = style == 0 ? 2 * i : i;
    size_t i1 = style == 0 ? 2 * i + 1 : i + half;
    float x0 = x[i0], x1 = x[i1];
    y[i0] = x0 * c - x1 * s;
    y[i1] = x1 * c + x0 * s;
  }
  if (head_dim % 2 && x != y) y[head_dim - 1] = x[head_dim - 1];
}

void mote_rope_f32_ref(const float *x, float *y, const int32_t *pos, size_t H,
                       size_t head_dim, int style, const mote_rope_spec_t *rope,
                       size_t t_begin, size_t t_end) {
  for (size_t t = t_begin; t < t_end; ++t) {
    float p = (float)pos[t];
    for (size_t h = 0; h < H; ++h) {
      size_t off = (t * H + h) * head_dim; /* row t, head h of (T, H*hd) */
      rope_head(x + off, y + off, head_dim, style, rope, p);
    }
  }
}
