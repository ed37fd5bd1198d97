/* xxh64.c: XXH64 hash (written from the published xxHash specification). */

#include "mote/bundle_format.h"

static const uint64_t P1 = 0x9E3779B185EBCA87ull;
static const uint64_t P2 = 0xC2B2AE3D27D4EB4Full;
static const uint64_t P3 = 0x165667B19E3779F9ull;
static const uint64_t P4 = 0x85EBCA77C2B2AE63ull;
static const uint64_t P5 = 0x27D4EB2F165667C5ull;

static inline uint64_t rotl64(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

/* Byte-wise little-endian loads: unaligned-safe and endian-independent. */
static inline uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
static inline uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

static inline uint64_t xround(uint64_t acc, uint64_t lane) {
  acc += lane * P2;
  acc = rotl64(acc, 31);
  return acc * P1;
}

static inline uint64_t merge(uint64_t acc, uint64_t v) {
  acc ^= xround(0, v);
  return acc * P1 + P4;
}

uint64_t mote_xxh64(const void *data, uint64_t len, uint64_t seed) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t remaining = len;
  uint64_t acc;
  if (len >= 32) {
    uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
    while (remaining >= 32) { /* one 32-byte stripe: four 8-byte lanes */
      v1 = xround(v1, rd64(p));
      v2 = xround(v2, rd64(p + 8));
      v3 = xround(v3, rd64(p + 16));
      v4 = xround(v4, rd64(p + 24));
      p += 32;
      remaining -= 32;
    }
    acc = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
    acc = merge(acc, v1);
    acc = merge(acc, v2);
    acc = merge(acc, v3);
    acc = merge(acc, v4);
  } else {
    acc = seed + P5;
  }
  acc += len;
  while (remaining >= 8) {
    acc ^= xround(0, rd64(p));
    acc = rotl64(acc, 27) * P1 + P4;
    p += 8;
    remaining -= 8;
  }
  if (remaining >= 4) {
    acc ^= (uint64_t)rd32(p) * P1;
    acc = rotl64(acc, 23) * P2 + P3;
    p += 4;
    remaining -= 4;
  }
  while (remaining > 0) {
    acc ^= (uint64_t)(*p) * P5;
    acc = rotl64(acc, 11) * P1;
    ++p;
    --remaining;
  }
  /* Avalanche so every input bit affects every output bit. */
  acc ^= acc >> 33;
  acc *= P2;
  acc ^= acc >> 29;
  acc *= P3;
  acc ^= acc >> 32;
  return acc;
}
