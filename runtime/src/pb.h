/* pb.h: a small bounds-checked protobuf wire-format reader (no allocation). */
#ifndef MOTE_PB_H
#define MOTE_PB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A cursor over [p, end). Every read checks the bounds first. */
typedef struct pb_reader {
  const uint8_t *p;
  const uint8_t *end;
} pb_reader_t;

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2, PB_FIXED32 = 5 };

/* One decoded field. For PB_LEN, data/len is the payload; otherwise u64
 * holds the varint or the fixed value (fixed32 zero-extended). */
typedef struct pb_field {
  uint32_t number;
  uint32_t wire;
  uint64_t u64;
  const uint8_t *data;
  size_t len;
} pb_field_t;

/* Return codes: 1 a field was read, 0 clean end of buffer, -1 malformed. */
void pb_init(pb_reader_t *r, const void *data, size_t len);
int pb_next(pb_reader_t *r, pb_field_t *f);
/* Reads one varint (at most 10 bytes, no overflow). 0 ok, -1 malformed. */
int pb_read_varint(pb_reader_t *r, uint64_t *out);

/* Repeated scalars accept both encodings: a packed PB_LEN payload or one
 * unpacked element. pb_count_* counts the elements a field contributes
 * (-1 malformed); pb_get_* stores them at out[0..count). */
int64_t pb_count_varints(const pb_field_t *f);
int pb_get_varints(const pb_field_t *f, uint64_t *out, size_t count);
int64_t pb_count_fixed32(const pb_field_t *f);
int pb_get_fixed32(const pb_field_t *f, uint32_t *out, size_t count);

static inline float pb_bits_to_float(uint32_t b) {
  union { uint32_t u; float f; } c;
  c.u = b;
  return c.f;
}

#ifdef __cplusplus
}
#endif

#endif /* MOTE_PB_H */
