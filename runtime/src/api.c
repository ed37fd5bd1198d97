/* api.c: the public entry points of mote.h that are not the session or the
 * sampler: errors, model open/close/info, tokenizer wrappers, version. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "session.h"
#include "status.h"

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

static _Thread_local char g_last_error[512];

mote_status_t mote_set_error(mote_status_t code, const char *fmt, ...) {
  /* Formatted apart first: callers may pass mote_last_error() itself. */
  char buf[sizeof g_last_error];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  memcpy(g_last_error, buf, sizeof buf);
  mote_pal_log(MOTE_LOG_DEBUG, "%s: %s", mote_status_name(code), g_last_error);
  return code;
}

void mote_clear_error(void) { g_last_error[0] = '\0'; }

const char *mote_last_error(void) { return g_last_error; }

const char *mote_status_name(mote_status_t st) {
  switch (st) {
    case MOTE_OK: return "MOTE_OK";
    case MOTE_ERR_INVALID_ARGUMENT: return "MOTE_ERR_INVALID_ARGUMENT";
    case MOTE_ERR_OUT_OF_RANGE: return "MOTE_ERR_OUT_OF_RANGE";
    case MOTE_ERR_BUFFER_TOO_SMALL: return "MOTE_ERR_BUFFER_TOO_SMALL";
    case MOTE_ERR_IO: return "MOTE_ERR_IO";
    case MOTE_ERR_OUT_OF_MEMORY: return "MOTE_ERR_OUT_OF_MEMORY";
    case MOTE_ERR_INVALID_BUNDLE: return "MOTE_ERR_INVALID_BUNDLE";
    case MOTE_ERR_UNSUPPORTED_VERSION: return "MOTE_ERR_UNSUPPORTED_VERSION";
    case MOTE_ERR_CHECKSUM: return "MOTE_ERR_CHECKSUM";
    case MOTE_ERR_UNSUPPORTED: return "MOTE_ERR_UNSUPPORTED";
    case MOTE_ERR_INTERNAL: return "MOTE_ERR_INTERNAL";
    default: return "MOTE_ERR_UNKNOWN";
  }
}

const char *mote_version(void) { return "0.1.0"; }

const char *mote_kernel_isa(void) { return mote_kernels_best()->isa; }

/* ------------------------------------------------------------------------ */
/* Model                                                                    */
/* ------------------------------------------------------------------------ */

/* Everything after the bytes are in place: parse, validate, tokenizer. */
static mote_status_t model_init(mote_model_t *m, const void *data, size_t size,
                                const mote_model_options_t *opt) {
  uint32_t flags = opt ? opt->flags : 0;
  MOTE_RETURN_IF_ERROR(mote_bundle_load(&m->b, data, size, m->label, flags, m->alloc));
  m->k = mote_kernels_best();
  m->decode = mote_bundle_graph(&m->b, "decode");
  m->prefill = mote_bundle_graph(&m->b, "prefill");
  m->context = UINT32_MAX;
  for (uint32_t g = 0; g < m->b.n_graphs; ++g)
    if (!m->b.graphs[g].bucket && m->b.graphs[g].context < m->context)
      m->context = m->b.graphs[g].context;
  /* Bucket graphs address prefixes of the cache: the largest bounds it. */
  MOTE_RETURN_IF_ERROR(mote_buckets_init(m));
  if (m->buckets.n_c && m->buckets.c[m->buckets.n_c - 1] < m->context)
    m->context = m->buckets.c[m->buckets.n_c - 1];
  const mote_tok_manifest_t *t = &m->b.tok;
  mote_tok_config_t cfg = {t->bos_id, t->eos_id, t->unk_id, t->pad_id,
                           t->add_bos, t->add_eos, t->add_dummy_prefix,
                           t->remove_extra_whitespaces, t->escape_whitespaces,
                           t->byte_fallback};
  mote_status_t st;
  if (t->kind.n == 8 && memcmp(t->kind.p, "byte-bpe", 8) == 0) {
    /* Byte-level BPE (docs/tokenizers.md); an unknown pre-tokenizer name
     * becomes 0, which the tokenizer rejects. */
    const mote_str_t *pre = &t->pre_tokenizer;
    uint8_t kind = pre->n == 6 && memcmp(pre->p, "llama3", 6) == 0 ? MOTE_PRE_LLAMA3
                 : pre->n == 4 && memcmp(pre->p, "gpt2", 4) == 0   ? MOTE_PRE_GPT2 : 0;
    mote_bbpe_config_t bc = {t->bos_id, t->eos_id, t->pad_id, t->add_bos, t->add_eos,
                             t->ignore_merges, kind};
    st = mote_tokenizer_create_byte_bpe(&bc, t->n_pieces, t->piece_ptrs, t->piece_lens,
                                        t->ranks, t->types, m->alloc, &m->tok);
  } else {
    st = mote_tokenizer_create(&cfg, t->n_pieces, t->piece_ptrs, t->piece_lens,
                               t->scores, t->types, m->alloc, &m->tok);
  }
  if (st != MOTE_OK && st != MOTE_ERR_OUT_OF_MEMORY)
    st = mote_set_error(MOTE_ERR_INVALID_BUNDLE, "%s: tokenizer: %s", m->label,
                        mote_last_error());
  return st;
}

static mote_status_t model_new(const char *label, const mote_model_options_t *opt,
                               mote_model_t **out) {
  const mote_allocator_t *a = opt ? opt->allocator : NULL;
  mote_model_t *m = mote_alloc(a, sizeof(*m), 64);
  MOTE_CHECK_OR_RETURN(m, MOTE_ERR_OUT_OF_MEMORY, "model: out of memory");
  memset(m, 0, sizeof(*m));
  if (a) {
    m->alloc_copy = *a;
    m->alloc = &m->alloc_copy;
  }
  const char *base = strrchr(label, '/');
  snprintf(m->label, sizeof m->label, "%s", base ? base + 1 : label);
  *out = m;
  return MOTE_OK;
}

mote_status_t mote_model_open(const char *path, const mote_model_options_t *opt,
                              mote_model_t **out) {
  MOTE_CHECK_OR_RETURN(path && out, MOTE_ERR_INVALID_ARGUMENT, "model_open: NULL argument");
  *out = NULL;
  mote_model_t *m;
  MOTE_RETURN_IF_ERROR(model_new(path, opt, &m));
  mote_status_t st = opt && (opt->flags & MOTE_OPEN_READ_INTO_MEMORY)
                         ? mote_pal_read_file(path, &m->map)
                         : mote_pal_map_file(path, &m->map);
  if (st == MOTE_OK) st = model_init(m, m->map.data, m->map.size, opt);
  if (st != MOTE_OK) {
    mote_model_close(m);
    return st;
  }
  *out = m;
  return MOTE_OK;
}

mote_status_t mote_model_open_memory(const void *data, size_t size,
                                     const mote_model_options_t *opt, mote_model_t **out) {
  MOTE_CHECK_OR_RETURN(out && (data || size == 0), MOTE_ERR_INVALID_ARGUMENT,
                       "model_open_memory: NULL argument");
  *out = NULL;
  MOTE_CHECK_OR_RETURN(((uintptr_t)data & 3) == 0, MOTE_ERR_INVALID_ARGUMENT,
                       "model_open_memory: data must be 4-byte aligned");
  mote_model_t *m;
  MOTE_RETURN_IF_ERROR(model_new("<memory>", opt, &m));
  mote_status_t st = model_init(m, data, size, opt);
  if (st != MOTE_OK) {
    mote_model_close(m);
    return st;
  }
  *out = m;
  return MOTE_OK;
}

void mote_model_close(mote_model_t *m) {
  if (!m) return;
  mote_tokenizer_destroy(m->tok);
  mote_bundle_free(&m->b);
  mote_pal_unmap_file(&m->map);
  mote_free(m->alloc, m);
}

mote_status_t mote_model_get_info(const mote_model_t *m, mote_model_info_t *info) {
  MOTE_CHECK_OR_RETURN(m && info, MOTE_ERR_INVALID_ARGUMENT, "model_get_info: NULL argument");
  memset(info, 0, sizeof(*info));
  const mote_spec_t *sp = &m->b.spec;
  info->arch = sp->arch;
  info->vocab_size = sp->vocab_size;
  info->dim = sp->dim;
  info->n_layers = sp->n_layers;
  info->n_heads = sp->n_heads;
  info->n_kv_heads = sp->n_kv_heads;
  info->context = m->context;
  info->prefill_tokens = (m->prefill ? m->prefill : m->decode)->max_tokens;
  info->bos_id = m->b.tok.bos_id;
  info->eos_id = m->b.tok.eos_id;
  info->add_bos = m->b.tok.add_bos;
  /* Weights the decode graph reads, each tensor once (summed at validation:
   * a tensors x values loop here was quadratic in a hostile manifest). */
  info->weight_bytes = m->decode->weight_bytes;
  for (uint32_t k = 0; k < m->b.n_kv; ++k) /* q8: int8 codes + one f32 scale per group */
    info->kv_bytes_per_token += m->b.kv[k].dtype == MOTE_DT_Q8
                                    ? m->b.kv[k].width + 4ull * (m->b.kv[k].width /
                                                                 m->b.kv[k].group_size)
                                    : 4ull * m->b.kv[k].width;
  for (uint32_t k = 0; k < m->b.n_graphs; ++k)
    if (m->b.graphs[k].arena_bytes > info->arena_bytes) info->arena_bytes = m->b.graphs[k].arena_bytes;
  info->file_bytes = m->b.size;
  return MOTE_OK;
}

/* ------------------------------------------------------------------------ */
/* Tokenizer                                                                */
/* ------------------------------------------------------------------------ */

mote_status_t mote_tokenize(const mote_model_t *m, const char *text, size_t len, int add_bos,
                            int32_t *out_ids, size_t capacity, size_t *out_count) {
  MOTE_CHECK_OR_RETURN(m && (text || len == 0) && out_count && (out_ids || capacity == 0),
                       MOTE_ERR_INVALID_ARGUMENT, "tokenize: NULL argument");
  return mote_tokenizer_encode(m->tok, text ? text : "", len, add_bos, out_ids, capacity,
                               out_count);
}

mote_status_t mote_detokenize(const mote_model_t *m, const int32_t *ids, size_t count,
                              char *out, size_t capacity, size_t *out_len) {
  MOTE_CHECK_OR_RETURN(m && (ids || count == 0) && out_len && (out || capacity == 0),
                       MOTE_ERR_INVALID_ARGUMENT, "detokenize: NULL argument");
  return mote_tokenizer_decode(m->tok, ids, count, out, capacity, out_len);
}

mote_status_t mote_token_text(const mote_model_t *m, int32_t prev_id, int32_t id,
                              const char **out_text, size_t *out_len) {
  MOTE_CHECK_OR_RETURN(m && out_text && out_len, MOTE_ERR_INVALID_ARGUMENT,
                       "token_text: NULL argument");
  /* Ids past the tokenizer but inside the embedding table (padded
   * vocabularies) are valid model outputs with no text. */
  if (id >= 0 && (uint32_t)id >= mote_tokenizer_size(m->tok) &&
      (uint32_t)id < m->b.spec.vocab_size) {
    *out_text = "";
    *out_len = 0;
    return MOTE_OK;
  }
  return mote_tokenizer_token_text(m->tok, prev_id, id, out_text, out_len);
}
