// Internals of the Hugging Face importer shared between its two files.
#ifndef MOTE_COMPILER_IMPORT_HUGGINGFACE_H
#define MOTE_COMPILER_IMPORT_HUGGINGFACE_H

#include "compiler/ModelSpec.h"

#include <map>
#include <string>

namespace mote {

// Reads model.safetensors, or every shard named by model.safetensors.index.json
// (tensor -> shard checked both ways). `weightsFile` names what was read.
Status loadHfTensors(const std::string &dir, std::map<std::string, TensorRef> &out,
                     std::string &weightsFile);

// Renames HF tensors to canonical ones into out.weights, checking each shape
// against out.spec (errors name the file, the HF tensor and config.json).
Status mapHfTensors(const std::string &cfgPath, std::map<std::string, TensorRef> &hf,
                    ImportedModel &out);

} // namespace mote

#endif // MOTE_COMPILER_IMPORT_HUGGINGFACE_H
