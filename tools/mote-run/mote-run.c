/* mote-run.c: generate text from a compiled bundle through the public C API. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mote/mote.h"
#include "run_options.h"

/* ---------------------------------------------------------------------------
 * State and helpers
 * ------------------------------------------------------------------------- */

typedef struct run_state {
  const run_options_t *opt;
  mote_model_t *model;
  mote_session_t *session;
  mote_adapter_t *adapter; /* --adapter */
  mote_sampler_t *sampler;
  mote_model_info_t info;
  int32_t *prompt;   /* (n_prompt) */
  size_t n_prompt;
  const float *logits; /* (vocab) after the last fed token; borrowed */
  double t_feed_start; /* clock when the prompt started going in */
  double t_prefill_ms;
} run_state_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One line on stderr naming the file and the runtime's reason; exit code 1. */
static int fail(const char *file) {
  fprintf(stderr, "mote-run: error: %s: %s\n", file, mote_last_error());
  return 1;
}

static int fail_errno(const char *file) {
  fprintf(stderr, "mote-run: error: %s: %s\n", file, strerror(errno));
  return 1;
}

/* ---------------------------------------------------------------------------
 * Prompt: text through the bundle's tokenizer, or ids given on the command line
 * ------------------------------------------------------------------------- */

static int tokenize_prompt(run_state_t *s) {
  const char *text = s->opt->prompt != NULL ? s->opt->prompt : "";
  size_t len = strlen(text);
  int add_bos = s->opt->no_bos ? 0 : -1;
  size_t count = 0;
  /* A piece covers at least one byte, so len + 2 (BOS, slack) always fits;
   * the retry below only guards against a tokenizer that disagrees. */
  size_t cap = len + 2;
  for (int attempt = 0; attempt < 2; attempt++) {
    free(s->prompt);
    s->prompt = malloc(cap * sizeof(int32_t));
    if (s->prompt == NULL) return fail_errno(s->opt->model_path);
    mote_status_t st = mote_tokenize(s->model, text, len, add_bos, s->prompt,
                                     cap, &count);
    if (st == MOTE_OK) {
      s->n_prompt = count;
      return 0;
    }
    if (st != MOTE_ERR_BUFFER_TOO_SMALL) return fail(s->opt->model_path);
    cap = count;
  }
  return fail(s->opt->model_path);
}

static int parse_ids_prompt(run_state_t *s) {
  long n = run_parse_id_list(s->opt->ids_text, NULL, 0);
  if (n < 0) {
    fprintf(stderr, "mote-run: bad --ids list: %s (see --help)\n",
            s->opt->ids_text);
    return 2;
  }
  s->prompt = malloc(((size_t)n + 1) * sizeof(int32_t));
  if (s->prompt == NULL) return fail_errno(s->opt->model_path);
  s->n_prompt = (size_t)run_parse_id_list(s->opt->ids_text, s->prompt,
                                          (size_t)n);
  return 0;
}

static void print_id_line(const int32_t *ids, size_t n) {
  for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
  printf("\n");
}

/* ---------------------------------------------------------------------------
 * Feeding the prompt (optionally dumping its logits)
 * ------------------------------------------------------------------------- */

/* Raw little-endian f32, whatever the host's byte order. */
static int write_f32_le(FILE *f, const float *v, size_t n) {
  const uint16_t probe = 1;
  if (*(const uint8_t *)&probe == 1) return fwrite(v, 4, n, f) == n ? 0 : -1;
  for (size_t i = 0; i < n; i++) {
    uint8_t b[4];
    memcpy(b, &v[i], 4);
    uint8_t le[4] = {b[3], b[2], b[1], b[0]};
    if (fwrite(le, 1, 4, f) != 4) return -1;
  }
  return 0;
}

/* --step: one decode call per prompt token, every position's logits dumped. */
static int feed_stepwise(run_state_t *s, FILE *dump) {
  for (size_t i = 0; i < s->n_prompt; i++) {
    if (mote_session_decode(s->session, s->prompt[i], &s->logits) != MOTE_OK)
      return fail(s->opt->model_path);
    if (dump != NULL && write_f32_le(dump, s->logits, s->info.vocab_size))
      return fail_errno(s->opt->dump_logits);
  }
  return 0;
}

static int feed_prompt(run_state_t *s) {
  FILE *dump = NULL;
  if (s->opt->dump_logits != NULL) {
    dump = fopen(s->opt->dump_logits, "wb");
    if (dump == NULL) return fail_errno(s->opt->dump_logits);
  }
  double t0 = now_ms();
  s->t_feed_start = t0;
  int rc = 0;
  if (s->opt->step) {
    rc = feed_stepwise(s, dump);
  } else if (mote_session_prefill(s->session, s->prompt, s->n_prompt,
                                  &s->logits) != MOTE_OK) {
    rc = fail(s->opt->model_path);
  } else if (dump != NULL &&
             write_f32_le(dump, s->logits, s->info.vocab_size)) {
    rc = fail_errno(s->opt->dump_logits);
  }
  s->t_prefill_ms = now_ms() - t0;
  /* The dump is complete on disk before the first token is generated. */
  if (dump != NULL && fclose(dump) != 0 && rc == 0)
    rc = fail_errno(s->opt->dump_logits);
  return rc;
}

/* ---------------------------------------------------------------------------
 * Generation
 * ------------------------------------------------------------------------- */

static int emit_token(run_state_t *s, int32_t prev, int32_t id, int first) {
  if (s->opt->print_ids) {
    printf(first ? "%d" : " %d", (int)id);
    return 0;
  }
  const char *text = NULL;
  size_t len = 0;
  if (mote_token_text(s->model, prev, id, &text, &len) != MOTE_OK)
    return fail(s->opt->model_path);
  fwrite(text, 1, len, stdout);
  fflush(stdout); /* stream token by token */
  return 0;
}

static uint32_t session_context(const run_state_t *s) {
  return s->opt->context != 0 ? s->opt->context : s->info.context;
}

static void print_stats(const run_state_t *s, uint32_t n_gen, double ttft_ms,
                        double decode_ms) {
  double prefill_tps =
      s->t_prefill_ms > 0 ? (double)s->n_prompt * 1e3 / s->t_prefill_ms : 0;
  /* Decode rate counts the tokens fed through the decode graph after the
   * first one was sampled from the prompt's logits. */
  uint32_t n_decoded = n_gen > 0 ? n_gen - 1 : 0;
  double decode_tps = decode_ms > 0 ? (double)n_decoded * 1e3 / decode_ms : 0;
  fprintf(stderr,
          "mote-run: prompt tokens %zu, generated tokens %u\n"
          "mote-run: TTFT %.2f ms, prefill %.1f tok/s, decode %.1f tok/s\n",
          s->n_prompt, n_gen, ttft_ms, prefill_tps, decode_tps);
}

static int generate(run_state_t *s) {
  double ttft_ms = 0, t_first = 0;
  int32_t prev = s->prompt[s->n_prompt - 1];
  uint32_t n_gen = 0;
  uint32_t ctx = session_context(s);
  while (n_gen < s->opt->n_generate) {
    int32_t next = mote_sampler_sample(s->sampler, s->logits);
    if (n_gen == 0) {
      t_first = now_ms();
      ttft_ms = t_first - s->t_feed_start;
    }
    if (next == s->info.eos_id || next == s->info.bos_id) break;
    if (emit_token(s, prev, next, n_gen == 0)) return 1;
    n_gen++;
    prev = next;
    /* Stop quietly when the count is reached or the KV cache is full. */
    if (n_gen == s->opt->n_generate || mote_session_position(s->session) >= ctx)
      break;
    if (mote_session_decode(s->session, next, &s->logits) != MOTE_OK)
      return fail(s->opt->model_path);
  }
  double decode_ms = n_gen > 1 ? now_ms() - t_first : 0;
  printf("\n");
  fflush(stdout);
  print_stats(s, n_gen, ttft_ms, decode_ms);
  return 0;
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

static int open_all(run_state_t *s) {
  mote_model_options_t mo = {0};
  mo.flags = (s->opt->no_verify ? MOTE_OPEN_SKIP_SECTION_CHECKSUMS : 0u) |
             (s->opt->read_into_memory ? MOTE_OPEN_READ_INTO_MEMORY : 0u);
  if (mote_model_open(s->opt->model_path, &mo, &s->model) != MOTE_OK)
    return fail(s->opt->model_path);
  if (mote_model_get_info(s->model, &s->info) != MOTE_OK)
    return fail(s->opt->model_path);
  return 0;
}

static int start_session(run_state_t *s) {
  mote_session_options_t so = {0};
  so.n_threads = s->opt->n_threads;
  so.context = s->opt->context;
  if (mote_session_create(s->model, &so, &s->session) != MOTE_OK)
    return fail(s->opt->model_path);
  if (s->opt->adapter != NULL &&
      (mote_adapter_open(s->model, s->opt->adapter, NULL, &s->adapter) != MOTE_OK ||
       mote_session_set_adapter(s->session, s->adapter) != MOTE_OK))
    return fail(s->opt->adapter);
  mote_sampler_params_t sp = {0};
  sp.temperature = s->opt->temperature;
  sp.top_k = s->opt->top_k;
  sp.top_p = s->opt->top_p;
  sp.seed = s->opt->have_seed ? s->opt->seed
                              : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  if (mote_sampler_create(&sp, s->info.vocab_size, NULL, &s->sampler) !=
      MOTE_OK)
    return fail(s->opt->model_path);
  return 0;
}

static int run(run_state_t *s) {
  int rc = open_all(s);
  if (rc == 0) rc = s->opt->ids_text ? parse_ids_prompt(s) : tokenize_prompt(s);
  if (rc != 0) return rc;
  if (s->opt->tokenize_only) {
    print_id_line(s->prompt, s->n_prompt);
    return 0;
  }
  if (s->n_prompt == 0) {
    fprintf(stderr, "mote-run: the prompt has no tokens (see --help)\n");
    return 2;
  }
  if ((rc = start_session(s)) != 0 || (rc = feed_prompt(s)) != 0) return rc;
  /* Echo the prompt, then stream the continuation right after it. */
  if (!s->opt->print_ids && s->opt->prompt != NULL) {
    fputs(s->opt->prompt, stdout);
    fflush(stdout);
  }
  return generate(s);
}

int main(int argc, char **argv) {
  run_options_t opt;
  int rc = run_parse_options(argc, argv, &opt);
  if (rc != 0) return rc;
  if (opt.help) {
    run_print_usage(0);
    return 0;
  }
  run_state_t s;
  memset(&s, 0, sizeof(s));
  s.opt = &opt;
  rc = run(&s);
  if (s.sampler != NULL) mote_sampler_destroy(s.sampler);
  if (s.session != NULL) mote_session_destroy(s.session);
  if (s.adapter != NULL && mote_adapter_close(s.adapter) != MOTE_OK) rc = fail(opt.adapter);
  if (s.model != NULL) mote_model_close(s.model);
  free(s.prompt);
  return rc;
}
