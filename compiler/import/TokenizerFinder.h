// Finds and loads the tokenizer that belongs to a checkpoint (llama2.c: the
// files beside it; Hugging Face: tokenizer.model + tokenizer_config.json).
#ifndef MOTE_COMPILER_IMPORT_TOKENIZERFINDER_H
#define MOTE_COMPILER_IMPORT_TOKENIZERFINDER_H

#include "compiler/ModelSpec.h"

#include <string>

namespace mote {

// `explicitPath` if non-empty, else beside `checkpointPath`: tokenizer.model,
// a single *.model, tokenizer.bin, a single other *.bin. The piece count must
// equal `vocabSize`.
Status loadTokenizerFor(const std::string &checkpointPath, const std::string &explicitPath,
                        uint32_t vocabSize, TokenizerSpec &out);

// Loads one tokenizer file by extension (.model = SentencePiece, else
// llama2.c tokenizer.bin) and checks its piece count.
Status loadTokenizerFile(const std::string &path, uint32_t vocabSize, TokenizerSpec &out);

} // namespace mote

#endif // MOTE_COMPILER_IMPORT_TOKENIZERFINDER_H
