/* mote.h: the C API of Mote's tiny runtime.
 *
 * Ownership, stated once: a *_create / *_open function gives the caller an
 * object that the caller must pass to the matching *_destroy / *_close.
 * Every other pointer returned by the API is borrowed: it stays valid until
 * the object it came from is destroyed or, for logits, until the next call
 * on the same session. Functions return mote_status_t: 0 is success; on
 * failure mote_last_error() holds a one-line, human-readable reason (per
 * thread). No function aborts, throws or exits. */
#ifndef MOTE_MOTE_H
#define MOTE_MOTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MOTE_MUST_USE __attribute__((warn_unused_result))
#else
#define MOTE_MUST_USE
#endif

/* ---- status ------------------------------------------------------------ */

typedef int32_t mote_status_t;
enum {
  MOTE_OK = 0,
  /* 100-199: the caller's mistake */
  MOTE_ERR_INVALID_ARGUMENT = 100,
  MOTE_ERR_OUT_OF_RANGE = 101,   /* e.g. context full, token id >= vocab */
  MOTE_ERR_BUFFER_TOO_SMALL = 102,
  /* 200-299: the environment */
  MOTE_ERR_IO = 200,
  MOTE_ERR_OUT_OF_MEMORY = 201,
  /* 300-399: the bundle */
  MOTE_ERR_INVALID_BUNDLE = 300, /* malformed, truncated, out-of-bounds */
  MOTE_ERR_UNSUPPORTED_VERSION = 301,
  MOTE_ERR_CHECKSUM = 302,
  MOTE_ERR_UNSUPPORTED = 303,    /* valid bundle, op/dtype this runtime lacks */
  /* 900: a bug in Mote */
  MOTE_ERR_INTERNAL = 900
};

/* Static name of a status code ("MOTE_ERR_INVALID_BUNDLE"). */
const char *mote_status_name(mote_status_t status);
/* Detail of the last failure on this thread; never NULL. */
const char *mote_last_error(void);

/* ---- allocation hook --------------------------------------------------- */

/* All memory the runtime allocates goes through this hook (tests count
 * calls to prove nothing is allocated per token). NULL = malloc/free. */
typedef struct mote_allocator {
  void *(*alloc)(void *user, size_t size, size_t alignment);
  void (*free)(void *user, void *ptr);
  void *user;
} mote_allocator_t;

/* ---- model (an opened bundle) ------------------------------------------ */

typedef struct mote_model mote_model_t;

enum {
  /* Skip the XXH64 check of large sections at open (the manifest and
   * header are always checked). */
  MOTE_OPEN_SKIP_SECTION_CHECKSUMS = 1u << 0,
  /* Read the bundle into the model's own anonymous memory (2 MiB-aligned,
   * advised for transparent huge pages) instead of mapping the file, as
   * llama.cpp's --no-mmap: a copy at open and pages the OS can no longer
   * share or drop, for faster streaming while decode reads the weights
   * (docs/c-api.md "Mapping or reading the bundle"). */
  MOTE_OPEN_READ_INTO_MEMORY = 1u << 1
};

typedef struct mote_model_options {
  uint32_t flags;
  const mote_allocator_t *allocator; /* NULL: malloc/free */
} mote_model_options_t;

/* Maps and validates a bundle: header, manifest, every offset and length
 * against the file size, checksums, graphs against the op set. */
MOTE_MUST_USE mote_status_t mote_model_open(const char *path,
                                            const mote_model_options_t *options,
                                            mote_model_t **out_model);
/* Same, over caller-owned bytes that must outlive the model. */
MOTE_MUST_USE mote_status_t mote_model_open_memory(
    const void *data, size_t size, const mote_model_options_t *options,
    mote_model_t **out_model);
void mote_model_close(mote_model_t *model);

typedef struct mote_model_info {
  const char *arch;           /* borrowed */
  uint32_t vocab_size;
  uint32_t dim;
  uint32_t n_layers;
  uint32_t n_heads;
  uint32_t n_kv_heads;
  uint32_t context;           /* max tokens a session can hold */
  uint32_t prefill_tokens;    /* tokens per prefill graph call */
  int32_t bos_id;
  int32_t eos_id;
  int32_t add_bos;            /* tokenizer's default */
  uint64_t weight_bytes;      /* bytes of weights read per token */
  uint64_t kv_bytes_per_token; /* all caches; an 8-bit one counts codes + scales */
  uint64_t arena_bytes;       /* largest graph arena */
  uint64_t file_bytes;
} mote_model_info_t;

mote_status_t mote_model_get_info(const mote_model_t *model,
                                  mote_model_info_t *out_info);

/* ---- tokenizer ---------------------------------------------------------- */

/* Encodes UTF-8 text exactly as SentencePiece would (BPE, byte fallback).
 * add_bos: 1 prepend BOS, 0 don't, -1 the tokenizer's default.
 * Writes at most `capacity` ids; *out_count is the full count (call again
 * with a larger buffer on MOTE_ERR_BUFFER_TOO_SMALL). */
MOTE_MUST_USE mote_status_t mote_tokenize(const mote_model_t *model,
                                          const char *text, size_t text_len,
                                          int add_bos, int32_t *out_ids,
                                          size_t capacity, size_t *out_count);

/* Decodes ids to UTF-8 like SentencePiece's decode (control tokens dropped,
 * the dummy-prefix space of the first piece removed). *out_len excludes the
 * terminating NUL, which is written when there is room. */
MOTE_MUST_USE mote_status_t mote_detokenize(const mote_model_t *model,
                                            const int32_t *ids, size_t count,
                                            char *out, size_t capacity,
                                            size_t *out_len);

/* Text of one token for streaming output, given the previous token (a
 * leading space is dropped right after BOS). Borrowed bytes, not
 * NUL-terminated; byte-fallback tokens yield their single raw byte. */
MOTE_MUST_USE mote_status_t mote_token_text(const mote_model_t *model,
                                            int32_t prev_id, int32_t id,
                                            const char **out_text,
                                            size_t *out_len);

/* ---- session: KV cache, arena, threads --------------------------------- */

typedef struct mote_session mote_session_t;

typedef struct mote_session_options {
  uint32_t n_threads; /* 0: all cores */
  uint32_t context;   /* 0: the bundle's context */
} mote_session_options_t;

/* Allocates everything a session needs (arena, KV cache, thread pool); the
 * prefill/decode calls below allocate nothing. */
MOTE_MUST_USE mote_status_t mote_session_create(
    mote_model_t *model, const mote_session_options_t *options,
    mote_session_t **out_session);
void mote_session_destroy(mote_session_t *session);
/* Forgets the KV cache (position back to 0). */
void mote_session_reset(mote_session_t *session);
/* Tokens already in the KV cache. */
uint32_t mote_session_position(const mote_session_t *session);

/* Feeds `count` tokens (split into prefill-graph-sized chunks) and returns
 * the logits (vocab_size floats) after the last one. */
MOTE_MUST_USE mote_status_t mote_session_prefill(mote_session_t *session,
                                                 const int32_t *tokens,
                                                 size_t count,
                                                 const float **out_logits);
/* Feeds one token through the decode graph. */
MOTE_MUST_USE mote_status_t mote_session_decode(mote_session_t *session,
                                                int32_t token,
                                                const float **out_logits);
/* Feeds `count` tokens like mote_session_prefill (the position advances by
 * count) and writes the logits after EVERY one of them: row t of
 * out_logits (count x vocab_size floats, caller-owned) predicts the token
 * after tokens[t]. Runs the bundle's "score" graph (motec compile
 * --score-graph) in chunks of its rows; without one, the decode graph one
 * token at a time (same logits, slower). Allocates nothing. */
MOTE_MUST_USE mote_status_t mote_session_score(mote_session_t *session,
                                               const int32_t *tokens,
                                               size_t count,
                                               float *out_logits);

/* ---- bucketed bundles (motec --buckets, docs/buckets.md) --------------- */

/* The static graphs of a bucketed bundle: token buckets T (increasing) with
 * the compiler's cost estimate of one call each, and context buckets C.
 * n_tokens == 0 for a bundle without buckets. */
#define MOTE_MAX_BUCKETS_INFO 16
typedef struct mote_buckets_info {
  uint32_t n_tokens, n_contexts;
  uint32_t tokens[MOTE_MAX_BUCKETS_INFO];
  uint32_t contexts[MOTE_MAX_BUCKETS_INFO];
  double cost_estimate_s[MOTE_MAX_BUCKETS_INFO];
  /* Share of a call's cost left when it skips the logits (a chunk before a
   * prompt's last); set_bucket_cost scales it the same way. */
  double mid_share[MOTE_MAX_BUCKETS_INFO];
} mote_buckets_info_t;

mote_status_t mote_model_get_buckets(const mote_model_t *model,
                                     mote_buckets_info_t *out_info);

/* How mote_session_prefill cuts a prompt on a bucketed bundle (ignored
 * without buckets, which always run the dynamic prefill graph):
 * BUCKETS (default): the chunk sequence of least total cost (a DP over the
 *   remaining length; only the last chunk may be padded, docs/buckets.md);
 * DYNAMIC: the bundle's dynamic "prefill" graph with n <= T active rows (and
 *   the dynamic "decode" graph), as without buckets;
 * PAD_LARGEST: chunks of the largest token bucket, the last one padded. */
typedef enum mote_prefill_policy {
  MOTE_PREFILL_BUCKETS = 0,
  MOTE_PREFILL_DYNAMIC = 1,
  MOTE_PREFILL_PAD_LARGEST = 2
} mote_prefill_policy_t;

MOTE_MUST_USE mote_status_t mote_session_set_prefill_policy(mote_session_t *session,
                                                            int policy);
/* Overrides the cost (seconds per call, e.g. measured by mote-bench) of the
 * token bucket `tokens`; MOTE_ERR_INVALID_ARGUMENT if there is none. */
MOTE_MUST_USE mote_status_t mote_session_set_bucket_cost(mote_session_t *session,
                                                         uint32_t tokens, double seconds);
/* The chunks mote_session_prefill would run for `count` tokens from the
 * current position: out_rows[i] is the rows chunk i runs (its graph's T for
 * bucket graphs, so sum(out_rows) - count rows are padding). Writes at most
 * `capacity`; *out_n is the full count. Allocates nothing. */
MOTE_MUST_USE mote_status_t mote_session_prefill_plan(mote_session_t *session, size_t count,
                                                      uint32_t *out_rows, size_t capacity,
                                                      size_t *out_n);

/* ---- LoRA adapters (motec adapter, docs/lora.md) ------------------------ */

/* An adapter file (name.mote-lora) opened on one model: per LoRA site of
 * the model (motec compile --lora-max-rank) an A (r x K), B (N x r) and
 * scale s, so that the site computes W x + s B (A x). Several adapters may
 * be open on one model at once; each session binds at most one. */
typedef struct mote_adapter mote_adapter_t;

typedef struct mote_adapter_options {
  uint32_t flags; /* MOTE_OPEN_SKIP_SECTION_CHECKSUMS */
} mote_adapter_options_t;

/* Maps and validates an adapter against `model`: header, manifest and
 * section checksums, every offset and shape, base_hash == the model's
 * manifest hash, each site present in the model with the same K and N and
 * a rank <= its compiled max. The model must outlive the adapter. */
MOTE_MUST_USE mote_status_t mote_adapter_open(mote_model_t *model, const char *path,
                                              const mote_adapter_options_t *options,
                                              mote_adapter_t **out_adapter);
/* Closes an adapter. Refused (MOTE_ERR_INVALID_ARGUMENT, nothing freed)
 * while a session still binds it: unbind with mote_session_set_adapter(s,
 * NULL) or destroy the session first. NULL is a no-op. */
MOTE_MUST_USE mote_status_t mote_adapter_close(mote_adapter_t *adapter);

/* Binds `adapter` (opened on this session's model) to the session, or
 * unbinds with NULL: the next prefill/decode/score uses it. O(1): swaps a
 * pointer to the adapter's per-site table; no allocation, the base weights
 * and the KV cache are untouched (tokens already in the cache keep the K/V
 * the earlier adapter produced). Not thread-safe against a running call on
 * the same session. */
MOTE_MUST_USE mote_status_t mote_session_set_adapter(mote_session_t *session,
                                                     mote_adapter_t *adapter);

/* ---- sampler ------------------------------------------------------------ */

typedef struct mote_sampler mote_sampler_t;

typedef struct mote_sampler_params {
  float temperature; /* 0 = greedy (argmax, lowest id on ties) */
  int32_t top_k;     /* 0 = off */
  float top_p;       /* 1.0 = off */
  uint64_t seed;
} mote_sampler_params_t;

MOTE_MUST_USE mote_status_t mote_sampler_create(
    const mote_sampler_params_t *params, uint32_t vocab_size,
    const mote_allocator_t *allocator, mote_sampler_t **out_sampler);
void mote_sampler_destroy(mote_sampler_t *sampler);
/* Picks the next token from logits (vocab_size floats). */
int32_t mote_sampler_sample(mote_sampler_t *sampler, const float *logits);

/* ---- misc --------------------------------------------------------------- */

/* "0.1.0" */
const char *mote_version(void);
/* Kernel ISA in use: "avx2", "neon" or "ref". */
const char *mote_kernel_isa(void);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_MOTE_H */
