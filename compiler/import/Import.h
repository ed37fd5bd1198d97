// Model importers: llama2.c checkpoints and Hugging Face safetensors dirs ->
// ImportedModel (ModelSpec.h). No MLIR; every reader bounds-checks its input.
#ifndef MOTE_COMPILER_IMPORT_IMPORT_H
#define MOTE_COMPILER_IMPORT_IMPORT_H

#include "compiler/ModelSpec.h"

#include <map>
#include <string>
#include <vector>

namespace mote {

// llama2.c checkpoint: legacy v0 (7 x int32 header) or version 1 (256-byte
// "ak42" header). The tokenizer is `tokenizerPath` when non-empty, else found
// beside the checkpoint (tokenizer.model, a single *.model, tokenizer.bin, a
// single other *.bin).
Status importLlama2c(const std::string &binPath, const std::string &tokenizerPath,
                     ImportedModel &out);

// Hugging Face directory: config.json + model.safetensors (or a sharded
// model.safetensors.index.json) + tokenizer.model (+ tokenizer_config.json).
// Llama and Qwen2 architectures; F32, F16 and BF16 weights (kept as mapped).
Status importHuggingFace(const std::string &dir, ImportedModel &out);

// Picks the importer: a directory with config.json -> Hugging Face; a .bin
// file, or a directory holding exactly one checkpoint .bin -> llama2.c.
// `tokenizerOverride` (may be empty) applies to llama2.c checkpoints.
Status importModel(const std::string &path, const std::string &tokenizerOverride,
                   ImportedModel &out);

// Helpers shared by the importers (defined in ModelSpec.cpp).
// The canonical tensors a spec implies, with their shapes (ModelSpec.h list).
std::map<std::string, std::vector<uint64_t>> expectedTensorShapes(const ModelSpec &s);
// "[64, 32]"
std::string shapeString(const std::vector<uint64_t> &shape);

} // namespace mote

#endif // MOTE_COMPILER_IMPORT_IMPORT_H
