// Tokenizer readers: SentencePiece tokenizer.model, llama2.c tokenizer.bin
// and Hugging Face tokenizer_config.json, all producing a TokenizerSpec that
// the runtime tokenizer reproduces exactly.
#ifndef MOTE_COMPILER_IMPORT_TOKENIZERS_H
#define MOTE_COMPILER_IMPORT_TOKENIZERS_H

#include <cstdint>
#include <string>

#include "compiler/ModelSpec.h"

namespace mote {

// Reads a SentencePiece ModelProto. Only BPE models with the identity
// normalizer (no precompiled character map) are accepted; anything else is
// an error naming the file and the field. add_bos/add_eos get Llama's
// defaults (true/false); applyTokenizerConfig may override them.
Status loadSentencePieceModel(const std::string &path, TokenizerSpec &out);

// Reads llama2.c's tokenizer.bin (int32 max_token_length, then per token:
// f32 score, int32 len, len bytes) holding exactly vocabSize tokens. Its
// export wrote ' ' for "▁" and "\n<s>\n" / "\n</s>\n" for BOS/EOS; both are
// mapped back, and piece types are inferred (<unk>, <s>, </s>, <0xXX>).
Status loadTokenizerBin(const std::string &path, uint32_t vocabSize,
                        TokenizerSpec &out);

// Applies add_bos_token, add_eos_token, bos_token and eos_token from a
// Hugging Face tokenizer_config.json. A missing file leaves `out` as it is;
// malformed JSON or an unknown token string is an error.
Status applyTokenizerConfig(const std::string &jsonPath, TokenizerSpec &out);

// Checks the invariants the runtime relies on (ids in range, byte pieces
// well-formed); the loaders call it last.
Status validateTokenizer(const TokenizerSpec &spec);

} // namespace mote

#endif // MOTE_COMPILER_IMPORT_TOKENIZERS_H
