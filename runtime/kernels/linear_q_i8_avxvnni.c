/* AVX-VNNI int8-activation quantized linear (issue 4): the AVX2 kernel
 * (linear_q_i8_x86.h) with one `vpdpbusd` per bit plane in place of
 * `vpmaddubsw` + the int16 sum + `vpmaddwd`: unsigned codes times signed
 * activation codes, four products summed straight into each int32 lane,
 * whose lanes keep the AVX2 kernel's order (one 32-block per 2 / 4 / 8
 * adjacent lanes for 2 / 4 / 8 bits), so the scales, the offset and the
 * activation layout are shared. 8-bit codes: |w| times sign(w) * x as in the
 * AVX2 file. CPUs with AVX-VNNI (VEX, 256-bit: Alder Lake, Sapphire Rapids
 * and later, Zen 5) get this table (dispatch.c); the activation quantizer is
 * the AVX2 one. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_AVX2)
#if !defined(__AVXVNNI__)
#error "compile *_avxvnni.c with -mavx2 -mfma -mf16c -mavxvnni"
#endif
#include "avx2_util.h"

#define MOTE_QI8_DPBUSD256 _mm256_dpbusd_avx_epi32
#include "linear_q_i8_x86.h"

MOTE_QI8_X86_ENTRY(2, avxvnni, 0)
MOTE_QI8_X86_ENTRY(4, avxvnni, 0)
MOTE_QI8_X86_ENTRY(8, avxvnni, 0)

#endif /* MOTE_HAVE_AVX2 */
