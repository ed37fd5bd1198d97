/* NEON linear_f16: f16 weights widened with vcvt_f32_f16 as they are loaded,
 * f32 activations and accumulation. Tiles of TT tokens x NN rows like
 * linear_neon.c: each W vector serves TT tokens, each x vector NN rows. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "neon_util.h"

/* Four weights from p, widened. */
MOTE_INLINE float32x4_t load_h(const uint16_t *p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* The first n (< 4) weights from p, zeros after; reads nothing past p[n-1]. */
MOTE_INLINE float32x4_t load_h_n(const uint16_t *p, size_t n) {
  if (n >= 4) return load_h(p);
  uint16_t b[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < n; ++i) b[i] = p[i];
  return load_h(b);
}

/* TT, NN are literals at each call, so the loops unroll and the accumulators
 * (TT*NN <= 8) stay in registers. The K tail goes first and initializes the
 * accumulators. */
MOTE_INLINE void tile(const float *x, size_t K, const uint16_t *w, const float *bias,
                      float *y, size_t N, const int TT, const int NN) {
  float32x4_t acc[4][4], wv[4];
  size_t kfull = K & ~(size_t)3, rem = K - kfull;
  for (int n = 0; n < NN; ++n) wv[n] = load_h_n(w + n * K + kfull, rem);
  for (int t = 0; t < TT; ++t) {
    float32x4_t xv = mote_load_n(x + t * K + kfull, rem);
    for (int n = 0; n < NN; ++n) acc[t][n] = vmulq_f32(xv, wv[n]);
  }
  for (size_t k = 0; k < kfull; k += 4) {
    for (int n = 0; n < NN; ++n) wv[n] = load_h(w + n * K + k);
    for (int t = 0; t < TT; ++t) {
      float32x4_t xv = vld1q_f32(x + t * K + k);
      for (int n = 0; n < NN; ++n) acc[t][n] = vfmaq_f32(acc[t][n], xv, wv[n]);
    }
  }
  for (int t = 0; t < TT; ++t)
    for (int n = 0; n < NN; ++n) {
      float s = vaddvq_f32(acc[t][n]);
      y[t * N + n] = bias ? s + bias[n] : s;
    }
}

/* tt tokens (1..4, or 1 row block of 4 for decode) over rows [n0, n1). */
static void rows(const float *x, size_t tt, size_t K, const uint16_t *w,
                 const float *bias, float *y, size_t N, size_t n0, size_t n1) {
  for (size_t n = n0; n < n1;) {
    size_t nn = n1 - n < 4 ? n1 - n : (tt == 1 ? 4 : 2);
    const uint16_t *wn = w + n * K;
    const float *bn = bias ? bias + n : NULL;
    float *yn = y + n;
#define CASE(TT, NN) \
  if (tt == TT && nn == NN) tile(x, K, wn, bn, yn, N, TT, NN); else
    CASE(1, 1) CASE(1, 2) CASE(1, 3) CASE(1, 4)
    CASE(2, 1) CASE(2, 2) CASE(2, 3) CASE(2, 4)
    CASE(3, 1) CASE(3, 2) CASE(3, 3) CASE(3, 4)
    CASE(4, 1) CASE(4, 2) CASE(4, 3) tile(x, K, wn, bn, yn, N, 4, 4);
#undef CASE
    n += nn;
  }
}

void mote_linear_f16_neon(const float *x, size_t T, size_t K, const uint16_t *w,
                          const float *bias, float *y, size_t N, size_t n_begin,
                          size_t n_end) {
  if (n_begin >= n_end || T == 0) return;
  /* As linear_f32_neon: a chunk of W rows stays in cache while every token of
   * a token chunk passes over it. */
  size_t row_bytes = K ? K * sizeof(uint16_t) : sizeof(uint16_t);
  size_t tc = ((size_t)(256 * 1024) / row_bytes) & ~(size_t)3;
  size_t nc = ((size_t)(32 * 1024) / row_bytes) & ~(size_t)3;
  if (tc < 4) tc = 4;
  if (nc < 4) nc = 4;
  for (size_t t0 = 0; t0 < T; t0 += tc) {
    size_t t1 = T - t0 < tc ? T : t0 + tc;
    for (size_t n0 = n_begin; n0 < n_end; n0 += nc) {
      size_t n1 = n_end - n0 < nc ? n_end : n0 + nc;
      for (size_t t = t0; t < t1; t += 4) {
        size_t tt = t1 - t < 4 ? t1 - t : 4;
        rows(x + t * K, tt, K, w, bias, y + t * N, N, n0, n1);
      }
    }
  }
}

#else
typedef int mote_linear_f16_neon_unused_t; /* not an AArch64 build */
#endif
