/* bucket_bench.c: mote-bench --prompt-lengths on a bucketed bundle
 * (docs/buckets.md): per-bucket call latency, then for each prompt length
 * the prefill time of the bucket plan (measured costs, and the compiler's
 * estimates), of one dynamic prefill (the bundle's dynamic "prefill" graph,
 * n <= T active rows) and of padding every chunk to the largest bucket,
 * with the padding waste (padded rows / real rows) of each plan. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

enum { MODE_BUCKETS, MODE_ESTIMATED, MODE_DYNAMIC, MODE_PAD, N_MODES };
static const char *const kModeName[N_MODES] = {"buckets", "buckets_estimated", "dynamic",
                                               "pad_largest"};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int fail(const char *file) {
  fprintf(stderr, "mote-bench: error: %s: %s\n", file, mote_last_error());
  return 1;
}

static void make_ids(int32_t *ids, uint32_t n, uint32_t vocab) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  uint32_t lo = vocab > 3 ? 3 : 0;
  for (uint32_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ids[i] = (int32_t)(lo + (uint32_t)(x % (vocab - lo)));
  }
}

/* Median ms of prefilling n tokens from an empty cache. */
static int time_prefill(mote_session_t *s, const bench_options_t *o, const int32_t *ids,
                        uint32_t n, double *out_ms) {
  double t[1000];
  const float *lg = NULL;
  for (uint32_t r = 0; r < o->warmup + o->reps; r++) {
    mote_session_reset(s);
    double t0 = now_ms();
    if (mote_session_prefill(s, ids, n, &lg) != MOTE_OK) return -1;
    if (r >= o->warmup) t[r - o->warmup] = now_ms() - t0;
  }
  qsort(t, o->reps, sizeof(double), cmp_double);
  *out_ms = o->reps % 2 ? t[o->reps / 2] : 0.5 * (t[o->reps / 2 - 1] + t[o->reps / 2]);
  return 0;
}

static void set_costs(mote_session_t *s, const mote_buckets_info_t *bi, const double *c) {
  for (uint32_t k = 0; k < bi->n_tokens; k++)
    if (mote_session_set_bucket_cost(s, bi->tokens[k], c[k]) != MOTE_OK) abort();
}

/* Rows the plan runs for n tokens (sum over chunks) and the chunk count. */
static int plan_rows(mote_session_t *s, uint32_t n, uint64_t *rows, size_t *chunks,
                     uint32_t *list, size_t cap) {
  mote_session_reset(s);
  if (mote_session_prefill_plan(s, n, list, cap, chunks) != MOTE_OK) return -1;
  *rows = 0;
  for (size_t i = 0; i < *chunks; i++) *rows += list[i];
  return 0;
}

int bench_buckets(mote_model_t *m, const bench_options_t *o, const mote_model_info_t *info) {
  mote_buckets_info_t bi;
  if (mote_model_get_buckets(m, &bi) != MOTE_OK) return fail(o->model_path);
  if (bi.n_tokens == 0) {
    fprintf(stderr, "mote-bench: error: %s: --prompt-lengths needs a bucketed bundle "
                    "(motec compile --buckets)\n", o->model_path);
    return 1;
  }
  uint32_t maxlen = 0;
  for (size_t i = 0; i < o->n_lengths; i++)
    if (o->lengths[i] > maxlen) maxlen = o->lengths[i];
  if (maxlen > info->context) {
    fprintf(stderr, "mote-bench: --prompt-lengths: %u exceeds the bundle's context %u\n",
            maxlen, info->context);
    return 2;
  }
  mote_session_options_t so = {0};
  so.n_threads = o->threads[0];
  mote_session_t *s = NULL;
  if (mote_session_create(m, &so, &s) != MOTE_OK) return fail(o->model_path);
  int32_t *ids = malloc((size_t)info->context * sizeof(int32_t));
  uint32_t *list = malloc(((size_t)info->context + 1) * sizeof(uint32_t));
  if (!ids || !list) {
    free(ids);
    free(list);
    mote_session_destroy(s);
    fprintf(stderr, "mote-bench: error: out of memory\n");
    return 1;
  }
  make_ids(ids, info->context, info->vocab_size);
  int rc = 0;
  /* Per-bucket latency: one call of exactly T rows at position 0 (that
   * bucket made nearly free so the plan for T tokens is that one call). */
  double measured[MOTE_MAX_BUCKETS_INFO], force[MOTE_MAX_BUCKETS_INFO];
  for (uint32_t k = 0; k < bi.n_tokens && rc == 0; k++) {
    for (uint32_t j = 0; j < bi.n_tokens; j++) force[j] = j == k ? 1e-9 : 1.0;
    set_costs(s, &bi, force);
    if (time_prefill(s, o, ids, bi.tokens[k], &measured[k]) != 0) rc = fail(o->model_path);
  }
  for (uint32_t k = 0; k < bi.n_tokens; k++) measured[k] *= 1e-3; /* seconds */
  double ms[64][N_MODES], waste[64][N_MODES];
  size_t nchunks[64][N_MODES];
  for (size_t li = 0; li < o->n_lengths && rc == 0; li++) {
    uint32_t n = o->lengths[li];
    for (int mode = 0; mode < N_MODES && rc == 0; mode++) {
      int policy = mode == MODE_DYNAMIC ? MOTE_PREFILL_DYNAMIC
                   : mode == MODE_PAD   ? MOTE_PREFILL_PAD_LARGEST
                                        : MOTE_PREFILL_BUCKETS;
      if (mote_session_set_prefill_policy(s, policy) != MOTE_OK) rc = fail(o->model_path);
      set_costs(s, &bi, mode == MODE_ESTIMATED ? bi.cost_estimate_s : measured);
      uint64_t rows = 0;
      if (rc == 0 && (plan_rows(s, n, &rows, &nchunks[li][mode], list, info->context + 1) ||
                      time_prefill(s, o, ids, n, &ms[li][mode])))
        rc = fail(o->model_path);
      waste[li][mode] = rc == 0 ? (double)(rows - n) / n : 0;
    }
  }
  if (rc == 0) {
    double tot[N_MODES] = {0};
    for (size_t li = 0; li < o->n_lengths; li++)
      for (int k = 0; k < N_MODES; k++) tot[k] += ms[li][k];
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    if (o->json) {
      printf("{\n  \"model\": ");
      bench_json_string(o->model_path);
      printf(",\n  \"cpu_model\": ");
      bench_json_string(cpu);
      printf(",\n  \"kernel_isa\": ");
      bench_json_string(mote_kernel_isa());
      printf(",\n  \"threads\": %u,\n  \"reps\": %u,\n  \"context\": %u,\n", o->threads[0],
             o->reps, info->context);
      printf("  \"bucket_latencies\": [");
      for (uint32_t k = 0; k < bi.n_tokens; k++)
        printf("%s\n    {\"tokens\": %u, \"measured_s\": %.9g, \"estimated_s\": %.9g, "
               "\"mid_share\": %.6f}",
               k ? "," : "", bi.tokens[k], measured[k], bi.cost_estimate_s[k], bi.mid_share[k]);
      printf("\n  ],\n  \"context_buckets\": [");
      for (uint32_t k = 0; k < bi.n_contexts; k++) printf("%s%u", k ? ", " : "", bi.contexts[k]);
      printf("],\n  \"lengths\": [");
      for (size_t li = 0; li < o->n_lengths; li++) {
        printf("%s\n    {\"prompt_tokens\": %u", li ? "," : "", o->lengths[li]);
        for (int k = 0; k < N_MODES; k++)
          printf(", \"%s_ms\": %.4f, \"%s_waste\": %.4f, \"%s_calls\": %zu", kModeName[k],
                 ms[li][k], kModeName[k], waste[li][k], kModeName[k], nchunks[li][k]);
        printf("}");
      }
      printf("\n  ],\n  \"total_ms\": {");
      for (int k = 0; k < N_MODES; k++) printf("%s\"%s\": %.4f", k ? ", " : "", kModeName[k], tot[k]);
      printf("},\n  \"buckets_vs_dynamic\": %.4f,\n  \"buckets_vs_pad_largest\": %.4f\n}\n",
             tot[MODE_BUCKETS] / tot[MODE_DYNAMIC], tot[MODE_BUCKETS] / tot[MODE_PAD]);
    } else {
      printf("%s (%s, %s, %u thread(s), median of %u)\n", o->model_path, cpu,
             mote_kernel_isa(), o->threads[0], o->reps);
      printf("bucket  measured ms  estimated ms\n");
      for (uint32_t k = 0; k < bi.n_tokens; k++)
        printf("%6u  %11.3f  %12.3f\n", bi.tokens[k], measured[k] * 1e3,
               bi.cost_estimate_s[k] * 1e3);
      printf("prompt  buckets ms (waste)  estimated ms (waste)  dynamic ms  pad-largest ms (waste)\n");
      for (size_t li = 0; li < o->n_lengths; li++)
        printf("%6u  %10.3f (%5.3f)  %12.3f (%5.3f)  %10.3f  %14.3f (%5.3f)\n", o->lengths[li],
               ms[li][MODE_BUCKETS], waste[li][MODE_BUCKETS], ms[li][MODE_ESTIMATED],
               waste[li][MODE_ESTIMATED], ms[li][MODE_DYNAMIC], ms[li][MODE_PAD],
               waste[li][MODE_PAD]);
      printf("total   %10.3f          %12.3f          %10.3f  %14.3f\n", tot[MODE_BUCKETS],
             tot[MODE_ESTIMATED], tot[MODE_DYNAMIC], tot[MODE_PAD]);
      printf("buckets / dynamic = %.3f, buckets / pad-largest = %.3f\n",
             tot[MODE_BUCKETS] / tot[MODE_DYNAMIC], tot[MODE_BUCKETS] / tot[MODE_PAD]);
    }
  }
  free(ids);
  free(list);
  mote_session_destroy(s);
  return rc;
}
