/* lora_kernels.h: the LoRA up-projection (docs/lora.md). Kept out of the
 * mote_kernels_t table: the executor picks the variant for the session's ISA
 * with mote_lora_b_f32_for(isa). */
#ifndef MOTE_LORA_KERNELS_H
#define MOTE_LORA_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[t*N + n] += sum_k tmp[t*r + k] * bt[k*N + n] for t in [0,T), n in
 * [n_begin, n_end): the adapter's B (N x r) applied from its transpose bt
 * (r x N), so every k is one contiguous row (no horizontal sums). Sums in k
 * order. Never allocates; touches only y's columns [n_begin, n_end). */
typedef void (*mote_lora_b_f32_fn)(const float *tmp, size_t T, size_t r, const float *bt,
                                   float *y, size_t N, size_t n_begin, size_t n_end);

void mote_lora_b_f32_ref(const float *tmp, size_t T, size_t r, const float *bt, float *y,
                         size_t N, size_t n_begin, size_t n_end);
#if defined(MOTE_HAVE_AVX2)
void mote_lora_b_f32_avx2(const float *tmp, size_t T, size_t r, const float *bt, float *y,
                          size_t N, size_t n_begin, size_t n_end);
#endif

/* The kernel for a kernel table's isa ("avx2" when compiled in; else ref). */
mote_lora_b_f32_fn mote_lora_b_f32_for(const char *isa);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_LORA_KERNELS_H */
