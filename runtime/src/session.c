/* session.c: a session owns the arena, KV cache, scratch and thread pool, all
 * allocated at create; prefill and decode allocate nothing. */
#include <string.h>

#include "session.h"
#include "status.h"

static void *zalloc(const mote_allocator_t *a, size_t n, int *fail) {
  void *p = mote_alloc(a, n, 64);
  if (!p) *fail = 1;
  else memset(p, 0, n);
  return p;
}

/* Bytes of the KV cache; 0 on overflow. */
static size_t kv_floats(const mote_bundle_t *b, uint32_t context) {
  size_t total = 0;
  for (uint32_t k = 0; k < b->n_kv; ++k) {
    size_t rows = (size_t)context * b->kv[k].width;
    if (rows / context != b->kv[k].width || total + rows < total) return 0;
    total += rows;
  }
  return total;
}

mote_status_t mote_session_create(mote_model_t *m, const mote_session_options_t *opt,
                                  mote_session_t **out) {
  MOTE_CHECK_OR_RETURN(m && out, MOTE_ERR_INVALID_ARGUMENT, "session_create: NULL argument");
  *out = NULL;
  uint32_t context = m->context;
  if (opt && opt->context) {
    MOTE_CHECK_OR_RETURN(opt->context <= m->context, MOTE_ERR_INVALID_ARGUMENT,
                         "session context %u exceeds the bundle's %u", opt->context,
                         m->context);
    context = opt->context;
  }
  uint32_t n_threads = opt && opt->n_threads ? opt->n_threads : mote_pal_cpu_count();
  if (n_threads > 256) n_threads = 256;
  const mote_allocator_t *a = m->alloc;
  mote_session_t *s = mote_alloc(a, sizeof(*s), 64);
  MOTE_CHECK_OR_RETURN(s, MOTE_ERR_OUT_OF_MEMORY, "session: out of memory");
  memset(s, 0, sizeof(*s));
  s->m = m;
  s->k = m->k;
  s->context = context;
  uint64_t arena = 0;
  uint32_t max_t = 1;
  for (uint32_t g = 0; g < m->b.n_graphs; ++g) {
    if (m->b.graphs[g].arena_bytes > arena) arena = m->b.graphs[g].arena_bytes;
    if (m->b.graphs[g].max_tokens > max_t) max_t = m->b.graphs[g].max_tokens;
  }
  size_t kvn = kv_floats(&m->b, context);
  int fail = (m->b.n_kv && !kvn) || arena > SIZE_MAX / 2;
  mote_status_t st = MOTE_OK;
  if (!fail) st = mote_threadpool_create(n_threads, a, &s->pool);
  if (st != MOTE_OK) fail = 1;
  uint32_t nt = s->pool ? mote_threadpool_size(s->pool) : 1;
  if (!fail) {
    s->arena = zalloc(a, (size_t)arena, &fail);
    s->kv = zalloc(a, kvn * sizeof(float), &fail);
    s->kv_base = zalloc(a, (m->b.n_kv + 1) * sizeof(float *), &fail);
    s->scratch = zalloc(a, (size_t)nt * context * sizeof(float), &fail);
    s->tok_buf = zalloc(a, max_t * sizeof(int32_t), &fail);
    s->pos_buf = zalloc(a, max_t * sizeof(int32_t), &fail);
  }
  if (fail) {
    mote_session_destroy(s);
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY,
                          "session: cannot allocate arena %llu B + KV cache %zu B",
                          (unsigned long long)arena, kvn * sizeof(float));
  }
  float *p = s->kv;
  for (uint32_t k = 0; k < m->b.n_kv; ++k) {
    s->kv_base[k] = p;
    p += (size_t)context * m->b.kv[k].width;
  }
  *out = s;
  return MOTE_OK;
}

void mote_session_destroy(mote_session_t *s) {
  if (!s) return;
  const mote_allocator_t *a = s->m->alloc;
  mote_threadpool_destroy(s->pool);
  mote_free(a, s->arena);
  mote_free(a, s->kv);
  mote_free(a, s->kv_base);
  mote_free(a, s->scratch);
  mote_free(a, s->tok_buf);
  mote_free(a, s->pos_buf);
  mote_free(a, s);
}

/* Cache rows past pos are never read (attention stops at pos[t]), so a
 * reset only rewinds the position. */
void mote_session_reset(mote_session_t *s) {
  if (s) s->pos = 0;
}

uint32_t mote_session_position(const mote_session_t *s) { return s ? s->pos : 0; }

mote_status_t mote_session_prefill(mote_session_t *s, const int32_t *tokens, size_t count,
                                   const float **out_logits) {
  MOTE_CHECK_OR_RETURN(s && tokens && out_logits && count > 0, MOTE_ERR_INVALID_ARGUMENT,
                       "prefill: NULL argument or no tokens");
  MOTE_CHECK_OR_RETURN(s->pos <= s->context && count <= s->context - s->pos,
                       MOTE_ERR_OUT_OF_RANGE, "prefill: %zu tokens at position %u exceed context %u",
                       count, s->pos, s->context);
  const mote_graph_t *g = s->m->prefill ? s->m->prefill : s->m->decode;
  for (size_t t = 0; t < count; ++t) /* reject before any chunk moves pos */
    MOTE_CHECK_OR_RETURN(tokens[t] >= 0 && (uint32_t)tokens[t] < g->min_vocab,
                         MOTE_ERR_OUT_OF_RANGE, "prefill: tokens[%zu] = %d out of range (vocab %u)",
                         t, tokens[t], g->min_vocab);
  /* Full chunks of the prefill graph's T rows; the last runs with fewer. */
  size_t done = 0;
  while (done < count) {
    size_t left = count - done;
    uint32_t n = left < g->max_tokens ? (uint32_t)left : g->max_tokens;
    MOTE_RETURN_IF_ERROR(mote_exec_graph(s, g, tokens + done, n, out_logits));
    s->pos += n;
    done += n;
  }
  return MOTE_OK;
}

mote_status_t mote_session_decode(mote_session_t *s, int32_t token, const float **out_logits) {
  MOTE_CHECK_OR_RETURN(s && out_logits, MOTE_ERR_INVALID_ARGUMENT, "decode: NULL argument");
  MOTE_RETURN_IF_ERROR(mote_exec_graph(s, s->m->decode, &token, 1, out_logits));
  s->pos += 1;
  return MOTE_OK;
}

/* Every row's logits: the "score" graph's (n, V) output is copied out per
 * chunk; the decode fallback copies one row per token. */
mote_status_t mote_session_score(mote_session_t *s, const int32_t *tokens, size_t count,
                                 float *out_logits) {
  MOTE_CHECK_OR_RETURN(s && tokens && out_logits && count > 0, MOTE_ERR_INVALID_ARGUMENT,
                       "score: NULL argument or no tokens");
  MOTE_CHECK_OR_RETURN(s->pos <= s->context && count <= s->context - s->pos,
                       MOTE_ERR_OUT_OF_RANGE, "score: %zu tokens at position %u exceed context %u",
                       count, s->pos, s->context);
  const mote_graph_t *g = mote_bundle_graph(&s->m->b, "score");
  if (!g) g = s->m->decode;
  /* A graph whose logits have one row yields one token's logits per call. */
  uint32_t step = g->values[g->output_logits].shape[0] == g->max_tokens ? g->max_tokens : 1;
  for (size_t t = 0; t < count; ++t) /* reject before any chunk moves pos */
    MOTE_CHECK_OR_RETURN(tokens[t] >= 0 && (uint32_t)tokens[t] < g->min_vocab,
                         MOTE_ERR_OUT_OF_RANGE, "score: tokens[%zu] = %d out of range (vocab %u)",
                         t, tokens[t], g->min_vocab);
  const size_t V = s->m->b.spec.vocab_size;
  size_t done = 0;
  while (done < count) {
    size_t left = count - done;
    uint32_t n = left < step ? (uint32_t)left : step;
    const float *last = NULL;
    MOTE_RETURN_IF_ERROR(mote_exec_graph(s, g, tokens + done, n, &last));
    /* last is row n-1 of the graph's logits; rows are contiguous. */
    const float *first = last - (size_t)(n - 1) * V;
    memcpy(out_logits + done * V, first, (size_t)n * V * sizeof(float));
    s->pos += n;
    done += n;
  }
  return MOTE_OK;
}
