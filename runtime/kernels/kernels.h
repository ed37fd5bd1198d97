/* Mote CPU kernels: one table of function pointers per ISA, chosen at run time. */
#ifndef MOTE_KERNELS_H
#define MOTE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every kernel takes a half-open work range [begin, end) over its natural
 * parallel axis (output features, heads, rows) so the executor can split one
 * call across threads; begin=0, end=full runs it whole. Kernels never
 * allocate, never fail, and read/write only the ranges they are given.
 * All tensors are row-major, f32, contiguous. */

/* y[t*N + n] = dot(x[t*K ..], w[n*K ..]) (+ bias[n] when bias != NULL)
 * for t in [0,T), n in [n_begin, n_end). */
typedef void (*mote_linear_f32_fn)(const float *x, size_t T, size_t K,
                                   const float *w, const float *bias,
                                   float *y, size_t N,
                                   size_t n_begin, size_t n_end);

/* y[t,:] = x[t,:] / sqrt(mean(x[t,:]^2) + eps) * w, for t in [t_begin,t_end).
 * y may equal x. */
typedef void (*mote_rms_norm_f32_fn)(const float *x, const float *w, float *y,
                                     size_t D, float eps,
                                     size_t t_begin, size_t t_end);

/* Rotary embedding of T rows of H heads of head_dim; row t uses position
 * pos[t]. style 0: pairs (2i, 2i+1) (llama2.c); style 1: pairs (i, i+hd/2)
 * (Hugging Face rotate-half). freq_i = theta^(-2i/head_dim). y may equal x.
 * Range over rows. */
typedef void (*mote_rope_f32_fn)(const float *x, float *y, const int32_t *pos,
                                 size_t H, size_t head_dim, int style,
                                 float theta, size_t t_begin, size_t t_end);

/* Causal attention of T query rows over a KV cache.
 * q: (T, Hq*hd); kc, vc: (C, Hkv*hd) cache rows; out: (T, Hq*hd).
 * Row t, head h reads kv head h / (Hq/Hkv) over cache rows 0..pos[t].
 * scores: scratch of at least (pos_max+1) floats per call of this function
 * (the executor gives each thread its own). Range over heads [h_begin,h_end),
 * all rows t. */
typedef void (*mote_attention_f32_fn)(const float *q, const float *kc,
                                      const float *vc, const int32_t *pos,
                                      float *out, size_t T, size_t Hq,
                                      size_t Hkv, size_t head_dim, float scale,
                                      float *scores, size_t h_begin,
                                      size_t h_end);

/* out[i] = silu(g[i]) * u[i], i in [begin,end). out may equal g or u. */
typedef void (*mote_swiglu_f32_fn)(const float *g, const float *u, float *out,
                                   size_t begin, size_t end);

/* out[i] = a[i] + b[i], i in [begin,end). out may equal a or b. */
typedef void (*mote_add_f32_fn)(const float *a, const float *b, float *out,
                                size_t begin, size_t end);

/* Quantized-weight linear (issue 4): y[t*N + n] = dot(x[t*K ..], Wq[n, :])
 * (+ bias[n]) for t in [0,T), n in [n_begin, n_end), where row n of W is
 * packed at codes + n*row_bytes (row_bytes = ceil(K/32)*32*bits/8), weight k
 * in byte k*bits/8 at bit (k % (8/bits))*bits, LSB first, and dequantizes as
 * s*(c - 1.5) (2-bit), s*(c - 7.5) (4-bit), s*(int8)c (8-bit) with
 * s = scales[n*ceil(K/group) + k/group] (group > 0; the last group of a row
 * may be partial). The bit width is in the kernel's name. */
typedef void (*mote_linear_q_f32_fn)(const float *x, size_t T, size_t K,
                                     const uint8_t *codes, const float *scales,
                                     size_t group, size_t row_bytes,
                                     const float *bias, float *y, size_t N,
                                     size_t n_begin, size_t n_end);

/* Dequantizes row `row` of a packed (N, K) weight (layout as above, bits 2, 4
 * or 8) into out[0..K): the EMBEDDING of a quantized table. */
void mote_dequant_row_q(unsigned bits, const uint8_t *codes,
                        const float *scales, size_t K, size_t group,
                        size_t row_bytes, size_t row, float *out);

typedef struct mote_kernels {
  const char *isa; /* "ref", "avx2", "neon" */
  mote_linear_f32_fn linear_f32;
  mote_rms_norm_f32_fn rms_norm_f32;
  mote_rope_f32_fn rope_f32;
  mote_attention_f32_fn attention_f32;
  mote_swiglu_f32_fn swiglu_f32;
  mote_add_f32_fn add_f32;
  /* Quantized weights (issue 4); a table without its own points at _ref. */
  mote_linear_q_f32_fn linear_q2_f32;
  mote_linear_q_f32_fn linear_q4_f32;
  mote_linear_q_f32_fn linear_q8_f32;
} mote_kernels_t;

/* The portable scalar reference table; always available. */
const mote_kernels_t *mote_kernels_ref(void);
/* The AVX2+FMA table, or NULL when not compiled in or the CPU lacks it. */
const mote_kernels_t *mote_kernels_avx2(void);
/* The AArch64 NEON table (NEON is mandatory there), or NULL elsewhere. */
const mote_kernels_t *mote_kernels_neon(void);
/* Best table for this CPU. MOTE_ISA=ref in the environment forces the
 * reference (tests, debugging). */
const mote_kernels_t *mote_kernels_best(void);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_KERNELS_H */
