/* lora_run: drives LoRA adapters through the C API for test/lora/run_lora_e2e.py.
 *
 *   lora_run BUNDLE "ID ID ..." OUT_PREFIX SWAPS ADAPTER... [--bad FILE...]
 *
 * Opens the model and every ADAPTER (choice 0 = no adapter, choice c = the
 * c-th adapter) and keeps one session per choice, all alive at once.
 *  - step: the sessions decode the ids one token at a time, interleaved
 *    (token t for every session, then t+1). Before each decode, SWAPS calls
 *    of mote_session_set_adapter cycle the session through every adapter and
 *    none, then bind its own choice. Row t of OUT_PREFIX.<c>.step.f32 is the
 *    logits after ids[t]. Halfway, every --bad FILE is opened (each must fail;
 *    "bad-open <rc> <message>" lines on stdout) and the sessions carry on.
 *  - prefill: a reset session per choice prefills all ids at once (the
 *    multi-row LoRA path); OUT_PREFIX.<c>.prefill.f32 is the last logits.
 *  - foreign: binding adapter 1 to a session of a second instance of the
 *    model is refused ("foreign-refused <message>");
 *  - close: closing a bound adapter is refused ("close-refused <message>"),
 *    after unbinding it succeeds.
 * Prints "allocs-during-decode N" (allocator hook calls during the step loop,
 * swaps and failed opens excluded) and exits 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mote/mote.h"

#define MAX_AD 8
#define MAX_IDS 4096

static long g_allocs;
static int g_counting;
static void *count_alloc(void *u, size_t n, size_t align) {
  (void)u;
  if (g_counting) ++g_allocs;
  void *p = NULL;
  if (align < sizeof(void *)) align = sizeof(void *);
  return posix_memalign(&p, align, n ? n : 1) == 0 ? p : NULL;
}
static void count_free(void *u, void *p) {
  (void)u;
  free(p);
}

static int die(const char *what, mote_status_t st) {
  fprintf(stderr, "lora_run: %s: %s: %s\n", what, mote_status_name(st), mote_last_error());
  return 1;
}

static int write_rows(const char *prefix, int c, const char *kind, const float *rows,
                      size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s.%d.%s.f32", prefix, c, kind);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(rows, sizeof(float), n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "lora_run: cannot write %s\n", path);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: lora_run BUNDLE IDS OUT_PREFIX SWAPS ADAPTER... [--bad FILE...]\n");
    return 2;
  }
  const char *bundle = argv[1], *prefix = argv[3];
  long swaps = atol(argv[4]);
  const char *ad_path[MAX_AD], *bad_path[MAX_AD];
  int n_ad = 0, n_bad = 0, in_bad = 0;
  for (int i = 5; i < argc; ++i) {
    if (strcmp(argv[i], "--bad") == 0) {
      in_bad = 1;
      continue;
    }
    if (in_bad && n_bad < MAX_AD) bad_path[n_bad++] = argv[i];
    else if (!in_bad && n_ad < MAX_AD - 1) ad_path[n_ad++] = argv[i];
  }
  static int32_t ids[MAX_IDS];
  size_t n_ids = 0;
  for (char *p = argv[2], *end; *p && n_ids < MAX_IDS; p = end) {
    long v = strtol(p, &end, 10);
    if (end == p) break;
    ids[n_ids++] = (int32_t)v;
  }
  if (n_ids == 0) return fprintf(stderr, "lora_run: no ids\n"), 1;

  mote_allocator_t alloc = {count_alloc, count_free, NULL};
  mote_model_options_t mo = {0, &alloc};
  mote_model_t *m = NULL;
  mote_status_t st = mote_model_open(bundle, &mo, &m);
  if (st) return die("model_open", st);
  mote_model_info_t info;
  if ((st = mote_model_get_info(m, &info))) return die("model_get_info", st);
  const size_t V = info.vocab_size;

  /* NULL arguments: one-line errors, nothing opened; closing NULL is a no-op. */
  mote_adapter_t *none = NULL;
  if (mote_adapter_open(NULL, "x", NULL, &none) != MOTE_ERR_INVALID_ARGUMENT || none ||
      mote_adapter_open(m, NULL, NULL, &none) != MOTE_ERR_INVALID_ARGUMENT ||
      mote_adapter_open(m, "x", NULL, NULL) != MOTE_ERR_INVALID_ARGUMENT ||
      mote_session_set_adapter(NULL, NULL) != MOTE_ERR_INVALID_ARGUMENT ||
      mote_adapter_close(NULL) != MOTE_OK)
    return fprintf(stderr, "lora_run: NULL-argument checks failed\n"), 1;
  mote_adapter_t *ad[MAX_AD] = {NULL}; /* ad[0] = none */
  for (int a = 0; a < n_ad; ++a)
    if ((st = mote_adapter_open(m, ad_path[a], NULL, &ad[a + 1]))) return die(ad_path[a], st);
  const int n_choice = n_ad + 1;
  mote_session_t *s[MAX_AD] = {NULL};
  mote_session_options_t so = {1, 0};
  for (int c = 0; c < n_choice; ++c)
    if ((st = mote_session_create(m, &so, &s[c]))) return die("session_create", st);

  float *rows = malloc(n_choice * n_ids * V * sizeof(float));
  if (!rows) return fprintf(stderr, "lora_run: out of memory\n"), 1;
  long allocs = 0;
  for (size_t t = 0; t < n_ids; ++t) {
    if (t == n_ids / 2)
      for (int b = 0; b < n_bad; ++b) { /* each must fail; the sessions go on */
        mote_adapter_t *x = NULL;
        mote_status_t bs = mote_adapter_open(m, bad_path[b], NULL, &x);
        if (bs == MOTE_OK || x)
          return fprintf(stderr, "lora_run: bad adapter %s opened\n", bad_path[b]), 1;
        printf("bad-open %d %s\n", (int)bs, mote_last_error());
      }
    for (int c = 0; c < n_choice; ++c) {
      g_allocs = 0;
      g_counting = 1;
      for (long k = 0; k < swaps; ++k)
        if ((st = mote_session_set_adapter(s[c], ad[k % n_choice]))) return die("set_adapter", st);
      if ((st = mote_session_set_adapter(s[c], ad[c]))) return die("set_adapter", st);
      const float *lg = NULL;
      if ((st = mote_session_decode(s[c], ids[t], &lg))) return die("decode", st);
      g_counting = 0;
      allocs += g_allocs;
      memcpy(rows + ((size_t)c * n_ids + t) * V, lg, V * sizeof(float));
    }
  }
  for (int c = 0; c < n_choice; ++c)
    if (write_rows(prefix, c, "step", rows + (size_t)c * n_ids * V, n_ids * V)) return 1;

  for (int c = 0; c < n_choice; ++c) {
    mote_session_reset(s[c]);
    const float *lg = NULL;
    if ((st = mote_session_prefill(s[c], ids, n_ids, &lg))) return die("prefill", st);
    if (write_rows(prefix, c, "prefill", lg, V)) return 1;
  }

  if (n_ad > 0) { /* an adapter binds only to sessions of its own model */
    mote_model_t *m2 = NULL;
    mote_session_t *s2 = NULL;
    if ((st = mote_model_open(bundle, &mo, &m2))) return die("model_open (second)", st);
    if ((st = mote_session_create(m2, &so, &s2))) return die("session_create (second)", st);
    st = mote_session_set_adapter(s2, ad[1]);
    if (st == MOTE_OK)
      return fprintf(stderr, "lora_run: bound an adapter to another model's session\n"), 1;
    printf("foreign-refused %s\n", mote_last_error());
    mote_session_destroy(s2);
    mote_model_close(m2);
  }
  for (int c = 1; c < n_choice; ++c) {
    st = mote_adapter_close(ad[c]);
    if (st == MOTE_OK) return fprintf(stderr, "lora_run: closing a bound adapter succeeded\n"), 1;
    printf("close-refused %s\n", mote_last_error());
    if ((st = mote_session_set_adapter(s[c], NULL))) return die("unbind", st);
    if ((st = mote_adapter_close(ad[c]))) return die("adapter_close", st);
  }
  printf("allocs-during-decode %ld\n", allocs);
  free(rows);
  for (int c = 0; c < n_choice; ++c) mote_session_destroy(s[c]);
  mote_model_close(m);
  return 0;
}
