/* fuzz_bundle.c: libFuzzer harness: opens hostile bundle bytes, and when they
 * validate, runs a tiny session (prefill, decode) and the tokenizer on them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mote/bundle_format.h"
#include "mote/mote.h"
#include "pb.h"

/* Sessions the harness is willing to allocate: a caller should check
 * mote_model_get_info before creating a session for an untrusted bundle. */
#define FUZZ_MAX_CONTEXT 48u
#define FUZZ_MAX_BYTES (64ull << 20)

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/* Rewrites each section's xxh64 (fixed64 field 5) to match the bytes it
 * covers; malformed manifests are left as they are. */
static void fix_sections(uint8_t *d, size_t size, uint8_t *man, size_t mlen) {
  pb_reader_t r;
  pb_field_t f;
  pb_init(&r, man, mlen);
  while (pb_next(&r, &f) == 1) {
    if (f.number != 5 || f.wire != PB_LEN) continue;
    pb_reader_t sr;
    pb_field_t sf;
    uint64_t off = 0, len = 0;
    uint8_t *sum = NULL;
    pb_init(&sr, f.data, f.len);
    while (pb_next(&sr, &sf) == 1) {
      if (sf.number == 2 && sf.wire == PB_VARINT) off = sf.u64;
      if (sf.number == 3 && sf.wire == PB_VARINT) len = sf.u64;
      if (sf.number == 5 && sf.wire == PB_FIXED64) sum = (uint8_t *)sr.p - 8;
    }
    if (sum && off <= size && len <= size - off) put_u64(sum, mote_xxh64(d + off, len, 0));
  }
}

/* Makes header, manifest and section checksums (and file_size) match the
 * mutated bytes, so mutations reach the manifest parser and the validator. */
static void fix_checksums(uint8_t *d, size_t size) {
  if (size < MOTE_BUNDLE_HEADER_SIZE) return;
  put_u64(d + MOTE_HDR_OFF_FILE_SIZE, size);
  uint64_t mo = get_u64(d + MOTE_HDR_OFF_MANIFEST_OFFSET);
  uint64_t ms = get_u64(d + MOTE_HDR_OFF_MANIFEST_SIZE);
  if (mo <= size && ms <= size - mo) {
    fix_sections(d, size, d + mo, (size_t)ms);
    put_u64(d + MOTE_HDR_OFF_MANIFEST_XXH64, mote_xxh64(d + mo, ms, 0));
  }
  put_u64(d + MOTE_HDR_OFF_HEADER_XXH64, mote_xxh64(d, MOTE_HDR_OFF_HEADER_XXH64, 0));
}

/* Reads every logit the API promises (vocab_size floats). */
static float touch(const float *logits, uint32_t vocab) {
  float s = 0.0f;
  for (uint32_t k = 0; k < vocab; ++k) s += logits[k];
  return s;
}

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
    sink += touch(lg, info->vocab_size);
    mote_sampler_params_t sp = {0.0f, 0, 1.0f, 1};
    mote_sampler_t *smp = NULL;
    int32_t next = 0;
    if (info->vocab_size && mote_sampler_create(&sp, info->vocab_size, NULL, &smp) == MOTE_OK) {
      next = mote_sampler_sample(smp, lg);
      mote_sampler_destroy(smp);
    }
    if (mote_session_decode(s, next, &lg) == MOTE_OK) sink += touch(lg, info->vocab_size);
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
  fix_checksums(buf, size);
  if (size && memcmp(buf, data, size) != 0) open_and_run(buf, size, text, tlen);
  free(buf);
  return 0;
}
