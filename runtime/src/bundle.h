/* bundle.h: a validated, parsed Mote bundle (header + manifest) as plain C structs. */
#ifndef MOTE_BUNDLE_H
#define MOTE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "mote/mote.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MOTE_MAX_RANK 4
#define MOTE_MAX_OPERANDS 6
#define MOTE_MAX_RESULTS 2
#define MOTE_MAX_IATTR 6
#define MOTE_MAX_FATTR 4

/* DType / ValueKind / OpKind / PieceType numbers of mote_bundle.proto. */
enum { MOTE_DT_F32 = 1, MOTE_DT_F16 = 2, MOTE_DT_BF16 = 3, MOTE_DT_I32 = 4,
       MOTE_DT_Q2 = 16, MOTE_DT_Q4 = 17, MOTE_DT_Q8 = 18 };
enum { MOTE_VK_ARENA = 1, MOTE_VK_WEIGHT = 2, MOTE_VK_KV = 3 };
enum { MOTE_OP_EMBEDDING = 1, MOTE_OP_RMS_NORM = 2, MOTE_OP_LINEAR = 3,
       MOTE_OP_ROPE = 4, MOTE_OP_KV_APPEND = 5, MOTE_OP_ATTENTION = 6,
       MOTE_OP_SWIGLU = 7, MOTE_OP_ADD = 8, MOTE_OP_LOGITS = 9,
       MOTE_OP_LAST_ROW = 10, MOTE_OP_LORA_LINEAR = 11, MOTE_OP_COUNT_ = 12 };

/* LoRA (docs/lora.md): the largest rank a site or adapter may have. */
#define MOTE_LORA_RANK_LIMIT 256u


/* A string borrowed from the manifest bytes (not NUL-terminated). */
typedef struct mote_str { const char *p; uint32_t n; } mote_str_t;

/* Manifest.lora_sites: in a model, a site of mote-lora-fuse (max_rank = the
 * compiled maximum); in an adapter, one site's adapter (max_rank = its rank,
 * A (r, K) and B (N, r) f32 tensors, scale). */
typedef struct mote_lora_site {
  mote_str_t name;
  uint32_t in_features, out_features, max_rank, a_tensor, b_tensor;
  float scale;
} mote_lora_site_t;

typedef struct mote_section {
  mote_str_t name;
  uint64_t offset, size, xxh64;
  uint32_t alignment;
} mote_section_t;

/* Tensor.quant: how a Q2/Q4/Q8 tensor is packed (docs/bundle-format.md). */
typedef struct mote_quant {
  uint32_t bits, group_size, scale_dtype;
  mote_str_t grid, layout;
  uint64_t scale_offset, scale_size; /* within the tensor's section */
  /* set by validation: */
  uint64_t row_bytes;                /* ceil(K/32)*32*bits/8 */
  const void *scales;                /* (N, ceil(K/G)) in the mapped file: IEEE
                                        halves when scales_f16, else f32 */
  int scales_f16;                    /* scale_dtype == F16 */
} mote_quant_t;

typedef struct mote_tensor {
  mote_str_t name;
  uint32_t dtype, rank, section;
  uint64_t shape[MOTE_MAX_RANK];
  uint64_t offset, size;  /* within the section */
  int has_quant;
  const void *data;       /* set by validation: file bytes of the tensor */
  uint32_t seen;          /* validation scratch: last graph (index + 1) using it */
  mote_quant_t quant;     /* when has_quant (dtype Q2/Q4/Q8) */
} mote_tensor_t;

typedef struct mote_kv_cache {
  mote_str_t name;
  uint32_t width, dtype;
  /* dtype Q8 (the 8-bit KV cache): columns per f32 scale (= head_dim), the
   * scales' dtype and the layout string (validated) */
  uint32_t group_size, scale_dtype;
  mote_str_t layout;
  /* set by validation: the head_dim every ATTENTION step reading this cache
   * uses (0: none reads it). An f32 cache is laid out head-major by it. */
  uint32_t head_dim;
} mote_kv_cache_t;

/* The only 8-bit KV layout this runtime has: int8 codes (C, W), f32 scales
 * (C, W / group_size), both row-major. */
#define MOTE_KV_Q8_LAYOUT "i8-rows+f32-row-head-scales"

typedef struct mote_value {
  uint32_t kind, dtype, rank, ref;
  uint64_t shape[MOTE_MAX_RANK];
  uint64_t offset;
  uint64_t bytes; /* numel * dtype size, set by validation */
} mote_value_t;

typedef struct mote_step {
  uint32_t op, n_operands, n_results, n_i, n_f;
  uint32_t operands[MOTE_MAX_OPERANDS];
  uint32_t results[MOTE_MAX_RESULTS];
  int64_t i[MOTE_MAX_IATTR];
  float f[MOTE_MAX_FATTR];
  mote_str_t kernel, loc;
} mote_step_t;

typedef struct mote_graph {
  mote_str_t name, target, kind;
  uint32_t max_tokens, context;
  uint64_t arena_bytes;
  uint32_t n_values, n_steps;
  mote_value_t *values;
  mote_step_t *steps;
  uint32_t input_tokens, input_positions, output_logits;
  uint32_t min_vocab; /* fewest rows of any EMBEDDING table (token bound) */
  uint64_t weight_bytes; /* bytes of the distinct tensors its values read */
  uint8_t bucket;        /* mote-bucketize clone: calls run exactly T rows */
  float cost_estimate_s; /* compiler's estimate of one call (buckets) */
  float logits_estimate_s; /* the LOGITS step's part of it */
} mote_graph_t;

typedef struct mote_spec {
  char arch[32];
  uint32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, head_dim;
  uint32_t vocab_size, max_seq_len, rope_style, num_kv_shared_layers;
  float rope_theta, norm_eps;
  int tied_embeddings, qkv_bias;
} mote_spec_t;

typedef struct mote_tok_manifest {
  uint32_t n_pieces, n_scores, n_types;
  const char **piece_ptrs; /* into the manifest bytes */
  uint32_t *piece_lens;
  float *scores;
  uint8_t *types;
  int32_t bos_id, eos_id, unk_id, pad_id;
  uint8_t add_bos, add_eos, add_dummy_prefix, remove_extra_whitespaces,
      escape_whitespaces, byte_fallback;
  /* kind "byte-bpe" (docs/tokenizers.md): pieces are raw bytes */
  mote_str_t kind, pre_tokenizer;
  uint32_t n_ranks;
  uint32_t *ranks;
  uint8_t ignore_merges;
} mote_tok_manifest_t;

typedef struct mote_bundle {
  const uint8_t *data;
  size_t size;
  const char *label; /* file name for messages */
  uint32_t format_version;
  mote_str_t kind;
  mote_spec_t spec;
  mote_tok_manifest_t tok;
  uint32_t n_sections, n_tensors, n_kv, n_graphs;
  mote_section_t *sections;
  mote_tensor_t *tensors;
  mote_kv_cache_t *kv;
  mote_graph_t *graphs;
  uint32_t opt_context, opt_prefill_tokens;
  mote_str_t opt_activations; /* CompileOptions.activations: "int8" | "f32" | empty */
  uint64_t graph_items; /* values + steps parsed so far (bounds allocation) */
  /* LoRA (docs/lora.md) */
  int is_adapter;           /* loaded by mote_bundle_load_adapter */
  uint32_t n_lora;          /* Manifest.lora_sites */
  mote_lora_site_t *lora;
  uint32_t lora_max_rank;   /* largest max_rank of the sites (set by validation) */
  uint64_t base_hash;       /* adapters: Manifest.base_hash */
  uint64_t manifest_xxh64;  /* header's manifest_xxh64: what an adapter's base_hash names */
  const mote_allocator_t *alloc;
} mote_bundle_t;

/* Parses and validates everything in data[0..size) (see bundle.c): on
 * success every index, offset and shape the executor uses is in range. */
mote_status_t mote_bundle_load(mote_bundle_t *b, const void *data, size_t size,
                               const char *label, uint32_t flags,
                               const mote_allocator_t *alloc);
void mote_bundle_free(mote_bundle_t *b);

/* The same for an adapter file (magic MOTELORA, kind "adapter"): sections,
 * tensors and lora_sites validated (bundle_validate.c); no graphs. */
mote_status_t mote_bundle_load_adapter(mote_bundle_t *b, const void *data, size_t size,
                                       const char *label, uint32_t flags,
                                       const mote_allocator_t *alloc);

/* The graph called `name` ("prefill", "decode"), or NULL. */
const mote_graph_t *mote_bundle_graph(const mote_bundle_t *b, const char *name);

/* Bytes per element of a dense dtype; 0 for quantized/unknown. */
uint32_t mote_dtype_size(uint32_t dtype);

/* Allocation helpers over the hook (NULL hook: aligned malloc). */
void *mote_alloc(const mote_allocator_t *a, size_t size, size_t align);
void mote_free(const mote_allocator_t *a, void *p);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_BUNDLE_H */
