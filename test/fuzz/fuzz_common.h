/* fuzz_common.h: helpers shared by the libFuzzer harnesses (header-only):
 * checksum repair for mutated bundle/adapter containers, reading every
 * logit, and a fatal check that libFuzzer reports as a crash. */
#ifndef MOTE_FUZZ_COMMON_H
#define MOTE_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mote/bundle_format.h"
#include "mote/mote.h"
#include "pb.h"

static inline void fuzz_put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t fuzz_get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/* Rewrites each section's xxh64 (fixed64 field 5) to match the bytes it
 * covers; malformed manifests are left as they are. */
static inline void fuzz_fix_sections(uint8_t *d, size_t size, uint8_t *man, size_t mlen) {
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
    if (sum && off <= size && len <= size - off) fuzz_put_u64(sum, mote_xxh64(d + off, len, 0));
  }
}

/* Makes header, manifest and section checksums (and file_size) of a bundle
 * or adapter match the mutated bytes, so mutations reach the manifest
 * parser and the validator. */
static inline void fuzz_fix_checksums(uint8_t *d, size_t size) {
  if (size < MOTE_BUNDLE_HEADER_SIZE) return;
  fuzz_put_u64(d + MOTE_HDR_OFF_FILE_SIZE, size);
  uint64_t mo = fuzz_get_u64(d + MOTE_HDR_OFF_MANIFEST_OFFSET);
  uint64_t ms = fuzz_get_u64(d + MOTE_HDR_OFF_MANIFEST_SIZE);
  if (mo <= size && ms <= size - mo) {
    fuzz_fix_sections(d, size, d + mo, (size_t)ms);
    fuzz_put_u64(d + MOTE_HDR_OFF_MANIFEST_XXH64, mote_xxh64(d + mo, ms, 0));
  }
  fuzz_put_u64(d + MOTE_HDR_OFF_HEADER_XXH64, mote_xxh64(d, MOTE_HDR_OFF_HEADER_XXH64, 0));
}

/* Reads every logit the API promises (vocab_size floats). */
static inline float fuzz_touch(const float *logits, uint32_t vocab) {
  float s = 0.0f;
  for (uint32_t k = 0; k < vocab; ++k) s += logits[k];
  return s;
}

/* A broken promise of the API: print and abort (libFuzzer saves the input). */
#define FUZZ_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "fuzz check failed: %s (%s:%d): ", #cond, __FILE__, \
              __LINE__);                                                   \
      fprintf(stderr, __VA_ARGS__);                                        \
      fprintf(stderr, "\n");                                               \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* A status the API may return for a caller's or a file's mistake: never
 * MOTE_ERR_INTERNAL (a bug) or an unknown code. */
static inline int fuzz_status_known(mote_status_t st) {
  return st == MOTE_OK || (st >= 100 && st <= 102) || st == 200 || st == 201 ||
         (st >= 300 && st <= 303);
}

#endif /* MOTE_FUZZ_COMMON_H */
