/* lora_kernels.h: the per-ISA LoRA up-projection kernels behind the
 * mote_kernels_t field lora_b_f32 (contract in kernels.h). */
#ifndef MOTE_LORA_KERNELS_H
#define MOTE_LORA_KERNELS_H

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

void mote_lora_b_f32_ref(const float *tmp, size_t T, size_t r, const float *bt, float *y,
                         size_t N, size_t n_begin, size_t n_end);
#if defined(MOTE_HAVE_AVX2)
void mote_lora_b_f32_avx2(const float *tmp, size_t T, size_t r, const float *bt, float *y,
                          size_t N, size_t n_begin, size_t n_end);
#endif
#if defined(MOTE_HAVE_NEON)
void mote_lora_b_f32_neon(const float *tmp, size_t T, size_t r, const float *bt, float *y,
                          size_t N, size_t n_begin, size_t n_end);
#endif

#ifdef __cplusplus
}
#endif

#endif /* MOTE_LORA_KERNELS_H */
