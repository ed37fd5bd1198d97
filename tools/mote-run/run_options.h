/* run_options.h: mote-run's command line, parsed into one struct. */
#ifndef MOTE_TOOLS_RUN_OPTIONS_H
#define MOTE_TOOLS_RUN_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

typedef struct run_options {
  const char *model_path;
  const char *prompt;      /* -p; NULL when absent */
  const char *ids_text;    /* --ids; NULL when absent */
  const char *dump_logits; /* --dump-logits FILE; NULL when absent */
  const char *adapter;     /* --adapter FILE (LoRA, docs/lora.md); NULL when absent */
  uint32_t n_generate;     /* -n */
  float temperature;       /* --temp; 0 = greedy */
  int32_t top_k;           /* --top-k; 0 = off */
  float top_p;             /* --top-p; 1 = off */
  uint64_t seed;           /* --seed */
  int have_seed;
  uint32_t n_threads;      /* --threads; 0 = all cores */
  uint32_t context;        /* --context; 0 = the bundle's */
  int no_verify;
  int read_into_memory; /* --read: MOTE_OPEN_READ_INTO_MEMORY */
  int tokenize_only;
  int no_bos;
  int step;
  int print_ids;
  int help;
} run_options_t;

/* Parses argv into *out. Returns 0 on success; otherwise prints one line
 * "mote-run: <why>" on stderr and returns 2 (the usage-error exit code). */
int run_parse_options(int argc, char **argv, run_options_t *out);

/* Prints the usage text to `stream_is_stderr ? stderr : stdout`. */
void run_print_usage(int stream_is_stderr);

/* Parses space/comma separated non-negative token ids. Returns the count or
 * -1 on a malformed list; writes at most `capacity` ids. */
long run_parse_id_list(const char *text, int32_t *out_ids, size_t capacity);

#endif /* MOTE_TOOLS_RUN_OPTIONS_H */
