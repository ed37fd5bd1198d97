/* mote-bench.c: measure a bundle's prefill/decode speed, TTFT, memory and roofline. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getrusage, sysconf, strtok_r, pthreads */
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define BANDWIDTH_BYTES ((size_t)1 << 30) /* 1 GiB: far beyond any cache */
#define BANDWIDTH_TRIES 3
#define PROMPT_SEED 0x9e3779b97f4a7c15ull /* fixed: every run, same prompt */

/* ---------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------- */

static void print_usage(FILE *f) {
  fputs("usage: mote-bench MODEL.mote [options]\n"
        "  --json               one JSON object on stdout (docs/mote-bench.md)\n"
        "  --threads LIST       thread counts, e.g. 1,2 (default 1,2; 0 = all)\n"
        "  --prompt-tokens N    prefill prompt length (default 128)\n"
        "  --gen-tokens N       tokens decoded per rep (default 64)\n"
        "  --warmup N           untimed reps first (default 1)\n"
        "  --reps N             timed reps; medians are reported (default 3)\n"
        "  --no-bandwidth       skip the memory-bandwidth probe\n"
        "  --no-verify          skip section checksums at open\n"
        "  --read               read the bundle into memory (huge pages) instead of\n"
        "                       mapping it (MOTE_OPEN_READ_INTO_MEMORY)\n"
        "  --perplexity FILE    perplexity of a text file instead of speed\n"
        "  --ppl-context N      window tokens (default 256)\n"
        "  --ppl-stride N       window step; the last N targets count (default 128)\n"
        "  --ppl-max-tokens N   only the first N tokens of FILE (default all)\n"
        "  --ppl-scheme S       strided (default) or llama (llama-perplexity's)\n"
        "  --prompt-lengths L   bucketed bundle (motec --buckets): prefill time per length\n"
        "                       (e.g. 1,7,33,100,128,300) with buckets vs dynamic vs\n"
        "                       padding to the largest bucket, padding waste, measured\n"
        "                       per-bucket latencies (first --threads count; docs/buckets.md)\n"
        "  --adapter FILE       LoRA adapter (docs/lora.md): speed without vs with it and\n"
        "                       set_adapter latency; with --perplexity, bound while scoring\n"
        "  -h, --help           this text\n",
        f);
}

static int usage_error(const char *what, const char *arg) {
  fprintf(stderr, "mote-bench: %s%s%s (see --help)\n", what, arg ? ": " : "",
          arg ? arg : "");
  return 2;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out) {
  if (s == NULL || *s < '0' || *s > '9') return -1;
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return -1;
  *out = (uint32_t)v;
  return 0;
}

static int parse_thread_list(const char *s, bench_options_t *o) {
  char buf[256];
  if (s == NULL || strlen(s) >= sizeof(buf) || *s == '\0') return -1;
  strcpy(buf, s);
  o->n_threads = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok != NULL;
       tok = strtok_r(NULL, ",", &save)) {
    uint32_t t = 0;
    if (o->n_threads == BENCH_MAX_THREADS || parse_u32(tok, 0, 1024, &t))
      return -1;
    if (t == 0) t = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    o->threads[o->n_threads++] = t > 0 ? t : 1;
  }
  return o->n_threads > 0 ? 0 : -1;
}

/* --prompt-lengths 1,7,33: up to 64 lengths, each 1..2^24. */
static int parse_length_list(const char *s, bench_options_t *o) {
  char buf[512];
  if (s == NULL || strlen(s) >= sizeof(buf) || *s == '\0') return -1;
  strcpy(buf, s);
  o->n_lengths = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok != NULL;
       tok = strtok_r(NULL, ",", &save)) {
    if (o->n_lengths == 64 || parse_u32(tok, 1, 1u << 24, &o->lengths[o->n_lengths]))
      return -1;
    o->n_lengths++;
  }
  return o->n_lengths > 0 ? 0 : -1;
}

/* Options with a value; returns 0, 2 (bad value) or -1 (unknown name). */
static int parse_valued(const char *name, const char *v, bench_options_t *o) {
  if (strcmp(name, "--threads") == 0) {
    if (parse_thread_list(v, o)) return usage_error("bad --threads list", v);
  } else if (strcmp(name, "--prompt-tokens") == 0) {
    if (parse_u32(v, 1, 1u << 24, &o->prompt_tokens))
      return usage_error("bad --prompt-tokens", v);
  } else if (strcmp(name, "--gen-tokens") == 0) {
    if (parse_u32(v, 1, 1u << 24, &o->gen_tokens))
      return usage_error("bad --gen-tokens", v);
  } else if (strcmp(name, "--warmup") == 0) {
    if (parse_u32(v, 0, 1000, &o->warmup)) return usage_error("bad --warmup", v);
  } else if (strcmp(name, "--reps") == 0) {
    if (parse_u32(v, 1, 1000, &o->reps)) return usage_error("bad --reps", v);
  } else if (strcmp(name, "--prompt-lengths") == 0) {
    if (parse_length_list(v, o)) return usage_error("bad --prompt-lengths list", v);
  } else if (strcmp(name, "--adapter") == 0) {
    if (*v == '\0') return usage_error("bad --adapter", v);
    o->adapter = v;
  } else if (strcmp(name, "--perplexity") == 0) {
    if (*v == '\0') return usage_error("bad --perplexity", v);
    o->ppl_file = v;
  } else if (strcmp(name, "--ppl-context") == 0) {
    if (parse_u32(v, 2, 1u << 24, &o->ppl_context))
      return usage_error("bad --ppl-context", v);
  } else if (strcmp(name, "--ppl-stride") == 0) {
    if (parse_u32(v, 1, 1u << 24, &o->ppl_stride))
      return usage_error("bad --ppl-stride", v);
  } else if (strcmp(name, "--ppl-max-tokens") == 0) {
    if (parse_u32(v, 2, UINT32_MAX, &o->ppl_max_tokens))
      return usage_error("bad --ppl-max-tokens", v);
  } else if (strcmp(name, "--ppl-scheme") == 0) {
    if (strcmp(v, "strided") == 0) o->ppl_scheme = BENCH_PPL_STRIDED;
    else if (strcmp(v, "llama") == 0) o->ppl_scheme = BENCH_PPL_LLAMA;
    else return usage_error("bad --ppl-scheme (strided or llama)", v);
  } else {
    return -1;
  }
  return 0;
}

static int parse_options(int argc, char **argv, bench_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->threads[0] = 1;
  o->threads[1] = 2;
  o->n_threads = 2;
  o->prompt_tokens = 128;
  o->gen_tokens = 64;
  o->warmup = 1;
  o->reps = 3;
  o->ppl_context = 256;
  o->ppl_stride = 128;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || a[1] == '\0') {
      if (o->model_path != NULL) return usage_error("extra argument", a);
      o->model_path = a;
    } else if (strcmp(a, "--json") == 0) {
      o->json = 1;
    } else if (strcmp(a, "--no-bandwidth") == 0) {
      o->no_bandwidth = 1;
    } else if (strcmp(a, "--no-verify") == 0) {
      o->no_verify = 1;
    } else if (strcmp(a, "--read") == 0) {
      o->read_into_memory = 1;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      o->help = 1;
    } else {
      const char *eq = strchr(a, '=');
      char name[64];
      size_t nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
      if (nlen >= sizeof(name)) return usage_error("unknown option", a);
      memcpy(name, a, nlen);
      name[nlen] = '\0';
      const char *v = eq != NULL ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
      int rc = parse_valued(name, v != NULL ? v : "", o);
      if (rc < 0) return usage_error("unknown option", a);
      if (v == NULL) return usage_error("missing value for", a);
      if (rc != 0) return rc;
      if (eq == NULL) i++;
    }
  }
  if (!o->help && o->model_path == NULL)
    return usage_error("missing MODEL.mote", NULL);
  return 0;
}

/* ---------------------------------------------------------------------------
 * Measurement
 * ------------------------------------------------------------------------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int fail(const char *file) {
  fprintf(stderr, "mote-bench: error: %s: %s\n", file, mote_last_error());
  return 1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int32_t argmax(const float *v, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return (int32_t)best;
}

/* Random ids from a fixed xorshift64 stream, skipping the low control ids
 * (unk/bos/eos) so the prompt looks like text to the model. */
static void make_prompt(int32_t *ids, uint32_t n, uint32_t vocab) {
  uint64_t x = PROMPT_SEED;
  uint32_t lo = vocab > 3 ? 3 : 0;
  for (uint32_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ids[i] = (int32_t)(lo + (uint32_t)(x % (vocab - lo)));
  }
}

typedef struct rep_times {
  double prefill_tps, ttft_ms, decode_tps;
} rep_times_t;

/* One rep from an empty KV cache: prefill, then gen_tokens greedy decodes.
 * TTFT = prefill + the first decode; decode rate spans all gen_tokens. */
static int one_rep(mote_session_t *s, const bench_options_t *o,
                   const int32_t *prompt, uint32_t vocab, rep_times_t *out) {
  const float *logits = NULL;
  mote_session_reset(s);
  double t0 = now_ms();
  if (mote_session_prefill(s, prompt, o->prompt_tokens, &logits) != MOTE_OK)
    return -1;
  double t1 = now_ms(), t2 = t1;
  for (uint32_t i = 0; i < o->gen_tokens; i++) {
    if (mote_session_decode(s, argmax(logits, vocab), &logits) != MOTE_OK)
      return -1;
    if (i == 0) t2 = now_ms();
  }
  double t3 = now_ms();
  out->prefill_tps = (double)o->prompt_tokens * 1e3 / (t1 > t0 ? t1 - t0 : 1e-6);
  out->ttft_ms = t2 - t0;
  out->decode_tps = (double)o->gen_tokens * 1e3 / (t3 > t1 ? t3 - t1 : 1e-6);
  return 0;
}

static int bench_threads(mote_model_t *m, const bench_options_t *o,
                         const int32_t *prompt, uint32_t vocab, bench_row_t *row) {
  mote_session_options_t so = {0};
  so.n_threads = row->threads;
  mote_session_t *s = NULL;
  if (mote_session_create(m, &so, &s) != MOTE_OK) return fail(o->model_path);
  double *pf = calloc(3 * (size_t)o->reps, sizeof(double));
  if (pf == NULL) {
    mote_session_destroy(s);
    fprintf(stderr, "mote-bench: error: out of memory\n");
    return 1;
  }
  double *tt = pf + o->reps, *dc = tt + o->reps;
  int rc = 0;
  for (uint32_t r = 0; r < o->warmup + o->reps && rc == 0; r++) {
    rep_times_t t;
    if (one_rep(s, o, prompt, vocab, &t) != 0) {
      rc = fail(o->model_path);
    } else if (r >= o->warmup) {
      pf[r - o->warmup] = t.prefill_tps;
      tt[r - o->warmup] = t.ttft_ms;
      dc[r - o->warmup] = t.decode_tps;
    }
  }
  if (rc == 0) {
    row->prefill_tok_per_s = median(pf, o->reps);
    row->ttft_ms = median(tt, o->reps);
    row->decode_tok_per_s = median(dc, o->reps);
  }
  free(pf);
  mote_session_destroy(s);
  return rc;
}

/* ---------------------------------------------------------------------------
 * Bandwidth and roofline
 * ------------------------------------------------------------------------- */

static void add_bw_count(bench_report_t *r, uint32_t t) {
  for (size_t i = 0; i < r->n_bw; i++)
    if (r->bw_threads[i] == t) return;
  r->bw_threads[r->n_bw] = t;
  r->bw_4k_gb_per_s[r->n_bw] = -1.0;
  r->bw_gb_per_s[r->n_bw++] = -1.0;
}

/* KV-cache bytes one decode call reads on average over the timed run: call
 * i (0-based) attends to prompt + i + 1 cached positions. */
static double kv_read_per_token(const bench_report_t *r) {
  double mean_rows = (double)r->opt->prompt_tokens + (r->opt->gen_tokens + 1) / 2.0;
  return mean_rows * (double)r->info.kv_bytes_per_token;
}

/* Runs the probe at every count in r->bw_threads over a buffer in huge
 * (huge = 1) or 4 KiB pages, into gbs[]. */
static void probe(bench_report_t *r, int huge, double *gbs) {
  void *buf = bench_bandwidth_buffer(BANDWIDTH_BYTES, huge);
  if (buf == NULL) fprintf(stderr, "mote-bench: no 1 GiB probe buffer\n");
  for (size_t i = 0; i < r->n_bw && buf != NULL; i++)
    gbs[i] = bench_read_bandwidth(buf, BANDWIDTH_BYTES, r->bw_threads[i], BANDWIDTH_TRIES);
  free(buf);
}

/* Seconds per token at the page-aware roof: the mapped bundle's huge-mapped
 * share of the weights at the huge-page probe's rate, the rest at the 4 KiB
 * probe's (decisions.md section 12); < 0 where the mapping is unknown. */
static double pages_roof_seconds(const bench_report_t *r, double bw_huge, double bw_4k) {
  if (!r->mapping_known || r->mapping_resident_bytes == 0 || bw_4k <= 0) return -1.0;
  double h = (double)r->mapping_huge_bytes / (double)r->mapping_resident_bytes;
  if (h > 1.0) h = 1.0;
  return (double)r->info.weight_bytes * (h / bw_huge + (1.0 - h) / bw_4k) / 1e9;
}

/* Probes 1 and 2 threads plus every benchmarked count, on huge and on 4 KiB
 * pages, then fills each row's roofs: decode tok/s x weight bytes/token /
 * bandwidth, the same with the KV cache's bytes added, and the page-aware
 * one. */
static void measure_bandwidth(bench_report_t *r) {
  add_bw_count(r, 1);
  add_bw_count(r, 2);
  for (size_t i = 0; i < r->n_rows; i++) add_bw_count(r, r->rows[i].threads);
  probe(r, 1, r->bw_gb_per_s);
  probe(r, 0, r->bw_4k_gb_per_s);
  for (size_t i = 0; i < r->n_rows; i++) {
    bench_row_t *row = &r->rows[i];
    for (size_t j = 0; j < r->n_bw; j++) {
      if (r->bw_threads[j] != row->threads || r->bw_gb_per_s[j] <= 0) continue;
      row->bandwidth_gb_per_s = r->bw_gb_per_s[j];
      row->bandwidth_4k_gb_per_s = r->bw_4k_gb_per_s[j];
      row->roofline_fraction = row->decode_tok_per_s *
                               (double)r->info.weight_bytes /
                               (r->bw_gb_per_s[j] * 1e9);
      row->roofline_fraction_kv = row->decode_tok_per_s *
                                  ((double)r->info.weight_bytes + kv_read_per_token(r)) /
                                  (r->bw_gb_per_s[j] * 1e9);
      double t = pages_roof_seconds(r, r->bw_gb_per_s[j], r->bw_4k_gb_per_s[j]);
      row->roofline_fraction_pages = t < 0 ? -1.0 : row->decode_tok_per_s * t;
    }
  }
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

static int check_fits(const bench_options_t *o, const mote_model_info_t *in) {
  uint64_t need = (uint64_t)o->prompt_tokens + o->gen_tokens;
  if (need <= in->context) return 0;
  fprintf(stderr,
          "mote-bench: --prompt-tokens + --gen-tokens = %llu exceeds the "
          "bundle's context %u (see --help)\n",
          (unsigned long long)need, in->context);
  return 2;
}

static int bench_model(mote_model_t *m, bench_report_t *r) {
  const bench_options_t *o = r->opt;
  int rc = check_fits(o, &r->info);
  if (rc != 0) return rc;
  int32_t *prompt = malloc(o->prompt_tokens * sizeof(int32_t));
  if (prompt == NULL) return fail(o->model_path);
  make_prompt(prompt, o->prompt_tokens, r->info.vocab_size);
  for (size_t i = 0; i < o->n_threads && rc == 0; i++) {
    bench_row_t *row = &r->rows[r->n_rows++];
    row->threads = o->threads[i];
    row->bandwidth_gb_per_s = -1.0;
    row->roofline_fraction = -1.0;
    row->roofline_fraction_kv = -1.0;
    row->bandwidth_4k_gb_per_s = -1.0;
    row->roofline_fraction_pages = -1.0;
    rc = bench_threads(m, o, prompt, r->info.vocab_size, row);
  }
  free(prompt);
  return rc;
}

int main(int argc, char **argv) {
  bench_options_t opt;
  int rc = parse_options(argc, argv, &opt);
  if (rc != 0) return rc;
  if (opt.help) {
    print_usage(stdout);
    return 0;
  }
  static bench_report_t report;
  report.opt = &opt;
  mote_model_options_t mo = {0};
  mo.flags = (opt.no_verify ? MOTE_OPEN_SKIP_SECTION_CHECKSUMS : 0u) |
             (opt.read_into_memory ? MOTE_OPEN_READ_INTO_MEMORY : 0u);
  mote_model_t *model = NULL;
  if (mote_model_open(opt.model_path, &mo, &model) != MOTE_OK)
    return fail(opt.model_path);
  if (mote_model_get_info(model, &report.info) != MOTE_OK) rc = fail(opt.model_path);
  if (rc == 0 && opt.ppl_file != NULL) {
    rc = bench_perplexity(model, &opt, &report.info);
    mote_model_close(model);
    return rc;
  }
  if (rc == 0 && opt.n_lengths > 0) {
    rc = bench_buckets(model, &opt, &report.info);
    mote_model_close(model);
    return rc;
  }
  if (rc == 0 && opt.adapter != NULL) {
    rc = bench_lora(model, &opt, &report.info);
    mote_model_close(model);
    return rc;
  }
  if (rc == 0) rc = bench_model(model, &report);
  if (rc == 0) {
    /* Peak RSS before the probe's 1 GiB buffer would swamp it. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    report.peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u;
    bench_cpu_model(report.cpu_model, sizeof(report.cpu_model));
    report.kernel_isa = mote_kernel_isa();
    /* The pages the runs streamed the weights from, still mapped. */
    report.mapping_known =
        !opt.read_into_memory &&
        bench_mapping_pages(opt.model_path, &report.mapping_resident_bytes,
                            &report.mapping_huge_bytes) == 0;
    if (!opt.no_bandwidth) measure_bandwidth(&report);
    if (opt.json) bench_print_json(&report);
    else bench_print_table(&report);
  }
  mote_model_close(model);
  return rc;
}
