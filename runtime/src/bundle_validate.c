/* bundle_validate.c: proves every section, tensor, value and step of a parsed
 * bundle in range, so kernels can never read or write out of bounds. */
#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "kernels.h"
#include "mote/bundle_format.h"
#include "status.h"

mote_status_t mote_bundle_validate(mote_bundle_t *b, uint32_t flags);

#define FAIL(...) return mote_set_error(MOTE_ERR_INVALID_BUNDLE, __VA_ARGS__)

/* numel of shape, or UINT64_MAX on overflow. */
static uint64_t numel(const uint64_t *shape, uint32_t rank) {
  uint64_t n = 1;
  for (uint32_t k = 0; k < rank; ++k) {
    if (shape[k] != 0 && n > UINT64_MAX / shape[k]) return UINT64_MAX;
    n *= shape[k];
  }
  return n;
}

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

static mote_status_t check_sections(mote_bundle_t *b, uint32_t flags) {
  for (uint32_t k = 0; k < b->n_sections; ++k) {
    const mote_section_t *s = &b->sections[k];
    if (!is_pow2(s->alignment) || s->alignment < MOTE_BUNDLE_MIN_ALIGN)
      FAIL("%s: sections[%u].alignment: %u is not a power of two >= %u",
           b->label, k, s->alignment, MOTE_BUNDLE_MIN_ALIGN);
    if (s->offset % s->alignment != 0)
      FAIL("%s: sections[%u].offset: %llu not aligned to %u", b->label, k,
           (unsigned long long)s->offset, s->alignment);
    if (s->offset < MOTE_BUNDLE_HEADER_SIZE || s->offset > b->size ||
        s->size > b->size - s->offset)
      FAIL("%s: sections[%u]: [%llu, +%llu) outside the file (%zu bytes)",
           b->label, k, (unsigned long long)s->offset,
           (unsigned long long)s->size, b->size);
    if (!(flags & MOTE_OPEN_SKIP_SECTION_CHECKSUMS) &&
        mote_xxh64(b->data + s->offset, s->size, 0) != s->xxh64)
      return mote_set_error(MOTE_ERR_CHECKSUM, "%s: sections[%u] (%.*s): xxh64 mismatch",
                            b->label, k, (int)s->name.n, s->name.p);
  }
  return MOTE_OK;
}

static int str_is(mote_str_t s, const char *lit) {
  return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static uint32_t q_bits(uint32_t dtype) {
  return dtype == MOTE_DT_Q2 ? 2 : dtype == MOTE_DT_Q4 ? 4 : dtype == MOTE_DT_Q8 ? 8 : 0;
}

#define QFAIL(code, ...) return mote_set_error(code, __VA_ARGS__)

/* A Q2/Q4/Q8 tensor (issue 4): shape (N, K); codes row-major, row_bytes =
 * ceil(K/32)*32*bits/8; f32 or f16 scales (N, ceil(K/G)) 64-byte aligned in
 * the same section. Sets quant.row_bytes, quant.scales (the mapped bytes:
 * every kernel reads them in place, f16 ones widened in registers, so no
 * copy is made), quant.scales_f16 and data. */
static mote_status_t check_quant_tensor(mote_bundle_t *b, uint32_t k) {
  mote_tensor_t *t = &b->tensors[k];
  const mote_section_t *s = &b->sections[t->section];
  mote_quant_t *q = &t->quant;
  uint32_t bits = q_bits(t->dtype);
  int nm = (int)t->name.n;
  const char *np = t->name.p;
  if (!t->has_quant)
    FAIL("%s: tensors[%u] (%.*s).quant: missing for dtype %u", b->label, k, nm, np, t->dtype);
  if (q->bits != bits)
    FAIL("%s: tensors[%u] (%.*s).quant.bits: %u but dtype %u needs %u", b->label, k, nm, np,
         q->bits, t->dtype, bits);
  if (t->rank != 2 || t->shape[0] == 0 || t->shape[1] == 0 ||
      t->shape[0] > ((uint64_t)1 << 32) || t->shape[1] > ((uint64_t)1 << 32))
    FAIL("%s: tensors[%u] (%.*s).shape: a quantized tensor is (N, K), both in 1..2^32",
         b->label, k, nm, np);
  if (q->group_size == 0)
    FAIL("%s: tensors[%u] (%.*s).quant.group_size: must be > 0", b->label, k, nm, np);
  if (!str_is(q->grid, bits == 8 ? "symmetric" : "balanced"))
    QFAIL(MOTE_ERR_UNSUPPORTED, "%s: tensors[%u] (%.*s).quant.grid: \"%.*s\" (this runtime "
          "reads \"%s\" for %u-bit)", b->label, k, nm, np, (int)q->grid.n,
          q->grid.p ? q->grid.p : "", bits == 8 ? "symmetric" : "balanced", bits);
  if (!str_is(q->layout, "rowmajor-lsb"))
    QFAIL(MOTE_ERR_UNSUPPORTED, "%s: tensors[%u] (%.*s).quant.layout: \"%.*s\" (this "
          "runtime reads \"rowmajor-lsb\")", b->label, k, nm, np, (int)q->layout.n,
          q->layout.p ? q->layout.p : "");
  if (q->scale_dtype != MOTE_DT_F32 && q->scale_dtype != MOTE_DT_F16)
    QFAIL(MOTE_ERR_UNSUPPORTED, "%s: tensors[%u] (%.*s).quant.scale_dtype: %u (need f32 = 1 "
          "or f16 = 2)", b->label, k, nm, np, q->scale_dtype);
  const uint64_t se = q->scale_dtype == MOTE_DT_F16 ? 2 : 4; /* bytes per scale */
  uint64_t N = t->shape[0], K = t->shape[1];
  uint64_t row_bytes = (K + 31) / 32 * 32 * bits / 8; /* K <= 2^32: no overflow */
  uint64_t ng = (K + q->group_size - 1) / q->group_size;
  if (t->size / row_bytes != N || t->size % row_bytes != 0)
    FAIL("%s: tensors[%u] (%.*s).size: %llu != N*row_bytes = %llu*%llu", b->label, k, nm, np,
         (unsigned long long)t->size, (unsigned long long)N, (unsigned long long)row_bytes);
  if (N > UINT64_MAX / 4 / ng || q->scale_size != se * N * ng)
    FAIL("%s: tensors[%u] (%.*s).quant.scale_size: %llu != %llu*N*ceil(K/G) = %llu*%llu*%llu",
         b->label, k, nm, np, (unsigned long long)q->scale_size, (unsigned long long)se,
         (unsigned long long)se, (unsigned long long)N, (unsigned long long)ng);
  if (q->scale_offset > s->size || q->scale_size > s->size - q->scale_offset)
    FAIL("%s: tensors[%u] (%.*s).quant: scales [%llu, +%llu) outside section %u (%llu bytes)",
         b->label, k, nm, np, (unsigned long long)q->scale_offset,
         (unsigned long long)q->scale_size, t->section, (unsigned long long)s->size);
  if ((s->offset + q->scale_offset) % 64 != 0)
    FAIL("%s: tensors[%u] (%.*s).quant.scale_offset: %llu not 64-byte aligned", b->label, k,
         nm, np, (unsigned long long)q->scale_offset);
  q->row_bytes = row_bytes;
  q->scales_f16 = q->scale_dtype == MOTE_DT_F16;
  q->scales = b->data + s->offset + q->scale_offset;
  t->data = b->data + s->offset + t->offset;
  return MOTE_OK;
}

static mote_status_t check_tensors(mote_bundle_t *b) {
  for (uint32_t k = 0; k < b->n_tensors; ++k) {
    mote_tensor_t *t = &b->tensors[k];
    if (t->section >= b->n_sections)
      FAIL("%s: tensors[%u].section: %u out of range (%u sections)", b->label, k,
           t->section, b->n_sections);
    const mote_section_t *s = &b->sections[t->section];
    if (t->offset > s->size || t->size > s->size - t->offset)
      FAIL("%s: tensors[%u] (%.*s): [%llu, +%llu) outside section %u (%llu bytes)",
           b->label, k, (int)t->name.n, t->name.p, (unsigned long long)t->offset,
           (unsigned long long)t->size, t->section, (unsigned long long)s->size);
    if (q_bits(t->dtype)) {
      MOTE_RETURN_IF_ERROR(check_quant_tensor(b, k));
      continue;
    }
    uint32_t es = mote_dtype_size(t->dtype);
    if (es == 0 || t->has_quant)
      continue; /* quantized: graphs that use it are rejected as unsupported */
    uint64_t n = numel(t->shape, t->rank);
    if (t->rank == 0 || n == UINT64_MAX || n > UINT64_MAX / es || n * es != t->size)
      FAIL("%s: tensors[%u] (%.*s).size: %llu != numel*%u", b->label, k,
           (int)t->name.n, t->name.p, (unsigned long long)t->size, es);
    if ((s->offset + t->offset) % es != 0)
      FAIL("%s: tensors[%u].offset: misaligned for its dtype", b->label, k);
    t->data = b->data + s->offset + t->offset;
  }
  for (uint32_t k = 0; k < b->n_kv; ++k) {
    const mote_kv_cache_t *kv = &b->kv[k];
    if (kv->width == 0 || (kv->dtype != MOTE_DT_F32 && kv->dtype != MOTE_DT_Q8))
      return mote_set_error(kv->width == 0 ? MOTE_ERR_INVALID_BUNDLE
                                           : MOTE_ERR_UNSUPPORTED,
                            "%s: kv_caches[%u]: width %u dtype %u (need f32 or q8, width > 0)",
                            b->label, k, kv->width, kv->dtype);
    /* The 8-bit KV cache: one f32 scale per row and group_size columns. */
    if (kv->dtype == MOTE_DT_Q8 &&
        (kv->group_size == 0 || kv->width % kv->group_size != 0 ||
         kv->scale_dtype != MOTE_DT_F32))
      FAIL("%s: kv_caches[%u].group_size: q8 cache of width %u needs a group_size "
           "dividing it (got %u) and f32 scales (scale_dtype %u)",
           b->label, k, kv->width, kv->group_size, kv->scale_dtype);
    if (kv->dtype == MOTE_DT_Q8 && !str_is(kv->layout, MOTE_KV_Q8_LAYOUT))
      return mote_set_error(MOTE_ERR_UNSUPPORTED,
                            "%s: kv_caches[%u].layout: \"%.*s\" (this runtime has \"%s\")",
                            b->label, k, (int)kv->layout.n, kv->layout.p,
                            MOTE_KV_Q8_LAYOUT);
  }
  return MOTE_OK;
}

/* One value of graph g: kind, dtype, bytes; ARENA inside the arena, WEIGHT
 * and KV references valid with matching shapes. */
static mote_status_t check_value(mote_bundle_t *b, uint32_t gi, uint32_t vi) {
  mote_graph_t *g = &b->graphs[gi];
  mote_value_t *v = &g->values[vi];
  /* A WEIGHT value of a quantized or f16 tensor: dtype f32 (logical) or the
   * tensor's dtype, shape (N, K) as the tensor's. */
  if (v->kind == MOTE_VK_WEIGHT && v->ref < b->n_tensors &&
      (b->tensors[v->ref].quant.scales ||
       (b->tensors[v->ref].dtype == MOTE_DT_F16 && b->tensors[v->ref].data &&
        b->tensors[v->ref].rank == 2))) {
    mote_tensor_t *t = &b->tensors[v->ref];
    if ((v->dtype != MOTE_DT_F32 && v->dtype != t->dtype) || v->rank != 2 ||
        v->shape[0] != t->shape[0] || v->shape[1] != t->shape[1] || v->offset != 0)
      FAIL("%s: graphs[%u].values[%u]: shape/dtype differ from quantized tensor %.*s",
           b->label, gi, vi, (int)t->name.n, t->name.p);
    v->bytes = t->size;
    if (t->seen != gi + 1) {
      t->seen = gi + 1;
      g->weight_bytes += t->size + t->quant.scale_size;
    }
    return MOTE_OK;
  }
  /* A KV value of an 8-bit cache: dtype Q8, shape (context, width). */
  if (v->kind == MOTE_VK_KV && v->dtype == MOTE_DT_Q8) {
    if (v->ref >= b->n_kv)
      FAIL("%s: graphs[%u].values[%u].ref: kv cache %u out of range (%u caches)",
           b->label, gi, vi, v->ref, b->n_kv);
    if (v->rank != 2 || v->shape[0] != g->context || v->shape[1] != b->kv[v->ref].width ||
        b->kv[v->ref].dtype != MOTE_DT_Q8 || v->offset != 0)
      FAIL("%s: graphs[%u].values[%u]: kv shape must be (context %u, width %u) q8 "
           "(the cache's dtype)", b->label, gi, vi, g->context, b->kv[v->ref].width);
    v->bytes = (uint64_t)g->context * b->kv[v->ref].width;
    return MOTE_OK;
  }
  uint32_t es = mote_dtype_size(v->dtype);
  uint64_t n = numel(v->shape, v->rank);
  if (v->rank == 0 || es == 0 || n == UINT64_MAX || n > UINT64_MAX / es)
    return mote_set_error(es == 0 && v->dtype ? MOTE_ERR_UNSUPPORTED : MOTE_ERR_INVALID_BUNDLE,
                          "%s: graphs[%u].values[%u]: bad shape/dtype %u", b->label,
                          gi, vi, v->dtype);
  v->bytes = n * es;
  /* The executor forms arena + offset for any result, so only ARENA values
   * may carry an offset (the .proto says "ARENA only"). */
  if (v->kind != MOTE_VK_ARENA && v->offset != 0)
    FAIL("%s: graphs[%u].values[%u].offset: %llu on a non-arena value", b->label, gi, vi,
         (unsigned long long)v->offset);
  switch (v->kind) {
    case MOTE_VK_ARENA:
      if (v->offset > g->arena_bytes || v->bytes > g->arena_bytes - v->offset)
        FAIL("%s: graphs[%u].values[%u]: [%llu, +%llu) outside the arena (%llu bytes)",
             b->label, gi, vi, (unsigned long long)v->offset,
             (unsigned long long)v->bytes, (unsigned long long)g->arena_bytes);
      if (v->offset % 4 != 0)
        FAIL("%s: graphs[%u].values[%u].offset: %llu not 4-byte aligned",
             b->label, gi, vi, (unsigned long long)v->offset);
      return MOTE_OK;
    case MOTE_VK_WEIGHT: {
      if (v->ref >= b->n_tensors)
        FAIL("%s: graphs[%u].values[%u].ref: tensor %u out of range (%u tensors)",
             b->label, gi, vi, v->ref, b->n_tensors);
      const mote_tensor_t *t = &b->tensors[v->ref];
      if (!t->data || t->dtype != MOTE_DT_F32)
        return mote_set_error(MOTE_ERR_UNSUPPORTED,
                              "%s: graphs[%u].values[%u]: tensor %.*s has dtype %u "
                              "(this runtime runs f32 only)",
                              b->label, gi, vi, (int)t->name.n, t->name.p, t->dtype);
      if (t->rank != v->rank || memcmp(t->shape, v->shape, 8 * v->rank) != 0 ||
          v->dtype != t->dtype)
        FAIL("%s: graphs[%u].values[%u]: shape differs from tensor %.*s", b->label,
             gi, vi, (int)t->name.n, t->name.p);
      if (b->tensors[v->ref].seen != gi + 1) { /* count each tensor once, in O(1) */
        b->tensors[v->ref].seen = gi + 1;
        g->weight_bytes += t->size;
      }
      return MOTE_OK;
    }
    case MOTE_VK_KV:
      if (v->ref >= b->n_kv)
        FAIL("%s: graphs[%u].values[%u].ref: kv cache %u out of range (%u caches)",
             b->label, gi, vi, v->ref, b->n_kv);
      if (v->rank != 2 || v->shape[0] != g->context || v->shape[1] != b->kv[v->ref].width ||
          v->dtype != MOTE_DT_F32 || b->kv[v->ref].dtype != MOTE_DT_F32)
        FAIL("%s: graphs[%u].values[%u]: kv shape must be (context %u, width %u) f32",
             b->label, gi, vi, g->context, b->kv[v->ref].width);
      return MOTE_OK;
    default:
      FAIL("%s: graphs[%u].values[%u].kind: %u invalid", b->label, gi, vi, v->kind);
  }
}

/* ------------------------------------------------------------------------ */
/* Steps: operand/result counts, kinds and shapes per op kind (see .proto). */
/* ------------------------------------------------------------------------ */

typedef struct sctx {
  mote_bundle_t *b;
  mote_graph_t *g;
  const mote_step_t *s;
  uint32_t gi, si;
  int allow_q; /* the weight operand being checked may be quantized */
  int seen_last_row; /* a LAST_ROW step came before: 1-row steps allowed */
} sctx_t;

static const char *const kRole[2] = {"operands", "results"};

static mote_status_t val(const sctx_t *c, int res, uint32_t k, const mote_value_t **out) {
  uint32_t idx = res ? c->s->results[k] : c->s->operands[k];
  if (idx >= c->g->n_values)
    FAIL("%s: graphs[%u].steps[%u].%s[%u]: value %u out of range (graph has %u values)",
         c->b->label, c->gi, c->si, kRole[res], k, idx, c->g->n_values);
  *out = &c->g->values[idx];
  return MOTE_OK;
}

static mote_status_t shape_err(const sctx_t *c, int res, uint32_t k, const char *want) {
  FAIL("%s: graphs[%u].steps[%u].%s[%u]: expected %s", c->b->label, c->gi, c->si,
       kRole[res], k, want);
}

/* An f32 arena activation (rows, cols); cols 0 = any, returned in *out_cols. */
static mote_status_t act(const sctx_t *c, int res, uint32_t k, uint64_t rows,
                         uint64_t cols, uint64_t *out_cols) {
  const mote_value_t *v = NULL;
  MOTE_RETURN_IF_ERROR(val(c, res, k, &v));
  if (v->kind != MOTE_VK_ARENA || v->dtype != MOTE_DT_F32 || v->rank != 2 ||
      v->shape[0] != rows || (cols && v->shape[1] != cols) || v->shape[1] == 0) {
    char want[96];
    snprintf(want, sizeof want, "f32 arena value of shape (%llu, %llu) (0 = any)",
             (unsigned long long)rows, (unsigned long long)cols);
    return shape_err(c, res, k, want);
  }
  if (out_cols) *out_cols = v->shape[1];
  return MOTE_OK;
}

/* A weight of the given rank; d0/d1 0 = any; the dims come back in o[]. */
static mote_status_t weight(const sctx_t *c, uint32_t k, uint32_t rank, uint64_t d0,
                            uint64_t d1, uint64_t *o) {
  const mote_value_t *v = NULL;
  MOTE_RETURN_IF_ERROR(val(c, 0, k, &v));
  /* check_value proved ref in range for every WEIGHT value. */
  const mote_tensor_t *t = v->kind == MOTE_VK_WEIGHT ? &c->b->tensors[v->ref] : NULL;
  if (t && (t->quant.scales || t->dtype == MOTE_DT_F16) && !c->allow_q)
    return mote_set_error(MOTE_ERR_UNSUPPORTED,
                          "%s: graphs[%u].steps[%u].operands[%u]: op %u cannot take "
                          "quantized or f16 weight %.*s (only linear/logits weights and "
                          "embedding tables)", c->b->label, c->gi, c->si, k, c->s->op,
                          (int)t->name.n, t->name.p);
  if (v->kind != MOTE_VK_WEIGHT || v->rank != rank || (d0 && v->shape[0] != d0) ||
      (rank == 2 && d1 && v->shape[1] != d1) || v->shape[0] == 0 ||
      (rank == 2 && v->shape[1] == 0))
    return shape_err(c, 0, k, rank == 1 ? "a rank-1 weight matching x"
                                         : "a rank-2 weight matching x");
  o[0] = v->shape[0];
  o[1] = rank == 2 ? v->shape[1] : 0;
  return MOTE_OK;
}

/* The kernels this runtime has for quantized weights, by op and width
 * (mote-lower-cpu names them "<op>_q<bits>_f32"). */
static const char *const kQKernels[4][3] = {
    {"embedding_q2_f32", "embedding_q4_f32", "embedding_q8_f32"},
    {"linear_q2_f32", "linear_q4_f32", "linear_q8_f32"},
    {"logits_q2_f32", "logits_q4_f32", "logits_q8_f32"},
    {"lora_linear_q2_f32", "lora_linear_q4_f32", "lora_linear_q8_f32"},
};

/* ... and for f16 weights (--weights f16), same order. */
static const char *const kHKernels[4] = {"embedding_f16_f32", "linear_f16_f32",
                                         "logits_f16_f32", "lora_linear_f16_f32"};

/* weight() for the operands that may be Q2/Q4/Q8: EMBEDDING's table,
 * LINEAR's and LOGITS' W. A quantized one needs a step kernel this runtime
 * has (an empty kernel string is taken as the default). */
static mote_status_t weight_q(sctx_t *c, uint32_t k, uint32_t rank, uint64_t d0,
                              uint64_t d1, uint64_t *o) {
  c->allow_q = 1;
  mote_status_t st = weight(c, k, rank, d0, d1, o);
  c->allow_q = 0;
  if (st != MOTE_OK) return st;
  const mote_tensor_t *t = &c->b->tensors[c->g->values[c->s->operands[k]].ref];
  uint32_t bits = q_bits(t->dtype);
  const int half = t->dtype == MOTE_DT_F16;
  if ((!t->quant.scales && !half) || c->s->kernel.n == 0) return MOTE_OK;
  int op = c->s->op == MOTE_OP_EMBEDDING ? 0 : c->s->op == MOTE_OP_LINEAR ? 1
           : c->s->op == MOTE_OP_LORA_LINEAR ? 3 : 2;
  const char *want = half ? kHKernels[op] : kQKernels[op][bits == 2 ? 0 : bits == 4 ? 1 : 2];
  if (!str_is(c->s->kernel, want))
    return mote_set_error(MOTE_ERR_UNSUPPORTED,
                          "%s: graphs[%u].steps[%u].kernel: \"%.*s\" (this runtime has "
                          "\"%s\" for %.*s)", c->b->label, c->gi, c->si,
                          (int)c->s->kernel.n, c->s->kernel.p, want, (int)t->name.n,
                          t->name.p);
  return MOTE_OK;
}

static mote_status_t kv(const sctx_t *c, int res, uint32_t k, uint64_t width,
                        uint32_t *ref, uint64_t *out_width) {
  const mote_value_t *v = NULL;
  MOTE_RETURN_IF_ERROR(val(c, res, k, &v));
  if (v->kind != MOTE_VK_KV || (width && v->shape[1] != width))
    return shape_err(c, res, k, "a kv cache value of matching width");
  *ref = v->ref;
  if (out_width) *out_width = v->shape[1];
  return MOTE_OK;
}

/* Token ids / positions must be the graph's own input (the executor fills it). */
static mote_status_t ids(const sctx_t *c, uint32_t k, uint32_t input) {
  if (c->s->operands[k] != input)
    return shape_err(c, 0, k, input == c->g->input_tokens ? "the graph's input_tokens"
                                                          : "the graph's input_positions");
  return MOTE_OK;
}

static mote_status_t counts(const sctx_t *c, uint32_t nop_min, uint32_t nop_max,
                            uint32_t ni, uint32_t nf) {
  const mote_step_t *s = c->s;
  if (s->n_operands < nop_min || s->n_operands > nop_max || s->n_results != 1 ||
      s->n_i < ni || s->n_f < nf)
    FAIL("%s: graphs[%u].steps[%u]: op %u has %u operands, %u results, %u i, %u f "
         "(expected %u..%u, 1, >=%u, >=%u)", c->b->label, c->gi, c->si, s->op,
         s->n_operands, s->n_results, s->n_i, s->n_f, nop_min, nop_max, ni, nf);
  return MOTE_OK;
}

/* KV_APPEND / ATTENTION over cache r (and r2 for attention's V): an 8-bit
 * cache needs the q8 kernel (or the default, ""), an f32 one must not name
 * it; attention's caches agree in dtype, a q8 cache's scales are per KV
 * head (group_size == head_dim, hd 0 for KV_APPEND), and every attention
 * over a cache uses one head_dim (recorded in the cache). */
static mote_status_t kv_step(const sctx_t *c, uint32_t r, uint32_t r2, int64_t hd) {
  const mote_kv_cache_t *k = &c->b->kv[r], *v = &c->b->kv[r2];
  int q8 = k->dtype == MOTE_DT_Q8;
  const char *want = c->s->op == MOTE_OP_KV_APPEND ? "kv_append_q8_f32" : "attention_q8_f32";
  if (k->dtype != v->dtype)
    FAIL("%s: graphs[%u].steps[%u]: attention reads k and v caches of different dtypes",
         c->b->label, c->gi, c->si);
  if (q8 ? (c->s->kernel.n != 0 && !str_is(c->s->kernel, want)) : str_is(c->s->kernel, want))
    return mote_set_error(MOTE_ERR_UNSUPPORTED,
                          "%s: graphs[%u].steps[%u].kernel: \"%.*s\" for a%s kv cache",
                          c->b->label, c->gi, c->si, (int)c->s->kernel.n, c->s->kernel.p,
                          q8 ? "n 8-bit" : "n f32");
  if (q8 && hd && (uint64_t)hd != k->group_size)
    FAIL("%s: graphs[%u].steps[%u]: head_dim %lld differs from the q8 kv cache's "
         "group_size %u (one scale per KV head)", c->b->label, c->gi, c->si, (long long)hd,
         k->group_size);
  /* The runtime lays an f32 cache out by KV head (session.c), so every
   * attention over it must split its rows into the same heads. */
  for (int i = 0; i < 2 && hd; ++i) {
    uint32_t ri = i ? r2 : r;
    mote_kv_cache_t *kc = &c->b->kv[ri];
    if (kc->head_dim && kc->head_dim != (uint64_t)hd)
      FAIL("%s: graphs[%u].steps[%u]: reads kv_caches[%u] with head_dim %lld, another "
           "step with %u", c->b->label, c->gi, c->si, ri, (long long)hd, kc->head_dim);
    kc->head_dim = (uint32_t)hd;
  }
  return MOTE_OK;
}

#define TRY MOTE_RETURN_IF_ERROR
#define ATTR_FAIL(what) \
  FAIL("%s: graphs[%u].steps[%u]: %s", c->b->label, c->gi, c->si, what)

/* LAST_ROW (after a LAST_ROW, steps whose operand k has one row run on
 * that row: the executor's rows = min(n, shape[0])). */
static uint64_t step_rows(const sctx_t *c, uint32_t k) {
  uint64_t T = c->g->max_tokens;
  if (T == 1 || !c->seen_last_row || k >= c->s->n_operands ||
      c->s->operands[k] >= c->g->n_values)
    return T;
  const mote_value_t *v = &c->g->values[c->s->operands[k]];
  return v->kind == MOTE_VK_ARENA && v->rank == 2 && v->shape[0] == 1 ? 1 : T;
}

/* Positions of a 1-row step: the graph's input or a 1-row LAST_ROW copy of
 * it (the executor passes the last position either way). */
static mote_status_t pos_ids(const sctx_t *c, uint32_t k, uint64_t rows) {
  const mote_value_t *v = NULL;
  if (rows == c->g->max_tokens) return ids(c, k, c->g->input_positions);
  MOTE_RETURN_IF_ERROR(val(c, 0, k, &v));
  if (c->s->operands[k] != c->g->input_positions &&
      (v->kind != MOTE_VK_ARENA || v->dtype != MOTE_DT_I32 || v->rank != 1 ||
       v->shape[0] != 1))
    return shape_err(c, 0, k, "the graph's input_positions or a 1-row i32 last_row of it");
  return MOTE_OK;
}

/* LAST_ROW: x A(T,D) f32 -> A(1,D), or input_positions A(T) i32 -> A(1). */
static mote_status_t check_last_row(sctx_t *c) {
  const mote_value_t *v = NULL, *r = NULL;
  uint64_t x = 0;
  MOTE_RETURN_IF_ERROR(counts(c, 1, 1, 0, 0));
  MOTE_RETURN_IF_ERROR(val(c, 0, 0, &v));
  if (c->s->operands[0] == c->g->input_positions) {
    MOTE_RETURN_IF_ERROR(val(c, 1, 0, &r));
    if (r->kind != MOTE_VK_ARENA || r->dtype != MOTE_DT_I32 || r->rank != 1 ||
        r->shape[0] != 1)
      return shape_err(c, 1, 0, "an i32 arena value of shape (1)");
  } else {
    MOTE_RETURN_IF_ERROR(act(c, 0, 0, c->g->max_tokens, 0, &x));
    MOTE_RETURN_IF_ERROR(act(c, 1, 0, 1, x, NULL));
  }
  c->seen_last_row = 1;
  return MOTE_OK;
}

static mote_status_t check_step(sctx_t *c) {
  const mote_step_t *s = c->s;
  uint64_t T = c->g->max_tokens, w[2], x = 0, bias[2];
  uint32_t r0, r1;
  if (s->op == MOTE_OP_LAST_ROW) return check_last_row(c);
  /* Steps that read an activation as operand 0 run on its rows (T or 1). */
  if (s->op != MOTE_OP_EMBEDDING && s->op != MOTE_OP_KV_APPEND) T = step_rows(c, 0);
  switch (s->op) {
    case MOTE_OP_EMBEDDING:
      TRY(counts(c, 2, 2, 0, 0));
      TRY(weight_q(c, 0, 2, 0, 0, w));
      TRY(ids(c, 1, c->g->input_tokens));
      TRY(act(c, 1, 0, T, w[1], NULL));
      if (w[0] < c->g->min_vocab) c->g->min_vocab = (uint32_t)(w[0] > UINT32_MAX ? UINT32_MAX : w[0]);
      return MOTE_OK;
    case MOTE_OP_RMS_NORM:
      TRY(counts(c, 2, 2, 0, 1));
      TRY(act(c, 0, 0, T, 0, &x));
      TRY(weight(c, 1, 1, x, 0, w));
      return act(c, 1, 0, T, x, NULL);
    case MOTE_OP_LINEAR:
      TRY(counts(c, 2, 3, 0, 0));
      TRY(act(c, 0, 0, T, 0, &x));
      TRY(weight_q(c, 1, 2, 0, x, w));
      if (s->n_operands == 3) TRY(weight(c, 2, 1, w[0], 0, bias)); /* o[] has 2 slots */
      return act(c, 1, 0, T, w[0], NULL);
    case MOTE_OP_LORA_LINEAR: { /* LINEAR + i[0] = its lora site (K, N of w) */
      TRY(counts(c, 2, 3, 1, 0));
      TRY(act(c, 0, 0, T, 0, &x));
      TRY(weight_q(c, 1, 2, 0, x, w));
      if (s->n_operands == 3) TRY(weight(c, 2, 1, w[0], 0, bias));
      if (s->i[0] < 0 || (uint64_t)s->i[0] >= c->b->n_lora ||
          c->b->lora[s->i[0]].in_features != x || c->b->lora[s->i[0]].out_features != w[0])
        ATTR_FAIL("lora_linear i[0] must name a lora_sites entry whose in/out_features "
                  "are the weight's K and N");
      return act(c, 1, 0, T, w[0], NULL);
    }
    case MOTE_OP_ROPE:
      /* i = {head_dim, style[, scaling, original_max_pos]}, f = {theta[,
       * factor, low_freq_factor, high_freq_factor]} (docs/bundle-format.md). */
      if (s->n_i > 2 || s->n_f > 1) {
        TRY(counts(c, 2, 2, 4, 4));
      } else {
        TRY(counts(c, 2, 2, 2, 1));
      }
      TRY(act(c, 0, 0, T, 0, &x));
      TRY(pos_ids(c, 1, T));
      if (s->i[0] <= 0 || s->i[0] % 2 || x % (uint64_t)s->i[0] || (s->i[1] != 0 && s->i[1] != 1))
        ATTR_FAIL("rope head_dim i[0] must be even and divide the width; style i[1] 0 or 1");
      if (!(s->f[0] > 0.0f && s->f[0] < 3.0e38f))
        ATTR_FAIL("rope theta f[0] must be a finite number > 0");
      if (s->n_i > 2) {
        const float fac = s->f[1], lo = s->f[2], hi = s->f[3];
        int ok = (s->i[2] == MOTE_ROPE_LINEAR || s->i[2] == MOTE_ROPE_LLAMA3) &&
                 fac >= 1.0f && fac < 1.0e6f;
        if (s->i[2] == MOTE_ROPE_LLAMA3)
          ok = ok && lo > 0.0f && hi > lo && hi < 1.0e6f && s->i[3] > 0 && s->i[3] <= (1 << 24);
        if (!ok)
          ATTR_FAIL("rope scaling i[2] must be 1 (linear, factor f[1] in [1, 1e6)) or 2 "
                    "(llama3: also 0 < low f[2] < high f[3] < 1e6, original_max_pos i[3] "
                    "in 1..2^24)");
      }
      return act(c, 1, 0, T, x, NULL);
    case MOTE_OP_KV_APPEND:
      TRY(counts(c, 3, 3, 0, 0));
      TRY(kv(c, 0, 0, 0, &r0, &x));
      TRY(act(c, 0, 1, T, x, NULL));
      TRY(ids(c, 2, c->g->input_positions));
      TRY(kv(c, 1, 0, x, &r1, NULL));
      if (r0 != r1) ATTR_FAIL("kv_append result must be its cache operand");
      return kv_step(c, r0, r0, 0);
    case MOTE_OP_ATTENTION: {
      TRY(counts(c, 4, 4, 3, 1));
      int64_t hq = s->i[0], hkv = s->i[1], hd = s->i[2];
      if (hq <= 0 || hkv <= 0 || hd <= 0 || hq % hkv || hq > 65536 || hd > 65536)
        ATTR_FAIL("attention needs n_heads, n_kv_heads (dividing it), head_dim > 0");
      TRY(act(c, 0, 0, T, (uint64_t)(hq * hd), NULL));
      TRY(kv(c, 0, 1, (uint64_t)(hkv * hd), &r0, NULL));
      TRY(kv(c, 0, 2, (uint64_t)(hkv * hd), &r1, NULL));
      TRY(kv_step(c, r0, r1, hd));
      TRY(pos_ids(c, 3, T));
      return act(c, 1, 0, T, (uint64_t)(hq * hd), NULL);
    }
    case MOTE_OP_SWIGLU:
    case MOTE_OP_ADD:
      TRY(counts(c, 2, 2, 0, 0));
      TRY(act(c, 0, 0, T, 0, &x));
      TRY(act(c, 0, 1, T, x, NULL));
      return act(c, 1, 0, T, x, NULL);
    case MOTE_OP_LOGITS:
      TRY(counts(c, 2, 2, 1, 0));
      TRY(act(c, 0, 0, T, 0, &x));
      TRY(weight_q(c, 1, 2, 0, x, w));
      if (s->i[0] != 0 && s->i[0] != 1) ATTR_FAIL("logits i[0] must be 0 or 1");
      return act(c, 1, 0, s->i[0] ? T : 1, w[0], NULL);
    default:
      return mote_set_error(MOTE_ERR_UNSUPPORTED, "%s: graphs[%u].steps[%u].op: %u unknown",
                            c->b->label, c->gi, c->si, s->op);
  }
}

static mote_status_t check_io(mote_bundle_t *b, uint32_t gi) {
  mote_graph_t *g = &b->graphs[gi];
  const uint32_t io[3] = {g->input_tokens, g->input_positions, g->output_logits};
  static const char *const names[3] = {"input_tokens", "input_positions", "output_logits"};
  for (int k = 0; k < 3; ++k) {
    if (io[k] >= g->n_values)
      FAIL("%s: graphs[%u].%s: value %u out of range (graph has %u values)", b->label,
           gi, names[k], io[k], g->n_values);
    const mote_value_t *v = &g->values[io[k]];
    int ok = v->kind == MOTE_VK_ARENA &&
             (k < 2 ? v->dtype == MOTE_DT_I32 && v->rank == 1 && v->shape[0] == g->max_tokens
                    : v->dtype == MOTE_DT_F32 && v->rank == 2 &&
                          (v->shape[0] == 1 || v->shape[0] == g->max_tokens));
    if (!ok) FAIL("%s: graphs[%u].%s: wrong kind, dtype or shape", b->label, gi, names[k]);
  }
  /* Callers read vocab_size logits (mote.h): the row must be that wide. */
  const mote_value_t *lv = &g->values[g->output_logits];
  if (b->spec.vocab_size == 0 || lv->shape[1] != b->spec.vocab_size)
    FAIL("%s: graphs[%u].output_logits: %llu columns but model.vocab_size is %u", b->label,
         gi, (unsigned long long)lv->shape[1], b->spec.vocab_size);
  return MOTE_OK;
}

static mote_status_t check_graph(mote_bundle_t *b, uint32_t gi) {
  mote_graph_t *g = &b->graphs[gi];
  if (g->max_tokens == 0 || g->context == 0 || g->max_tokens > (1u << 20) ||
      g->context > (1u << 24))
    FAIL("%s: graphs[%u]: max_tokens %u / context %u out of range", b->label, gi,
         g->max_tokens, g->context);
  g->min_vocab = UINT32_MAX;
  for (uint32_t v = 0; v < g->n_values; ++v) MOTE_RETURN_IF_ERROR(check_value(b, gi, v));
  MOTE_RETURN_IF_ERROR(check_io(b, gi));
  sctx_t c = {b, g, NULL, gi, 0, 0, 0};
  for (c.si = 0; c.si < g->n_steps; ++c.si) {
    c.s = &g->steps[c.si];
    MOTE_RETURN_IF_ERROR(check_step(&c));
  }
  return MOTE_OK;
}

/* A model's lora_sites: K, N > 0, 1 <= max_rank <= MOTE_LORA_RANK_LIMIT. */
static mote_status_t check_model_lora(mote_bundle_t *b) {
  b->lora_max_rank = 0;
  for (uint32_t k = 0; k < b->n_lora; ++k) {
    const mote_lora_site_t *l = &b->lora[k];
    if (l->in_features == 0 || l->out_features == 0 || l->max_rank == 0 ||
        l->max_rank > MOTE_LORA_RANK_LIMIT)
      FAIL("%s: lora_sites[%u] (%.*s): in/out_features must be > 0 and max_rank in 1..%u",
           b->label, k, (int)l->name.n, l->name.p ? l->name.p : "", MOTE_LORA_RANK_LIMIT);
    if (l->max_rank > b->lora_max_rank) b->lora_max_rank = l->max_rank;
  }
  return MOTE_OK;
}

/* An adapter file (docs/lora.md): kind "adapter", sections and tensors as in
 * a model, and per lora_sites entry: rank r = max_rank in 1..256, A = an f32
 * or f16 (r, K) tensor, B = an f32 or f16 (N, r) tensor, a finite scale. Whether it fits a
 * model is checked when it is opened on one (adapter.c). */
mote_status_t mote_bundle_validate_adapter(mote_bundle_t *b, uint32_t flags) {
  if (b->kind.n != 7 || memcmp(b->kind.p, "adapter", 7) != 0)
    FAIL("%s: kind: \"%.*s\" (expected \"adapter\")", b->label, (int)b->kind.n,
         b->kind.p ? b->kind.p : "");
  MOTE_RETURN_IF_ERROR(check_sections(b, flags));
  MOTE_RETURN_IF_ERROR(check_tensors(b));
  if (b->n_lora == 0) FAIL("%s: lora_sites: none (an adapter has at least one)", b->label);
  if (b->n_graphs || b->n_kv)
    FAIL("%s: graphs/kv_caches: an adapter has none", b->label);
  for (uint32_t k = 0; k < b->n_lora; ++k) {
    const mote_lora_site_t *l = &b->lora[k];
    int nm = (int)l->name.n;
    const char *np = l->name.p ? l->name.p : "";
    uint32_t r = l->max_rank;
    if (l->in_features == 0 || l->out_features == 0 || r == 0 || r > MOTE_LORA_RANK_LIMIT)
      FAIL("%s: lora_sites[%u] (%.*s): in/out_features must be > 0 and the rank (max_rank) "
           "in 1..%u", b->label, k, nm, np, MOTE_LORA_RANK_LIMIT);
    if (!(l->scale == l->scale) || l->scale > 3.0e38f || l->scale < -3.0e38f)
      FAIL("%s: lora_sites[%u] (%.*s).scale: not a finite number", b->label, k, nm, np);
    const uint32_t ti[2] = {l->a_tensor, l->b_tensor};
    const uint64_t want[2][2] = {{r, l->in_features}, {l->out_features, r}};
    for (int m = 0; m < 2; ++m) {
      if (ti[m] >= b->n_tensors)
        FAIL("%s: lora_sites[%u] (%.*s).%s: tensor %u out of range (%u tensors)", b->label,
             k, nm, np, m ? "b_tensor" : "a_tensor", ti[m], b->n_tensors);
      const mote_tensor_t *t = &b->tensors[ti[m]];
      if (!t->data || (t->dtype != MOTE_DT_F32 && t->dtype != MOTE_DT_F16) || t->rank != 2 ||
          t->shape[0] != want[m][0] || t->shape[1] != want[m][1])
        FAIL("%s: lora_sites[%u] (%.*s).%s: tensor %.*s must be f32 or f16 (%llu, %llu)", b->label,
             k, nm, np, m ? "b_tensor" : "a_tensor", (int)t->name.n, t->name.p,
             (unsigned long long)want[m][0], (unsigned long long)want[m][1]);
    }
  }
  return MOTE_OK;
}

mote_status_t mote_bundle_validate(mote_bundle_t *b, uint32_t flags) {
  if (b->kind.n != 5 || memcmp(b->kind.p, "model", 5) != 0)
    FAIL("%s: kind: \"%.*s\" (expected \"model\")", b->label, (int)b->kind.n,
         b->kind.p ? b->kind.p : "");
  MOTE_RETURN_IF_ERROR(check_sections(b, flags));
  MOTE_RETURN_IF_ERROR(check_tensors(b));
  MOTE_RETURN_IF_ERROR(check_model_lora(b));
  for (uint32_t g = 0; g < b->n_graphs; ++g) MOTE_RETURN_IF_ERROR(check_graph(b, g));
  if (!mote_bundle_graph(b, "decode"))
    FAIL("%s: graphs: no \"decode\" graph", b->label);
  const mote_tok_manifest_t *t = &b->tok;
  if (t->kind.n == 8 && memcmp(t->kind.p, "byte-bpe", 8) == 0) {
    if (t->n_pieces == 0 || t->n_ranks != t->n_pieces || t->n_types != t->n_pieces)
      FAIL("%s: tokenizer: byte-bpe with %u tokens, %u ranks, %u types", b->label,
           t->n_pieces, t->n_ranks, t->n_types);
    return MOTE_OK;
  }
  if (t->n_pieces == 0 || t->n_scores != t->n_pieces || t->n_types != t->n_pieces)
    FAIL("%s: tokenizer: %u pieces, %u scores, %u types", b->label, t->n_pieces,
         t->n_scores, t->n_types);
  return MOTE_OK;
}
