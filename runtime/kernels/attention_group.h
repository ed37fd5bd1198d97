/* attention_group.h: the ISA-neutral drivers of the attention kernels
 * (attention_{avx2,neon}.c, attention_q8_{avx2,neon}.c): for each row t
 * and each run of up to MOTE_ATTENTION_HEADS query heads that share a KV
 * head, the ISA's scores, softmax and V sum; for the 8-bit cache, each KV
 * head widened to f32 once for the f32 kernel. Include after the ISA's util
 * header (MOTE_INLINE). */
#ifndef MOTE_ATTENTION_GROUP_H
#define MOTE_ATTENTION_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* sc[i][j] = scale * dot(q_i, k_j) for nh heads, j < n (k: the KV head's
 * first key, ks floats between keys; v: its first value row, for
 * prefetching). */
typedef void (*att_scores_fn)(const float *const *qs, size_t nh, const float *k, size_t ks,
                              size_t hd, size_t n, float scale, float *const *sc,
                              const float *v);
/* scores[j] = exp(scores[j] - max) for j < n; returns their sum. */
typedef float (*att_softmax_fn)(float *scores, size_t n);
/* out_i = inv_i * sum_j p_i[j] v_j for nh heads. */
typedef void (*att_v_fn)(const float *const *p, size_t nh, const float *v, size_t vs,
                         size_t hd, size_t n, const float *inv, float *const *out);

/* The body of an att_v_fn: `heads` (an always-inline V sum whose second
 * argument, the head count, must be a constant so that its accumulators
 * stay in registers) over nh heads in runs of 4, 2 and 1. */
#define ATT_V_RUNS_4_2_1(heads, p, nh, v, vs, hd, n, inv, out)                         \
  do {                                                                                \
    size_t i_ = 0;                                                                    \
    for (; i_ + 4 <= (nh); i_ += 4) heads((p) + i_, 4, v, vs, hd, n, (inv) + i_, (out) + i_); \
    for (; i_ + 2 <= (nh); i_ += 2) heads((p) + i_, 2, v, vs, hd, n, (inv) + i_, (out) + i_); \
    for (; i_ < (nh); ++i_) heads((p) + i_, 1, v, vs, hd, n, (inv) + i_, (out) + i_);        \
  } while (0)

/* Row t's pointers for query heads h..h+nh-1: their q and out rows, and a
 * score row of n floats each in the scratch. */
MOTE_INLINE void att_head_ptrs(const float *q, float *out, float *scores, size_t qstride,
                               size_t t, size_t h, size_t nh, size_t hd, size_t n,
                               const float **qs, float **sc, float **os) {
  for (size_t i = 0; i < nh; ++i) {
    qs[i] = q + t * qstride + (h + i) * hd;
    os[i] = out + t * qstride + (h + i) * hd;
    sc[i] = scores + i * n;
  }
}

/* mote_attention_f32_fn's contract (kernels.h) over the three pieces; always
 * inlined, so the pieces' calls are direct. */
MOTE_INLINE void att_grouped(const float *q, const float *kc, const float *vc, size_t kv_row,
                             size_t kv_head, const int32_t *pos, float *out, size_t T,
                             size_t Hq, size_t Hkv, size_t head_dim, float scale,
                             float *scores, size_t h_begin, size_t h_end,
                             att_scores_fn scores_fn, att_softmax_fn softmax_fn,
                             att_v_fn v_fn) {
  size_t group = Hq / Hkv;
  size_t qstride = Hq * head_dim;
  for (size_t h = h_begin; h < h_end;) {
    /* heads h..h1 read kv head h / group: at most MOTE_ATTENTION_HEADS */
    size_t g = h / group, h1 = (g + 1) * group;
    if (h1 > h_end) h1 = h_end;
    if (h1 - h > MOTE_ATTENTION_HEADS) h1 = h + MOTE_ATTENTION_HEADS;
    size_t nh = h1 - h, kvoff = g * kv_head;
    for (size_t t = 0; t < T; ++t) {
      size_t n = (size_t)pos[t] + 1; /* causal: cache rows 0..pos[t] */
      const float *qs[MOTE_ATTENTION_HEADS];
      float *sc[MOTE_ATTENTION_HEADS], *os[MOTE_ATTENTION_HEADS], inv[MOTE_ATTENTION_HEADS];
      att_head_ptrs(q, out, scores, qstride, t, h, nh, head_dim, n, qs, sc, os);
      scores_fn(qs, nh, kc + kvoff, kv_row, head_dim, n, scale, sc, vc + kvoff);
      for (size_t i = 0; i < nh; ++i) inv[i] = 1.0f / softmax_fn(sc[i], n);
      v_fn((const float *const *)sc, nh, vc + kvoff, kv_row, head_dim, n, inv, os);
    }
    h = h1;
  }
}

/* The 8-bit cache's pieces, over one KV head's codes (kstride codes and
 * sstride scales between rows) for nh query heads: sc[i][j] = scale * s_j *
 * dot(q_i, code_j) (v: the head's value codes, for prefetching); out_i =
 * inv_i * sum_j p_i[j] s_j code_j; and buf (n, hd) = s_j * code_j. */
typedef void (*att_q8_scores_fn)(const float *const *qs, size_t nh, const int8_t *k,
                                 size_t kstride, const float *ks, size_t sstride, size_t hd,
                                 size_t n, float scale, float *const *sc, const int8_t *v);
typedef void (*att_q8_v_fn)(const float *const *p, size_t nh, const int8_t *v, size_t vstride,
                            const float *vs, size_t sstride, size_t hd, size_t n,
                            const float *inv, float *const *out);
typedef void (*att_q8_widen_fn)(const int8_t *c, size_t cstride, const float *s,
                                size_t sstride, size_t hd, size_t n, float *buf);

/* mote_attention_q8_f32_fn's contract (kernels.h). Prefill (T > 1) with
 * kvbuf: each KV head's rows 0..max pos are widened to f32 once (code times
 * scale) and the ISA's f32 kernel (f32) runs all of the head's query heads
 * and rows over them (kv_head 0: every head reads the one widened head).
 * Otherwise (decode): runs of up to MOTE_ATTENTION_HEADS query heads of one
 * KV head read its codes together, as att_grouped. */
MOTE_INLINE void att_q8(const float *q, const int8_t *kc, const float *ks, const int8_t *vc,
                        const float *vs, size_t kv_row, size_t kv_head, const int32_t *pos,
                        float *out, size_t T, size_t Hq, size_t Hkv, size_t hd, float scale,
                        float *scores, float *kvbuf, size_t h_begin, size_t h_end,
                        att_q8_widen_fn widen, mote_attention_f32_fn f32,
                        att_q8_scores_fn scores_fn, att_softmax_fn softmax_fn,
                        att_q8_v_fn v_fn) {
  size_t group = Hq / Hkv, qstride = Hq * hd;
  size_t srow = kv_row / hd, shead = kv_head / hd; /* scales: one per hd codes */
  size_t nmax = 0;
  for (size_t t = 0; t < T; ++t) nmax = (size_t)pos[t] + 1 > nmax ? (size_t)pos[t] + 1 : nmax;
  for (size_t h = h_begin; h < h_end;) {
    size_t g = h / group, h1 = (g + 1) * group < h_end ? (g + 1) * group : h_end;
    const int8_t *kg = kc + g * kv_head, *vg = vc + g * kv_head;
    const float *ksg = ks + g * shead, *vsg = vs + g * shead;
    if (kvbuf && T > 1) {
      float *kb = kvbuf, *vb = kvbuf + nmax * hd;
      widen(kg, kv_row, ksg, srow, hd, nmax, kb);
      widen(vg, kv_row, vsg, srow, hd, nmax, vb);
      f32(q, kb, vb, hd, 0, pos, out, T, Hq, Hkv, hd, scale, scores, h, h1);
      h = h1;
      continue;
    }
    if (h1 - h > MOTE_ATTENTION_HEADS) h1 = h + MOTE_ATTENTION_HEADS;
    size_t nh = h1 - h;
    for (size_t t = 0; t < T; ++t) {
      size_t n = (size_t)pos[t] + 1; /* causal: cache rows 0..pos[t] */
      const float *qs[MOTE_ATTENTION_HEADS];
      float *sc[MOTE_ATTENTION_HEADS], *os[MOTE_ATTENTION_HEADS], inv[MOTE_ATTENTION_HEADS];
      att_head_ptrs(q, out, scores, qstride, t, h, nh, hd, n, qs, sc, os);
      scores_fn(qs, nh, kg, kv_row, ksg, srow, hd, n, scale, sc, vg);
      for (size_t i = 0; i < nh; ++i) inv[i] = 1.0f / softmax_fn(sc[i], n);
      v_fn((const float *const *)sc, nh, vg, kv_row, vsg, srow, hd, n, inv, os);
    }
    h = h1;
  }
}

#endif /* MOTE_ATTENTION_GROUP_H */
