/* fuzz_bundle.c: libFuzzer harness: opens hostile bundle bytes, and when they
 * validate, runs a tiny session (prefill, decode) and the tokenizer on them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

/* Sessions the harness is willing to allocate: a caller should check
 * mote_model_get_info before creating a session for an untrusted bundle. */
#define FUZZ_MAX_CONTEXT 48u
#define FUZZ_MAX_BYTES (64ull << 20)

/* Checksum repair and fuzz_touch: fuzz_common.h. */

static void run_tokenizer(mote_model_t *m, const uint8_t *text, size_t len) {
  int32_t ids[256];
  size_t n = 0, out_len = 0;
  char out[1024];
  if (mote_tokenize(m, (const char *)text, len, -1, ids, 256, &n) != MOTE_OK) return;
  (void)mote_detokenize(m, ids, n, out, sizeof out, &out_len);
  for (size_t k = 0; k < n; ++k) {
    const char *p;
    size_t pl;
    if (mote_token_text(m, k ? ids[k - 1] : -1, ids[k], &p, &pl) == MOTE_OK && pl)
      out[0] = p[pl - 1];
  }
}

static void run_session(mote_model_t *m, const mote_model_info_t *info) {
  uint32_t ctx = info->context < FUZZ_MAX_CONTEXT ? info->context : FUZZ_MAX_CONTEXT;
  if (info->arena_bytes > FUZZ_MAX_BYTES ||
      info->kv_bytes_per_token > FUZZ_MAX_BYTES / FUZZ_MAX_CONTEXT)
    return;
  mote_session_options_t so = {1, ctx};
  mote_session_t *s = NULL;
  if (mote_session_create(m, &so, &s) != MOTE_OK) return;
  int32_t toks[5] = {1, 2, 3, 0, 4};
  if (info->bos_id >= 0) toks[0] = info->bos_id;
  const float *lg = NULL;
  volatile float sink = 0.0f;
  if (mote_session_prefill(s, toks, ctx < 5 ? ctx : 5, &lg) == MOTE_OK) {
    sink += fuzz_touch(lg, info->vocab_size);
    mote_sampler_params_t sp = {0.0f, 0, 1.0f, 1};
    mote_sampler_t *smp = NULL;
    int32_t next = 0;
    if (info->vocab_size && mote_sampler_create(&sp, info->vocab_size, NULL, &smp) == MOTE_OK) {
      next = mote_sampler_sample(smp, lg);
      mote_sampler_destroy(smp);
    }
    if (mote_session_decode(s, next, &lg) == MOTE_OK) sink += fuzz_touch(lg, info->vocab_size);
  }
  (void)sink;
  mote_session_destroy(s);
}

static void open_and_run(const uint8_t *d, size_t size, const uint8_t *text, size_t tlen) {
  mote_model_t *m = NULL;
  mote_status_t st = mote_model_open_memory(d, size, NULL, &m);
  if (getenv("MOTE_FUZZ_VERBOSE")) /* to check that seeds open */
    fprintf(stderr, "open: %s %s\n", mote_status_name(st), mote_last_error());
  if (st != MOTE_OK) return;
  mote_model_info_t info;
  if (mote_model_get_info(m, &info) == MOTE_OK) {
    run_tokenizer(m, text, tlen);
    run_session(m, &info);
  }
  mote_model_close(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The runtime wants 4-byte aligned bytes; weights want 64. */
  uint8_t *buf = NULL;
  if (posix_memalign((void **)&buf, 64, size ? size : 1) != 0) return 0;
  if (size) memcpy(buf, data, size);
  /* The tail doubles as hostile tokenizer text. */
  size_t tlen = size < 200 ? size : 200;
  const uint8_t *text = data + size - tlen;
  open_and_run(buf, size, text, tlen); /* as given: checksums usually fail */
  fuzz_fix_checksums(buf, size);
  if (size && memcmp(buf, data, size) != 0) open_and_run(buf, size, text, tlen);
  free(buf);
  return 0;
}
