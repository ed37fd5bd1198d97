/* Kernel table selection: scalar reference, AVX2+FMA (x86-64), chosen per CPU. */
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"
#include "lora_kernels.h"

/* ---------------------------------------------------------------- generic */

static const mote_kernels_t kRef = {
    .isa = "ref",
    .linear_f32 = mote_linear_f32_ref,
    .rms_norm_f32 = mote_rms_norm_f32_ref,
    .rope_f32 = mote_rope_f32_ref,
    .attention_f32 = mote_attention_f32_ref,
    .swiglu_f32 = mote_swiglu_f32_ref,
    .add_f32 = mote_add_f32_ref,
    .linear_q2_f32 = mote_linear_q2_f32_ref,
    .linear_q4_f32 = mote_linear_q4_f32_ref,
    .linear_q8_f32 = mote_linear_q8_f32_ref,
    .linear_qact_i8 = mote_linear_qact_i8_ref,
    .linear_q2_i8 = mote_linear_q2_i8_ref,
    .linear_q4_i8 = mote_linear_q4_i8_ref,
    .linear_q8_i8 = mote_linear_q8_i8_ref,
    .linear_f16 = mote_linear_f16_ref,
    .lora_b_f32 = mote_lora_b_f32_ref,
    .attention_q8_f32 = mote_attention_q8_f32_ref,
};

const mote_kernels_t *mote_kernels_ref(void) { return &kRef; }

/* ----------------------------------------------------------------- x86-64 */

#if defined(MOTE_HAVE_AVX2)
#include <cpuid.h>

/* Designated fields: a field added to mote_kernels_t later is NULL here, and
 * the executor then runs its _ref kernel. */
static const mote_kernels_t kAvx2 = {
    .isa = "avx2",
    .linear_f32 = mote_linear_f32_avx2,
    .rms_norm_f32 = mote_rms_norm_f32_avx2,
    .rope_f32 = mote_rope_f32_avx2,
    .attention_f32 = mote_attention_f32_avx2,
    .swiglu_f32 = mote_swiglu_f32_avx2,
    .add_f32 = mote_add_f32_avx2,
    .linear_q2_f32 = mote_linear_q2_f32_avx2,
    .linear_q4_f32 = mote_linear_q4_f32_avx2,
    .linear_q8_f32 = mote_linear_q8_f32_avx2,
    .linear_qact_i8 = mote_linear_qact_i8_avx2,
    .linear_q2_i8 = mote_linear_q2_i8_avx2,
    .linear_q4_i8 = mote_linear_q4_i8_avx2,
    .linear_q8_i8 = mote_linear_q8_i8_avx2,
    .linear_f16 = mote_linear_f16_avx2,
    .lora_b_f32 = mote_lora_b_f32_avx2,
    .q_f32_min_rows = 4, /* AVX2 prefill: f32 tiles beat the int8 kernels at T >= 4 */
    .attention_q8_f32 = mote_attention_q8_f32_avx2,
};

/* AVX2+FMA+F16C in the CPU, and the OS saves the YMM state (XCR0 bits 1,2):
 * CPUID alone is not enough, a kernel with AVX disabled would fault. */
static int cpu_has_avx2(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const unsigned need1 = bit_FMA | bit_OSXSAVE | bit_AVX | bit_F16C;
  if ((c & need1) != need1) return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  if ((lo & 0x6) != 0x6) return 0;
  if (__get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  return (b & bit_AVX2) != 0;
}

const mote_kernels_t *mote_kernels_avx2(void) {
  return cpu_has_avx2() ? &kAvx2 : NULL;
}
#else
const mote_kernels_t *mote_kernels_avx2(void) { return NULL; }
#endif

/* ---------------------------------------------------------------- aarch64 */

#if defined(MOTE_HAVE_NEON)
#include <pthread.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

int mote_cpu_has_dotprod(void) {
#if defined(__linux__) && defined(AT_HWCAP)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
  return 0; /* unknown OS: the reference int8 kernels */
#endif
}

/* NEON is mandatory on AArch64: no CPU check. The table starts as a copy of
 * the reference, so any kernel without a NEON version (a field added later)
 * runs its _ref function; the f32 kernels are overridden here. */
static mote_kernels_t kNeon;
static pthread_once_t kNeonOnce = PTHREAD_ONCE_INIT;

static void init_neon(void) {
  kNeon = kRef;
  kNeon.isa = "neon";
  kNeon.linear_f32 = mote_linear_f32_neon;
  kNeon.rms_norm_f32 = mote_rms_norm_f32_neon;
  kNeon.rope_f32 = mote_rope_f32_neon;
  kNeon.attention_f32 = mote_attention_f32_neon;
  kNeon.swiglu_f32 = mote_swiglu_f32_neon;
  kNeon.add_f32 = mote_add_f32_neon;
  kNeon.linear_f16 = mote_linear_f16_neon;
  kNeon.lora_b_f32 = mote_lora_b_f32_neon;
  kNeon.linear_q2_f32 = mote_linear_q2_f32_neon;
  kNeon.linear_q4_f32 = mote_linear_q4_f32_neon;
  kNeon.linear_q8_f32 = mote_linear_q8_f32_neon;
  kNeon.attention_q8_f32 = mote_attention_q8_f32_neon;
  /* int8 activations: the sdot kernels (armv8.2-a+dotprod, their own file
   * and flags) only when the CPU has them; else the reference. */
  if (mote_cpu_has_dotprod()) {
    kNeon.linear_qact_i8 = mote_linear_qact_i8_dotprod;
    kNeon.linear_q2_i8 = mote_linear_q2_i8_dotprod;
    kNeon.linear_q4_i8 = mote_linear_q4_i8_dotprod;
    kNeon.linear_q8_i8 = mote_linear_q8_i8_dotprod;
  }
}

const mote_kernels_t *mote_kernels_neon(void) {
  pthread_once(&kNeonOnce, init_neon);
  return &kNeon;
}
#else
const mote_kernels_t *mote_kernels_neon(void) { return NULL; }
#endif

/* ------------------------------------------------------------------- best */

const mote_kernels_t *mote_kernels_best(void) {
  const char *isa = getenv("MOTE_ISA");
  if (isa && strcmp(isa, "ref") == 0) return mote_kernels_ref();
  /* Most specific first: AVX2 (x86-64), then NEON (aarch64). */
  const mote_kernels_t *k = mote_kernels_avx2();
  if (!k) k = mote_kernels_neon();
  return k ? k : mote_kernels_ref();
}
