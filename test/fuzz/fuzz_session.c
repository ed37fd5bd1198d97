/* fuzz_session.c: libFuzzer harness for the session API: the input is read
 * as a sequence of C API calls on small real bundles (MOTE_FUZZ_SESSION_BUNDLES,
 * paths separated by ':'; the smoke test gives stories260K with a short
 * context, a bucketed one with a score graph, a w4 one with an 8-bit KV
 * cache). Calls: prefill (token ids in and out of range, past the context),
 * decode, score, reset, set_prefill_policy, set_bucket_cost, prefill_plan,
 * sampler create/sample (hostile parameters and logits), set_adapter(NULL),
 * session re-create, runs of decode steps past the context, NULL arguments.
 *
 * Every call must return a status, never crash; beyond that the harness
 * holds the API to what mote.h says: a call whose arguments are valid
 * succeeds, one whose arguments are not fails with the documented code and
 * leaves the position where it was; logits of these real f32 models are
 * finite; a plan covers the tokens; a sampled id is inside the vocabulary. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_MODELS 4
#define MAX_TOKENS 80

static struct {
  mote_model_t *m;
  mote_model_info_t info;
  mote_buckets_info_t bk;
} g_mod[MAX_MODELS];
static int g_n;
static float *g_logits; /* a copy of the last logits (largest vocab) */
static float *g_score;  /* MAX_TOKENS x vocab */
static uint32_t g_vmax;

static void cleanup(void) {
  for (int i = 0; i < g_n; ++i) mote_model_close(g_mod[i].m);
  free(g_logits);
  free(g_score);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *env = getenv("MOTE_FUZZ_SESSION_BUNDLES");
  if (!env || !*env) {
    fprintf(stderr, "fuzz_session: set MOTE_FUZZ_SESSION_BUNDLES=a.mote[:b.mote...]\n");
    exit(2);
  }
  char paths[8192];
  snprintf(paths, sizeof paths, "%s", env);
  for (char *p = strtok(paths, ":"); p && g_n < MAX_MODELS; p = strtok(NULL, ":")) {
    if (mote_model_open(p, NULL, &g_mod[g_n].m) != MOTE_OK ||
        mote_model_get_info(g_mod[g_n].m, &g_mod[g_n].info) != MOTE_OK ||
        mote_model_get_buckets(g_mod[g_n].m, &g_mod[g_n].bk) != MOTE_OK) {
      fprintf(stderr, "fuzz_session: %s: %s\n", p, mote_last_error());
      exit(2);
    }
    if (g_mod[g_n].info.vocab_size > g_vmax) g_vmax = g_mod[g_n].info.vocab_size;
    fprintf(stderr, "fuzz_session: %s: vocab %u, context %u, prefill %u, %u token buckets\n", p,
            g_mod[g_n].info.vocab_size, g_mod[g_n].info.context,
            g_mod[g_n].info.prefill_tokens, g_mod[g_n].bk.n_tokens);
    ++g_n;
  }
  g_logits = malloc((size_t)g_vmax * sizeof(float));
  g_score = malloc((size_t)MAX_TOKENS * g_vmax * sizeof(float));
  if (!g_logits || !g_score) abort();
  mote_session_t *s = NULL;
  FUZZ_CHECK(mote_session_create(NULL, NULL, &s) == MOTE_ERR_INVALID_ARGUMENT && !s,
             "session_create(NULL model)");
  atexit(cleanup);
  return 0;
}

/* The input, consumed a byte at a time (zeros once it runs out). */
typedef struct {
  const uint8_t *p;
  size_t n;
} reader_t;

static uint8_t next(reader_t *r) {
  if (!r->n) return 0;
  --r->n;
  return *r->p++;
}

/* A token id: mostly valid, sometimes just outside the vocabulary. */
static int32_t token(reader_t *r, uint32_t vocab) {
  uint8_t b = next(r);
  switch (b) {
    case 250: return -1;
    case 251: return (int32_t)vocab;
    case 252: return INT32_MAX;
    case 253: return INT32_MIN;
    case 254: return (int32_t)vocab - 1;
    case 255: return (int32_t)(vocab + next(r));
    default: return (int32_t)(((uint32_t)b << 8 | next(r)) % vocab);
  }
}

static int finite_all(const float *x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!isfinite(x[i])) return 0;
  return 1;
}

typedef struct {
  mote_session_t *s;
  uint32_t ctx, vocab;
  int have_logits;
  int policy;
} state_t;

static void op_prefill(state_t *st, reader_t *r, int score) {
  uint32_t n = next(r) % MAX_TOKENS;
  int32_t toks[MAX_TOKENS];
  int valid_ids = 1;
  for (uint32_t i = 0; i < n; ++i) {
    toks[i] = token(r, st->vocab);
    if (toks[i] < 0 || (uint32_t)toks[i] >= st->vocab) valid_ids = 0;
  }
  uint32_t pos = mote_session_position(st->s);
  const float *lg = NULL;
  mote_status_t rc = score ? mote_session_score(st->s, toks, n, g_score)
                           : mote_session_prefill(st->s, toks, n, &lg);
  const char *what = score ? "score" : "prefill";
  if (n == 0) {
    FUZZ_CHECK(rc == MOTE_ERR_INVALID_ARGUMENT, "%s of 0 tokens: %d", what, rc);
  } else if (pos + n > st->ctx || !valid_ids) {
    FUZZ_CHECK(rc == MOTE_ERR_OUT_OF_RANGE, "%s of %u tokens at %u (ctx %u, ids ok %d): %d %s",
               what, n, pos, st->ctx, valid_ids, rc, mote_last_error());
  } else {
    FUZZ_CHECK(rc == MOTE_OK, "%s of %u valid tokens at %u (ctx %u, policy %d): %s", what, n,
               pos, st->ctx, st->policy, mote_last_error());
  }
  if (rc != MOTE_OK) {
    FUZZ_CHECK(mote_session_position(st->s) == pos, "failed %s moved the position %u -> %u",
               what, pos, mote_session_position(st->s));
    st->have_logits = 0;
    return;
  }
  FUZZ_CHECK(mote_session_position(st->s) == pos + n, "%s: position %u after %u + %u", what,
             mote_session_position(st->s), pos, n);
  if (score) {
    FUZZ_CHECK(finite_all(g_score, (size_t)n * st->vocab), "score: non-finite logits");
    memcpy(g_logits, g_score + (size_t)(n - 1) * st->vocab, st->vocab * sizeof(float));
  } else {
    FUZZ_CHECK(finite_all(lg, st->vocab), "prefill: non-finite logits");
    memcpy(g_logits, lg, st->vocab * sizeof(float));
  }
  st->have_logits = 1;
}

static void op_decode(state_t *st, reader_t *r) {
  int32_t t = token(r, st->vocab);
  uint32_t pos = mote_session_position(st->s);
  const float *lg = NULL;
  mote_status_t rc = mote_session_decode(st->s, t, &lg);
  int valid = t >= 0 && (uint32_t)t < st->vocab && pos < st->ctx;
  FUZZ_CHECK(valid ? rc == MOTE_OK : rc == MOTE_ERR_OUT_OF_RANGE,
             "decode(%d) at %u (ctx %u): %d %s", t, pos, st->ctx, rc, mote_last_error());
  if (rc != MOTE_OK) {
    FUZZ_CHECK(mote_session_position(st->s) == pos, "failed decode moved the position");
    st->have_logits = 0;
    return;
  }
  FUZZ_CHECK(mote_session_position(st->s) == pos + 1, "decode: position");
  FUZZ_CHECK(finite_all(lg, st->vocab), "decode: non-finite logits");
  memcpy(g_logits, lg, st->vocab * sizeof(float));
  st->have_logits = 1;
}

static void op_plan(state_t *st, reader_t *r, const mote_buckets_info_t *bk) {
  uint32_t count = (uint32_t)next(r) << 1 | (next(r) & 1);
  size_t cap = next(r) % 40, n = 0;
  uint32_t rows[40];
  uint32_t pos = mote_session_position(st->s);
  mote_status_t rc = mote_session_prefill_plan(st->s, count, cap ? rows : NULL, cap, &n);
  FUZZ_CHECK(mote_session_position(st->s) == pos, "prefill_plan moved the position");
  if (pos + count > st->ctx) {
    FUZZ_CHECK(rc == MOTE_ERR_OUT_OF_RANGE, "plan of %u at %u (ctx %u): %d", count, pos,
               st->ctx, rc);
    return;
  }
  FUZZ_CHECK(n <= cap ? rc == MOTE_OK : rc == MOTE_ERR_BUFFER_TOO_SMALL, "plan: %d, %zu chunks",
             rc, n);
  if (rc != MOTE_OK) return;
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    FUZZ_CHECK(rows[i] >= 1, "plan: an empty chunk");
    sum += rows[i];
  }
  FUZZ_CHECK(sum >= count, "plan: %llu rows for %u tokens", (unsigned long long)sum, count);
  /* Padding never runs past the context. */
  FUZZ_CHECK(pos + sum <= st->ctx || !bk->n_tokens, "plan: %llu rows at %u past context %u",
             (unsigned long long)sum, pos, st->ctx);
}

static void op_sampler(state_t *st, reader_t *r) {
  static const float temps[8] = {0.0f, 0.5f, 1.0f, 2.0f, -1.0f, NAN, INFINITY, 1e-30f};
  static const float top_ps[8] = {1.0f, 0.9f, 0.5f, 1e-6f, 0.0f, -0.5f, 1.5f, NAN};
  uint8_t b = next(r);
  mote_sampler_params_t sp = {temps[b & 7], (int32_t)(int8_t)next(r), top_ps[(b >> 3) & 7],
                              (uint64_t)next(r) * 0x9E37u};
  if (b & 0x40) sp.top_k = sp.top_k * 1000;
  int valid = sp.temperature >= 0.0f && sp.top_k >= 0 && sp.top_p > 0.0f && sp.top_p <= 1.0f;
  mote_sampler_t *smp = NULL;
  mote_status_t rc = mote_sampler_create(&sp, st->vocab, NULL, &smp);
  FUZZ_CHECK(valid ? rc == MOTE_OK : rc == MOTE_ERR_INVALID_ARGUMENT, "sampler_create: %d", rc);
  if (rc != MOTE_OK) {
    FUZZ_CHECK(smp == NULL, "failed sampler_create left *out set");
    return;
  }
  if (!st->have_logits || (b & 0x80)) { /* hostile logits: NaN, inf, huge */
    static const float vals[8] = {0.0f, 1.0f, -1.0f, NAN, INFINITY, -INFINITY, 3e38f, -3e38f};
    for (uint32_t i = 0; i < st->vocab; ++i) g_logits[i] = vals[(next(r) + i) & 7];
    st->have_logits = 0; /* no longer the model's */
  }
  for (int k = 0; k < 3; ++k) {
    int32_t id = mote_sampler_sample(smp, g_logits);
    FUZZ_CHECK(id >= 0 && (uint32_t)id < st->vocab, "sampled id %d (vocab %u)", id, st->vocab);
  }
  mote_sampler_destroy(smp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || g_n == 0) return 0;
  reader_t r = {data, size};
  int which = next(&r) % g_n;
  mote_model_t *m = g_mod[which].m;
  const mote_model_info_t *info = &g_mod[which].info;
  const mote_buckets_info_t *bk = &g_mod[which].bk;
  state_t st = {NULL, 0, info->vocab_size, 0, 0};
  /* Session: 1 or 2 threads; context 0 (the bundle's), short, or too long. */
  uint8_t sb = next(&r);
  uint32_t c = sb & 0x3f;
  mote_session_options_t so = {(sb & 0x40) ? 2u : 1u, c == 0x3f ? info->context + 1 : c};
  st.ctx = so.context ? so.context : info->context;
  mote_status_t rc = mote_session_create(m, &so, &st.s);
  if (st.ctx > info->context) {
    FUZZ_CHECK(rc == MOTE_ERR_INVALID_ARGUMENT && !st.s, "session context %u > %u: %d", st.ctx,
               info->context, rc);
    return 0;
  }
  FUZZ_CHECK(rc == MOTE_OK, "session_create(context %u): %s", st.ctx, mote_last_error());
  for (int ops = 0; r.n && ops < 64; ++ops) {
    uint8_t op = next(&r);
    switch (op % 12) {
      case 0: op_prefill(&st, &r, 0); break;
      case 1: op_decode(&st, &r); break;
      case 2: op_prefill(&st, &r, 1); break;
      case 3:
        mote_session_reset(st.s);
        FUZZ_CHECK(mote_session_position(st.s) == 0, "reset");
        break;
      case 4: {
        int p = (int)(int8_t)next(&r) % 5;
        rc = mote_session_set_prefill_policy(st.s, p);
        FUZZ_CHECK(p >= 0 && p <= 2 ? rc == MOTE_OK : rc == MOTE_ERR_INVALID_ARGUMENT,
                   "set_prefill_policy(%d): %d", p, rc);
        if (rc == MOTE_OK) st.policy = p;
        break;
      }
      case 5: {
        static const double secs[8] = {1e-3, 0.0, -1.0, NAN, INFINITY, 1e-300, 1e300, 5e-6};
        uint8_t b = next(&r);
        uint32_t t = (b & 0x80) || !bk->n_tokens ? next(&r) : bk->tokens[b % bk->n_tokens];
        double sec = secs[next(&r) & 7];
        int known = 0;
        for (uint32_t i = 0; i < bk->n_tokens; ++i) known |= bk->tokens[i] == t;
        rc = mote_session_set_bucket_cost(st.s, t, sec);
        FUZZ_CHECK(known && isfinite(sec) && sec > 0 ? rc == MOTE_OK
                                                     : rc == MOTE_ERR_INVALID_ARGUMENT,
                   "set_bucket_cost(%u, %g): %d", t, sec, rc);
        break;
      }
      case 6: op_plan(&st, &r, bk); break;
      case 7: op_sampler(&st, &r); break;
      case 8:
        FUZZ_CHECK(mote_session_set_adapter(st.s, NULL) == MOTE_OK, "set_adapter(NULL)");
        break;
      case 9: { /* a fresh session on the same model */
        mote_session_destroy(st.s);
        st.s = NULL;
        st.have_logits = 0;
        st.policy = 0;
        rc = mote_session_create(m, &so, &st.s);
        FUZZ_CHECK(rc == MOTE_OK, "session re-create: %s", mote_last_error());
        break;
      }
      case 11: { /* NULL arguments: refused, nothing moves */
        uint32_t pos = mote_session_position(st.s), rows[4];
        int32_t tk[1] = {0};
        const float *lg = NULL;
        size_t n = 0;
        FUZZ_CHECK(mote_session_prefill(st.s, NULL, 1, &lg) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_prefill(st.s, tk, 1, NULL) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_prefill(NULL, tk, 1, &lg) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_decode(st.s, 0, NULL) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_decode(NULL, 0, &lg) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_score(st.s, tk, 1, NULL) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_score(st.s, NULL, 1, g_score) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_prefill_plan(st.s, 1, NULL, 4, &n) ==
                           MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_prefill_plan(st.s, 1, rows, 4, NULL) ==
                           MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_set_prefill_policy(NULL, 0) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_set_bucket_cost(NULL, 1, 1.0) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_session_set_adapter(NULL, NULL) == MOTE_ERR_INVALID_ARGUMENT &&
                       mote_sampler_sample(NULL, g_logits) == -1,
                   "a NULL argument was not refused");
        mote_session_reset(NULL);
        mote_session_destroy(NULL);
        FUZZ_CHECK(mote_session_position(NULL) == 0 && mote_session_position(st.s) == pos,
                   "NULL calls moved the position");
        break;
      }
      default: { /* a decode run to the end of the context and one past it */
        uint32_t steps = next(&r);
        for (uint32_t k = 0; k < steps; ++k) {
          reader_t one = {(const uint8_t *)"\x05\x05", 2};
          uint32_t pos = mote_session_position(st.s);
          op_decode(&st, &one);
          if (pos == st.ctx) break; /* refused at the end of the context */
        }
        break;
      }
    }
  }
  mote_session_destroy(st.s);
  return 0;
}
