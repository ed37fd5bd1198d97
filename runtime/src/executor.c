/* executor.c: walks one graph's static schedule top to bottom, calling the
 * kernel table; it knows ops, not models (no layer loop, no fixed op order).
 * Every index, offset and shape used here was proved in range at open by
 * bundle_validate.c; token ids and positions are checked per call. */
#include <string.h>

#include "lora_kernels.h"
#include "session.h"
#include "status.h"

/* Below this many multiply-adds (~5 us on one core) an op runs on the
 * calling thread: handing out chunks costs ~1 us, and on a loaded machine a
 * region can wait on a descheduled worker, so tiny ops (all of
 * stories260K's decode) never pay it. */
#define PAR_MIN_WORK 65536u
#define CHUNK_WORK 131072u

/* One parallel region's arguments; each op reads the fields it needs. */
typedef struct job {
  const mote_kernels_t *k;
  const float *x, *w, *bias, *a, *b;
  float *y;
  const float *kc, *vc;
  size_t kv_row, kv_head; /* cache elements (floats, q8 codes) between positions / KV heads */
  const int32_t *pos;
  float *scratch;
  size_t T, K, N, H, Hkv, hd, ctx;
  int style;
  float eps, theta, scale;
  mote_rope_spec_t rope;
  /* quantized W (issue 4): packed codes, the bundle's own scales (IEEE
   * halves when qscales_f16, else f32), kernel for its width */
  const uint8_t *codes;
  const void *qscales;
  int qscales_f16;
  size_t group, row_bytes;
  mote_linear_q_f32_fn qfn;
  /* int8 activations (issue 4): W's width, the quantized x and the kernel */
  unsigned qbits;
  mote_act_i8_t act;
  mote_linear_q_i8_fn qi8fn;
  /* 8-bit KV cache: int8 codes, f32 (row, KV head) scales and the kernel */
  const int8_t *kq, *vq;
  const float *ks, *vs;
  mote_attention_q8_f32_fn afn;
  float *kvbuf;             /* (threads, kvbuf_floats) or NULL */
  size_t kvbuf_floats;
  /* f16 W (--weights f16) and its kernel */
  const uint16_t *w16;
  mote_linear_f16_fn hfn;
} job_t;

static void run_linear(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->linear_f32(j->x, j->T, j->K, j->w, j->bias, j->y, j->N, b, e);
}
static void run_linear_q(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->qfn(j->x, j->T, j->K, j->codes, j->qscales, j->qscales_f16, j->group, j->row_bytes,
         j->bias, j->y, j->N, b, e);
}
static void run_qact_i8(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->linear_qact_i8(j->qbits, j->x, j->K, &j->act, b, e);
}
static void run_linear_q_i8(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->qi8fn(&j->act, j->T, j->K, j->codes, j->qscales, j->qscales_f16, j->group,
           j->row_bytes, j->bias, j->y, j->N, b, e);
}
static void run_linear_h(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->hfn(j->x, j->T, j->K, j->w16, j->bias, j->y, j->N, b, e);
}
static void run_rms(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->rms_norm_f32(j->x, j->w, j->y, j->K, j->eps, b, e);
}
static void run_rope(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->rope_f32(j->x, j->y, j->pos, j->H, j->hd, j->style, &j->rope, b, e);
}
static void run_attention(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->attention_f32(j->x, j->kc, j->vc, j->kv_row, j->kv_head, j->pos, j->y, j->T, j->H,
                      j->Hkv, j->hd, j->scale, j->scratch + (size_t)tid * j->ctx, b, e);
}
static void run_attention_q8(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->afn(j->x, j->kq, j->ks, j->vq, j->vs, j->kv_row, j->kv_head, j->pos, j->y, j->T, j->H,
         j->Hkv, j->hd, j->scale, j->scratch + (size_t)tid * j->ctx,
         j->kvbuf ? j->kvbuf + (size_t)tid * j->kvbuf_floats : NULL, b, e);
}
static void run_swiglu(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->swiglu_f32(j->a, j->b, j->y, b, e);
}
static void run_add(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->add_f32(j->a, j->b, j->y, b, e);
}

/* Runs fn over [0, n) for an op of `work` multiply-adds: on the caller
 * when small, else in chunks of at least CHUNK_WORK each (claiming a chunk
 * costs ~0.2 us of cache-line traffic), in multiples of `grain`. */
static void par(const mote_session_t *s, size_t n, size_t grain, uint64_t work,
                mote_range_fn fn, void *j) {
  if (work < PAR_MIN_WORK) {
    fn(j, 0, n, 0);
    return;
  }
  size_t units = (n + grain - 1) / grain;
  uint64_t chunks = work / CHUNK_WORK;
  uint32_t nt = mote_threadpool_size(s->pool);
  if (chunks < nt) chunks = nt;
  if (chunks < units) grain *= (units + chunks - 1) / chunks;
  mote_parallel_for(s->pool, n, grain, 0, fn, j);
}

/* Pointer to a value's data: arena activation or mapped weight. */
static inline float *fptr(const mote_session_t *s, const mote_graph_t *g, uint32_t v) {
  const mote_value_t *val = &g->values[v];
  if (val->kind == MOTE_VK_WEIGHT) return (float *)s->m->b.tensors[val->ref].data;
  return (float *)(s->arena + val->offset);
}

static inline const mote_value_t *opv(const mote_graph_t *g, const mote_step_t *st, int k) {
  return &g->values[st->operands[k]];
}

/* The quantized tensor behind weight value v, or NULL when it is f32. */
static inline const mote_tensor_t *qtensor(const mote_session_t *s, const mote_graph_t *g,
                                           uint32_t v) {
  const mote_value_t *val = &g->values[v];
  if (val->kind != MOTE_VK_WEIGHT) return NULL;
  const mote_tensor_t *t = &s->m->b.tensors[val->ref];
  return t->quant.scales ? t : NULL;
}

/* The f16 tensor behind weight value v (--weights f16), or NULL. */
static inline const mote_tensor_t *htensor(const mote_session_t *s, const mote_graph_t *g,
                                           uint32_t v) {
  const mote_value_t *val = &g->values[v];
  if (val->kind != MOTE_VK_WEIGHT) return NULL;
  const mote_tensor_t *t = &s->m->b.tensors[val->ref];
  return t->dtype == MOTE_DT_F16 ? t : NULL;
}

/* Points j at f16 W t and its kernel (the reference when the table has none). */
static void set_hweight(job_t *j, const mote_tensor_t *t) {
  j->w16 = (const uint16_t *)t->data;
  j->hfn = j->k->linear_f16 ? j->k->linear_f16 : mote_kernels_ref()->linear_f16;
}

/* Points j at quantized W t and picks the kernel for its width (a table
 * without one, e.g. a new ISA, runs the reference). */
static void set_qweight(job_t *j, const mote_tensor_t *t) {
  const mote_kernels_t *r = mote_kernels_ref();
  j->codes = (const uint8_t *)t->data;
  /* Every kernel reads the scales straight from the mapped file (validated
   * in bounds and aligned at open): f16 ones are widened in registers. */
  j->qscales = t->quant.scales;
  j->qscales_f16 = t->quant.scales_f16;
  j->group = t->quant.group_size;
  j->row_bytes = (size_t)t->quant.row_bytes;
  j->qbits = t->quant.bits;
  switch (t->quant.bits) {
    case 2: j->qfn = j->k->linear_q2_f32 ? j->k->linear_q2_f32 : r->linear_q2_f32; break;
    case 4: j->qfn = j->k->linear_q4_f32 ? j->k->linear_q4_f32 : r->linear_q4_f32; break;
    default: j->qfn = j->k->linear_q8_f32 ? j->k->linear_q8_f32 : r->linear_q8_f32; break;
  }
}

/* Runs the quantized linear set up in j (set_qweight) over N rows: with
 * int8 activations when use_int8() says so (x quantized once per op into the
 * session's buffer, split over rows when large), else with f32 activations. */

/* int8 or f32 activations for this call. MOTE_ACTIVATIONS=int8-all (act_int8
 * 2) forces int8 wherever the kernels take W's group size. Otherwise, on a
 * table with SIMD f32-activation kernels: f32 when it has no SIMD int8 ones
 * (NEON without dotprod: its int8 path would be the scalar reference), and
 * from q_f32_min_rows rows up for widths not in q_i8_rows_bits (AVX2
 * prefill at 4 and 8 bits: dequantizing a strip of W once
 * for f32 GEMM tiles measured faster than the int8 kernels at T >= 4,
 * docs/quant-kernels.md; 0 = never, e.g. NEON with sdot). */
static int use_int8(const mote_session_t *s, const job_t *j, size_t kp) {
  if (!s->act_int8 || !mote_linear_q_i8_ok(j->K, j->group) || j->T * kp > s->act_cap)
    return 0;
  if (s->act_int8 == 2) return 1;
  const mote_kernels_t *r = mote_kernels_ref();
  int simd_f32 = j->k->linear_q2_f32 && j->k->linear_q2_f32 != r->linear_q2_f32;
  int simd_i8 = j->k->linear_q2_i8 && j->k->linear_q2_i8 != r->linear_q2_i8;
  if (simd_f32 && !simd_i8) return 0;
  if (simd_f32 && j->k->q_f32_min_rows && j->T >= j->k->q_f32_min_rows &&
      !(j->k->q_i8_rows_bits & (1u << j->qbits)))
    return 0;
  return 1;
}

/* Points j at the session's quantized-x buffer and the int8 kernel for W's
 * width. */
static void set_act_i8(const mote_session_t *s, job_t *j) {
  j->act.q = s->act_q;
  j->act.d = s->act_d;
  j->act.bs = s->act_bs;
  j->act.kp = mote_act_i8_kp(j->K);
  j->qi8fn = j->qbits == 2 ? j->k->linear_q2_i8 : j->qbits == 4 ? j->k->linear_q4_i8
                                                                 : j->k->linear_q8_i8;
}

static void par_qlinear(const mote_session_t *s, job_t *j, uint64_t work) {
  const mote_kernels_t *r = mote_kernels_ref();
  size_t kp = mote_act_i8_kp(j->K);
  if (!use_int8(s, j, kp)) {
    par(s, j->N, 64, work, run_linear_q, j);
    return;
  }
  if (!j->k->linear_qact_i8) j->k = r; /* a table without the int8 path */
  set_act_i8(s, j);
  par(s, j->T, 1, (uint64_t)j->T * j->K * 4, run_qact_i8, j);
  par(s, j->N, 64, work, run_linear_q_i8, j);
}

/* ------------------------------------------------------------------------ */
/* Linears that share their input, in one parallel region                   */
/* ------------------------------------------------------------------------ */

/* Consecutive LINEAR steps over the same activation (q/k/v, gate/up) whose
 * quantized weights take the int8 path with one activation layout run as
 * one region over their rows laid end to end, after one quantization of x:
 * one fork/join instead of up to MAX_FUSED, and one tail where a thread
 * waits for the other's last chunk (decode is memory-bound, so a tail with
 * one thread streaming runs at about half speed). docs/quant-kernels.md
 * "Fused linears". */
#define MAX_FUSED 4

typedef struct fused_job {
  job_t part[MAX_FUSED];
  size_t start[MAX_FUSED + 1]; /* part i owns rows [start[i], start[i+1]) */
  int n;
} fused_job_t;

static void run_fused_q_i8(void *c, size_t b, size_t e, uint32_t tid) {
  fused_job_t *f = c;
  for (int i = 0; i < f->n; ++i) {
    size_t lo = f->start[i], hi = f->start[i + 1];
    size_t bb = b > lo ? b : lo, ee = e < hi ? e : hi;
    if (bb < ee) run_linear_q_i8(&f->part[i], bb - lo, ee - lo, tid);
  }
}

/* Fills j for LINEAR step st over n rows as exec_step would; returns 0 when
 * W is not quantized. */
static int linear_q_job(const mote_session_t *s, const mote_graph_t *g,
                        const mote_step_t *st, uint32_t n, job_t *j) {
  const mote_tensor_t *t = qtensor(s, g, st->operands[1]);
  if (!t) return 0;
  memset(j, 0, sizeof *j);
  j->k = s->k;
  j->x = fptr(s, g, st->operands[0]);
  j->bias = st->n_operands == 3 ? fptr(s, g, st->operands[2]) : NULL;
  j->y = fptr(s, g, st->results[0]);
  j->T = n;
  j->K = opv(g, st, 0)->shape[1];
  j->N = opv(g, st, 1)->shape[0];
  set_qweight(j, t);
  return 1;
}

/* How many steps from k on (1 = just k) run as one fused region. */
static uint32_t fusable(const mote_session_t *s, const mote_graph_t *g, uint32_t k,
                        uint32_t n, int want_logits) {
  const mote_step_t *a = &g->steps[k];
  if (a->op != MOTE_OP_LINEAR || !s->k->linear_qact_i8) return 1;
  job_t ja;
  if (!linear_q_job(s, g, a, n, &ja) || !use_int8(s, &ja, mote_act_i8_kp(ja.K))) return 1;
  uint32_t m = 1;
  while (m < MAX_FUSED && k + m < g->n_steps) {
    const mote_step_t *b = &g->steps[k + m];
    job_t jb;
    if (b->op != MOTE_OP_LINEAR || b->operands[0] != a->operands[0] ||
        (!want_logits && b->results[0] == g->output_logits) || !linear_q_job(s, g, b, n, &jb) ||
        jb.qbits != ja.qbits || !use_int8(s, &jb, mote_act_i8_kp(jb.K)))
      break;
    /* b must not read what an earlier fused step writes (its input is a's,
     * produced before k; its weight and bias are weights, but check). */
    int reads_earlier = 0;
    for (uint32_t i = 0; i < m; ++i)
      for (uint32_t o = 0; o < b->n_operands; ++o)
        reads_earlier |= b->operands[o] == g->steps[k + i].results[0];
    if (reads_earlier) break;
    ++m;
  }
  return m;
}

static void exec_fused(mote_session_t *s, const mote_graph_t *g, uint32_t k, uint32_t m,
                       uint32_t n) {
  fused_job_t f;
  f.n = (int)m;
  f.start[0] = 0;
  uint64_t work = 0;
  for (uint32_t i = 0; i < m; ++i) {
    job_t *j = &f.part[i];
    (void)linear_q_job(s, g, &g->steps[k + i], n, j); /* fusable() checked it */
    set_act_i8(s, j);
    f.start[i + 1] = f.start[i] + j->N;
    work += (uint64_t)n * j->N * j->K;
  }
  if (!s->fused_logged) { /* once per session: tests check fusion ran */
    s->fused_logged = 1;
    mote_pal_log(MOTE_LOG_DEBUG, "executor: graph %.*s fuses %u LINEAR steps from step %u",
                 (int)g->name.n, g->name.p, m, k);
  }
  job_t *j0 = &f.part[0];
  par(s, j0->T, 1, (uint64_t)j0->T * j0->K * 4, run_qact_i8, j0);
  par(s, f.start[m], 64, work, run_fused_q_i8, &f);
}

/* ------------------------------------------------------------------------ */
/* The schedule                                                             */
/* ------------------------------------------------------------------------ */

static uint32_t step_rows(const mote_graph_t *g, const mote_step_t *st, uint32_t n);

/* LORA_LINEAR's adapter part (docs/lora.md). tmp (n, r) = scale * x . A^T
 * in the session's scratch (f32 linear kernel); then y += tmp . B^T with the
 * up-projection kernel over B's transpose (lora_kernels.h), either fused into
 * the base linear's parallel region (f32 W: each chunk of output columns adds
 * its adapter columns, so the adapter splits across threads with the base)
 * or after the base step ran (quantized / f16 W). */
typedef struct lora_job {
  job_t j; /* first: run_linear reads it */
  mote_lora_b_f32_fn up;
  const float *tmp, *bt;
  size_t r;
} lora_job_t;

static void run_lora_up(void *c, size_t b, size_t e, uint32_t tid) {
  const lora_job_t *l = c;
  l->up(l->tmp, l->j.T, l->r, l->bt, l->j.y, l->j.N, b, e);
}

static void run_lora_fused(void *c, size_t b, size_t e, uint32_t tid) {
  const lora_job_t *l = c;
  const job_t *j = &l->j;
  j->k->linear_f32(j->x, j->T, j->K, j->w, j->bias, j->y, j->N, b, e);
  l->up(l->tmp, j->T, l->r, l->bt, j->y, j->N, b, e);
}

static void lora_ax(mote_session_t *s, const mote_graph_t *g, const mote_step_t *st,
                    uint32_t n, const mote_lora_bind_t *lb) {
  job_t j;
  memset(&j, 0, sizeof j);
  j.k = s->k;
  size_t K = opv(g, st, 0)->shape[1], r = lb->rank;
  j.x = fptr(s, g, st->operands[0]);
  j.w = lb->A;
  j.y = s->lora_tmp;
  j.T = n;
  j.K = K;
  j.N = r;
  par(s, r, 8, (uint64_t)n * r * K, run_linear, &j);
  for (size_t i = 0; i < (size_t)n * r; ++i) s->lora_tmp[i] *= lb->scale;
}

/* fused != 0: f32 W, base and adapter in one region; else adapter only. */
static void lora_run(mote_session_t *s, const mote_graph_t *g, const mote_step_t *st,
                     uint32_t n, float *y, const mote_lora_bind_t *lb, int fused) {
  lora_ax(s, g, st, n, lb);
  lora_job_t l;
  memset(&l, 0, sizeof l);
  l.j.k = s->k;
  l.j.x = fptr(s, g, st->operands[0]);
  l.j.w = fptr(s, g, st->operands[1]);
  l.j.bias = st->n_operands == 3 ? fptr(s, g, st->operands[2]) : NULL;
  l.j.y = y;
  l.j.T = n;
  l.j.K = opv(g, st, 0)->shape[1];
  l.j.N = opv(g, st, 1)->shape[0];
  l.up = s->k->lora_b_f32 ? s->k->lora_b_f32 : mote_kernels_ref()->lora_b_f32;
  l.tmp = s->lora_tmp;
  l.bt = lb->Bt;
  l.r = lb->rank;
  uint64_t up_work = (uint64_t)n * l.j.N * l.r;
  if (fused)
    par(s, l.j.N, 16, (uint64_t)n * l.j.N * l.j.K + up_work, run_lora_fused, &l.j);
  else
    par(s, l.j.N, 16, up_work, run_lora_up, &l.j);
}

/* `last`: the row among the step's n whose logits / last_row are wanted
 * (n - 1, or earlier when the call's tail rows are padding). */
static void exec_step(mote_session_t *s, const mote_graph_t *g, const mote_step_t *st,
                      uint32_t n, uint32_t pos0, uint32_t last) {
  job_t j;
  memset(&j, 0, sizeof j);
  j.k = s->k;
  j.pos = s->pos_buf + pos0; /* a 1-row step sees the last position only */
  float *out = fptr(s, g, st->results[0]);
  switch (st->op) {
    /* ---- EMBEDDING: out (n, D) = table rows of the token ids ---------- */
    case MOTE_OP_EMBEDDING: {
      size_t D = opv(g, st, 0)->shape[1];
      const mote_tensor_t *qt = qtensor(s, g, st->operands[0]);
      if (qt) { /* quantized table: dequantize each token's row */
        for (uint32_t t = 0; t < n; ++t)
          mote_dequant_row_q(qt->quant.bits, (const uint8_t *)qt->data, qt->quant.scales,
                             qt->quant.scales_f16, D, qt->quant.group_size,
                             (size_t)qt->quant.row_bytes,
                             (size_t)s->tok_buf[t], out + (size_t)t * D);
        return;
      }
      const mote_tensor_t *ht = htensor(s, g, st->operands[0]);
      if (ht) { /* f16 table: widen each token's row */
        for (uint32_t t = 0; t < n; ++t) {
          const uint16_t *row = (const uint16_t *)ht->data + (size_t)s->tok_buf[t] * D;
          for (size_t d = 0; d < D; ++d) out[(size_t)t * D + d] = mote_half_to_float(row[d]);
        }
        return;
      }
      const float *table = fptr(s, g, st->operands[0]); /* (V, D) */
      for (uint32_t t = 0; t < n; ++t)
        memcpy(out + (size_t)t * D, table + (size_t)s->tok_buf[t] * D, D * sizeof(float));
      return;
    }
    /* ---- RMS_NORM: out (n, D) = x / rms(x) * w, split over rows ------- */
    case MOTE_OP_RMS_NORM:
      j.x = fptr(s, g, st->operands[0]);    /* (n, D) */
      j.w = fptr(s, g, st->operands[1]);    /* (D) */
      j.y = out;
      j.K = opv(g, st, 0)->shape[1];
      j.eps = st->f[0];
      par(s, n, 1, (uint64_t)n * j.K * 4, run_rms, &j);
      return;
    /* ---- LINEAR: out (n, N) = x (n, K) . w (N, K)^T + bias, split over N */
    /* ---- LORA_LINEAR: LINEAR, then the bound adapter's s.B(A.x) ----- */
    case MOTE_OP_LORA_LINEAR: {
      const mote_lora_bind_t *lb = s->lora ? &s->lora[st->i[0]] : NULL;
      if (lb && !lb->rank) lb = NULL;
      const mote_value_t *wv = opv(g, st, 1);
      if (lb && wv->kind == MOTE_VK_WEIGHT && s->m->b.tensors[wv->ref].dtype == MOTE_DT_F32) {
        lora_run(s, g, st, n, out, lb, 1);
        return;
      }
      mote_step_t base = *st; /* the base exactly as LINEAR runs it */
      base.op = MOTE_OP_LINEAR;
      exec_step(s, g, &base, n, pos0, last);
      if (lb) lora_run(s, g, st, n, out, lb, 0);
      return;
    }
    case MOTE_OP_LINEAR:
      j.x = fptr(s, g, st->operands[0]);
      j.w = fptr(s, g, st->operands[1]);
      j.bias = st->n_operands == 3 ? fptr(s, g, st->operands[2]) : NULL;
      j.y = out;
      j.T = n;
      j.K = opv(g, st, 0)->shape[1];
      j.N = opv(g, st, 1)->shape[0];
      /* Grain 16 rows: a 64-byte line of y per row, and fine enough that
       * small N (64 in stories260K) still splits evenly. */
      if (qtensor(s, g, st->operands[1])) {
        /* Grain 64: a quantized decode call first permutes x (~K/8 gathers),
         * so chunks stay long enough to amortize it. */
        set_qweight(&j, qtensor(s, g, st->operands[1]));
        par_qlinear(s, &j, (uint64_t)n * j.N * j.K);
        return;
      }
      if (htensor(s, g, st->operands[1])) {
        set_hweight(&j, htensor(s, g, st->operands[1]));
        par(s, j.N, 16, (uint64_t)n * j.N * j.K, run_linear_h, &j);
        return;
      }
      par(s, j.N, 16, (uint64_t)n * j.N * j.K, run_linear, &j);
      return;
    /* ---- ROPE: out (n, H*hd) rotated at positions, split over rows ---- */
    case MOTE_OP_ROPE:
      j.x = fptr(s, g, st->operands[0]);
      j.y = out;
      j.hd = (size_t)st->i[0];
      j.H = opv(g, st, 0)->shape[1] / j.hd;
      j.style = (int)st->i[1];
      /* i[2], i[3], f[1..3]: the scaling (validated), when the step has it. */
      j.rope.theta = st->f[0];
      j.rope.scaling = st->n_i > 2 ? (int32_t)st->i[2] : MOTE_ROPE_PLAIN;
      if (j.rope.scaling != MOTE_ROPE_PLAIN) { /* then n_i, n_f >= 4 */
        j.rope.factor = st->f[1];
        j.rope.low_freq_factor = st->f[2];
        j.rope.high_freq_factor = st->f[3];
        j.rope.original_max_pos = (float)st->i[3];
      }
      par(s, n, 1, (uint64_t)n * j.H * j.hd * 8, run_rope, &j);
      return;
    /* ---- KV_APPEND: cache row pos[t] = src row t ----------------------- */
    case MOTE_OP_KV_APPEND: {
      const mote_value_t *cache = opv(g, st, 0); /* (C, W) */
      size_t W = cache->shape[1];
      float *base = s->kv_base[cache->ref];
      const float *src = fptr(s, g, st->operands[1]); /* (n, W) */
      if (s->kv_scales[cache->ref]) {
        /* 8-bit cache, head-major as the f32 one (session.c): each row's
         * heads quantized into their own blocks of codes and of scales
         * (group_size == head_dim, validated). */
        size_t G = s->m->b.kv[cache->ref].group_size;
        for (uint32_t t = 0; t < n; ++t)
          for (size_t h = 0; h < W / G; ++h) {
            size_t at = h * s->context + (size_t)s->pos_buf[t];
            mote_kv_quant_row_q8(src + (size_t)t * W + h * G, G, G,
                                 (int8_t *)base + at * G, s->kv_scales[cache->ref] + at);
          }
        return;
      }
      /* f32 cache: head-major (Hkv, context, hd), so that attention reads
       * each KV head's rows contiguously (session.c). */
      size_t hd = s->m->b.kv[cache->ref].head_dim ? s->m->b.kv[cache->ref].head_dim : W;
      for (uint32_t t = 0; t < n; ++t)
        for (size_t h = 0; h < W / hd; ++h)
          memcpy(base + (h * s->context + (size_t)s->pos_buf[t]) * hd,
                 src + (size_t)t * W + h * hd, hd * sizeof(float));
      return;
    }
    /* ---- ATTENTION: out (n, Hq*hd) over cache rows 0..pos[t], split over heads */
    case MOTE_OP_ATTENTION:
      j.x = fptr(s, g, st->operands[0]);
      j.kc = s->kv_base[opv(g, st, 1)->ref];
      j.vc = s->kv_base[opv(g, st, 2)->ref];
      j.y = out;
      j.T = n;
      j.H = (size_t)st->i[0];
      j.Hkv = (size_t)st->i[1];
      j.hd = (size_t)st->i[2];
      j.scale = st->f[0];
      j.scratch = s->scratch;
      j.ctx = (size_t)s->context * MOTE_ATTENTION_HEADS; /* per thread */
      if (s->kv_scales[opv(g, st, 1)->ref]) { /* 8-bit caches (validated: both) */
        j.kq = (const int8_t *)j.kc;
        j.vq = (const int8_t *)j.vc;
        j.ks = s->kv_scales[opv(g, st, 1)->ref];
        j.vs = s->kv_scales[opv(g, st, 2)->ref];
        j.afn = j.k->attention_q8_f32 ? j.k->attention_q8_f32
                                      : mote_kernels_ref()->attention_q8_f32;
        /* kv_widen (NULL without a prefill graph) holds 2 * context *
         * group_size floats per thread, and a q8 attention's head_dim is its
         * cache's group_size (validated): prefill widens each KV head once
         * for all its query heads and rows. */
        j.kvbuf = s->kv_widen;
        j.kvbuf_floats = s->kv_widen_floats;
      }
      /* Both caches head-major (session.c): (Hkv, context, hd) codes or
       * floats, q8 scales (Hkv, context). Chunks of whole KV groups: the
       * kernels read a group's rows once. */
      j.kv_row = j.hd;
      j.kv_head = (size_t)s->context * j.hd;
      par(s, j.H, j.H / j.Hkv, (uint64_t)n * j.H * j.hd * (j.pos[n - 1] + 1u) * 2,
          j.ks ? run_attention_q8 : run_attention, &j);
      return;
    /* ---- SWIGLU / ADD: elementwise over n * F -------------------------- */
    case MOTE_OP_SWIGLU:
    case MOTE_OP_ADD: {
      j.a = fptr(s, g, st->operands[0]);
      j.b = fptr(s, g, st->operands[1]);
      j.y = out;
      size_t count = (size_t)n * opv(g, st, 0)->shape[1];
      /* SwiGLU's exp and divide cost ~16 multiply-adds an element: a decode
       * step's 8192 (1B) take ~8 us on one thread, so they split. */
      uint64_t per = st->op == MOTE_OP_ADD ? 2 : 16;
      par(s, count, 64, (uint64_t)count * per, st->op == MOTE_OP_ADD ? run_add : run_swiglu,
          &j);
      return;
    }
    /* ---- LOGITS: out (R, V) = x rows . w^T; R = n or just row n-1 ------ */
    case MOTE_OP_LOGITS: {
      size_t D = opv(g, st, 0)->shape[1];
      size_t rows = st->i[0] ? n : 1;
      j.x = fptr(s, g, st->operands[0]) + (st->i[0] ? 0 : (size_t)last * D);
      j.w = fptr(s, g, st->operands[1]);
      j.y = out;
      j.T = rows;
      j.K = D;
      j.N = opv(g, st, 1)->shape[0];
      if (qtensor(s, g, st->operands[1])) {
        set_qweight(&j, qtensor(s, g, st->operands[1]));
        par_qlinear(s, &j, (uint64_t)rows * j.N * D);
        return;
      }
      if (htensor(s, g, st->operands[1])) {
        set_hweight(&j, htensor(s, g, st->operands[1]));
        par(s, j.N, 16, (uint64_t)rows * j.N * D, run_linear_h, &j);
        return;
      }
      par(s, j.N, 16, (uint64_t)rows * j.N * D, run_linear, &j);
      return;
    }
    /* ---- LAST_ROW: out row 0 = the last real row of x (or its position) */
    case MOTE_OP_LAST_ROW: {
      const mote_value_t *x = opv(g, st, 0);
      if (x->dtype == MOTE_DT_I32) {
        memcpy(out, &s->pos_buf[last], sizeof(int32_t));
        return;
      }
      size_t D = x->shape[1];
      memcpy(out, fptr(s, g, st->operands[0]) + (size_t)last * D, D * sizeof(float));
      return;
    }
    default:
      return; /* unreachable: validation rejects unknown ops */
  }
}

/* Rows step st runs on when the call has n: a step whose activation operand
 * 0 has one row (downstream of a LAST_ROW, proved by validation) runs on
 * that row, at the last position; EMBEDDING, KV_APPEND and LAST_ROW take n. */
static uint32_t step_rows(const mote_graph_t *g, const mote_step_t *st, uint32_t n) {
  if (st->op == MOTE_OP_EMBEDDING || st->op == MOTE_OP_KV_APPEND ||
      st->op == MOTE_OP_LAST_ROW)
    return n;
  uint64_t r = g->values[st->operands[0]].shape[0];
  return r < n ? (uint32_t)r : n;
}

mote_status_t mote_exec_graph(mote_session_t *s, const mote_graph_t *g,
                              const int32_t *tokens, uint32_t n,
                              const float **out_logits) {
  return mote_exec_graph_padded(s, g, tokens, n, n, out_logits);
}

mote_status_t mote_exec_graph_padded(mote_session_t *s, const mote_graph_t *g,
                                     const int32_t *tokens, uint32_t n_real, uint32_t n,
                                     const float **out_logits) {
  MOTE_CHECK_OR_RETURN(n >= 1 && n <= g->max_tokens && n_real >= 1 && n_real <= n,
                       MOTE_ERR_INTERNAL, "graph %.*s called with %u of %u rows (max %u)",
                       (int)g->name.n, g->name.p, n_real, n, g->max_tokens);
  MOTE_CHECK_OR_RETURN(s->pos <= s->context && n <= s->context - s->pos,
                       MOTE_ERR_OUT_OF_RANGE, "context full: %u + %u tokens > %u",
                       s->pos, n, s->context);
  for (uint32_t t = 0; t < n; ++t) {
    /* Padding rows (t >= n_real) read token 0 at the next positions: they
     * write cache rows past the prompt that nothing reads before a later
     * call overwrites them. */
    int32_t tok = t < n_real ? tokens[t] : 0;
    MOTE_CHECK_OR_RETURN(tok >= 0 && (uint32_t)tok < g->min_vocab,
                         MOTE_ERR_OUT_OF_RANGE, "token id %d out of range (vocab %u)",
                         tok, g->min_vocab);
    s->tok_buf[t] = tok;
    s->pos_buf[t] = (int32_t)(s->pos + t);
  }
  /* The graph's own inputs, for any step that reads them from the arena; the
   * executor itself uses tok_buf/pos_buf, which no step can overwrite. */
  memcpy(s->arena + g->values[g->input_tokens].offset, s->tok_buf, n * sizeof(int32_t));
  memcpy(s->arena + g->values[g->input_positions].offset, s->pos_buf, n * sizeof(int32_t));
  for (uint32_t k = 0; k < g->n_steps; ++k) {
    /* No logits wanted (a chunk before a prompt's last): skip the step
     * that only produces them (the classifier reads the whole vocab). */
    if (!out_logits && g->steps[k].n_results == 1 &&
        g->steps[k].results[0] == g->output_logits)
      continue;
    uint32_t rows = step_rows(g, &g->steps[k], n);
    uint32_t m = s->fuse_linears ? fusable(s, g, k, rows, out_logits != NULL) : 1;
    uint64_t t0 = s->prof ? mote_pal_now_ns() : 0;
    if (m > 1)
      exec_fused(s, g, k, m, rows);
    else /* A one-row step (after LAST_ROW) works on the last real row. */
      exec_step(s, g, &g->steps[k], rows, rows < n ? n_real - 1 : 0,
                rows < n ? 0 : n_real - 1);
    if (s->prof) {
      mote_prof_t *p = &s->prof[s->prof_graph[g - s->m->b.graphs] + k];
      p->ns += mote_pal_now_ns() - t0;
      p->calls++;
      p->fused = m;
    }
    k += m - 1;
  }
  if (s->prof) s->prof_calls[g - s->m->b.graphs]++;
  if (!out_logits) return MOTE_OK;
  const mote_value_t *lv = &g->values[g->output_logits];
  size_t row = lv->shape[0] == 1 ? 0 : (size_t)(n_real - 1);
  *out_logits = (const float *)(s->arena + lv->offset) + row * lv->shape[1];
  return MOTE_OK;
}
