/* lora_bench.c: mote-bench --adapter FILE (docs/mote-bench.md, docs/lora.md):
 * decode (and prefill) speed with no adapter vs the adapter bound, measured
 * in alternating reps on one session, and the latency of
 * mote_session_set_adapter (median and 99th percentile of many calls). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define SWITCH_CALLS 20000u

static double lb_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int lb_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double lb_quantile(double *v, size_t n, double q) {
  qsort(v, n, sizeof(double), lb_cmp);
  size_t k = (size_t)(q * (double)(n - 1) + 0.5);
  return v[k < n ? k : n - 1];
}

static int32_t lb_argmax(const float *v, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return (int32_t)best;
}

static int lb_fail(const char *file) {
  fprintf(stderr, "mote-bench: error: %s: %s\n", file, mote_last_error());
  return 1;
}

/* One rep from an empty cache with `ad` bound (NULL: none): prefill tok/s and
 * decode tok/s over gen_tokens greedy steps. */
static int lb_rep(mote_session_t *s, mote_adapter_t *ad, const bench_options_t *o,
                  const int32_t *prompt, uint32_t vocab, double *pf, double *dc) {
  const float *logits = NULL;
  if (mote_session_set_adapter(s, ad) != MOTE_OK) return -1;
  mote_session_reset(s);
  double t0 = lb_now_ms();
  if (mote_session_prefill(s, prompt, o->prompt_tokens, &logits) != MOTE_OK) return -1;
  double t1 = lb_now_ms();
  for (uint32_t i = 0; i < o->gen_tokens; i++)
    if (mote_session_decode(s, lb_argmax(logits, vocab), &logits) != MOTE_OK) return -1;
  double t2 = lb_now_ms();
  *pf = (double)o->prompt_tokens * 1e3 / (t1 > t0 ? t1 - t0 : 1e-6);
  *dc = (double)o->gen_tokens * 1e3 / (t2 > t1 ? t2 - t1 : 1e-6);
  return 0;
}

int bench_lora(mote_model_t *m, const bench_options_t *o, const mote_model_info_t *info) {
  uint64_t need = (uint64_t)o->prompt_tokens + o->gen_tokens;
  if (need > info->context) {
    fprintf(stderr, "mote-bench: --prompt-tokens + --gen-tokens = %llu exceeds the "
                    "bundle's context %u\n", (unsigned long long)need, info->context);
    return 2;
  }
  mote_adapter_t *ad = NULL;
  mote_adapter_options_t ao = {o->no_verify ? MOTE_OPEN_SKIP_SECTION_CHECKSUMS : 0u};
  if (mote_adapter_open(m, o->adapter, &ao, &ad) != MOTE_OK) return lb_fail(o->adapter);
  int32_t *prompt = malloc(o->prompt_tokens * sizeof(int32_t));
  size_t nrep = o->reps;
  double *v = malloc((4 * nrep + SWITCH_CALLS) * sizeof(double));
  int rc = 0;
  if (!prompt || !v) {
    fprintf(stderr, "mote-bench: error: out of memory\n");
    rc = 1;
  }
  uint64_t x = 0x9E3779B97F4A7C15ull; /* mote-bench.c's PROMPT_SEED: the same prompt */
  for (uint32_t i = 0; rc == 0 && i < o->prompt_tokens; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    prompt[i] = (int32_t)(3 + (uint32_t)(x % (info->vocab_size - 3)));
  }
  if (rc == 0 && o->json) printf("{\"mote_version\": \"%s\", \"kernel_isa\": \"%s\", \"model\": ",
                                 mote_version(), mote_kernel_isa());
  if (rc == 0 && o->json) {
    bench_json_string(o->model_path);
    printf(", \"adapter\": ");
    bench_json_string(o->adapter);
    printf(", \"prompt_tokens\": %u, \"gen_tokens\": %u, \"reps\": %u, \"rows\": [",
           o->prompt_tokens, o->gen_tokens, o->reps);
  }
  for (size_t ti = 0; rc == 0 && ti < o->n_threads; ti++) {
    mote_session_options_t so = {0};
    so.n_threads = o->threads[ti];
    mote_session_t *s = NULL;
    if (mote_session_create(m, &so, &s) != MOTE_OK) {
      rc = lb_fail(o->model_path);
      break;
    }
    double *pf0 = v, *dc0 = v + nrep, *pf1 = v + 2 * nrep, *dc1 = v + 3 * nrep;
    double *sw = v + 4 * nrep;
    /* Alternating reps (none, adapter, none, ...) so drift hits both alike. */
    for (uint32_t r = 0; rc == 0 && r < o->warmup + o->reps; r++) {
      double a, b, c, d;
      if (lb_rep(s, NULL, o, prompt, info->vocab_size, &a, &b) ||
          lb_rep(s, ad, o, prompt, info->vocab_size, &c, &d)) {
        rc = lb_fail(o->model_path);
      } else if (r >= o->warmup) {
        pf0[r - o->warmup] = a;
        dc0[r - o->warmup] = b;
        pf1[r - o->warmup] = c;
        dc1[r - o->warmup] = d;
      }
    }
    /* Switch latency: each call timed alone, alternating bind / unbind. */
    for (uint32_t k = 0; rc == 0 && k < SWITCH_CALLS; k++) {
      struct timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      mote_status_t st = mote_session_set_adapter(s, (k & 1) ? NULL : ad);
      clock_gettime(CLOCK_MONOTONIC, &t1);
      if (st != MOTE_OK) rc = lb_fail(o->adapter);
      sw[k] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    if (rc == 0 && mote_session_set_adapter(s, NULL) != MOTE_OK) rc = lb_fail(o->adapter);
    mote_session_destroy(s);
    if (rc != 0) break;
    double p0 = lb_quantile(pf0, nrep, 0.5), d0 = lb_quantile(dc0, nrep, 0.5);
    double p1 = lb_quantile(pf1, nrep, 0.5), d1 = lb_quantile(dc1, nrep, 0.5);
    double swmed = lb_quantile(sw, SWITCH_CALLS, 0.5), sw99 = lb_quantile(sw, SWITCH_CALLS, 0.99);
    double cost = d1 > 0 ? 100.0 * (d0 / d1 - 1.0) : 0.0; /* extra time per token */
    if (o->json) {
      printf("%s{\"threads\": %u, \"decode_tok_per_s_base\": %.2f, "
             "\"decode_tok_per_s_adapter\": %.2f, \"decode_cost_pct\": %.2f, "
             "\"prefill_tok_per_s_base\": %.2f, \"prefill_tok_per_s_adapter\": %.2f, "
             "\"switch_us_median\": %.4f, \"switch_us_p99\": %.4f, \"switch_calls\": %u}",
             ti ? ", " : "", o->threads[ti], d0, d1, cost, p0, p1, swmed, sw99, SWITCH_CALLS);
    } else {
      printf("threads %u: decode %.1f tok/s base, %.1f tok/s with adapter (+%.1f%% time per "
             "token); prefill %.1f / %.1f tok/s; set_adapter median %.3f us, p99 %.3f us "
             "(%u calls)\n", o->threads[ti], d0, d1, cost, p0, p1, swmed, sw99, SWITCH_CALLS);
    }
  }
  if (rc == 0 && o->json) printf("]}\n");
  free(prompt);
  free(v);
  if (mote_adapter_close(ad) != MOTE_OK && rc == 0) rc = lb_fail(o->adapter);
  return rc;
}
