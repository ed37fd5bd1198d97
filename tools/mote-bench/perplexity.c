/* perplexity.c: mote-bench --perplexity FILE. Tokenizes the whole file (BOS
 * first), scores it in windows with mote_session_score and prints the
 * perplexity (docs/mote-bench.md, "Perplexity"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static double ppl_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ppl_fail(const char *file, const char *what) {
  fprintf(stderr, "mote-bench: error: %s: %s\n", file, what ? what : mote_last_error());
  return 1;
}

/* The whole file, NUL-terminated; NULL on failure. */
static char *read_text(const char *path, size_t *out_len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  while (buf != NULL) {
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (len + 1 < cap) break;
    char *nb = realloc(buf, cap * 2);
    if (nb == NULL) {
      free(buf);
      buf = NULL;
    }
    buf = nb;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (buf == NULL || err) {
    free(buf);
    return NULL;
  }
  buf[len] = '\0';
  *out_len = len;
  return buf;
}

/* -log softmax(logits)[target], in double. */
static double nll_of(const float *logits, uint32_t vocab, int32_t target) {
  float mx = logits[0];
  for (uint32_t v = 1; v < vocab; v++)
    if (logits[v] > mx) mx = logits[v];
  double sum = 0.0;
  for (uint32_t v = 0; v < vocab; v++) sum += exp((double)logits[v] - (double)mx);
  return -(((double)logits[target] - (double)mx) - log(sum));
}

typedef struct ppl_result {
  size_t tokens;        /* text tokens incl. BOS (after --ppl-max-tokens) */
  size_t windows;
  size_t evaluated;     /* tokens fed through the model, all windows */
  size_t scored;        /* targets counted in the mean */
  double nll_sum;
  double seconds;
} ppl_result_t;

/* Scores tokens[begin, end) from an empty cache and adds -log p of targets
 * at absolute positions [t0, end) (each predicted by the row before it). */
static int score_window(mote_session_t *s, const int32_t *window, size_t begin, size_t end,
                        size_t t0, const int32_t *tokens, float *logits, uint32_t vocab,
                        ppl_result_t *r) {
  mote_session_reset(s);
  if (mote_session_score(s, window, end - begin, logits) != MOTE_OK) return -1;
  for (size_t p = t0; p < end; p++) {
    r->nll_sum += nll_of(logits + (p - 1 - begin) * (size_t)vocab, vocab, tokens[p]);
    r->scored++;
  }
  r->windows++;
  r->evaluated += end - begin;
  return 0;
}

/* "strided" (Hugging Face's scheme): windows start every `stride` tokens;
 * each counts the targets after the previous window's end (all of the
 * first's), never its own first token. "llama" (llama-perplexity): disjoint
 * windows of ctx tokens, the first replaced by BOS, targets ctx/2+1..ctx-1. */
static int run_windows(mote_session_t *s, const bench_options_t *o, const int32_t *tokens,
                       size_t n, uint32_t ctx, int32_t bos, uint32_t vocab, float *logits,
                       int32_t *scratch, ppl_result_t *r) {
  if (o->ppl_scheme == BENCH_PPL_LLAMA) {
    for (size_t c = 0; (c + 1) * ctx <= n; c++) {
      size_t begin = c * ctx;
      memcpy(scratch, tokens + begin, ctx * sizeof(int32_t));
      scratch[0] = bos;
      /* score_window reads targets from `tokens`, identical past row 0 */
      if (score_window(s, scratch, begin, begin + ctx, begin + ctx / 2 + 1, tokens, logits,
                       vocab, r) != 0)
        return -1;
    }
    return 0;
  }
  size_t prev_end = 0;
  for (size_t begin = 0;; begin += o->ppl_stride) {
    size_t end = begin + ctx < n ? begin + ctx : n;
    size_t t0 = prev_end > begin + 1 ? prev_end : begin + 1;
    if (score_window(s, tokens + begin, begin, end, t0, tokens, logits, vocab, r) != 0)
      return -1;
    prev_end = end;
    if (end == n) return 0;
  }
}

int bench_perplexity(mote_model_t *m, const bench_options_t *o, const mote_model_info_t *info) {
  const char *file = o->ppl_file;
  uint32_t ctx = o->ppl_context;
  if (ctx < 2 || ctx > info->context) {
    fprintf(stderr, "mote-bench: --ppl-context %u must be in [2, the bundle's context %u]\n",
            ctx, info->context);
    return 2;
  }
  if (o->ppl_scheme == BENCH_PPL_STRIDED && (o->ppl_stride < 1 || o->ppl_stride > ctx)) {
    fprintf(stderr, "mote-bench: --ppl-stride %u must be in [1, --ppl-context %u]\n",
            o->ppl_stride, ctx);
    return 2;
  }
  size_t len = 0;
  char *text = read_text(file, &len);
  if (text == NULL) return ppl_fail(file, "cannot read the text file");
  size_t cap = len + 16, n = 0;
  int32_t *tokens = malloc(cap * sizeof(int32_t));
  if (tokens == NULL) {
    free(text);
    return ppl_fail(file, "out of memory");
  }
  mote_status_t st = mote_tokenize(m, text, len, 1, tokens, cap, &n);
  if (st == MOTE_ERR_BUFFER_TOO_SMALL) {
    int32_t *nt = realloc(tokens, n * sizeof(int32_t));
    if (nt != NULL) {
      tokens = nt;
      cap = n;
      st = mote_tokenize(m, text, len, 1, tokens, cap, &n);
    }
  }
  free(text);
  if (st != MOTE_OK) {
    free(tokens);
    return ppl_fail(file, NULL);
  }
  if (o->ppl_max_tokens && n > o->ppl_max_tokens) n = o->ppl_max_tokens;
  if (n < 2 || (o->ppl_scheme == BENCH_PPL_LLAMA && n < ctx)) {
    free(tokens);
    fprintf(stderr, "mote-bench: error: %s: %zu tokens: too few for --ppl-context %u\n", file,
            n, ctx);
    return 1;
  }
  uint32_t threads = o->threads[o->n_threads - 1];
  mote_session_options_t so = {0};
  so.n_threads = threads;
  mote_session_t *s = NULL;
  mote_adapter_t *ad = NULL;
  float *logits = malloc((size_t)ctx * info->vocab_size * sizeof(float));
  int32_t *scratch = malloc((size_t)ctx * sizeof(int32_t));
  int rc = 0;
  ppl_result_t r;
  memset(&r, 0, sizeof r);
  r.tokens = n;
  if (logits == NULL || scratch == NULL) {
    rc = ppl_fail(file, "out of memory");
  } else if (mote_session_create(m, &so, &s) != MOTE_OK) {
    rc = ppl_fail(o->model_path, NULL);
  } else if (o->adapter != NULL && /* --adapter: a LoRA adapter bound while scoring */
             (mote_adapter_open(m, o->adapter, NULL, &ad) != MOTE_OK ||
              mote_session_set_adapter(s, ad) != MOTE_OK)) {
    rc = ppl_fail(o->adapter, NULL);
  } else {
    double t0 = ppl_now_s();
    if (run_windows(s, o, tokens, n, ctx, info->bos_id, info->vocab_size, logits, scratch, &r))
      rc = ppl_fail(o->model_path, NULL);
    r.seconds = ppl_now_s() - t0;
  }
  if (rc == 0) {
    double mean = r.scored ? r.nll_sum / (double)r.scored : 0.0;
    double ppl = exp(mean);
    double tps = r.seconds > 0 ? (double)r.evaluated / r.seconds : 0.0;
    const char *scheme = o->ppl_scheme == BENCH_PPL_LLAMA ? "llama" : "strided";
    uint32_t stride = o->ppl_scheme == BENCH_PPL_LLAMA ? ctx : o->ppl_stride;
    if (o->json) {
      printf("{\"mote_version\": ");
      bench_json_string(mote_version());
      printf(", \"model\": ");
      bench_json_string(o->model_path);
      printf(", \"file\": ");
      bench_json_string(file);
      printf(", \"scheme\": \"%s\", \"context\": %u, \"stride\": %u, \"threads\": %u, "
             "\"tokens\": %zu, \"windows\": %zu, \"tokens_evaluated\": %zu, "
             "\"tokens_scored\": %zu, \"nll_mean\": %.9f, \"perplexity\": %.9f, "
             "\"seconds\": %.3f, \"tokens_per_s\": %.1f}\n",
             scheme, ctx, stride, threads, r.tokens, r.windows, r.evaluated, r.scored, mean,
             ppl, r.seconds, tps);
    } else {
      printf("model         %s\n", o->model_path);
      printf("text          %s (%zu tokens with BOS)\n", file, r.tokens);
      printf("scheme        %s, context %u, stride %u, %u threads\n", scheme, ctx, stride,
             threads);
      printf("windows       %zu (%zu tokens evaluated)\n", r.windows, r.evaluated);
      printf("scored        %zu tokens\n", r.scored);
      printf("perplexity    %.4f (mean NLL %.6f nats)\n", ppl, mean);
      printf("time          %.2f s (%.0f tok/s evaluated)\n", r.seconds, tps);
    }
  }
  mote_session_destroy(s);
  if (mote_adapter_close(ad) != MOTE_OK && rc == 0) rc = ppl_fail(o->adapter, NULL);
  free(logits);
  free(scratch);
  free(tokens);
  return rc;
}
