/* NEON causal attention over the 8-bit KV cache (driver: att_q8). Prefill
 * with the kvbuf scratch: each KV head's rows widened to f32 once, then the
 * grouped f32 kernel (attention_neon.c) for all its query heads. Decode:
 * int8 K/V codes widened (s8 -> s16 -> s32 -> f32) eight at a time, one
 * query head at a time, the per-(row, KV head) scales folded into the score
 * (K) and the softmax weight (V). Same math as attention_q8_ref.c. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "attention_neon.h"
#include "attention_group.h"

/* Codes p[0..min(n, 8)) as two f32x4 (lanes 0..3, 4..7), zeros past n; a
 * tail goes through a zeroed buffer and never reads past p[n-1]. */
MOTE_INLINE void load_q8(const int8_t *p, size_t n, float32x4_t *lo, float32x4_t *hi) {
  int8x8_t b;
  if (n >= 8) {
    b = vld1_s8(p);
  } else {
    int8_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < n; ++i) t[i] = p[i];
    b = vld1_s8(t);
  }
  int16x8_t w = vmovl_s8(b);
  *lo = vcvtq_f32_s32(vmovl_s16(vget_low_s16(w)));
  *hi = vcvtq_f32_s32(vmovl_s16(vget_high_s16(w)));
}

/* acc += q[d..d+8) * codes[d..d+8) (m = lanes left from d). */
MOTE_INLINE float32x4_t dot8(float32x4_t acc, float32x4_t qa, float32x4_t qb,
                             const int8_t *k, size_t m) {
  float32x4_t lo, hi;
  load_q8(k, m, &lo, &hi);
  acc = vfmaq_f32(acc, qa, lo);
  return vfmaq_f32(acc, qb, hi);
}

/* scores[j] = scale * ks[j*sstride] * dot(q, codes_j) for j < n, four keys
 * per pass so each q vector loaded serves four keys. */
static void qk_scores(const float *q, const int8_t *k, size_t kstride, const float *ks,
                      size_t sstride, size_t hd, size_t n, float scale, float *scores) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const int8_t *k0 = k + j * kstride, *k1 = k0 + kstride;
    const int8_t *k2 = k1 + kstride, *k3 = k2 + kstride;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    for (size_t d = 0; d < hd; d += 8) {
      size_t m = hd - d;
      float32x4_t qa = mote_load_n(q + d, m);
      float32x4_t qb = mote_load_n(q + d + 4, m > 4 ? m - 4 : 0);
      a0 = dot8(a0, qa, qb, k0 + d, m);
      a1 = dot8(a1, qa, qb, k1 + d, m);
      a2 = dot8(a2, qa, qb, k2 + d, m);
      a3 = dot8(a3, qa, qb, k3 + d, m);
    }
    /* Pairwise adds: lane i of s is the sum of ai. */
    float32x4_t s = vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3));
    const float *sc = ks + j * sstride;
    float sv[4] = {sc[0], sc[sstride], sc[2 * sstride], sc[3 * sstride]};
    vst1q_f32(scores + j, vmulq_n_f32(vmulq_f32(s, vld1q_f32(sv)), scale));
  }
  for (; j < n; ++j) {
    const int8_t *kj = k + j * kstride;
    float32x4_t a = vdupq_n_f32(0.0f);
    for (size_t d = 0; d < hd; d += 8) {
      size_t m = hd - d;
      a = dot8(a, mote_load_n(q + d, m), mote_load_n(q + d + 4, m > 4 ? m - 4 : 0),
               kj + d, m);
    }
    scores[j] = vaddvq_f32(a) * ks[j * sstride] * scale;
  }
}

/* out = inv * sum_j (p_j vs_j) codes_j: 32 lanes of head_dim in 8 named
 * registers at a time, the last < 32 lanes 8 at a time with zero-padded loads. */
static void weighted_v(const float *p, const int8_t *v, size_t vstride, const float *vs,
                       size_t sstride, size_t hd, size_t n, float inv, float *out) {
  size_t d0 = 0;
  for (; d0 + 32 <= hd; d0 += 32) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float32x4_t a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t j = 0; j < n; ++j) {
      const int8_t *vj = v + j * vstride + d0;
      float pj = p[j] * vs[j * sstride];
      int16x8_t w0 = vmovl_s8(vld1_s8(vj)), w1 = vmovl_s8(vld1_s8(vj + 8));
      int16x8_t w2 = vmovl_s8(vld1_s8(vj + 16)), w3 = vmovl_s8(vld1_s8(vj + 24));
      a0 = vfmaq_n_f32(a0, vcvtq_f32_s32(vmovl_s16(vget_low_s16(w0))), pj);
      a1 = vfmaq_n_f32(a1, vcvtq_f32_s32(vmovl_s16(vget_high_s16(w0))), pj);
      a2 = vfmaq_n_f32(a2, vcvtq_f32_s32(vmovl_s16(vget_low_s16(w1))), pj);
      a3 = vfmaq_n_f32(a3, vcvtq_f32_s32(vmovl_s16(vget_high_s16(w1))), pj);
      a4 = vfmaq_n_f32(a4, vcvtq_f32_s32(vmovl_s16(vget_low_s16(w2))), pj);
      a5 = vfmaq_n_f32(a5, vcvtq_f32_s32(vmovl_s16(vget_high_s16(w2))), pj);
      a6 = vfmaq_n_f32(a6, vcvtq_f32_s32(vmovl_s16(vget_low_s16(w3))), pj);
      a7 = vfmaq_n_f32(a7, vcvtq_f32_s32(vmovl_s16(vget_high_s16(w3))), pj);
    }
    att_store32(out + d0, inv, a0, a1, a2, a3, a4, a5, a6, a7);
  }
  if (d0 < hd) {
    size_t m = hd - d0, nc = (m + 7) / 8; /* 1..4 chunks of 8 lanes */
    float32x4_t a[8];
    for (size_t c = 0; c < 2 * nc; ++c) a[c] = vdupq_n_f32(0.0f);
    for (size_t j = 0; j < n; ++j) {
      const int8_t *vj = v + j * vstride + d0;
      float pj = p[j] * vs[j * sstride];
      for (size_t c = 0; c < nc; ++c) {
        float32x4_t lo, hi;
        load_q8(vj + 8 * c, m - 8 * c, &lo, &hi);
        a[2 * c] = vfmaq_n_f32(a[2 * c], lo, pj);
        a[2 * c + 1] = vfmaq_n_f32(a[2 * c + 1], hi, pj);
      }
    }
    for (size_t c = 0; c < 2 * nc && 4 * c < m; ++c)
      mote_store_n(out + d0 + 4 * c, vmulq_n_f32(a[c], inv), m - 4 * c);
  }
}

/* Rows [0, n) of one KV head, codes times their scale, widened once into
 * buf (n, hd) f32 for all of the head's query heads and rows (att_q8). */
static void widen(const int8_t *c, size_t cstride, const float *s, size_t sstride,
                  size_t hd, size_t n, float *buf) {
  for (size_t j = 0; j < n; ++j) {
    const int8_t *cj = c + j * cstride;
    float *bj = buf + j * hd;
    float sj = s[j * sstride];
    for (size_t d = 0; d < hd; d += 8) {
      size_t m = hd - d;
      float32x4_t lo, hi;
      load_q8(cj + d, m, &lo, &hi);
      mote_store_n(bj + d, vmulq_n_f32(lo, sj), m);
      if (m > 4) mote_store_n(bj + d + 4, vmulq_n_f32(hi, sj), m - 4);
    }
  }
}

/* The driver's grouped pieces, one query head at a time (NEON reads each
 * head's codes itself; grouping them is unmeasured here). */
static void group_scores(const float *const *qs, size_t nh, const int8_t *k, size_t kstride,
                         const float *ks, size_t sstride, size_t hd, size_t n, float scale,
                         float *const *sc, const int8_t *v) {
  (void)v;
  for (size_t i = 0; i < nh; ++i) qk_scores(qs[i], k, kstride, ks, sstride, hd, n, scale, sc[i]);
}
static void group_v(const float *const *p, size_t nh, const int8_t *v, size_t vstride,
                    const float *vs, size_t sstride, size_t hd, size_t n, const float *inv,
                    float *const *out) {
  for (size_t i = 0; i < nh; ++i)
    weighted_v(p[i], v, vstride, vs, sstride, hd, n, inv[i], out[i]);
}

/* att_softmax_unnormalized is an inline of the shared header: a static
 * function the driver can take the address of. */
static float softmax(float *scores, size_t n) { return att_softmax_unnormalized(scores, n); }

void mote_attention_q8_f32_neon(const float *q, const int8_t *kc, const float *ks,
                                const int8_t *vc, const float *vs, size_t kv_row,
                                size_t kv_head, const int32_t *pos, float *out, size_t T,
                                size_t Hq, size_t Hkv, size_t head_dim, float scale,
                                float *scores, float *kvbuf, size_t h_begin, size_t h_end) {
  att_q8(q, kc, ks, vc, vs, kv_row, kv_head, pos, out, T, Hq, Hkv, head_dim, scale, scores,
         kvbuf, h_begin, h_end, widen, mote_attention_f32_neon, group_scores, softmax,
         group_v);
}

#else
typedef int mote_attention_q8_neon_unused_t; /* not an AArch64 build */
#endif
