/* tokenizer_bbpe.h: byte-level BPE (GPT-2 / Llama 3 style), internal to the
 * runtime. tokenizer.c owns the public mote_tokenizer_t and forwards to
 * these functions when the bundle's tokenizer kind is "byte-bpe". */
#ifndef MOTE_TOKENIZER_BBPE_H
#define MOTE_TOKENIZER_BBPE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

typedef struct mote_bbpe mote_bbpe_t;

mote_status_t mote_bbpe_create(const mote_bbpe_config_t *cfg, uint32_t n,
                               const char *const *ptrs, const uint32_t *lens,
                               const uint32_t *ranks, const uint8_t *types,
                               const mote_allocator_t *alloc, mote_bbpe_t **out);
void mote_bbpe_destroy(mote_bbpe_t *t);
uint32_t mote_bbpe_size(const mote_bbpe_t *t);
mote_status_t mote_bbpe_encode(const mote_bbpe_t *t, const char *text, size_t len,
                               int add_bos, int32_t *out_ids, size_t capacity,
                               size_t *out_count);
mote_status_t mote_bbpe_decode(const mote_bbpe_t *t, const int32_t *ids,
                               size_t count, char *out, size_t capacity,
                               size_t *out_len);
mote_status_t mote_bbpe_token_text(const mote_bbpe_t *t, int32_t id,
                                   const char **out_text, size_t *out_len);

/* Pre-tokenizer split alone (for tests): writes the byte offset where each
 * pre-token ends into ends[] (at most cap), *n_out = the full count. Text
 * between special tokens is what encode hands it. Allocates scratch. */
mote_status_t mote_bbpe_pretokenize(uint32_t pre, const mote_allocator_t *alloc,
                                    const char *text, size_t len, uint32_t *ends,
                                    size_t cap, size_t *n_out);

#endif /* MOTE_TOKENIZER_BBPE_H */
