// What every importer produces: hyper-parameters, tokenizer and a weight
// store of memory-mapped tensors (never copied). Shared by the importers,
// the IR builder and the bundle writer. No MLIR in this header.
#ifndef MOTE_COMPILER_MODELSPEC_H
#define MOTE_COMPILER_MODELSPEC_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mote {

// Result of a fallible step: empty message = success. Messages are one line
// and name the file and the field: "path/config.json: hidden_size: ...".
struct Status {
  std::string message;
  bool ok() const { return message.empty(); }
  static Status Ok() { return {}; }
  static Status Error(std::string m) { return Status{std::move(m)}; }
};

enum class DType : uint32_t { F32 = 1, F16 = 2, BF16 = 3, I32 = 4 };
const char *dtypeName(DType t);
uint64_t dtypeSize(DType t);

// A read-only memory mapping that stays alive as long as any tensor uses it.
class MappedFile {
public:
  static Status open(const std::string &path, std::shared_ptr<MappedFile> &out);
  ~MappedFile();
  const uint8_t *data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string &path() const { return path_; }

private:
  MappedFile() = default;
  const uint8_t *data_ = nullptr;
  uint64_t size_ = 0;
  std::string path_;
};

// One tensor as it sits in the source file (bounds already checked by the
// importer against the file size).
struct TensorRef {
  std::string name;                 // canonical name, see below
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  const uint8_t *data = nullptr;    // into file->data()
  uint64_t bytes = 0;
  std::shared_ptr<MappedFile> file; // keeps the mapping alive
  uint64_t numel() const;
};

// Canonical names (the IR's symbols):
//   tok_embeddings (V, D)
//   layers.{i}.attn_norm (D)      layers.{i}.ffn_norm (D)
//   layers.{i}.wq (Hq*hd, D)  .wk (Hkv*hd, D)  .wv (Hkv*hd, D)  .wo (D, Hq*hd)
//   layers.{i}.bq (Hq*hd)  .bk (Hkv*hd)  .bv (Hkv*hd)            (qkv_bias)
//   layers.{i}.w1 (F, D) gate   .w3 (F, D) up   .w2 (D, F) down
//   norm (D)
//   output (V, D)                 absent when tied_embeddings
class WeightStore {
public:
  void add(TensorRef t) { tensors_[t.name] = std::move(t); }
  const TensorRef *find(const std::string &name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, TensorRef> &all() const { return tensors_; }

private:
  std::map<std::string, TensorRef> tensors_;
};

enum class PieceType : uint32_t {
  Normal = 0, Unknown = 1, Control = 2, UserDefined = 3, Byte = 4, Unused = 5
};

struct TokenizerSpec {
  std::string kind = "sentencepiece-bpe";
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<PieceType> types;
  int32_t bos_id = 1, eos_id = 2, unk_id = 0, pad_id = -1;
  bool add_bos = true, add_eos = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;
  bool escape_whitespaces = true;
  bool byte_fallback = true;
  // What decode writes for the unknown piece (SentencePiece's
  // trainer_spec.unk_surface; tok512.model has its own).
  std::string unk_surface = " \xe2\x81\x87 ";
  std::string source;  // path of tokenizer.model / tokenizer.bin
  // kind "byte-bpe" (docs/tokenizers.md): pieces are raw token bytes, types
  // Normal / Control (special) / UserDefined (added, not special), scores
  // empty, ranks the merge rank of each piece (0xFFFFFFFF: not a merge).
  std::vector<uint32_t> ranks;
  std::string pre_tokenizer;  // "llama3" | "gpt2"
  bool ignore_merges = false;
};

enum class RopeStyle : uint32_t { Interleaved = 0, Half = 1 };
// Hugging Face rope_scaling (mote.rope's `scaling`): none, "linear", "llama3".
enum class RopeScaling : uint32_t { None = 0, Linear = 1, Llama3 = 2 };
struct RopeScalingSpec {
  RopeScaling kind = RopeScaling::None;
  float factor = 1.0f, low_freq_factor = 0.0f, high_freq_factor = 0.0f;
  uint32_t original_max_positions = 0;
};

struct ModelSpec {
  std::string arch = "llama";  // "llama" | "qwen2"
  uint32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0;
  uint32_t head_dim = 0, vocab_size = 0, max_seq_len = 0;
  float rope_theta = 10000.0f, norm_eps = 1e-5f;
  bool tied_embeddings = true;
  RopeStyle rope_style = RopeStyle::Half;
  RopeScalingSpec rope_scaling;
  std::string source_format;   // "llama2c-v0" | "llama2c-v1" | "hf-safetensors"
  std::string source_path;
  uint32_t num_kv_shared_layers = 0;
  bool qkv_bias = false;
};

struct ImportedModel {
  ModelSpec spec;
  TokenizerSpec tokenizer;
  WeightStore weights;
  // QAT clipping factors: "<canonical weight>.quant_f" -> [N] or [N, groups]
  // f32/f16/bf16 (HF tensors "<hf weight name>.quant_f"; docs/quantization.md).
  WeightStore quantF;
};

// Checks that every canonical tensor the spec implies is present with the
// right shape (and nothing contradicts the spec). Importers call it last.
Status validateWeights(const ImportedModel &m);

} // namespace mote

#endif // MOTE_COMPILER_MODELSPEC_H
