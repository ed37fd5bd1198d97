// Safetensors reader: maps one file, checks its header against the file and
// returns its tensors (named as in the file) as TensorRefs into the mapping.
#ifndef MOTE_COMPILER_IMPORT_SAFETENSORS_H
#define MOTE_COMPILER_IMPORT_SAFETENSORS_H

#include "compiler/ModelSpec.h"

#include <map>
#include <string>

namespace mote {

// Every tensor's dtype (F32, F16, BF16), shape and data_offsets are checked:
// offsets inside the data region and end - begin == numel * dtype size.
Status readSafetensors(const std::string &path, std::map<std::string, TensorRef> &out);

} // namespace mote

#endif // MOTE_COMPILER_IMPORT_SAFETENSORS_H
