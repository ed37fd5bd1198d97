/* profile.c: MOTE_PROFILE=1 times every step of every graph call; the
 * session prints the sums when it is destroyed (MOTE_LOG=info), one line
 * per kind of step: op, the weight's shape and width, how many steps of the
 * graph share them, time per graph call, and for weights the bytes streamed
 * per second. Off (no clock reads) unless the variable is set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "session.h"
#include "status.h"

static const char *const kOpName[MOTE_OP_COUNT_] = {
    "?", "embedding", "rms_norm", "linear", "rope", "kv_append", "attention",
    "swiglu", "add", "logits", "last_row", "lora_linear"};

mote_status_t mote_profile_init(mote_session_t *s) {
  const char *e = getenv("MOTE_PROFILE");
  if (!e || !*e || !strcmp(e, "0")) return MOTE_OK;
  const mote_bundle_t *b = &s->m->b;
  size_t total = 0;
  for (uint32_t g = 0; g < b->n_graphs; ++g) total += b->graphs[g].n_steps;
  s->prof = mote_alloc(s->m->alloc, (total + 1) * sizeof(*s->prof), 64);
  s->prof_graph = mote_alloc(s->m->alloc, (b->n_graphs + 1) * sizeof(size_t), 64);
  s->prof_calls = mote_alloc(s->m->alloc, (b->n_graphs + 1) * sizeof(uint64_t), 64);
  if (!s->prof || !s->prof_graph || !s->prof_calls)
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "session: profile tables: out of memory");
  memset(s->prof, 0, (total + 1) * sizeof(*s->prof));
  memset(s->prof_calls, 0, (b->n_graphs + 1) * sizeof(uint64_t));
  size_t at = 0;
  for (uint32_t g = 0; g < b->n_graphs; ++g) {
    s->prof_graph[g] = at;
    at += b->graphs[g].n_steps;
  }
  return MOTE_OK;
}

/* What makes two steps "the same kind" in the report. */
typedef struct prof_key {
  uint32_t op, fused, bits;
  uint64_t n, k;
} prof_key_t;

static int same(const prof_key_t *a, const prof_key_t *b) {
  return a->op == b->op && a->fused == b->fused && a->bits == b->bits && a->n == b->n &&
         a->k == b->k;
}

static prof_key_t step_key(const mote_session_t *s, const mote_graph_t *g, uint32_t k,
                      uint64_t *wbytes) {
  const mote_step_t *st = &g->steps[k];
  prof_key_t y = {st->op, s->prof[s->prof_graph[g - s->m->b.graphs] + k].fused, 0, 0, 0};
  *wbytes = 0;
  if (st->op != MOTE_OP_LINEAR && st->op != MOTE_OP_LOGITS && st->op != MOTE_OP_LORA_LINEAR)
    return y;
  for (uint32_t i = 0; i < (y.fused ? y.fused : 1); ++i) {
    const mote_value_t *w = &g->values[g->steps[k + i].operands[1]];
    if (w->kind != MOTE_VK_WEIGHT) continue;
    const mote_tensor_t *t = &s->m->b.tensors[w->ref];
    *wbytes += t->size + (t->has_quant ? t->quant.scale_size : 0);
    y.n += w->shape[0];
    y.k = w->shape[1];
    y.bits = t->has_quant ? t->quant.bits : mote_dtype_size(t->dtype) * 8;
  }
  return y;
}

void mote_profile_report(const mote_session_t *s) {
  if (!s->prof) return;
  const mote_bundle_t *b = &s->m->b;
  for (uint32_t gi = 0; gi < b->n_graphs; ++gi) {
    const mote_graph_t *g = &b->graphs[gi];
    uint64_t calls = s->prof_calls[gi], all = 0;
    if (!calls) continue;
    const mote_prof_t *p = s->prof + s->prof_graph[gi];
    for (uint32_t k = 0; k < g->n_steps; ++k) all += p[k].ns;
    mote_pal_log(MOTE_LOG_INFO, "profile: graph %.*s: %llu calls, %.1f us per call",
                 (int)g->name.n, g->name.p, (unsigned long long)calls,
                 all / 1e3 / (double)calls);
    /* One line per kind, in order of first appearance: O(steps^2) at
     * destroy, a few hundred steps. */
    for (uint32_t k = 0; k < g->n_steps; ++k) {
      if (!p[k].calls) continue;
      uint64_t wb;
      prof_key_t y = step_key(s, g, k, &wb);
      int first = 1;
      for (uint32_t j = 0; j < k && first; ++j) {
        uint64_t wj;
        prof_key_t z = step_key(s, g, j, &wj);
        first = !(p[j].calls && same(&y, &z));
      }
      if (!first) continue;
      uint64_t ns = 0, bytes = 0;
      uint32_t count = 0;
      for (uint32_t j = k; j < g->n_steps; ++j) {
        uint64_t wj;
        prof_key_t z = step_key(s, g, j, &wj);
        if (!p[j].calls || !same(&y, &z)) continue;
        ns += p[j].ns;
        bytes += wj * p[j].calls;
        ++count;
      }
      char what[96];
      if (y.n)
        snprintf(what, sizeof what, "%s%s %llux%llu w%u", kOpName[y.op % MOTE_OP_COUNT_],
                 y.fused > 1 ? " (fused)" : "", (unsigned long long)y.n,
                 (unsigned long long)y.k, y.bits);
      else
        snprintf(what, sizeof what, "%s", kOpName[y.op % MOTE_OP_COUNT_]);
      if (bytes)
        mote_pal_log(MOTE_LOG_INFO, "profile:   %-32s x%-3u %9.1f us per call %7.2f GB/s",
                     what, count, ns / 1e3 / (double)calls, (double)bytes / (double)ns);
      else
        mote_pal_log(MOTE_LOG_INFO, "profile:   %-32s x%-3u %9.1f us per call", what, count,
                     ns / 1e3 / (double)calls);
    }
  }
}

void mote_profile_free(mote_session_t *s) {
  mote_free(s->m->alloc, s->prof);
  mote_free(s->m->alloc, s->prof_graph);
  mote_free(s->m->alloc, s->prof_calls);
}
