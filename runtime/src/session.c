/* session.c: a session owns the arena, KV cache, scratch and thread pool, all
 * allocated at create; prefill and decode allocate nothing. */
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "status.h"

static void *zalloc(const mote_allocator_t *a, size_t n, int *fail) {
  void *p = mote_alloc(a, n, 64);
  if (!p) *fail = 1;
  else memset(p, 0, n);
  return p;
}

/* Bytes of KV cache kv at `context` rows, a multiple of 64; 0 on overflow.
 * *data = bytes of its elements: f32, or for a q8 cache int8 codes padded to
 * 64, followed by its f32 scales (one per group_size = head_dim codes). The
 * runtime lays both out head-major, (Hkv, C, hd) and (Hkv, C): each KV
 * head's rows contiguous for attention (decisions.md section 13); a graph
 * of a smaller context bucket reads the first c rows of every head through
 * the same head stride (C * hd). */
static size_t kv_cache_bytes(const mote_kv_cache_t *kv, uint32_t context, size_t *data) {
  size_t C = context, W = kv->width;
  if (C == 0 || W > (SIZE_MAX / 8 - 128) / C) return 0;
  if (kv->dtype != MOTE_DT_Q8) {
    *data = C * W * sizeof(float);
    return (*data + 63) & ~(size_t)63;
  }
  *data = (C * W + 63) & ~(size_t)63;
  return *data + ((C * (W / kv->group_size) * sizeof(float) + 63) & ~(size_t)63);
}

/* Bytes of all KV caches; 0 on overflow. */
static size_t kv_total_bytes(const mote_bundle_t *b, uint32_t context) {
  size_t total = 0, data = 0;
  for (uint32_t k = 0; k < b->n_kv; ++k) {
    size_t n = kv_cache_bytes(&b->kv[k], context, &data);
    if (n == 0 || total + n < total) return 0;
    total += n;
  }
  return total;
}

/* int8 activations (issue 4): MOTE_ACTIVATIONS (int8 | int8-all | f32)
 * overrides the bundle's options.activations; neither set means f32. *int8:
 * 0 f32, 1 int8 where the kernels are faster (executor.c), 2 int8 at every T. */
static mote_status_t act_mode(const mote_model_t *m, int *int8) {
  const char *env = getenv("MOTE_ACTIVATIONS");
  if (env && *env) {
    MOTE_CHECK_OR_RETURN(strcmp(env, "int8") == 0 || strcmp(env, "int8-all") == 0 ||
                             strcmp(env, "f32") == 0,
                         MOTE_ERR_INVALID_ARGUMENT,
                         "MOTE_ACTIVATIONS=%s: must be int8, int8-all or f32", env);
    *int8 = strcmp(env, "int8") == 0 ? 1 : strcmp(env, "int8-all") == 0 ? 2 : 0;
    return MOTE_OK;
  }
  mote_str_t v = m->b.opt_activations;
  int is_int8 = v.n == 4 && memcmp(v.p, "int8", 4) == 0;
  MOTE_CHECK_OR_RETURN(v.n == 0 || is_int8 || (v.n == 3 && memcmp(v.p, "f32", 3) == 0),
                       MOTE_ERR_UNSUPPORTED,
                       "%s: options.activations: \"%.*s\" (need int8 or f32)", m->label,
                       (int)(v.n > 64 ? 64 : v.n), v.p);
  *int8 = is_int8;
  return MOTE_OK;
}

/* Codes the quantized-x buffer needs: the most of max_tokens * kp(K) over
 * the steps whose W (operand 1) is a quantized weight; 0 when none. */
static size_t act_codes(const mote_bundle_t *b) {
  size_t best = 0;
  for (uint32_t gi = 0; gi < b->n_graphs; ++gi) {
    const mote_graph_t *g = &b->graphs[gi];
    for (uint32_t k = 0; k < g->n_steps; ++k) {
      const mote_step_t *st = &g->steps[k];
      if (st->op == MOTE_OP_EMBEDDING || st->n_operands < 2) continue;
      const mote_value_t *w = &g->values[st->operands[1]];
      if (w->kind != MOTE_VK_WEIGHT || !b->tensors[w->ref].has_quant) continue;
      size_t kp = mote_act_i8_kp((size_t)g->values[st->operands[0]].shape[1]);
      if (kp > SIZE_MAX / 64 / (g->max_tokens + 1u)) return 0; /* absurd: f32 path */
      if ((size_t)g->max_tokens * kp > best) best = (size_t)g->max_tokens * kp;
    }
  }
  return best;
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
  int act_int8 = 0;
  MOTE_RETURN_IF_ERROR(act_mode(m, &act_int8));
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
  size_t kvn = kv_total_bytes(&m->b, context); /* bytes */
  int fail = (m->b.n_kv && !kvn) || arena > SIZE_MAX / 2;
  mote_status_t st = MOTE_OK;
  if (!fail) st = mote_threadpool_create(n_threads, a, &s->pool);
  if (st != MOTE_OK) fail = 1;
  uint32_t nt = s->pool ? mote_threadpool_size(s->pool) : 1;
  if (!fail) {
    s->arena = zalloc(a, (size_t)arena, &fail);
    /* The KV cache: with the default allocator, zero-filled pages from the
     * OS in huge pages where it has them (attention reads each head's rows
     * end to end: +4% decode on the 1B shape at 160 positions, +5% at 1K),
     * committed here, so that the kernel's compaction for them does not
     * stall the first prefill (docs/decisions.md §13). */
    if (a && a->alloc) {
      s->kv = zalloc(a, kvn, &fail);
    } else if (kvn) {
      s->kv = mote_pal_alloc_pages(kvn, MOTE_PAL_HUGE | MOTE_PAL_COMMIT);
      s->kv_pages = kvn;
      fail |= !s->kv;
    }
    s->kv_base = zalloc(a, (m->b.n_kv + 1) * sizeof(float *), &fail);
    s->kv_scales = zalloc(a, (m->b.n_kv + 1) * sizeof(float *), &fail);
    s->scratch = zalloc(a, (size_t)nt * context * MOTE_ATTENTION_HEADS * sizeof(float), &fail);
    /* 8-bit KV cache: per thread, one K and one V head widened to f32 for
     * the prefill rows (attention_q8_f32's kvbuf), once for all the query
     * heads and rows that read it; decode never uses it. */
    size_t g_max = 0;
    for (uint32_t k = 0; k < m->b.n_kv; ++k)
      if (m->b.kv[k].dtype == MOTE_DT_Q8 && m->b.kv[k].group_size > g_max)
        g_max = m->b.kv[k].group_size;
    if (g_max && max_t > 1 && g_max <= SIZE_MAX / 8 / context / nt) {
      s->kv_widen_floats = 2 * (size_t)context * g_max;
      s->kv_widen = zalloc(a, nt * s->kv_widen_floats * sizeof(float), &fail);
    }
    s->tok_buf = zalloc(a, max_t * sizeof(int32_t), &fail);
    s->pos_buf = zalloc(a, max_t * sizeof(int32_t), &fail);
    const char *fuse = getenv("MOTE_FUSE_LINEARS");
    s->fuse_linears = !(fuse && strcmp(fuse, "0") == 0);
    s->act_cap = act_int8 ? act_codes(&m->b) : 0;
    if (s->act_cap) { /* int8 activations: one op's quantized x */
      s->act_int8 = act_int8;
      s->act_q = zalloc(a, s->act_cap, &fail);
      s->act_d = zalloc(a, s->act_cap / 32 * sizeof(float), &fail);
      s->act_bs = zalloc(a, s->act_cap / 32 * sizeof(float), &fail);
    }
    if (m->buckets.n_t) { /* the chunk planner's tables (buckets.c) */
      s->plan_cost = zalloc(a, ((size_t)context + 1) * sizeof(double), &fail);
      s->plan_pick = zalloc(a, (size_t)context + 1, &fail);
    }
    if (m->b.lora_max_rank) /* LoRA: tmp = A.x of one call (adapter.c) */
      s->lora_tmp = zalloc(a, (size_t)max_t * m->b.lora_max_rank * sizeof(float), &fail);
  }
  if (!fail && mote_profile_init(s) != MOTE_OK) {
    mote_session_destroy(s);
    return MOTE_ERR_OUT_OF_MEMORY; /* the message is set */
  }
  if (fail) {
    mote_session_destroy(s);
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY,
                          "session: cannot allocate arena %llu B + KV cache %zu B",
                          (unsigned long long)arena, kvn);
  }
  uint8_t *p = (uint8_t *)s->kv;
  for (uint32_t i = 0; i < m->buckets.n_t; ++i) {
    s->bucket_cost[i] = m->buckets.cost[i];
    s->bucket_cost_mid[i] = m->buckets.cost[i] * m->buckets.mid_share[i];
  }
  for (uint32_t k = 0; k < m->b.n_kv; ++k) {
    size_t data = 0, n = kv_cache_bytes(&m->b.kv[k], context, &data);
    s->kv_base[k] = (float *)p; /* q8: the int8 codes */
    s->kv_scales[k] = m->b.kv[k].dtype == MOTE_DT_Q8 ? (float *)(p + data) : NULL;
    p += n;
  }
  *out = s;
  return MOTE_OK;
}

void mote_session_destroy(mote_session_t *s) {
  if (!s) return;
  const mote_allocator_t *a = s->m->alloc;
  mote_profile_report(s);
  mote_profile_free(s);
  mote_lora_session_release(s);
  mote_free(a, s->lora_tmp);
  mote_threadpool_destroy(s->pool);
  mote_free(a, s->arena);
  if (s->kv_pages) mote_pal_free_pages(s->kv, s->kv_pages);
  else mote_free(a, s->kv);
  mote_free(a, s->kv_base);
  mote_free(a, s->kv_scales);
  mote_free(a, s->scratch);
  mote_free(a, s->kv_widen);
  mote_free(a, s->tok_buf);
  mote_free(a, s->pos_buf);
  mote_free(a, s->act_q);
  mote_free(a, s->act_d);
  mote_free(a, s->act_bs);
  mote_free(a, s->plan_cost);
  mote_free(a, s->plan_pick);
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
  /* Bucketed bundles: static chunks chosen by cost (buckets.c). */
  if (s->m->buckets.n_t && s->prefill_policy != MOTE_PREFILL_DYNAMIC)
    return mote_buckets_prefill(s, tokens, count, out_logits);
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
  const mote_graph_t *bucket = mote_buckets_decode_graph(s); /* NULL: no buckets */
  MOTE_RETURN_IF_ERROR(mote_exec_graph(s, bucket ? bucket : s->m->decode, &token, 1, out_logits));
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
