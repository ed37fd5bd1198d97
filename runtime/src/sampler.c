/* sampler.c: greedy, temperature, top-k and top-p sampling with a seeded RNG;
 * buffers are allocated at create so sampling allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "status.h"

typedef struct prob_index {
  float p;
  int32_t id;
} prob_index_t;

struct mote_sampler {
  mote_sampler_params_t params;
  uint32_t vocab;
  uint64_t rng;
  prob_index_t *buf; /* (vocab) */
  const mote_allocator_t *alloc;
  mote_allocator_t alloc_copy;
};

/* xorshift64*: small, fast, and fully determined by the seed. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}
static float rng_f32(uint64_t *s) { return (float)(rng_next(s) >> 40) / 16777216.0f; }

mote_status_t mote_sampler_create(const mote_sampler_params_t *params, uint32_t vocab,
                                  const mote_allocator_t *alloc, mote_sampler_t **out) {
  MOTE_CHECK_OR_RETURN(params && out && vocab > 0, MOTE_ERR_INVALID_ARGUMENT,
                       "sampler_create: NULL argument or empty vocabulary");
  *out = NULL;
  MOTE_CHECK_OR_RETURN(params->temperature >= 0.0f && params->top_k >= 0 &&
                           params->top_p > 0.0f && params->top_p <= 1.0f,
                       MOTE_ERR_INVALID_ARGUMENT,
                       "sampler: temperature %g, top_k %d, top_p %g out of range",
                       (double)params->temperature, params->top_k, (double)params->top_p);
  mote_sampler_t *s = mote_alloc(alloc, sizeof(*s), 16);
  MOTE_CHECK_OR_RETURN(s, MOTE_ERR_OUT_OF_MEMORY, "sampler: out of memory");
  memset(s, 0, sizeof(*s));
  if (alloc) {
    s->alloc_copy = *alloc;
    s->alloc = &s->alloc_copy;
  }
  s->params = *params;
  s->vocab = vocab;
  /* A zero state would stay zero forever. */
  s->rng = params->seed ^ 0x9E3779B97F4A7C15ull;
  if (!s->rng) s->rng = 1;
  s->buf = mote_alloc(s->alloc, (size_t)vocab * sizeof(prob_index_t), 64);
  if (!s->buf) {
    mote_free(s->alloc, s);
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "sampler: out of memory");
  }
  *out = s;
  return MOTE_OK;
}

void mote_sampler_destroy(mote_sampler_t *s) {
  if (!s) return;
  const mote_allocator_t *a = s->alloc;
  mote_free(a, s->buf);
  mote_free(a, s);
}

static int32_t argmax(const float *x, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i; /* strict: lowest id wins ties */
  return (int32_t)best;
}

/* Descending probability, then ascending id: a deterministic order. */
static int by_prob_desc(const void *a, const void *b) {
  const prob_index_t *x = a, *y = b;
  if (x->p != y->p) return x->p < y->p ? 1 : -1;
  return (x->id > y->id) - (x->id < y->id);
}

int32_t mote_sampler_sample(mote_sampler_t *s, const float *logits) {
  if (!s || !logits) return -1;
  const mote_sampler_params_t *p = &s->params;
  uint32_t V = s->vocab;
  if (p->temperature <= 0.0f) return argmax(logits, V);
  /* Softmax of logits / temperature, max-subtracted for stability. */
  float mx = logits[argmax(logits, V)];
  double sum = 0.0;
  for (uint32_t i = 0; i < V; ++i) {
    float e = expf((logits[i] - mx) / p->temperature);
    s->buf[i].p = e;
    s->buf[i].id = (int32_t)i;
    sum += e;
  }
  uint32_t n = V;
  int truncate = (p->top_k > 0 && (uint32_t)p->top_k < V) || p->top_p < 1.0f;
  if (truncate) {
    qsort(s->buf, V, sizeof(prob_index_t), by_prob_desc);
    if (p->top_k > 0 && (uint32_t)p->top_k < n) n = (uint32_t)p->top_k;
    sum = 0.0;
    for (uint32_t i = 0; i < n; ++i) sum += s->buf[i].p;
    if (p->top_p < 1.0f) { /* smallest prefix holding top_p of the mass */
      double cum = 0.0, limit = p->top_p * sum;
      uint32_t keep = n;
      for (uint32_t i = 0; i < n; ++i) {
        cum += s->buf[i].p;
        if (cum >= limit) { keep = i + 1; break; }
      }
      n = keep;
      sum = cum < sum ? cum : sum;
    }
  }
  double r = (double)rng_f32(&s->rng) * sum, acc = 0.0;
  for (uint32_t i = 0; i < n; ++i) {
    acc += s->buf[i].p;
    if (r < acc) return s->buf[i].id;
  }
  return s->buf[n - 1].id; /* rounding: r landed at the very top */
}
