/* session.h: internal layout of mote_model and mote_session (shared by api.c,
 * session.c and executor.c). */
#ifndef MOTE_SESSION_H
#define MOTE_SESSION_H

#include "bundle.h"
#include "kernels.h"
#include "mote/mote.h"
#include "platform.h"
#include "threadpool.h"
#include "tokenizer.h"

/* Bucketed bundles (motec --buckets, docs/buckets.md): the static graphs by
 * token bucket T and context bucket C, both increasing. n_t == 0: none. */
#define MOTE_MAX_BUCKETS 16
typedef struct mote_bucket_table {
  uint32_t n_t, n_c;
  uint32_t t[MOTE_MAX_BUCKETS], c[MOTE_MAX_BUCKETS];
  const mote_graph_t *prefill[MOTE_MAX_BUCKETS][MOTE_MAX_BUCKETS]; /* [t][c] */
  const mote_graph_t *decode[MOTE_MAX_BUCKETS];                     /* [c] */
  double cost[MOTE_MAX_BUCKETS]; /* estimated seconds per call of each T */
  double mid_share[MOTE_MAX_BUCKETS]; /* cost share of a call without logits */
} mote_bucket_table_t;

struct mote_model {
  mote_bundle_t b;
  mote_pal_mapping_t map; /* empty when opened over caller memory */
  mote_allocator_t alloc_copy;
  const mote_allocator_t *alloc; /* &alloc_copy or NULL */
  mote_tokenizer_t *tok;
  const mote_kernels_t *k;
  const mote_graph_t *prefill; /* NULL: prefill runs the decode graph */
  const mote_graph_t *decode;
  uint32_t context;            /* KV rows every graph may address */
  char label[256];
  mote_bucket_table_t buckets; /* bucketed bundles only (buckets.c) */
};

/* LoRA (docs/lora.md): one model site's bound adapter; rank 0 = none. */
typedef struct mote_lora_bind {
  const float *A;  /* (rank, K), in the mapped file */
  const float *Bt; /* (rank, N): B transposed at open (adapter.c) */
  float scale;
  uint32_t rank;
} mote_lora_bind_t;

/* MOTE_PROFILE=1 (profile.c): time per step, summed over calls. */
typedef struct mote_prof {
  uint64_t ns, calls;
  uint32_t fused; /* the step began a fused region of this many steps */
} mote_prof_t;

struct mote_session {
  mote_model_t *m;
  const mote_kernels_t *k;
  mote_threadpool_t *pool;
  uint8_t *arena;           /* max arena_bytes of the graphs, 64-aligned */
  float *kv;                /* one block: each cache's context * width_i; an f32
                             * cache head-major (width/head_dim, context, head_dim) */
  size_t kv_pages;          /* kv came from mote_pal_alloc_pages: its bytes; else 0 */
  float **kv_base;          /* (n_kv) start of each cache (q8: int8 codes) */
  float **kv_scales;        /* (n_kv) q8 caches: (context, W/group) f32 scales; else NULL */
  float *scratch;           /* (n_threads, MOTE_ATTENTION_HEADS * context) scores */
  float *kv_widen;          /* q8 caches, T > 1 graphs: (n_threads, kv_widen_floats) */
  size_t kv_widen_floats;   /* 2 * context * largest group_size (one K and one V head) */
  int32_t *tok_buf;         /* (max_tokens) ids of the current call */
  int32_t *pos_buf;         /* (max_tokens) positions of the current call */
  uint32_t context;
  uint32_t pos;             /* tokens already in the cache */
  /* int8 activations (issue 4, docs/quant-kernels.md): on/off for this
   * session, and the buffer one op's quantized x lives in (act_cap codes,
   * act_cap/32 block scales and sums), sized at create for the largest
   * quantized LINEAR/LOGITS input. */
  int act_int8; /* 0 f32, 1 int8 where faster, 2 int8 at every T */
  /* Run consecutive int8 LINEARs over one input as one region (executor.c);
   * MOTE_FUSE_LINEARS=0 turns it off, for measuring. */
  int fuse_linears;
  int fused_logged; /* the first fused region was logged (MOTE_LOG=debug) */
  /* MOTE_PROFILE: per (graph, step) sums, graph g's steps from
   * prof[prof_graph[g]]; calls per graph. NULL when off. */
  mote_prof_t *prof;
  size_t *prof_graph;
  uint64_t *prof_calls;
  size_t act_cap;
  int8_t *act_q;
  float *act_d, *act_bs;
  /* LoRA (adapter.c): the bound adapter and its per-site table (model
   * b.n_lora entries), or NULL; tmp = A.x scratch (max_tokens x max rank). */
  mote_adapter_t *adapter;
  const mote_lora_bind_t *lora;
  float *lora_tmp;
  /* Bucketed bundles (buckets.c): chunking policy and costs, and the
   * chunk planner's (context + 1)-entry tables, allocated at create. */
  int prefill_policy;       /* mote_prefill_policy_t */
  double bucket_cost[MOTE_MAX_BUCKETS];     /* a prompt's last chunk */
  double bucket_cost_mid[MOTE_MAX_BUCKETS]; /* an earlier chunk (no logits) */
  double *plan_cost;
  uint8_t *plan_pick;
};

/* Runs graph g on n active rows: tokens[0..n) at positions pos..pos+n;
 * sets *out_logits to the logits of row n-1. Does not advance pos. */
mote_status_t mote_exec_graph(mote_session_t *s, const mote_graph_t *g,
                              const int32_t *tokens, uint32_t n,
                              const float **out_logits);

/* Same, but runs `rows` >= n rows: rows n.. are padding (token 0 at the
 * positions after the last real one; static-shape bucket graphs run all T).
 * The logits (and mote.last_row) are those of row n-1; out_logits NULL
 * skips the step that computes the logits (nothing else reads them). */
mote_status_t mote_exec_graph_padded(mote_session_t *s, const mote_graph_t *g,
                                     const int32_t *tokens, uint32_t n, uint32_t rows,
                                     const float **out_logits);

/* buckets.c: builds m->buckets at open (validates the set of bucket graphs). */
/* profile.c: MOTE_PROFILE set: allocate the tables (else leave them NULL);
 * report: the sums through mote_pal_log (info); free: the tables. */
mote_status_t mote_profile_init(mote_session_t *s);
void mote_profile_report(const mote_session_t *s);
void mote_profile_free(mote_session_t *s);

mote_status_t mote_buckets_init(mote_model_t *m);
/* Prefill through the bucket graphs under s->prefill_policy. */
mote_status_t mote_buckets_prefill(mote_session_t *s, const int32_t *tokens, size_t count,
                                   const float **out_logits);
/* The decode graph for the next token: smallest context bucket that holds it. */
const mote_graph_t *mote_buckets_decode_graph(const mote_session_t *s);

/* adapter.c: drops the session's adapter binding (session destroy). */
void mote_lora_session_release(mote_session_t *s);

#endif /* MOTE_SESSION_H */
