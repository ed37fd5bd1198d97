/* bench.h: mote-bench's measurements, shared by the runner and the reporter. */
#ifndef MOTE_TOOLS_BENCH_H
#define MOTE_TOOLS_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "mote/mote.h"

#define BENCH_MAX_THREADS 16 /* entries in --threads */

typedef struct bench_options {
  const char *model_path;
  uint32_t threads[BENCH_MAX_THREADS];
  size_t n_threads;
  uint32_t prompt_tokens;
  uint32_t gen_tokens;
  uint32_t warmup;
  uint32_t reps;
  int json;
  int no_bandwidth;
  int no_verify;
  int read_into_memory; /* --read: MOTE_OPEN_READ_INTO_MEMORY */
  int help;
  /* --perplexity FILE (perplexity.c) */
  const char *ppl_file;
  uint32_t ppl_context;
  uint32_t ppl_stride;
  uint32_t ppl_max_tokens; /* 0 = the whole file */
  int ppl_scheme;          /* BENCH_PPL_* */
  const char *adapter;     /* --adapter FILE (LoRA, lora_bench.c); NULL when absent */
  /* --prompt-lengths LIST (bucketed bundles, bucket_bench.c); 0 = absent */
  uint32_t lengths[64];
  size_t n_lengths;
} bench_options_t;

enum { BENCH_PPL_STRIDED = 0, BENCH_PPL_LLAMA = 1 };

/* Medians over reps for one thread count. */
typedef struct bench_row {
  uint32_t threads;
  double prefill_tok_per_s;
  double ttft_ms;
  double decode_tok_per_s;
  double bandwidth_gb_per_s; /* at this thread count; < 0: not measured */
  double roofline_fraction;  /* < 0: not measured */
  double roofline_fraction_kv; /* weights + the KV cache decode reads; < 0: not measured */
  double bandwidth_4k_gb_per_s; /* the probe on 4 KiB pages; < 0: not measured */
  /* Against the roof of the pages the mapped bundle is in (bench_mapping_pages):
   * its huge-mapped share read at the huge-page probe's rate, the rest at the
   * 4 KiB one; < 0: not measured or not mapped. */
  double roofline_fraction_pages;
} bench_row_t;

typedef struct bench_report {
  const bench_options_t *opt;
  mote_model_info_t info;
  char cpu_model[256];
  const char *kernel_isa;
  uint64_t peak_rss_bytes;
  bench_row_t rows[BENCH_MAX_THREADS];
  size_t n_rows;
  /* The probe's own figures (threads, GB/s), one per distinct count. */
  uint32_t bw_threads[BENCH_MAX_THREADS + 2];
  double bw_gb_per_s[BENCH_MAX_THREADS + 2];
  double bw_4k_gb_per_s[BENCH_MAX_THREADS + 2]; /* the same on 4 KiB pages */
  size_t n_bw;
  /* bench_mapping_pages after the runs; mapping_known = 0 where it could not tell. */
  int mapping_known;
  uint64_t mapping_resident_bytes, mapping_huge_bytes;
} bench_report_t;

/* Reads /proc/cpuinfo's first "model name" into out ("unknown" if none). */
void bench_cpu_model(char *out, size_t capacity);

/* One JSON object on stdout (field names: docs/mote-bench.md). */
void bench_print_json(const bench_report_t *r);
/* Prints s as a JSON string literal (quotes, backslashes, control bytes escaped). */
void bench_json_string(const char *s);
/* A readable table on stdout. */
void bench_print_table(const bench_report_t *r);

/* Memory-read bandwidth in GB/s (1e9 bytes/s): a 1 GiB buffer read with
 * the widest loads this CPU has, by `threads` threads, best of `tries`.
 * Returns < 0 when the buffer cannot be allocated. */
double bench_read_bandwidth(void *buffer, size_t bytes, uint32_t threads,
                            int tries);
/* Allocates and touches the probe buffer (NULL on failure): in huge pages
 * where the OS has them (huge = 1) or in 4 KiB pages (huge = 0). */
void *bench_bandwidth_buffer(size_t bytes, int huge);

/* The bundle's file mapping as the OS holds it now: bytes resident and bytes
 * of them mapped by huge (PMD) pages, summed over the process's mappings of
 * `path` (Linux: /proc/self/smaps). Returns 0, or -1 where it cannot tell
 * (another OS, no /proc, the file not mapped: --read). */
int bench_mapping_pages(const char *path, uint64_t *resident, uint64_t *huge);

/* --perplexity: scores o->ppl_file with mote_session_score and prints the
 * result (docs/mote-bench.md); returns the exit code. */
int bench_perplexity(mote_model_t *m, const bench_options_t *o,
                     const mote_model_info_t *info);

/* --adapter FILE without --perplexity: decode/prefill speed with no adapter
 * vs the adapter bound, and mote_session_set_adapter latency (lora_bench.c). */
int bench_lora(mote_model_t *m, const bench_options_t *o, const mote_model_info_t *info);

/* --prompt-lengths LIST on a bucketed bundle: per-bucket latency and, per
 * length, prefill time of the bucket plan vs one dynamic prefill vs padding
 * to the largest bucket, and padding waste (bucket_bench.c). */
int bench_buckets(mote_model_t *m, const bench_options_t *o, const mote_model_info_t *info);

#endif /* MOTE_TOOLS_BENCH_H */
