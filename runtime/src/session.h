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
};

struct mote_session {
  mote_model_t *m;
  const mote_kernels_t *k;
  mote_threadpool_t *pool;
  uint8_t *arena;           /* max arena_bytes of the graphs, 64-aligned */
  float *kv;                /* (n_kv, context, width_i) f32, one block */
  float **kv_base;          /* (n_kv) start of each cache */
  float *scratch;           /* (n_threads, context) attention scores */
  int32_t *tok_buf;         /* (max_tokens) ids of the current call */
  int32_t *pos_buf;         /* (max_tokens) positions of the current call */
  uint32_t context;
  uint32_t pos;             /* tokens already in the cache */
};

/* Runs graph g on n active rows: tokens[0..n) at positions pos..pos+n;
 * sets *out_logits to the logits of row n-1. Does not advance pos. */
mote_status_t mote_exec_graph(mote_session_t *s, const mote_graph_t *g,
                              const int32_t *tokens, uint32_t n,
                              const float **out_logits);

#endif /* MOTE_SESSION_H */
