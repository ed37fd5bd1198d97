/* executor.c: walks one graph's static schedule top to bottom, calling the
 * kernel table; it knows ops, not models (no layer loop, no fixed op order).
 * Every index, offset and shape used here was proved in range at open by
 * bundle_validate.c; token ids and positions are checked per call. */
#include <string.h>

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
  const int32_t *pos;
  float *scratch;
  size_t T, K, N, H, Hkv, hd, ctx;
  int style;
  float eps, theta, scale;
  /* quantized W (issue 4): packed codes, f32 scales, kernel for its width */
  const uint8_t *codes;
  const float *qscales;
  size_t group, row_bytes;
  mote_linear_q_f32_fn qfn;
} job_t;

static void run_linear(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->linear_f32(j->x, j->T, j->K, j->w, j->bias, j->y, j->N, b, e);
}
static void run_linear_q(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->qfn(j->x, j->T, j->K, j->codes, j->qscales, j->group, j->row_bytes, j->bias, j->y,
         j->N, b, e);
}
static void run_rms(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->rms_norm_f32(j->x, j->w, j->y, j->K, j->eps, b, e);
}
static void run_rope(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->rope_f32(j->x, j->y, j->pos, j->H, j->hd, j->style, j->theta, b, e);
}
static void run_attention(void *c, size_t b, size_t e, uint32_t tid) {
  const job_t *j = c;
  j->k->attention_f32(j->x, j->kc, j->vc, j->pos, j->y, j->T, j->H, j->Hkv, j->hd,
                      j->scale, j->scratch + (size_t)tid * j->ctx, b, e);
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
                mote_range_fn fn, job_t *j) {
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

/* Points j at quantized W t and picks the kernel for its width (a table
 * without one, e.g. a new ISA, runs the reference). */
static void set_qweight(job_t *j, const mote_tensor_t *t) {
  const mote_kernels_t *r = mote_kernels_ref();
  j->codes = (const uint8_t *)t->data;
  j->qscales = t->quant.scales;
  j->group = t->quant.group_size;
  j->row_bytes = (size_t)t->quant.row_bytes;
  switch (t->quant.bits) {
    case 2: j->qfn = j->k->linear_q2_f32 ? j->k->linear_q2_f32 : r->linear_q2_f32; break;
    case 4: j->qfn = j->k->linear_q4_f32 ? j->k->linear_q4_f32 : r->linear_q4_f32; break;
    default: j->qfn = j->k->linear_q8_f32 ? j->k->linear_q8_f32 : r->linear_q8_f32; break;
  }
}

/* ------------------------------------------------------------------------ */
/* The schedule                                                             */
/* ------------------------------------------------------------------------ */

static uint32_t step_rows(const mote_graph_t *g, const mote_step_t *st, uint32_t n);

static void exec_step(mote_session_t *s, const mote_graph_t *g, const mote_step_t *st,
                      uint32_t n, uint32_t pos0) {
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
          mote_dequant_row_q(qt->quant.bits, (const uint8_t *)qt->data, qt->quant.scales, D,
                             qt->quant.group_size, (size_t)qt->quant.row_bytes,
                             (size_t)s->tok_buf[t], out + (size_t)t * D);
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
        par(s, j.N, 64, (uint64_t)n * j.N * j.K, run_linear_q, &j);
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
      j.theta = st->f[0];
      par(s, n, 1, (uint64_t)n * j.H * j.hd * 8, run_rope, &j);
      return;
    /* ---- KV_APPEND: cache row pos[t] = src row t ----------------------- */
    case MOTE_OP_KV_APPEND: {
      const mote_value_t *cache = opv(g, st, 0); /* (C, W) */
      size_t W = cache->shape[1];
      float *base = s->kv_base[cache->ref];
      const float *src = fptr(s, g, st->operands[1]); /* (n, W) */
      for (uint32_t t = 0; t < n; ++t)
        memcpy(base + (size_t)s->pos_buf[t] * W, src + (size_t)t * W, W * sizeof(float));
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
      j.ctx = s->context;
      par(s, j.H, 1, (uint64_t)n * j.H * j.hd * (j.pos[n - 1] + 1u) * 2,
          run_attention, &j);
      return;
    /* ---- SWIGLU / ADD: elementwise over n * F -------------------------- */
    case MOTE_OP_SWIGLU:
    case MOTE_OP_ADD: {
      j.a = fptr(s, g, st->operands[0]);
      j.b = fptr(s, g, st->operands[1]);
      j.y = out;
      size_t count = (size_t)n * opv(g, st, 0)->shape[1];
      par(s, count, 64, (uint64_t)count * 2, st->op == MOTE_OP_ADD ? run_add : run_swiglu,
          &j);
      return;
    }
    /* ---- LOGITS: out (R, V) = x rows . w^T; R = n or just row n-1 ------ */
    case MOTE_OP_LOGITS: {
      size_t D = opv(g, st, 0)->shape[1];
      size_t rows = st->i[0] ? n : 1;
      j.x = fptr(s, g, st->operands[0]) + (st->i[0] ? 0 : (size_t)(n - 1) * D);
      j.w = fptr(s, g, st->operands[1]);
      j.y = out;
      j.T = rows;
      j.K = D;
      j.N = opv(g, st, 1)->shape[0];
      if (qtensor(s, g, st->operands[1])) {
        set_qweight(&j, qtensor(s, g, st->operands[1]));
        par(s, j.N, 64, (uint64_t)rows * j.N * D, run_linear_q, &j);
        return;
      }
      par(s, j.N, 16, (uint64_t)rows * j.N * D, run_linear, &j);
      return;
    }
    /* ---- LAST_ROW: out row 0 = row n-1 of x (or the last position) --- */
    case MOTE_OP_LAST_ROW: {
      const mote_value_t *x = opv(g, st, 0);
      if (x->dtype == MOTE_DT_I32) {
        memcpy(out, &s->pos_buf[n - 1], sizeof(int32_t));
        return;
      }
      size_t D = x->shape[1];
      memcpy(out, fptr(s, g, st->operands[0]) + (size_t)(n - 1) * D, D * sizeof(float));
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
  MOTE_CHECK_OR_RETURN(n >= 1 && n <= g->max_tokens, MOTE_ERR_INTERNAL,
                       "graph %.*s called with %u rows (max %u)", (int)g->name.n,
                       g->name.p, n, g->max_tokens);
  MOTE_CHECK_OR_RETURN(s->pos <= s->context && n <= s->context - s->pos,
                       MOTE_ERR_OUT_OF_RANGE, "context full: %u + %u tokens > %u",
                       s->pos, n, s->context);
  for (uint32_t t = 0; t < n; ++t) {
    MOTE_CHECK_OR_RETURN(tokens[t] >= 0 && (uint32_t)tokens[t] < g->min_vocab,
                         MOTE_ERR_OUT_OF_RANGE, "token id %d out of range (vocab %u)",
                         tokens[t], g->min_vocab);
    s->tok_buf[t] = tokens[t];
    s->pos_buf[t] = (int32_t)(s->pos + t);
  }
  /* The graph's own inputs, for any step that reads them from the arena; the
   * executor itself uses tok_buf/pos_buf, which no step can overwrite. */
  memcpy(s->arena + g->values[g->input_tokens].offset, s->tok_buf, n * sizeof(int32_t));
  memcpy(s->arena + g->values[g->input_positions].offset, s->pos_buf, n * sizeof(int32_t));
  for (uint32_t k = 0; k < g->n_steps; ++k) {
    uint32_t rows = step_rows(g, &g->steps[k], n);
    exec_step(s, g, &g->steps[k], rows, n - rows);
  }
  const mote_value_t *lv = &g->values[g->output_logits];
  size_t row = lv->shape[0] == 1 ? 0 : (size_t)(n - 1);
  *out_logits = (const float *)(s->arena + lv->offset) + row * lv->shape[1];
  return MOTE_OK;
}
