/* Per-ISA kernel entry points behind the mote_kernels_t tables (internal). */
#ifndef MOTE_KERNELS_INTERNAL_H
#define MOTE_KERNELS_INTERNAL_H

#include <math.h>

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every ISA file set defines the same names with its own suffix, so a new ISA
 * (neon, later) is one more MOTE_DECLARE_KERNELS line plus its files; a kernel
 * an ISA lacks points at the _ref one in dispatch.c. */
#define MOTE_DECLARE_KERNELS(isa)                                              \
  void mote_linear_f32_##isa(const float *x, size_t T, size_t K,               \
                             const float *w, const float *bias, float *y,      \
                             size_t N, size_t n_begin, size_t n_end);          \
  void mote_rms_norm_f32_##isa(const float *x, const float *w, float *y,       \
                               size_t D, float eps, size_t t_begin,            \
                               size_t t_end);                                  \
  void mote_rope_f32_##isa(const float *x, float *y, const int32_t *pos,       \
                           size_t H, size_t head_dim, int style,               \
                           const mote_rope_spec_t *rope, size_t t_begin,       \
                           size_t t_end);                      \
  void mote_attention_f32_##isa(const float *q, const float *kc,               \
                                const float *vc, size_t kv_row,                \
                                size_t kv_head, const int32_t *pos,            \
                                float *out, size_t T, size_t Hq, size_t Hkv,   \
                                size_t head_dim, float scale, float *scores,   \
                                size_t h_begin, size_t h_end);                 \
  void mote_swiglu_f32_##isa(const float *g, const float *u, float *out,       \
                             size_t begin, size_t end);                        \
  void mote_add_f32_##isa(const float *a, const float *b, float *out,          \
                          size_t begin, size_t end);

MOTE_DECLARE_KERNELS(ref)

/* f16-weight linear, per ISA (signature of mote_linear_f16_fn). */
void mote_linear_f16_ref(const float *x, size_t T, size_t K, const uint16_t *w,
                         const float *bias, float *y, size_t N, size_t n_begin,
                         size_t n_end);
#if defined(MOTE_HAVE_AVX2)
void mote_linear_f16_avx2(const float *x, size_t T, size_t K, const uint16_t *w,
                          const float *bias, float *y, size_t N, size_t n_begin,
                          size_t n_end);
#endif
#if defined(MOTE_HAVE_NEON)
void mote_linear_f16_neon(const float *x, size_t T, size_t K, const uint16_t *w,
                          const float *bias, float *y, size_t N, size_t n_begin,
                          size_t n_end);
#endif

/* 8-bit KV cache attention, per ISA (signature of mote_attention_q8_f32_fn). */
#define MOTE_DECLARE_KVQ8KERNELS(isa)                                          \
  void mote_attention_q8_f32_##isa(const float *q, const int8_t *kc,           \
                                   const float *ks, const int8_t *vc,          \
                                   const float *vs, size_t kv_row,             \
                                   size_t kv_head, const int32_t *pos,         \
                                   float *out, size_t T, size_t Hq, size_t Hkv, \
                                   size_t head_dim, float scale, float *scores, \
                                   float *kvbuf, size_t h_begin, size_t h_end);
MOTE_DECLARE_KVQ8KERNELS(ref)
#if defined(MOTE_HAVE_AVX2)
MOTE_DECLARE_KVQ8KERNELS(avx2)
#endif
#if defined(MOTE_HAVE_NEON)
MOTE_DECLARE_KVQ8KERNELS(neon)
#endif

/* Quantized linear kernels (issue 4), per ISA; signature of
 * mote_linear_q_f32_fn. */
#define MOTE_DECLARE_QKERNELS(isa)                                             \
  void mote_linear_q2_f32_##isa(const float *x, size_t T, size_t K,            \
                                const uint8_t *codes, const void *scales,      \
                                int scales_f16, size_t group,                  \
                                size_t row_bytes, const float *bias, float *y, \
                                size_t N, size_t n_begin, size_t n_end);       \
  void mote_linear_q4_f32_##isa(const float *x, size_t T, size_t K,            \
                                const uint8_t *codes, const void *scales,      \
                                int scales_f16, size_t group,                  \
                                size_t row_bytes, const float *bias, float *y, \
                                size_t N, size_t n_begin, size_t n_end);       \
  void mote_linear_q8_f32_##isa(const float *x, size_t T, size_t K,            \
                                const uint8_t *codes, const void *scales,      \
                                int scales_f16, size_t group,                  \
                                size_t row_bytes, const float *bias, float *y, \
                                size_t N, size_t n_begin, size_t n_end);

MOTE_DECLARE_QKERNELS(ref)
#if defined(MOTE_HAVE_AVX2)
MOTE_DECLARE_QKERNELS(avx2)
#endif
#if defined(MOTE_HAVE_NEON)
MOTE_DECLARE_QKERNELS(neon)
#endif

/* int8-activation kernels (issue 4), per ISA (linear_q_i8_*.c). */
#define MOTE_DECLARE_QI8KERNELS(isa)                                           \
  void mote_linear_qact_i8_##isa(unsigned bits, const float *x, size_t K,      \
                                 const mote_act_i8_t *a, size_t t_begin,       \
                                 size_t t_end);                                \
  void mote_linear_q2_i8_##isa(const mote_act_i8_t *a, size_t T, size_t K,     \
                               const uint8_t *codes, const void *scales,       \
                               int scales_f16, size_t group, size_t row_bytes, \
                               const float *bias, float *y, size_t N,          \
                               size_t n_begin, size_t n_end);                  \
  void mote_linear_q4_i8_##isa(const mote_act_i8_t *a, size_t T, size_t K,     \
                               const uint8_t *codes, const void *scales,       \
                               int scales_f16, size_t group, size_t row_bytes, \
                               const float *bias, float *y, size_t N,          \
                               size_t n_begin, size_t n_end);                  \
  void mote_linear_q8_i8_##isa(const mote_act_i8_t *a, size_t T, size_t K,     \
                               const uint8_t *codes, const void *scales,       \
                               int scales_f16, size_t group, size_t row_bytes, \
                               const float *bias, float *y, size_t N,          \
                               size_t n_begin, size_t n_end);

MOTE_DECLARE_QI8KERNELS(ref)
#if defined(MOTE_HAVE_AVX2)
MOTE_DECLARE_QI8KERNELS(avx2)
#endif
#if defined(MOTE_HAVE_AVXVNNI)
/* AVX-VNNI (vpdpbusd) versions; only called when the CPU has AVX-VNNI
 * (dispatch.c). No quantizer of their own: the AVX2 one. */
void mote_linear_q2_i8_avxvnni(const mote_act_i8_t *a, size_t T, size_t K,
                               const uint8_t *codes, const void *scales, int scales_f16,
                               size_t group, size_t row_bytes, const float *bias,
                               float *y, size_t N, size_t n_begin, size_t n_end);
void mote_linear_q4_i8_avxvnni(const mote_act_i8_t *a, size_t T, size_t K,
                               const uint8_t *codes, const void *scales, int scales_f16,
                               size_t group, size_t row_bytes, const float *bias,
                               float *y, size_t N, size_t n_begin, size_t n_end);
void mote_linear_q8_i8_avxvnni(const mote_act_i8_t *a, size_t T, size_t K,
                               const uint8_t *codes, const void *scales, int scales_f16,
                               size_t group, size_t row_bytes, const float *bias,
                               float *y, size_t N, size_t n_begin, size_t n_end);
#endif
#if defined(MOTE_HAVE_AVX512VNNI)
/* AVX-512 VNNI versions, with their own activation layout (64-byte planes,
 * linear_q_i8_avx512.c); only called when the CPU has AVX-512 F/BW/VL/VNNI. */
MOTE_DECLARE_QI8KERNELS(avx512)
#endif
#if defined(MOTE_HAVE_NEON)
/* AArch64 dot-product (sdot) versions; only called when the CPU has
 * HWCAP_ASIMDDP (dispatch.c). */
MOTE_DECLARE_QI8KERNELS(dotprod)
/* Nonzero when the CPU has the dot-product instructions. */
int mote_cpu_has_dotprod(void);
#endif

#if defined(MOTE_HAVE_AVX2)
MOTE_DECLARE_KERNELS(avx2)
/* out[i] = exp(in[i]) with the vectorized exp the AVX2 kernels use; exposed
 * so tests can bound its error against expf. */
void mote_exp_f32_avx2(const float *in, float *out, size_t n);
#endif

#if defined(MOTE_HAVE_NEON)
MOTE_DECLARE_KERNELS(neon)
/* out[i] = exp(in[i]) with the NEON kernels' vectorized exp (for tests). */
void mote_exp_f32_neon(const float *in, float *out, size_t n);
#endif

/* RoPE inverse frequency of pair i, computed like the PyTorch reference
 * (f32 pow, then f32 reciprocal) so every ISA rotates by the same angles. */
static inline float mote_rope_inv_freq(const mote_rope_spec_t *r, size_t i,
                                       size_t head_dim) {
  float expo = (float)(2 * i) / (float)head_dim;
  float base = 1.0f / powf(r->theta, expo);
  if (r->scaling == MOTE_ROPE_LINEAR) return base / r->factor;
  if (r->scaling != MOTE_ROPE_LLAMA3) return base;
  float wavelen = 6.28318530717958647692f / base;
  if (wavelen < r->original_max_pos / r->high_freq_factor) return base;
  if (wavelen > r->original_max_pos / r->low_freq_factor) return base / r->factor;
  float m = (r->original_max_pos / wavelen - r->low_freq_factor) /
            (r->high_freq_factor - r->low_freq_factor);
  /* (1 - m) * base / factor + m * base, written without a multiply-add so
   * FMA contraction cannot make the ISAs' tables differ. */
  return base * ((1.0f - m) / r->factor + m);
}

#ifdef __cplusplus
}
#endif

#endif /* MOTE_KERNELS_INTERNAL_H */
