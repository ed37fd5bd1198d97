/* tokenizer.h: SentencePiece-exact BPE tokenizer and byte-level BPE
 * (GPT-2 / Llama 3; tokenizer_bbpe.c): encode, decode, streaming text. */
#ifndef MOTE_TOKENIZER_H
#define MOTE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "mote/mote.h"

/* The tokenizers' allocations: the model's allocator when it has one (its
 * free only), else malloc/free; size 0 allocates 1 byte. */
void *mote_tk_alloc(const mote_allocator_t *a, size_t size);
void mote_tk_free(const mote_allocator_t *a, void *p);

#ifdef __cplusplus
extern "C" {
#endif

/* Piece types, numbered as the bundle's PieceType enum and ModelSpec.h. */
enum {
  MOTE_PIECE_NORMAL = 0,
  MOTE_PIECE_UNKNOWN = 1,
  MOTE_PIECE_CONTROL = 2,
  MOTE_PIECE_USER_DEFINED = 3,
  MOTE_PIECE_BYTE = 4,
  MOTE_PIECE_UNUSED = 5
};

typedef struct mote_tokenizer mote_tokenizer_t;

/* Special ids (-1 = none) and SentencePiece normalizer/trainer flags. */
typedef struct mote_tok_config {
  int32_t bos_id, eos_id, unk_id, pad_id;
  uint8_t add_bos, add_eos, add_dummy_prefix, remove_extra_whitespaces,
      escape_whitespaces, byte_fallback;
} mote_tok_config_t;

/* Builds a tokenizer from n_pieces pieces (UTF-8 bytes, "\xe2\x96\x81" for
 * a space), scores and MOTE_PIECE_* types. Copies everything it needs, so
 * the inputs may be freed afterwards. alloc NULL = malloc/free. */
MOTE_MUST_USE mote_status_t mote_tokenizer_create(
    const mote_tok_config_t *cfg, uint32_t n_pieces,
    const char *const *piece_ptrs, const uint32_t *piece_lens,
    const float *scores, const uint8_t *types, const mote_allocator_t *alloc,
    mote_tokenizer_t **out);
void mote_tokenizer_destroy(mote_tokenizer_t *t);

/* Byte-level BPE pre-tokenizers (the bundle's Tokenizer.pre_tokenizer). */
enum { MOTE_PRE_LLAMA3 = 1, MOTE_PRE_GPT2 = 2 };

typedef struct mote_bbpe_config {
  int32_t bos_id, eos_id, pad_id; /* -1 = none */
  uint8_t add_bos, add_eos;
  uint8_t ignore_merges;  /* a pre-token that is a token is emitted whole */
  uint8_t pre_tokenizer;  /* MOTE_PRE_* */
} mote_bbpe_config_t;

/* Builds a byte-level BPE tokenizer: n tokens of raw bytes, a merge rank
 * each (lower merges first; 0xFFFFFFFF = never formed by a merge), types
 * MOTE_PIECE_NORMAL, _CONTROL (special: matched whole in the text, decodes
 * to nothing) or _USER_DEFINED (matched whole, decodes to its bytes). A
 * byte with no one-byte normal token is dropped by encode (only bytes that
 * valid UTF-8 never holds may lack one). Copies what it needs. The
 * other mote_tokenizer_* functions work on the result. */
MOTE_MUST_USE mote_status_t mote_tokenizer_create_byte_bpe(
    const mote_bbpe_config_t *cfg, uint32_t n_tokens,
    const char *const *token_ptrs, const uint32_t *token_lens,
    const uint32_t *ranks, const uint8_t *types, const mote_allocator_t *alloc,
    mote_tokenizer_t **out);

/* Encodes like SentencePiece's EncodeAsIds (byte-level BPE: like tiktoken /
 * Hugging Face tokenizers with special tokens allowed). add_bos: 1 yes, 0 no, -1 the
 * config's default (add_eos always follows the config). Writes at most
 * `capacity` ids; *out_count is the full count, and the status is
 * MOTE_ERR_BUFFER_TOO_SMALL when it exceeds capacity. Allocates scratch
 * from the allocator for the duration of the call. */
MOTE_MUST_USE mote_status_t mote_tokenizer_encode(const mote_tokenizer_t *t,
                                                  const char *text, size_t len,
                                                  int add_bos, int32_t *out_ids,
                                                  size_t capacity,
                                                  size_t *out_count);

/* Decodes like SentencePiece's DecodeIds. *out_len is the full length
 * (without NUL); a NUL is written when there is room. Ids outside the
 * vocabulary give MOTE_ERR_OUT_OF_RANGE. Allocates nothing. */
MOTE_MUST_USE mote_status_t mote_tokenizer_decode(const mote_tokenizer_t *t,
                                                  const int32_t *ids,
                                                  size_t count, char *out,
                                                  size_t capacity,
                                                  size_t *out_len);

/* Streaming text of `id` (borrowed, not NUL-terminated): spaces restored,
 * the leading space dropped when prev_id is BOS, byte pieces give their raw
 * byte, control pieces give "". Allocates nothing. */
MOTE_MUST_USE mote_status_t mote_tokenizer_token_text(
    const mote_tokenizer_t *t, int32_t prev_id, int32_t id,
    const char **out_text, size_t *out_len);

/* Replaces the text decode gives for the unknown piece (SentencePiece's
 * trainer_spec.unk_surface; default " \xe2\x81\x87 "). Copies it. */
MOTE_MUST_USE mote_status_t mote_tokenizer_set_unk_surface(mote_tokenizer_t *t,
                                                           const char *s,
                                                           size_t len);

/* Number of pieces (for callers that bound-check ids themselves). */
uint32_t mote_tokenizer_size(const mote_tokenizer_t *t);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_TOKENIZER_H */
