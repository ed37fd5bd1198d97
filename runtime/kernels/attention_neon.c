/* NEON causal attention over a KV cache, the query heads that share a KV
 * head (GQA) taken together, as the AVX2 kernel does: each key and value
 * row is loaded once for up to MOTE_ATTENTION_HEADS query heads. Per
 * (head, key) the arithmetic is att_qk_scores / att_weighted_v's
 * (attention_neon.h), so any split of the heads gives the same bits. */
#include "kernels_internal.h"

#if defined(MOTE_HAVE_NEON)
#include "attention_neon.h"
#include "attention_group.h"

/* Dots of keys j..j+3 with NQ (1 or 2) query heads: each head's sum starts
 * from its zero-padded head_dim tail, then full 4-lane chunks in order. */
MOTE_INLINE void att_dots4(const float *const *qs, size_t NQ, const float *k0, size_t ks,
                           size_t hd, float scale, float *const *sc, size_t j) {
  size_t dfull = hd & ~(size_t)3, rem = hd - dfull;
  const float *k1 = k0 + ks, *k2 = k1 + ks, *k3 = k2 + ks;
  float32x4_t t0 = mote_load_n(k0 + dfull, rem), t1 = mote_load_n(k1 + dfull, rem);
  float32x4_t t2 = mote_load_n(k2 + dfull, rem), t3 = mote_load_n(k3 + dfull, rem);
  float32x4_t a[2][4];
  for (size_t i = 0; i < NQ; ++i) {
    float32x4_t qt = mote_load_n(qs[i] + dfull, rem);
    a[i][0] = vmulq_f32(qt, t0);
    a[i][1] = vmulq_f32(qt, t1);
    a[i][2] = vmulq_f32(qt, t2);
    a[i][3] = vmulq_f32(qt, t3);
  }
  for (size_t d = 0; d < dfull; d += 4) {
    float32x4_t k0v = vld1q_f32(k0 + d), k1v = vld1q_f32(k1 + d);
    float32x4_t k2v = vld1q_f32(k2 + d), k3v = vld1q_f32(k3 + d);
    for (size_t i = 0; i < NQ; ++i) {
      float32x4_t qv = vld1q_f32(qs[i] + d);
      a[i][0] = vfmaq_f32(a[i][0], qv, k0v);
      a[i][1] = vfmaq_f32(a[i][1], qv, k1v);
      a[i][2] = vfmaq_f32(a[i][2], qv, k2v);
      a[i][3] = vfmaq_f32(a[i][3], qv, k3v);
    }
  }
  for (size_t i = 0; i < NQ; ++i) {
    float32x4_t s = vpaddq_f32(vpaddq_f32(a[i][0], a[i][1]), vpaddq_f32(a[i][2], a[i][3]));
    vst1q_f32(sc[i] + j, vmulq_n_f32(s, scale));
  }
}

/* sc[i][j] = scale * dot(q_i, k_j) for nh heads, j < n. */
static void att_group_scores(const float *const *qs, size_t nh, const float *k, size_t ks,
                             size_t hd, size_t n, float scale, float *const *sc,
                             const float *v) {
  (void)v; /* no software prefetch on NEON (unmeasured there) */
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *k0 = k + j * ks;
    size_t i = 0;
    for (; i + 2 <= nh; i += 2) att_dots4(qs + i, 2, k0, ks, hd, scale, sc + i, j);
    if (i < nh) att_dots4(qs + i, 1, k0, ks, hd, scale, sc + i, j);
  }
  size_t dfull = hd & ~(size_t)3, rem = hd - dfull;
  for (; j < n; ++j) {
    const float *kj = k + j * ks;
    for (size_t i = 0; i < nh; ++i) {
      float32x4_t a = vmulq_f32(mote_load_n(qs[i] + dfull, rem), mote_load_n(kj + dfull, rem));
      for (size_t d = 0; d < dfull; d += 4)
        a = vfmaq_f32(a, vld1q_f32(qs[i] + d), vld1q_f32(kj + d));
      sc[i][j] = vaddvq_f32(a) * scale;
    }
  }
}

/* out_i = inv_i * sum_j p_i[j] v_j for NH (1, 2 or 4) heads, 16 lanes of
 * head_dim per pass over the rows (16 accumulators at NH = 4); each lane's
 * sum runs in row order from zero, as att_weighted_v's. */
MOTE_INLINE void att_v_heads(const float *const *p, size_t NH, const float *v, size_t vs,
                             size_t hd, size_t n, const float *inv, float *const *out) {
  for (size_t d0 = 0; d0 < hd; d0 += 16) {
    size_t m = hd - d0 < 16 ? hd - d0 : 16, nv = (m + 3) / 4;
    float32x4_t acc[4][4];
    for (size_t i = 0; i < NH; ++i)
      for (size_t c = 0; c < 4; ++c) acc[i][c] = vdupq_n_f32(0.0f);
    for (size_t j = 0; j < n; ++j) {
      const float *vj = v + j * vs + d0;
      float32x4_t vv[4];
      if (m == 16) {
        vv[0] = vld1q_f32(vj);
        vv[1] = vld1q_f32(vj + 4);
        vv[2] = vld1q_f32(vj + 8);
        vv[3] = vld1q_f32(vj + 12);
      } else {
        for (size_t c = 0; c < 4; ++c)
          vv[c] = c < nv ? mote_load_n(vj + 4 * c, m - 4 * c) : vdupq_n_f32(0.0f);
      }
      for (size_t i = 0; i < NH; ++i) {
        float pj = p[i][j];
        for (size_t c = 0; c < 4; ++c) acc[i][c] = vfmaq_n_f32(acc[i][c], vv[c], pj);
      }
    }
    for (size_t i = 0; i < NH; ++i)
      for (size_t c = 0; c < nv; ++c)
        mote_store_n(out[i] + d0 + 4 * c, vmulq_n_f32(acc[i][c], inv[i]), m - 4 * c);
  }
}

static void att_group_v(const float *const *p, size_t nh, const float *v, size_t vs,
                        size_t hd, size_t n, const float *inv, float *const *out) {
  ATT_V_RUNS_4_2_1(att_v_heads, p, nh, v, vs, hd, n, inv, out);
}

/* att_softmax_unnormalized is an inline of the shared header: a static
 * function the driver can take the address of. */
static float att_softmax(float *scores, size_t n) { return att_softmax_unnormalized(scores, n); }

void mote_attention_f32_neon(const float *q, const float *kc, const float *vc,
                             size_t kv_row, size_t kv_head,
                             const int32_t *pos, float *out, size_t T,
                             size_t Hq, size_t Hkv, size_t head_dim,
                             float scale, float *scores, size_t h_begin,
                             size_t h_end) {
  att_grouped(q, kc, vc, kv_row, kv_head, pos, out, T, Hq, Hkv, head_dim, scale, scores,
              h_begin, h_end, att_group_scores, att_softmax, att_group_v);
}

#else
typedef int mote_attention_neon_unused_t; /* not an AArch64 build */
#endif
