/* Kernel table selection: scalar reference, AVX2+FMA and AVX-VNNI (x86-64),
 * NEON (AArch64), chosen per CPU. */
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
#include <pthread.h>

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
    /* AVX2 prefill: f32 tiles beat the int8 kernels at T >= 4, but for
     * 2-bit weights (1B shape, 128-token prompt, 2 threads: 77 vs 64
     * tok/s; docs/quant-kernels.md). */
    .q_f32_min_rows = 4,
    .q_i8_rows_bits = 1u << 2,
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

#if defined(MOTE_HAVE_AVX2) && defined(MOTE_HAVE_AVXVNNI)
/* AVX-VNNI: CPUID leaf 7 subleaf 1, EAX bit 4 (the VEX-encoded vpdpbusd;
 * the YMM state is already checked by cpu_has_avx2). */
static int cpu_has_avxvnni(void) {
  unsigned a, b, c, d;
  if (!cpu_has_avx2()) return 0;
  __cpuid_count(7, 1, a, b, c, d);
  (void)b, (void)c, (void)d;
  return (a & (1u << 4)) != 0;
}

/* The AVX2 table with the int8-activation dot kernels on vpdpbusd (the
 * quantizer is AVX2's); prefill keeps int8 for 2- and 4-bit weights. */
static mote_kernels_t kAvxVnni;
static pthread_once_t kAvxVnniOnce = PTHREAD_ONCE_INIT;

static void init_avxvnni(void) {
  kAvxVnni = kAvx2;
  kAvxVnni.isa = "avxvnni";
  kAvxVnni.linear_q2_i8 = mote_linear_q2_i8_avxvnni;
  kAvxVnni.linear_q4_i8 = mote_linear_q4_i8_avxvnni;
  kAvxVnni.linear_q8_i8 = mote_linear_q8_i8_avxvnni;
  kAvxVnni.q_i8_rows_bits = (1u << 2) | (1u << 4); /* prefill 84 / 72 vs 64 tok/s */
}

const mote_kernels_t *mote_kernels_avxvnni(void) {
  if (!cpu_has_avxvnni()) return NULL;
  pthread_once(&kAvxVnniOnce, init_avxvnni);
  return &kAvxVnni;
}
#else
const mote_kernels_t *mote_kernels_avxvnni(void) { return NULL; }
#endif

#if defined(MOTE_HAVE_AVX2) && defined(MOTE_HAVE_AVX512VNNI)
/* AVX-512 F (leaf 7 EBX bit 16), BW (30), VL (31), VNNI (ECX bit 11), and
 * the OS saving the opmask and ZMM state (XCR0 bits 5-7). */
static int cpu_has_avx512vnni(void) {
  unsigned a, b, c, d;
  if (!cpu_has_avx2()) return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  if ((lo & 0xe0) != 0xe0) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  (void)a, (void)d;
  const unsigned need_b = (1u << 16) | (1u << 30) | (1u << 31);
  return (b & need_b) == need_b && (c & (1u << 11)) != 0;
}

/* The AVX2 table with the 512-bit int8-activation kernels: their quantizer
 * writes the 64-byte layout, so the four entries go together. */
static mote_kernels_t kAvx512Vnni;
static pthread_once_t kAvx512VnniOnce = PTHREAD_ONCE_INIT;

static void init_avx512vnni(void) {
  kAvx512Vnni = kAvx2;
  kAvx512Vnni.isa = "avx512vnni";
  kAvx512Vnni.linear_qact_i8 = mote_linear_qact_i8_avx512;
  kAvx512Vnni.linear_q2_i8 = mote_linear_q2_i8_avx512;
  kAvx512Vnni.linear_q4_i8 = mote_linear_q4_i8_avx512;
  kAvx512Vnni.linear_q8_i8 = mote_linear_q8_i8_avx512;
  kAvx512Vnni.q_i8_rows_bits = (1u << 2) | (1u << 4); /* prefill 120 / 77 vs 64 tok/s */
}

const mote_kernels_t *mote_kernels_avx512vnni(void) {
  if (!cpu_has_avx512vnni()) return NULL;
  pthread_once(&kAvx512VnniOnce, init_avx512vnni);
  return &kAvx512Vnni;
}
#else
const mote_kernels_t *mote_kernels_avx512vnni(void) { return NULL; }
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
  /* Most specific first. */
  const mote_kernels_t *all[] = {mote_kernels_avx512vnni(), mote_kernels_avxvnni(),
                                 mote_kernels_avx2(), mote_kernels_neon(),
                                 mote_kernels_ref()};
  const size_t n = sizeof all / sizeof all[0];
  const char *isa = getenv("MOTE_ISA");
  if (isa)
    for (size_t i = 0; i < n; ++i)
      if (all[i] && strcmp(all[i]->isa, isa) == 0) return all[i];
  for (size_t i = 0; i < n; ++i)
    if (all[i]) return all[i];
  return mote_kernels_ref();
}
