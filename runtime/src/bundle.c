/* bundle.c: reads a bundle's 64-byte header and protobuf manifest into C structs. */
#include "bundle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mote/bundle_format.h"
#include "pb.h"
#include "status.h"

/* Values + steps of all graphs together. */
#define MOTE_MAX_GRAPH_ITEMS (1u << 22)

/* Defined in bundle_validate.c. */
mote_status_t mote_bundle_validate(mote_bundle_t *b, uint32_t flags);
mote_status_t mote_bundle_validate_adapter(mote_bundle_t *b, uint32_t flags);

/* ------------------------------------------------------------------------ */
/* Allocation                                                               */
/* ------------------------------------------------------------------------ */

void *mote_alloc(const mote_allocator_t *a, size_t size, size_t align) {
  if (size == 0) size = 1;
  if (align < sizeof(void *)) align = sizeof(void *);
  if (a && a->alloc) return a->alloc(a->user, size, align);
  void *p = NULL;
  if (posix_memalign(&p, align, size) != 0) return NULL;
  return p;
}

void mote_free(const mote_allocator_t *a, void *p) {
  if (!p) return;
  if (a && a->free) a->free(a->user, p);
  else free(p);
}

/* Zeroed array of n elements of `elem` bytes; n == 0 gives NULL. */
static mote_status_t alloc_array(mote_bundle_t *b, size_t n, size_t elem,
                                 void **out, const char *what) {
  *out = NULL;
  if (n == 0) return MOTE_OK;
  if (n > SIZE_MAX / elem)
    return mote_set_error(MOTE_ERR_INVALID_BUNDLE, "%s: %s: too many", b->label,
                          what);
  void *p = mote_alloc(b->alloc, n * elem, 16);
  if (!p)
    return mote_set_error(MOTE_ERR_OUT_OF_MEMORY, "%s: %s: out of memory",
                          b->label, what);
  memset(p, 0, n * elem);
  *out = p;
  return MOTE_OK;
}

uint32_t mote_dtype_size(uint32_t dtype) {
  switch (dtype) {
    case MOTE_DT_F32: case MOTE_DT_I32: return 4;
    case MOTE_DT_F16: case MOTE_DT_BF16: return 2;
    default: return 0;
  }
}

/* ------------------------------------------------------------------------ */
/* Field helpers: each checks the wire type and the value's range.          */
/* ------------------------------------------------------------------------ */

static mote_status_t bad(const mote_bundle_t *b, const char *path,
                         const pb_field_t *f, const char *why) {
  return mote_set_error(MOTE_ERR_INVALID_BUNDLE, "%s: manifest %s field %u: %s",
                        b->label, path, f ? f->number : 0u, why);
}

#define WANT(wt) \
  do { if (f->wire != (wt)) return bad(b, path, f, "wrong wire type"); } while (0)

static mote_status_t get_u32(const mote_bundle_t *b, const char *path,
                             const pb_field_t *f, uint32_t *out) {
  WANT(PB_VARINT);
  if (f->u64 > UINT32_MAX) return bad(b, path, f, "value exceeds uint32");
  *out = (uint32_t)f->u64;
  return MOTE_OK;
}
static mote_status_t get_i32(const mote_bundle_t *b, const char *path,
                             const pb_field_t *f, int32_t *out) {
  WANT(PB_VARINT);
  int64_t v = (int64_t)f->u64;
  if (v < INT32_MIN || v > INT32_MAX) return bad(b, path, f, "not an int32");
  *out = (int32_t)v;
  return MOTE_OK;
}
static mote_status_t get_u64(const mote_bundle_t *b, const char *path,
                             const pb_field_t *f, uint64_t *out) {
  WANT(PB_VARINT);
  *out = f->u64;
  return MOTE_OK;
}
static mote_status_t get_flag(const mote_bundle_t *b, const char *path,
                              const pb_field_t *f, uint8_t *out) {
  WANT(PB_VARINT);
  *out = f->u64 != 0;
  return MOTE_OK;
}
static mote_status_t get_f32(const mote_bundle_t *b, const char *path,
                             const pb_field_t *f, float *out) {
  WANT(PB_FIXED32);
  *out = pb_bits_to_float((uint32_t)f->u64);
  return MOTE_OK;
}
static mote_status_t get_str(const mote_bundle_t *b, const char *path,
                             const pb_field_t *f, mote_str_t *out) {
  WANT(PB_LEN);
  if (f->len > UINT32_MAX) return bad(b, path, f, "string too long");
  out->p = (const char *)f->data;
  out->n = (uint32_t)f->len;
  return MOTE_OK;
}

/* Reads a repeated uint64 shape (packed or not) appended at *rank. */
static mote_status_t get_shape(const mote_bundle_t *b, const char *path,
                               const pb_field_t *f, uint64_t *shape,
                               uint32_t *rank) {
  int64_t n = pb_count_varints(f);
  if (n < 0) return bad(b, path, f, "malformed repeated varint");
  if ((uint64_t)*rank + (uint64_t)n > MOTE_MAX_RANK)
    return bad(b, path, f, "rank above 4");
  if (pb_get_varints(f, shape + *rank, (size_t)n) != 0)
    return bad(b, path, f, "malformed repeated varint");
  *rank += (uint32_t)n;
  return MOTE_OK;
}

/* Iterates the fields of message bytes (d, n); `body` sees `f`. */
#define FOR_FIELDS(d, n, body)                                               \
  do {                                                                       \
    pb_reader_t rd_;                                                         \
    pb_field_t fld_;                                                         \
    pb_field_t *f = &fld_;                                                   \
    int rc_;                                                                 \
    pb_init(&rd_, (d), (n));                                                 \
    while ((rc_ = pb_next(&rd_, f)) == 1) { body }                           \
    if (rc_ < 0) return bad(b, path, NULL, "malformed protobuf");            \
  } while (0)

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */
/* ------------------------------------------------------------------------ */

static mote_status_t parse_spec(mote_bundle_t *b, const uint8_t *d, size_t n) {
  const char *path = "model";
  mote_spec_t *s = &b->spec;
  mote_str_t arch = {0, 0};
  uint8_t flag = 0;
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &arch)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->dim)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->hidden_dim)); break;
      case 4: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->n_layers)); break;
      case 5: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->n_heads)); break;
      case 6: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->n_kv_heads)); break;
      case 7: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->head_dim)); break;
      case 8: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->vocab_size)); break;
      case 9: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->max_seq_len)); break;
      case 10: MOTE_RETURN_IF_ERROR(get_f32(b, path, f, &s->rope_theta)); break;
      case 11: MOTE_RETURN_IF_ERROR(get_f32(b, path, f, &s->norm_eps)); break;
      case 12: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &flag));
               s->tied_embeddings = flag; break;
      case 13: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->rope_style)); break;
      case 16: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->num_kv_shared_layers));
               break;
      case 17: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &flag));
               s->qkv_bias = flag; break;
      default: break; /* source_format, source_path, future fields */
    }
  });
  size_t an = arch.n < sizeof(s->arch) - 1 ? arch.n : sizeof(s->arch) - 1;
  if (an) memcpy(s->arch, arch.p, an);
  s->arch[an] = '\0';
  return MOTE_OK;
}

/* Tokenizer: pieces are borrowed; scores/types may span several fields. */
static mote_status_t parse_tokenizer(mote_bundle_t *b, const uint8_t *d,
                                     size_t n) {
  const char *path = "tokenizer";
  mote_tok_manifest_t *t = &b->tok;
  size_t np = 0, ns = 0, nt = 0, nr = 0;
  FOR_FIELDS(d, n, {
    int64_t c;
    if (f->number == 2) { WANT(PB_LEN); ++np; }
    if (f->number == 30) {
      if ((c = pb_count_varints(f)) < 0) return bad(b, path, f, "bad ranks");
      nr += (size_t)c;
    }
    if (f->number == 3) {
      if ((c = pb_count_fixed32(f)) < 0) return bad(b, path, f, "bad scores");
      ns += (size_t)c;
    }
    if (f->number == 4) {
      if ((c = pb_count_varints(f)) < 0) return bad(b, path, f, "bad types");
      nt += (size_t)c;
    }
  });
  MOTE_RETURN_IF_ERROR(alloc_array(b, np, sizeof(char *), (void **)&t->piece_ptrs, path));
  MOTE_RETURN_IF_ERROR(alloc_array(b, np, 4, (void **)&t->piece_lens, path));
  MOTE_RETURN_IF_ERROR(alloc_array(b, ns, 4, (void **)&t->scores, path));
  MOTE_RETURN_IF_ERROR(alloc_array(b, nt, 1, (void **)&t->types, path));
  MOTE_RETURN_IF_ERROR(alloc_array(b, nr, 4, (void **)&t->ranks, path));
  t->pad_id = -1;
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 2:
        t->piece_ptrs[t->n_pieces] = (const char *)f->data;
        t->piece_lens[t->n_pieces++] = (uint32_t)f->len;
        break;
      case 3: {
        size_t c = (size_t)pb_count_fixed32(f);
        if (pb_get_fixed32(f, (uint32_t *)(t->scores + t->n_scores), c) != 0)
          return bad(b, path, f, "bad scores");
        t->n_scores += (uint32_t)c;
        break;
      }
      case 4: { /* packed or single; counted above, so it fits */
        pb_reader_t r;
        uint64_t v = f->u64;
        pb_init(&r, f->wire == PB_LEN ? f->data : NULL, f->len);
        int single = f->wire == PB_VARINT;
        while (single || r.p < r.end) {
          if (!single && pb_read_varint(&r, &v) != 0)
            return bad(b, path, f, "bad types");
          if (v > 5) return bad(b, path, f, "piece type out of range");
          t->types[t->n_types++] = (uint8_t)v;
          single = 0;
        }
        break;
      }
      case 5: MOTE_RETURN_IF_ERROR(get_i32(b, path, f, &t->bos_id)); break;
      case 6: MOTE_RETURN_IF_ERROR(get_i32(b, path, f, &t->eos_id)); break;
      case 7: MOTE_RETURN_IF_ERROR(get_i32(b, path, f, &t->unk_id)); break;
      case 8: MOTE_RETURN_IF_ERROR(get_i32(b, path, f, &t->pad_id)); break;
      case 9: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &t->add_bos)); break;
      case 10: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &t->add_eos)); break;
      case 11: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &t->add_dummy_prefix)); break;
      case 12: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &t->remove_extra_whitespaces)); break;
      case 13: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &t->escape_whitespaces)); break;
      case 14: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &t->byte_fallback)); break;
      case 1: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &t->kind)); break;
      case 31: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &t->pre_tokenizer)); break;
      case 32: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &t->ignore_merges)); break;
      case 30: { /* byte-bpe merge ranks, packed or single; counted above */
        pb_reader_t r;
        uint64_t v = f->u64;
        pb_init(&r, f->wire == PB_LEN ? f->data : NULL, f->len);
        int single = f->wire == PB_VARINT;
        while (single || r.p < r.end) {
          if (!single && pb_read_varint(&r, &v) != 0) return bad(b, path, f, "bad ranks");
          if (v > UINT32_MAX) return bad(b, path, f, "rank exceeds uint32");
          t->ranks[t->n_ranks++] = (uint32_t)v;
          single = 0;
        }
        break;
      }
      default: break;
    }
  });
  return MOTE_OK;
}

static mote_status_t parse_section(mote_bundle_t *b, const char *path,
                                   const uint8_t *d, size_t n,
                                   mote_section_t *s) {
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &s->name)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_u64(b, path, f, &s->offset)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_u64(b, path, f, &s->size)); break;
      case 4: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->alignment)); break;
      case 5: WANT(PB_FIXED64); s->xxh64 = f->u64; break;
      default: break;
    }
  });
  return MOTE_OK;
}

/* Tensor.quant (issue 4); checked against the tensor in bundle_validate.c. */
static mote_status_t parse_quant(mote_bundle_t *b, const char *path,
                                 const uint8_t *d, size_t n, mote_quant_t *q) {
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &q->bits)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &q->group_size)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &q->grid)); break;
      case 4: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &q->scale_dtype)); break;
      case 5: MOTE_RETURN_IF_ERROR(get_u64(b, path, f, &q->scale_offset)); break;
      case 6: MOTE_RETURN_IF_ERROR(get_u64(b, path, f, &q->scale_size)); break;
      case 7: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &q->layout)); break;
      default: break;
    }
  });
  return MOTE_OK;
}

static mote_status_t parse_tensor(mote_bundle_t *b, const char *path,
                                  const uint8_t *d, size_t n,
                                  mote_tensor_t *t) {
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &t->name)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &t->dtype)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_shape(b, path, f, t->shape, &t->rank)); break;
      case 4: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &t->section)); break;
      case 5: MOTE_RETURN_IF_ERROR(get_u64(b, path, f, &t->offset)); break;
      case 6: MOTE_RETURN_IF_ERROR(get_u64(b, path, f, &t->size)); break;
      case 7:
        WANT(PB_LEN);
        t->has_quant = 1;
        MOTE_RETURN_IF_ERROR(parse_quant(b, path, f->data, f->len, &t->quant));
        break;
      default: break;
    }
  });
  return MOTE_OK;
}

static mote_status_t parse_kv(mote_bundle_t *b, const char *path,
                              const uint8_t *d, size_t n, mote_kv_cache_t *k) {
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &k->name)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &k->width)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &k->dtype)); break;
      case 65: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &k->group_size)); break;
      case 66: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &k->scale_dtype)); break;
      case 67: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &k->layout)); break;
      default: break;
    }
  });
  return MOTE_OK;
}

static mote_status_t parse_value(mote_bundle_t *b, const char *path,
                                 const uint8_t *d, size_t n, mote_value_t *v) {
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &v->kind)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &v->dtype)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_shape(b, path, f, v->shape, &v->rank)); break;
      case 4: MOTE_RETURN_IF_ERROR(get_u64(b, path, f, &v->offset)); break;
      case 5: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &v->ref)); break;
      default: break;
    }
  });
  return MOTE_OK;
}

/* Appends a repeated uint32 (packed or not) to dst[*count], capacity cap. */
static mote_status_t get_u32s(const mote_bundle_t *b, const char *path,
                              const pb_field_t *f, uint32_t *dst,
                              uint32_t *count, uint32_t cap) {
  uint64_t tmp[8];
  int64_t c = pb_count_varints(f);
  if (c < 0) return bad(b, path, f, "malformed repeated varint");
  if ((uint64_t)*count + (uint64_t)c > cap) return bad(b, path, f, "too many elements");
  if (pb_get_varints(f, tmp, (size_t)c) != 0) return bad(b, path, f, "malformed");
  for (int64_t k = 0; k < c; ++k) {
    if (tmp[k] > UINT32_MAX) return bad(b, path, f, "value exceeds uint32");
    dst[(*count)++] = (uint32_t)tmp[k];
  }
  return MOTE_OK;
}

static mote_status_t parse_step(mote_bundle_t *b, const char *path,
                                const uint8_t *d, size_t n, mote_step_t *s) {
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &s->op)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_u32s(b, path, f, s->operands,
                                            &s->n_operands, MOTE_MAX_OPERANDS)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_u32s(b, path, f, s->results,
                                            &s->n_results, MOTE_MAX_RESULTS)); break;
      case 4: {
        uint64_t tmp[MOTE_MAX_IATTR];
        int64_t c = pb_count_varints(f);
        if (c < 0 || (uint64_t)s->n_i + (uint64_t)c > MOTE_MAX_IATTR ||
            pb_get_varints(f, tmp, (size_t)c) != 0)
          return bad(b, path, f, "bad int attributes");
        for (int64_t k = 0; k < c; ++k) s->i[s->n_i++] = (int64_t)tmp[k];
        break;
      }
      case 5: {
        uint32_t tmp[MOTE_MAX_FATTR];
        int64_t c = pb_count_fixed32(f);
        if (c < 0 || (uint64_t)s->n_f + (uint64_t)c > MOTE_MAX_FATTR ||
            pb_get_fixed32(f, tmp, (size_t)c) != 0)
          return bad(b, path, f, "bad float attributes");
        for (int64_t k = 0; k < c; ++k) s->f[s->n_f++] = pb_bits_to_float(tmp[k]);
        break;
      }
      case 6: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &s->kernel)); break;
      case 7: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &s->loc)); break;
      default: break;
    }
  });
  return MOTE_OK;
}

static mote_status_t parse_graph(mote_bundle_t *b, const char *path,
                                 const uint8_t *d, size_t n, mote_graph_t *g) {
  size_t nv = 0, ns = 0;
  FOR_FIELDS(d, n, {
    if (f->number == 6) { WANT(PB_LEN); ++nv; }
    if (f->number == 7) { WANT(PB_LEN); ++ns; }
  });
  /* ~200 B of structs per 2-byte message: cap the total so a hostile
   * manifest cannot make open allocate gigabytes (real graphs: thousands). */
  b->graph_items += (uint64_t)nv + ns;
  if (b->graph_items > MOTE_MAX_GRAPH_ITEMS)
    return bad(b, path, NULL, "more than 4M values and steps in all graphs");
  MOTE_RETURN_IF_ERROR(alloc_array(b, nv, sizeof(mote_value_t), (void **)&g->values, path));
  MOTE_RETURN_IF_ERROR(alloc_array(b, ns, sizeof(mote_step_t), (void **)&g->steps, path));
  char sub[160];
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &g->name)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &g->target)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &g->max_tokens)); break;
      case 4: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &g->context)); break;
      case 5: MOTE_RETURN_IF_ERROR(get_u64(b, path, f, &g->arena_bytes)); break;
      case 6:
        snprintf(sub, sizeof sub, "%s.values[%u]", path, g->n_values);
        MOTE_RETURN_IF_ERROR(parse_value(b, sub, f->data, f->len, &g->values[g->n_values]));
        ++g->n_values;
        break;
      case 7:
        snprintf(sub, sizeof sub, "%s.steps[%u]", path, g->n_steps);
        MOTE_RETURN_IF_ERROR(parse_step(b, sub, f->data, f->len, &g->steps[g->n_steps]));
        ++g->n_steps;
        break;
      case 8: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &g->input_tokens)); break;
      case 9: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &g->input_positions)); break;
      case 10: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &g->output_logits)); break;
      case 11: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &g->kind)); break;
      case 50: MOTE_RETURN_IF_ERROR(get_flag(b, path, f, &g->bucket)); break;
      case 51: MOTE_RETURN_IF_ERROR(get_f32(b, path, f, &g->cost_estimate_s)); break;
      case 52: MOTE_RETURN_IF_ERROR(get_f32(b, path, f, &g->logits_estimate_s)); break;
      default: break;
    }
  });
  return MOTE_OK;
}

/* Manifest.lora_sites (LoRA, docs/lora.md); checked in bundle_validate.c. */
static mote_status_t parse_lora_site(mote_bundle_t *b, const char *path,
                                     const uint8_t *d, size_t n, mote_lora_site_t *l) {
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &l->name)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &l->in_features)); break;
      case 3: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &l->out_features)); break;
      case 4: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &l->max_rank)); break;
      case 5: MOTE_RETURN_IF_ERROR(get_f32(b, path, f, &l->scale)); break;
      case 6: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &l->a_tensor)); break;
      case 7: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &l->b_tensor)); break;
      default: break;
    }
  });
  return MOTE_OK;
}

static mote_status_t parse_options(mote_bundle_t *b, const uint8_t *d, size_t n) {
  const char *path = "options";
  FOR_FIELDS(d, n, {
    if (f->number == 3) MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &b->opt_context));
    if (f->number == 4) MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &b->opt_prefill_tokens));
    if (f->number == 60) MOTE_RETURN_IF_ERROR(get_str(b, path, f, &b->opt_activations));
  });
  return MOTE_OK;
}

/* Top level: count the repeated messages, allocate, then fill. */
static mote_status_t parse_manifest(mote_bundle_t *b, const uint8_t *d, size_t n) {
  const char *path = "";
  size_t cnt[10] = {0}, n_lora = 0;
  FOR_FIELDS(d, n, {
    if (f->number >= 3 && f->number <= 9) {
      WANT(PB_LEN);
      ++cnt[f->number];
    }
    if (f->number == 40) { WANT(PB_LEN); ++n_lora; }
  });
  if (n_lora > MOTE_MAX_GRAPH_ITEMS) return bad(b, path, NULL, "too many lora_sites");
  MOTE_RETURN_IF_ERROR(alloc_array(b, n_lora, sizeof(mote_lora_site_t), (void **)&b->lora, "lora_sites"));
  for (int k = 5; k <= 8; ++k)
    if (cnt[k] > UINT32_MAX / 2) return bad(b, path, NULL, "too many elements");
  MOTE_RETURN_IF_ERROR(alloc_array(b, cnt[5], sizeof(mote_section_t), (void **)&b->sections, "sections"));
  MOTE_RETURN_IF_ERROR(alloc_array(b, cnt[6], sizeof(mote_tensor_t), (void **)&b->tensors, "tensors"));
  MOTE_RETURN_IF_ERROR(alloc_array(b, cnt[7], sizeof(mote_kv_cache_t), (void **)&b->kv, "kv_caches"));
  MOTE_RETURN_IF_ERROR(alloc_array(b, cnt[8], sizeof(mote_graph_t), (void **)&b->graphs, "graphs"));
  char sub[64];
  int seen_tok = 0;
  FOR_FIELDS(d, n, {
    switch (f->number) {
      case 1: MOTE_RETURN_IF_ERROR(get_u32(b, path, f, &b->format_version)); break;
      case 2: MOTE_RETURN_IF_ERROR(get_str(b, path, f, &b->kind)); break;
      case 3: MOTE_RETURN_IF_ERROR(parse_spec(b, f->data, f->len)); break;
      case 4:
        if (seen_tok++) return bad(b, path, f, "duplicate tokenizer");
        MOTE_RETURN_IF_ERROR(parse_tokenizer(b, f->data, f->len));
        break;
      case 5:
        snprintf(sub, sizeof sub, "sections[%u]", b->n_sections);
        MOTE_RETURN_IF_ERROR(parse_section(b, sub, f->data, f->len, &b->sections[b->n_sections++]));
        break;
      case 6:
        snprintf(sub, sizeof sub, "tensors[%u]", b->n_tensors);
        MOTE_RETURN_IF_ERROR(parse_tensor(b, sub, f->data, f->len, &b->tensors[b->n_tensors++]));
        break;
      case 7:
        snprintf(sub, sizeof sub, "kv_caches[%u]", b->n_kv);
        MOTE_RETURN_IF_ERROR(parse_kv(b, sub, f->data, f->len, &b->kv[b->n_kv++]));
        break;
      case 8:
        snprintf(sub, sizeof sub, "graphs[%u]", b->n_graphs);
        /* n_graphs counts it first so a failing graph's arrays are freed */
        MOTE_RETURN_IF_ERROR(parse_graph(b, sub, f->data, f->len, &b->graphs[b->n_graphs++]));
        break;
      case 9: MOTE_RETURN_IF_ERROR(parse_options(b, f->data, f->len)); break;
      case 10: WANT(PB_FIXED64); b->base_hash = f->u64; break;
      case 40:
        snprintf(sub, sizeof sub, "lora_sites[%u]", b->n_lora);
        MOTE_RETURN_IF_ERROR(parse_lora_site(b, sub, f->data, f->len, &b->lora[b->n_lora++]));
        break;
      default: break;
    }
  });
  return MOTE_OK;
}

/* ------------------------------------------------------------------------ */
/* Header                                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t rd_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
static uint32_t rd_u32(const uint8_t *p) { return (uint32_t)(rd_u64(p) & 0xFFFFFFFFu); }

/* Checks magic, version, checksums and the manifest's place in the file;
 * on success (*mo, *ms) locate the manifest. */
static mote_status_t check_header(mote_bundle_t *b, uint64_t *mo, uint64_t *ms) {
  const uint8_t *h = b->data;
  const char *magic = b->is_adapter ? MOTE_ADAPTER_MAGIC : MOTE_BUNDLE_MAGIC;
  if (b->size < 8 || memcmp(h, magic, 8) != 0) {
    char hex[17] = {0};
    for (size_t i = 0; i < 8 && i < b->size; ++i)
      snprintf(hex + 2 * i, 3, "%02x", h[i]);
    return mote_set_error(MOTE_ERR_INVALID_BUNDLE,
                          "%s: not a Mote bundle (magic %s, expected \"%s\")",
                          b->label, b->size ? hex : "<empty>", magic);
  }
  MOTE_CHECK_OR_RETURN(b->size >= MOTE_BUNDLE_HEADER_SIZE, MOTE_ERR_INVALID_BUNDLE,
                       "%s: truncated header (%zu bytes, need %u)", b->label,
                       b->size, MOTE_BUNDLE_HEADER_SIZE);
  uint32_t version = rd_u32(h + MOTE_HDR_OFF_VERSION);
  MOTE_CHECK_OR_RETURN(version == MOTE_BUNDLE_FORMAT_VERSION,
                       MOTE_ERR_UNSUPPORTED_VERSION,
                       "%s: format_version %u unsupported (this runtime reads %u)",
                       b->label, version, MOTE_BUNDLE_FORMAT_VERSION);
  uint64_t hsum = rd_u64(h + MOTE_HDR_OFF_HEADER_XXH64);
  MOTE_CHECK_OR_RETURN(mote_xxh64(h, MOTE_HDR_OFF_HEADER_XXH64, 0) == hsum,
                       MOTE_ERR_CHECKSUM, "%s: header_xxh64 mismatch", b->label);
  uint32_t hsize = rd_u32(h + MOTE_HDR_OFF_HEADER_SIZE);
  MOTE_CHECK_OR_RETURN(hsize == MOTE_BUNDLE_HEADER_SIZE, MOTE_ERR_INVALID_BUNDLE,
                       "%s: header_size %u (expected %u)", b->label, hsize,
                       MOTE_BUNDLE_HEADER_SIZE);
  uint64_t fsize = rd_u64(h + MOTE_HDR_OFF_FILE_SIZE);
  MOTE_CHECK_OR_RETURN(fsize == b->size, MOTE_ERR_INVALID_BUNDLE,
                       "%s: file_size %llu but the file has %zu bytes (truncated?)",
                       b->label, (unsigned long long)fsize, b->size);
  uint64_t flags = rd_u64(h + MOTE_HDR_OFF_FLAGS);
  MOTE_CHECK_OR_RETURN(flags == 0, MOTE_ERR_UNSUPPORTED, "%s: header flags 0x%llx unknown",
                       b->label, (unsigned long long)flags);
  *mo = rd_u64(h + MOTE_HDR_OFF_MANIFEST_OFFSET);
  *ms = rd_u64(h + MOTE_HDR_OFF_MANIFEST_SIZE);
  MOTE_CHECK_OR_RETURN(*mo >= MOTE_BUNDLE_HEADER_SIZE && *mo <= b->size &&
                           *ms <= b->size - *mo,
                       MOTE_ERR_INVALID_BUNDLE,
                       "%s: manifest [%llu, +%llu) outside the file (%zu bytes)",
                       b->label, (unsigned long long)*mo, (unsigned long long)*ms,
                       b->size);
  uint64_t msum = rd_u64(h + MOTE_HDR_OFF_MANIFEST_XXH64);
  MOTE_CHECK_OR_RETURN(mote_xxh64(h + *mo, *ms, 0) == msum, MOTE_ERR_CHECKSUM,
                       "%s: manifest_xxh64 mismatch (manifest corrupt)", b->label);
  b->manifest_xxh64 = msum;
  return MOTE_OK;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */
/* ------------------------------------------------------------------------ */

static mote_status_t bundle_load(mote_bundle_t *b, const void *data, size_t size,
                                 const char *label, uint32_t flags,
                                 const mote_allocator_t *alloc, int adapter) {
  memset(b, 0, sizeof(*b));
  b->is_adapter = adapter;
  b->data = (const uint8_t *)data;
  b->size = data ? size : 0;
  b->label = label ? label : "<memory>";
  b->alloc = alloc;
  uint64_t mo = 0, ms = 0;
  mote_status_t st = check_header(b, &mo, &ms);
  if (st == MOTE_OK) st = parse_manifest(b, b->data + mo, (size_t)ms);
  if (st == MOTE_OK && b->format_version != MOTE_BUNDLE_FORMAT_VERSION)
    st = mote_set_error(MOTE_ERR_UNSUPPORTED_VERSION,
                        "%s: manifest format_version %u unsupported", b->label,
                        b->format_version);
  if (st == MOTE_OK)
    st = adapter ? mote_bundle_validate_adapter(b, flags) : mote_bundle_validate(b, flags);
  if (st != MOTE_OK) mote_bundle_free(b);
  return st;
}

mote_status_t mote_bundle_load(mote_bundle_t *b, const void *data, size_t size,
                               const char *label, uint32_t flags,
                               const mote_allocator_t *alloc) {
  return bundle_load(b, data, size, label, flags, alloc, 0);
}

mote_status_t mote_bundle_load_adapter(mote_bundle_t *b, const void *data, size_t size,
                                       const char *label, uint32_t flags,
                                       const mote_allocator_t *alloc) {
  return bundle_load(b, data, size, label, flags, alloc, 1);
}

void mote_bundle_free(mote_bundle_t *b) {
  if (!b) return;
  const mote_allocator_t *a = b->alloc;
  for (uint32_t g = 0; b->graphs && g < b->n_graphs; ++g) {
    mote_free(a, b->graphs[g].values);
    mote_free(a, b->graphs[g].steps);
  }
  mote_free(a, b->graphs);
  mote_free(a, b->lora);
  mote_free(a, b->kv);
  mote_free(a, b->tensors);
  mote_free(a, b->sections);
  mote_free(a, (void *)b->tok.piece_ptrs);
  mote_free(a, b->tok.piece_lens);
  mote_free(a, b->tok.scores);
  mote_free(a, b->tok.types);
  mote_free(a, b->tok.ranks);
  memset(b, 0, sizeof(*b));
}

const mote_graph_t *mote_bundle_graph(const mote_bundle_t *b, const char *name) {
  size_t n = strlen(name);
  for (uint32_t g = 0; g < b->n_graphs; ++g) {
    const mote_str_t *s = &b->graphs[g].name;
    if (s->n == n && memcmp(s->p, name, n) == 0) return &b->graphs[g];
  }
  return NULL;
}
