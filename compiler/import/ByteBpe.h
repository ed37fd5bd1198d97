// Byte-level BPE tokenizer readers (GPT-2 / Llama 3 style; docs/tokenizers.md).
// Both produce a TokenizerSpec of kind "byte-bpe": raw token bytes, merge
// ranks, the pre-tokenizer ("llama3" | "gpt2") and the special tokens.
#ifndef MOTE_COMPILER_IMPORT_BYTEBPE_H
#define MOTE_COMPILER_IMPORT_BYTEBPE_H

#include <string>

#include "compiler/ModelSpec.h"

namespace mote {

// True when the file's first line reads "<base64> <decimal>" (Meta's
// tiktoken tokenizer.model) rather than a SentencePiece protobuf.
bool looksLikeTiktoken(const std::string &path);

// Meta's tiktoken tokenizer.model: one "<base64 token> <rank>" per line,
// ranks 0..N-1 (the rank is the id and the merge priority). Only Llama 3's
// 128000 ranks are accepted; its 256 special tokens get ids 128000..128255.
Status loadTiktokenModel(const std::string &path, TokenizerSpec &out);

// Hugging Face tokenizer.json with model.type "BPE", a ByteLevel
// pre-tokenizer (the GPT-2 regex, or a Split with the Llama 3 / GPT-2
// regex), no normalizer; added_tokens with "special" become control tokens.
Status loadTokenizerJson(const std::string &path, TokenizerSpec &out);

// The invariants the runtime's byte-level BPE relies on.
Status validateByteBpe(const TokenizerSpec &spec);

} // namespace mote

#endif // MOTE_COMPILER_IMPORT_BYTEBPE_H
