/* bench_report.c: mote-bench's output (JSON for machines, a table for people). */
#include <stdio.h>
#include <string.h>

#include "bench.h"

void bench_cpu_model(char *out, size_t capacity) {
  snprintf(out, capacity, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f == NULL) return;
  char line[512];
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "model name", 10) != 0) continue;
    const char *colon = strchr(line, ':');
    if (colon == NULL) continue;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    size_t len = strcspn(v, "\r\n");
    if (len >= capacity) len = capacity - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    break;
  }
  fclose(f);
}

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
void bench_json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

/* Negative means "not measured": JSON null. */
static void json_number(double v, const char *fmt) {
  if (v < 0) printf("null");
  else printf(fmt, v);
}

static void json_rows(const bench_report_t *r) {
  printf("  \"results\": [");
  for (size_t i = 0; i < r->n_rows; i++) {
    const bench_row_t *row = &r->rows[i];
    printf("%s\n    {\"threads\": %u, \"prefill_tok_per_s\": %.3f, "
           "\"ttft_ms\": %.4f, \"decode_tok_per_s\": %.3f, "
           "\"bandwidth_gb_per_s\": ",
           i ? "," : "", row->threads, row->prefill_tok_per_s, row->ttft_ms,
           row->decode_tok_per_s);
    json_number(row->bandwidth_gb_per_s, "%.3f");
    printf(", \"roofline_fraction\": ");
    json_number(row->roofline_fraction, "%.5f");
    printf(", \"roofline_fraction_kv\": ");
    json_number(row->roofline_fraction_kv, "%.5f");
    printf(", \"bandwidth_4k_gb_per_s\": ");
    json_number(row->bandwidth_4k_gb_per_s, "%.3f");
    printf(", \"roofline_fraction_pages\": ");
    json_number(row->roofline_fraction_pages, "%.5f");
    printf("}");
  }
  printf("\n  ],\n");
}

static void json_bandwidth(const bench_report_t *r) {
  printf("  \"bandwidth\": [");
  for (size_t i = 0; i < r->n_bw; i++) {
    printf("%s{\"threads\": %u, \"gb_per_s\": ", i ? ", " : "",
           r->bw_threads[i]);
    json_number(r->bw_gb_per_s[i], "%.3f");
    printf(", \"gb_per_s_4k\": ");
    json_number(r->bw_4k_gb_per_s[i], "%.3f");
    printf("}");
  }
  printf("]\n");
}

void bench_print_json(const bench_report_t *r) {
  const mote_model_info_t *in = &r->info;
  printf("{\n  \"mote_version\": ");
  bench_json_string(mote_version());
  printf(",\n  \"model\": ");
  bench_json_string(r->opt->model_path);
  printf(",\n  \"arch\": ");
  bench_json_string(in->arch != NULL ? in->arch : "");
  printf(",\n  \"cpu_model\": ");
  bench_json_string(r->cpu_model);
  printf(",\n  \"kernel_isa\": ");
  bench_json_string(r->kernel_isa);
  printf(",\n  \"vocab_size\": %u,\n  \"context\": %u,\n", in->vocab_size,
         in->context);
  printf("  \"bundle_bytes\": %llu,\n  \"weight_bytes_per_token\": %llu,\n"
         "  \"kv_bytes_per_token\": %llu,\n  \"peak_rss_bytes\": %llu,\n",
         (unsigned long long)in->file_bytes,
         (unsigned long long)in->weight_bytes,
         (unsigned long long)in->kv_bytes_per_token,
         (unsigned long long)r->peak_rss_bytes);
  if (r->mapping_known)
    printf("  \"bundle_resident_bytes\": %llu,\n  \"bundle_huge_page_bytes\": %llu,\n",
           (unsigned long long)r->mapping_resident_bytes,
           (unsigned long long)r->mapping_huge_bytes);
  else
    printf("  \"bundle_resident_bytes\": null,\n  \"bundle_huge_page_bytes\": null,\n");
  printf("  \"prompt_tokens\": %u,\n  \"gen_tokens\": %u,\n  \"warmup\": %u,\n"
         "  \"reps\": %u,\n",
         r->opt->prompt_tokens, r->opt->gen_tokens, r->opt->warmup,
         r->opt->reps);
  json_rows(r);
  json_bandwidth(r);
  printf("}\n");
}

static void table_cell(double v, const char *fmt) {
  if (v < 0) printf("%10s", "-");
  else printf(fmt, v);
}

void bench_print_table(const bench_report_t *r) {
  const mote_model_info_t *in = &r->info;
  printf("model    %s (%s, vocab %u, context %u)\n", r->opt->model_path,
         in->arch != NULL ? in->arch : "?", in->vocab_size, in->context);
  printf("cpu      %s, kernels %s\n", r->cpu_model, r->kernel_isa);
  printf("bundle   %.2f MiB, weights read/token %.2f MiB, KV/token %.1f KiB\n",
         (double)in->file_bytes / 1048576.0,
         (double)in->weight_bytes / 1048576.0,
         (double)in->kv_bytes_per_token / 1024.0);
  printf("peak RSS %.1f MiB\n", (double)r->peak_rss_bytes / 1048576.0);
  if (r->mapping_known)
    printf("mapping  %.1f MiB resident, %.1f MiB of it in huge pages\n",
           (double)r->mapping_resident_bytes / 1048576.0,
           (double)r->mapping_huge_bytes / 1048576.0);
  printf("prompt %u tokens, generate %u tokens, %u warmup, median of %u\n\n",
         r->opt->prompt_tokens, r->opt->gen_tokens, r->opt->warmup,
         r->opt->reps);
  printf("%7s %12s %10s %12s %10s %10s %10s %10s\n", "threads", "prefill t/s",
         "TTFT ms", "decode t/s", "mem GB/s", "4K GB/s", "roofline", "roof/pages");
  for (size_t i = 0; i < r->n_rows; i++) {
    const bench_row_t *row = &r->rows[i];
    printf("%7u %12.1f %10.3f %12.1f ", row->threads, row->prefill_tok_per_s,
           row->ttft_ms, row->decode_tok_per_s);
    table_cell(row->bandwidth_gb_per_s, "%10.2f");
    printf(" ");
    table_cell(row->bandwidth_4k_gb_per_s, "%10.2f");
    printf(" ");
    table_cell(row->roofline_fraction * (row->roofline_fraction < 0 ? 1 : 100),
               "%9.2f%%");
    printf(" ");
    table_cell(row->roofline_fraction_pages * (row->roofline_fraction_pages < 0 ? 1 : 100),
               "%9.2f%%");
    printf("\n");
  }
}
