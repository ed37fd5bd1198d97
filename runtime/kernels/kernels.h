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

/* RoPE frequencies (docs/dialect.md, mote.rope): base_i = theta^(-2i/hd);
 * scaling 0: base_i; 1 ("linear"): base_i / factor; 2 ("llama3"): base_i
 * where its wavelength 2*pi/base_i < original_max_pos / high_freq_factor,
 * base_i / factor where it is > original_max_pos / low_freq_factor, and in
 * between (1 - m) * base_i / factor + m * base_i with m =
 * (original_max_pos / wavelength - low) / (high - low). */
enum { MOTE_ROPE_PLAIN = 0, MOTE_ROPE_LINEAR = 1, MOTE_ROPE_LLAMA3 = 2 };
typedef struct mote_rope_spec {
  float theta;
  int32_t scaling; /* MOTE_ROPE_* */
  float factor, low_freq_factor, high_freq_factor, original_max_pos;
} mote_rope_spec_t;

/* Rotary embedding of T rows of H heads of head_dim; row t uses position
 * pos[t]. style 0: pairs (2i, 2i+1) (llama2.c); style 1: pairs (i, i+hd/2)
 * (Hugging Face rotate-half). Angle = pos * freq_i of `rope`. y may equal x.
 * Range over rows. */
typedef void (*mote_rope_f32_fn)(const float *x, float *y, const int32_t *pos,
                                 size_t H, size_t head_dim, int style,
                                 const mote_rope_spec_t *rope, size_t t_begin,
                                 size_t t_end);

/* Causal attention of T query rows over a KV cache.
 * q: (T, Hq*hd); out: (T, Hq*hd). kc, vc: the hd floats of position p, KV
 * head g start at p * kv_row + g * kv_head: (C, Hkv*hd) rows when kv_row =
 * Hkv*hd, kv_head = hd; head-major (Hkv, C, hd), the runtime's own f32 cache
 * (each head's keys contiguous), when kv_row = hd, kv_head = C*hd.
 * Row t, head h reads kv head h / (Hq/Hkv) over cache rows 0..pos[t].
 * scores: scratch of at least MOTE_ATTENTION_HEADS * (pos_max+1) floats per
 * call of this function (the executor gives each thread its own): a kernel
 * may score up to that many heads of one KV group at once. Range over heads
 * [h_begin,h_end), all rows t; results do not depend on the range. */
#define MOTE_ATTENTION_HEADS 4
typedef void (*mote_attention_f32_fn)(const float *q, const float *kc,
                                      const float *vc, size_t kv_row,
                                      size_t kv_head, const int32_t *pos,
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
 * may be partial). The bit width is in the kernel's name. scales: the
 * bundle's own bytes, f32, or IEEE half when scales_f16 (widened in
 * registers; nothing keeps an f32 copy). */
typedef void (*mote_linear_q_f32_fn)(const float *x, size_t T, size_t K,
                                     const uint8_t *codes, const void *scales,
                                     int scales_f16, size_t group,
                                     size_t row_bytes, const float *bias,
                                     float *y, size_t N, size_t n_begin,
                                     size_t n_end);

/* Dequantizes row `row` of a packed (N, K) weight (layout and scales as
 * above, bits 2, 4 or 8) into out[0..K): the EMBEDDING of a quantized table. */
void mote_dequant_row_q(unsigned bits, const uint8_t *codes, const void *scales,
                        int scales_f16, size_t K, size_t group,
                        size_t row_bytes, size_t row, float *out);

/* int8 activations (issue 4, docs/quant-kernels.md "int8 activations"): T rows
 * of K f32 activations quantized per block of 32 (natural order k): d[b] =
 * max|x| / 127, code = round-to-nearest-even(x * (127 / max|x|)) in
 * [-127, 127], bs[b] = d[b] * (sum of the block's codes). Each row has kp =
 * mote_act_i8_kp(K) codes (a multiple of 128; blocks past K are 0, d = bs =
 * 0) stored in the plane order of the weight width `bits`: weight k = 128c +
 * 4i + j (2-bit) is at 128c + 32j + i, k = 64c + 2i + j (4-bit) at 64c + 32j
 * + i, 8-bit in order -- so plane j of 32 packed bytes meets 32 consecutive
 * activation codes. */
typedef struct mote_act_i8 {
  int8_t *q;  /* (T, kp) */
  float *d;   /* (T, kp/32) */
  float *bs;  /* (T, kp/32) */
  size_t kp;
} mote_act_i8_t;

static inline size_t mote_act_i8_kp(size_t K) { return (K + 127) / 128 * 128; }

/* Whether the int8-activation kernels take group size G for rows of K: every
 * 32-block must lie in one weight group (G a multiple of 32, or G >= K). */
static inline int mote_linear_q_i8_ok(size_t K, size_t group) {
  return group > 0 && (group % 32 == 0 || group >= K);
}

/* Quantizes rows [t_begin, t_end) of x (T, K) into a (layout for `bits`). */
typedef void (*mote_quantize_act_i8_fn)(unsigned bits, const float *x, size_t K,
                                        const mote_act_i8_t *a, size_t t_begin,
                                        size_t t_end);

/* Like mote_linear_q_f32_fn with the activations quantized by
 * linear_qact_i8 for this width (integer dot products per 32-block): y[t*N +
 * n] = sum_b s[n, g(b)] * (d[b] * sum(c*q) - off * bs[b]) (+ bias[n]), off =
 * 1.5 / 7.5 / 0 for 2 / 4 / 8 bits. Needs mote_linear_q_i8_ok(K, group).
 * scales: f32, or IEEE half (the bundle's own bytes) when scales_f16. */
typedef void (*mote_linear_q_i8_fn)(const mote_act_i8_t *a, size_t T, size_t K,
                                    const uint8_t *codes, const void *scales,
                                    int scales_f16, size_t group, size_t row_bytes,
                                    const float *bias, float *y, size_t N,
                                    size_t n_begin, size_t n_end);

/* IEEE half -> f32, exact and portable (no F16C needed). */
static inline float mote_half_to_float(uint16_t h) {
  union { uint32_t u; float f; } v;
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) { /* zero or subnormal: m * 2^-24 */
    v.f = (float)m * (1.0f / 16777216.0f);
    v.u |= sign;
  } else if (e == 31) {
    v.u = sign | 0x7f800000u | (m << 13);
  } else {
    v.u = sign | ((e - 15u + 127u) << 23) | (m << 13);
  }
  return v.f;
}

/* linear_f32 with W stored as IEEE half (--weights f16): y[t*N + n] =
 * dot(x[t*K ..], f32(w[n*K ..])) (+ bias[n]), n in [n_begin, n_end). */
typedef void (*mote_linear_f16_fn)(const float *x, size_t T, size_t K,
                                   const uint16_t *w, const float *bias,
                                   float *y, size_t N, size_t n_begin,
                                   size_t n_end);

/* The 8-bit KV cache (motec --kv-dtype q8, docs/quantization.md): like
 * mote_attention_f32_fn over int8 codes kc, vc with f32 scales ks, vs, one
 * per (row, KV head). The codes are laid out as the f32 cache is, by kv_row
 * and kv_head (elements); the scales the same way with one element per
 * head_dim codes: element d of kv head g in cache row j is
 * ks[(j*kv_row + g*kv_head) / hd] * kc[j*kv_row + g*kv_head + d] (V
 * likewise). Rows (C, Hkv*hd) + scales (C, Hkv): kv_row = Hkv*hd, kv_head =
 * hd; the runtime's head-major (Hkv, C, hd) + (Hkv, C): kv_row = hd,
 * kv_head = C*hd. scores: as mote_attention_f32_fn's (MOTE_ATTENTION_HEADS *
 * (max pos + 1) floats). kvbuf: NULL, or scratch of 2 * (max pos + 1) *
 * head_dim floats in which a kernel may widen a KV head's rows to f32 once
 * for all its query heads and rows instead of per head and row. */
typedef void (*mote_attention_q8_f32_fn)(const float *q, const int8_t *kc,
                                         const float *ks, const int8_t *vc,
                                         const float *vs, size_t kv_row,
                                         size_t kv_head, const int32_t *pos,
                                         float *out, size_t T, size_t Hq,
                                         size_t Hkv, size_t head_dim, float scale,
                                         float *scores, float *kvbuf,
                                         size_t h_begin, size_t h_end);

/* Quantizes one cache row x[0..W) into codes[0..W) and scales[0..W/group):
 * per group of `group` columns s = max|x|/127 (f32), code = round half to
 * even of x/s clamped to [-127, 127] (s = 0, codes 0 for a zero group).
 * Portable C, the same bytes on every ISA. */
void mote_kv_quant_row_q8(const float *x, size_t W, size_t group, int8_t *codes,
                          float *scales);

/* LoRA up-projection (docs/lora.md): y[t*N + n] += sum_k tmp[t*r + k] *
 * bt[k*N + n] for t in [0,T), n in [n_begin, n_end): the adapter's B (N x r)
 * applied from its transpose bt (r x N), so every k is one contiguous row.
 * Sums in k order; touches only y's columns [n_begin, n_end). */
typedef void (*mote_lora_b_f32_fn)(const float *tmp, size_t T, size_t r, const float *bt,
                                   float *y, size_t N, size_t n_begin, size_t n_end);

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
  /* int8 activations (issue 4); a table without its own points at _ref. */
  mote_quantize_act_i8_fn linear_qact_i8;
  mote_linear_q_i8_fn linear_q2_i8;
  mote_linear_q_i8_fn linear_q4_i8;
  mote_linear_q_i8_fn linear_q8_i8;
  /* f16 weights, f32 activations (--weights f16); NULL: the _ref one. */
  mote_linear_f16_fn linear_f16;
  /* From this many rows up a quantized linear with int8 activations runs
   * the f32-activation kernels instead (measured per ISA; 0 = never). */
  uint32_t q_f32_min_rows;
  /* Widths exempt from q_f32_min_rows (bit b set: b-bit weights keep the
   * int8 kernels at every row count; measured per ISA). */
  uint32_t q_i8_rows_bits;
  /* LoRA up-projection (issue 6); NULL: the _ref one. */
  mote_lora_b_f32_fn lora_b_f32;
  /* 8-bit KV cache attention; NULL: the _ref one. */
  mote_attention_q8_f32_fn attention_q8_f32;
} mote_kernels_t;

/* The portable scalar reference table; always available. */
const mote_kernels_t *mote_kernels_ref(void);
/* The AVX2+FMA table, or NULL when not compiled in or the CPU lacks it. */
const mote_kernels_t *mote_kernels_avx2(void);
/* The AVX2 table with AVX-VNNI (vpdpbusd) int8-activation kernels, or NULL
 * when not compiled in or the CPU lacks AVX-VNNI. */
const mote_kernels_t *mote_kernels_avxvnni(void);
/* The AVX2 table with AVX-512 VNNI int8-activation kernels (and their
 * activation quantizer), or NULL when not compiled in or the CPU (or OS)
 * lacks AVX-512 F/BW/VL/VNNI. */
const mote_kernels_t *mote_kernels_avx512vnni(void);
/* The AArch64 NEON table (NEON is mandatory there), or NULL elsewhere. */
const mote_kernels_t *mote_kernels_neon(void);
/* Best table for this CPU: AVX-512 VNNI, AVX-VNNI, AVX2, NEON, reference, the
 * first there is. MOTE_ISA=<isa> in the environment picks the table of that
 * name instead when this CPU has it ("ref", "avx2", "avxvnni", "avx512vnni",
 * "neon"): tests, debugging, one ISA against another. */
const mote_kernels_t *mote_kernels_best(void);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_KERNELS_H */
