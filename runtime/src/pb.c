/* pb.c: bounds-checked protobuf wire reader: never reads past its buffer. */
#include "pb.h"

void pb_init(pb_reader_t *r, const void *data, size_t len) {
  r->p = (const uint8_t *)data;
  /* NULL + 0 is undefined in C: an absent buffer is simply empty. */
  r->end = data ? r->p + len : r->p;
}

int pb_read_varint(pb_reader_t *r, uint64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (r->p >= r->end) return -1; /* truncated */
    uint8_t b = *r->p++;
    /* The 10th byte may only carry the top bit of a 64-bit value. */
    if (i == 9 && (b & 0xFE)) return -1;
    v |= (uint64_t)(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

static int read_fixed(pb_reader_t *r, size_t n, uint64_t *out) {
  if ((size_t)(r->end - r->p) < n) return -1;
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | r->p[i];
  r->p += n;
  *out = v;
  return 0;
}

int pb_next(pb_reader_t *r, pb_field_t *f) {
  if (r->p >= r->end) return 0;
  uint64_t key;
  if (pb_read_varint(r, &key) != 0) return -1;
  uint64_t number = key >> 3;
  if (number == 0 || number > 0x1FFFFFFFu) return -1;
  f->number = (uint32_t)number;
  f->wire = (uint32_t)(key & 7);
  f->u64 = 0;
  f->data = NULL;
  f->len = 0;
  switch (f->wire) {
    case PB_VARINT:
      return pb_read_varint(r, &f->u64) == 0 ? 1 : -1;
    case PB_FIXED64:
      return read_fixed(r, 8, &f->u64) == 0 ? 1 : -1;
    case PB_FIXED32:
      return read_fixed(r, 4, &f->u64) == 0 ? 1 : -1;
    case PB_LEN: {
      uint64_t len;
      if (pb_read_varint(r, &len) != 0) return -1;
      if (len > (uint64_t)(r->end - r->p)) return -1;
      f->data = r->p;
      f->len = (size_t)len;
      r->p += len;
      return 1;
    }
    default: /* groups (3, 4) and 6, 7 are not part of our format */
      return -1;
  }
}

int64_t pb_count_varints(const pb_field_t *f) {
  if (f->wire == PB_VARINT) return 1;
  if (f->wire != PB_LEN) return -1;
  pb_reader_t r;
  pb_init(&r, f->data, f->len);
  int64_t n = 0;
  uint64_t v;
  while (r.p < r.end) {
    if (pb_read_varint(&r, &v) != 0) return -1;
    ++n;
  }
  return n;
}

int pb_get_varints(const pb_field_t *f, uint64_t *out, size_t count) {
  if (f->wire == PB_VARINT) {
    if (count < 1) return -1;
    out[0] = f->u64;
    return 0;
  }
  pb_reader_t r;
  pb_init(&r, f->data, f->len);
  for (size_t i = 0; i < count; ++i)
    if (pb_read_varint(&r, &out[i]) != 0) return -1;
  return r.p == r.end ? 0 : -1;
}

int64_t pb_count_fixed32(const pb_field_t *f) {
  if (f->wire == PB_FIXED32) return 1;
  if (f->wire != PB_LEN || f->len % 4 != 0) return -1;
  return (int64_t)(f->len / 4);
}

int pb_get_fixed32(const pb_field_t *f, uint32_t *out, size_t count) {
  if (f->wire == PB_FIXED32) {
    if (count < 1) return -1;
    out[0] = (uint32_t)f->u64;
    return 0;
  }
  if (f->len != count * 4) return -1;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t *b = f->data + 4 * i;
    out[i] = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
             ((uint32_t)b[3] << 24);
  }
  return 0;
}
