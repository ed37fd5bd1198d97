// Hugging Face importer: config.json -> ModelSpec, safetensors (single or
// sharded) -> canonical tensors, tokenizer.model + tokenizer_config.json.
#include "compiler/import/Import.h"
#include "compiler/import/HuggingFace.h"
#include "compiler/import/TokenizerFinder.h"
#include "compiler/import/ByteBpe.h"

#if __has_include("compiler/import/Tokenizers.h")
#include "compiler/import/Tokenizers.h"
#else
namespace mote {
Status applyTokenizerConfig(const std::string &jsonPath, TokenizerSpec &out);
} // namespace mote
#endif

#include <nlohmann/json.hpp>

#include <sys/stat.h>

namespace mote {
namespace {

using json = nlohmann::json;

bool fileExists(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Status readJson(const std::string &path, json &out) {
  std::shared_ptr<MappedFile> f;
  Status st = MappedFile::open(path, f);
  if (!st.ok()) return st;
  const char *b = reinterpret_cast<const char *>(f->data());
  out = json::parse(b, b + f->size(), nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded() || !out.is_object())
    return Status::Error(path + ": not a valid JSON object");
  return Status::Ok();
}

// Reads config field `key` as an integer in [1, max]; `def` < 0 = required.
Status getInt(const std::string &cfg, const json &c, const char *key, int64_t def,
              int64_t max, uint32_t &out) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) {
    if (def < 0) return Status::Error(cfg + ": " + key + ": missing");
    out = uint32_t(def);
    return Status::Ok();
  }
  if (!it->is_number_integer())
    return Status::Error(cfg + ": " + key + ": not an integer");
  int64_t v = it->get<int64_t>();
  if (v <= 0 || v > max)
    return Status::Error(cfg + ": " + key + ": " + std::to_string(v) +
                         " is out of range [1, " + std::to_string(max) + "]");
  out = uint32_t(v);
  return Status::Ok();
}

Status getFloat(const std::string &cfg, const json &c, const char *key, float def,
                float &out) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) { out = def; return Status::Ok(); }
  if (!it->is_number() || !(it->get<double>() > 0) || it->get<double>() > 1e12)
    return Status::Error(cfg + ": " + key + ": not a positive number");
  out = float(it->get<double>());
  return Status::Ok();
}

// rope_scaling {rope_type|type: linear|llama3, factor, low_freq_factor,
// high_freq_factor, original_max_position_embeddings}; rejectUnsupported has
// already refused other types.
Status getRopeScaling(const std::string &cfg, const json &c, RopeScalingSpec &out) {
  out = RopeScalingSpec();
  auto rs = c.find("rope_scaling");
  if (rs == c.end() || rs->is_null()) return Status::Ok();
  auto t = rs->find("rope_type");
  if (t == rs->end()) t = rs->find("type");
  std::string type = t->get<std::string>();
  if (type == "default") return Status::Ok();
  const std::string at = cfg + ": rope_scaling.";
  auto num = [&](const char *key, double lo, double hi, double &v) {
    auto it = rs->find(key);
    if (it == rs->end() || !it->is_number())
      return Status::Error(at + key + ": missing or not a number (rope_type " + type + ")");
    v = it->get<double>();
    if (!(v >= lo) || !(v < hi))
      return Status::Error(at + key + ": " + std::to_string(v) + " is out of range [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + ")");
    return Status::Ok();
  };
  double f = 0, lo = 0, hi = 0, orig = 0;
  Status st = num("factor", 1.0, 1e6, f);
  if (!st.ok()) return st;
  out.kind = type == "linear" ? RopeScaling::Linear : RopeScaling::Llama3;
  out.factor = float(f);
  if (out.kind == RopeScaling::Linear) return Status::Ok();
  if (!(st = num("low_freq_factor", 1e-6, 1e6, lo)).ok()) return st;
  if (!(st = num("high_freq_factor", 1e-6, 1e6, hi)).ok()) return st;
  if (!(st = num("original_max_position_embeddings", 1, double(1 << 24) + 1, orig)).ok())
    return st;
  if (!(hi > lo))
    return Status::Error(at + "high_freq_factor: must be greater than low_freq_factor");
  if (orig != double(uint32_t(orig)))
    return Status::Error(at + "original_max_position_embeddings: not an integer");
  out.low_freq_factor = float(lo);
  out.high_freq_factor = float(hi);
  out.original_max_positions = uint32_t(orig);
  return Status::Ok();
}

Status getBool(const std::string &cfg, const json &c, const char *key, bool def, bool &out) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) { out = def; return Status::Ok(); }
  if (!it->is_boolean()) return Status::Error(cfg + ": " + key + ": not a boolean");
  out = it->get<bool>();
  return Status::Ok();
}

Status parseArch(const std::string &cfg, const json &c, std::string &arch) {
  auto mt = c.find("model_type");
  if (mt != c.end() && !mt->is_string())
    return Status::Error(cfg + ": model_type: not a string");
  std::string t = mt != c.end() ? mt->get<std::string>() : "";
  auto ar = c.find("architectures");
  if (t.empty() && ar != c.end() && ar->is_array() && !ar->empty() && (*ar)[0].is_string()) {
    std::string a = (*ar)[0].get<std::string>();
    t = a == "LlamaForCausalLM" ? "llama" : a == "Qwen2ForCausalLM" ? "qwen2" : a;
  }
  if (t != "llama" && t != "qwen2")
    return Status::Error(cfg + ": model_type: \"" + t.substr(0, 40) +
                         "\" is not supported (llama, qwen2 are)");
  arch = t;
  return Status::Ok();
}

// Features Mote does not implement: each names its config field.
Status rejectUnsupported(const std::string &cfg, const json &c, const std::string &arch) {
  auto kvs = c.find("num_kv_shared_layers");
  if (kvs != c.end() && !kvs->is_null()) {
    if (!kvs->is_number_integer() || kvs->get<int64_t>() < 0)
      return Status::Error(cfg + ": num_kv_shared_layers: not a non-negative integer");
  }
  auto rs = c.find("rope_scaling");
  if (rs != c.end() && !rs->is_null()) {
    std::string type = "?";
    if (rs->is_object()) {
      auto t = rs->find("rope_type");
      if (t == rs->end()) t = rs->find("type");
      if (t != rs->end() && t->is_string()) type = t->get<std::string>();
    }
    if (type != "default" && type != "linear" && type != "llama3")
      return Status::Error(cfg + ": rope_scaling: type \"" + type.substr(0, 40) +
                           "\" is not implemented (default, linear and llama3 are)");
  }
  auto act = c.find("hidden_act");
  if (act != c.end() && !(act->is_string() && act->get<std::string>() == "silu"))
    return Status::Error(cfg + ": hidden_act: only \"silu\" is supported");
  bool b = false;
  Status st = getBool(cfg, c, "mlp_bias", false, b);
  if (!st.ok()) return st;
  if (b) return Status::Error(cfg + ": mlp_bias: true is not supported");
  if (arch == "llama") {
    if (!(st = getBool(cfg, c, "attention_bias", false, b)).ok()) return st;
    if (b) return Status::Error(cfg + ": attention_bias: true (o_proj bias) is not supported");
  }
  if (arch == "qwen2") {
    if (!(st = getBool(cfg, c, "use_sliding_window", false, b)).ok()) return st;
    if (b) return Status::Error(cfg + ": use_sliding_window: true is not supported");
  }
  return Status::Ok();
}

Status parseConfig(const std::string &cfg, const json &c, ModelSpec &s) {
  Status st = parseArch(cfg, c, s.arch);
  if (!st.ok()) return st;
  if (!(st = rejectUnsupported(cfg, c, s.arch)).ok()) return st;
  if (!(st = getInt(cfg, c, "hidden_size", -1, 1 << 16, s.dim)).ok()) return st;
  if (!(st = getInt(cfg, c, "intermediate_size", -1, 1 << 18, s.hidden_dim)).ok()) return st;
  if (!(st = getInt(cfg, c, "num_hidden_layers", -1, 1024, s.n_layers)).ok()) return st;
  if (!(st = getInt(cfg, c, "num_attention_heads", -1, 4096, s.n_heads)).ok()) return st;
  if (!(st = getInt(cfg, c, "num_key_value_heads", s.n_heads, 4096, s.n_kv_heads)).ok())
    return st;
  if (s.dim % s.n_heads != 0 && c.find("head_dim") == c.end())
    return Status::Error(cfg + ": num_attention_heads: " + std::to_string(s.n_heads) +
                         " does not divide hidden_size " + std::to_string(s.dim));
  if (!(st = getInt(cfg, c, "head_dim", s.dim / s.n_heads, 4096, s.head_dim)).ok())
    return st;
  if (s.head_dim == 0 || s.head_dim % 2 != 0)
    return Status::Error(cfg + ": head_dim: " + std::to_string(s.head_dim) +
                         " must be even and positive (RoPE rotates pairs)");
  if (s.n_kv_heads > s.n_heads || s.n_heads % s.n_kv_heads != 0)
    return Status::Error(cfg + ": num_key_value_heads: " + std::to_string(s.n_kv_heads) +
                         " does not divide num_attention_heads " + std::to_string(s.n_heads));
  if (!(st = getInt(cfg, c, "vocab_size", -1, 1 << 22, s.vocab_size)).ok()) return st;
  if (!(st = getInt(cfg, c, "max_position_embeddings", 2048, 1 << 22, s.max_seq_len)).ok())
    return st;
  if (!(st = getFloat(cfg, c, "rms_norm_eps", 1e-6f, s.norm_eps)).ok()) return st;
  if (!(st = getFloat(cfg, c, "rope_theta", 10000.0f, s.rope_theta)).ok()) return st;
  if (!(st = getRopeScaling(cfg, c, s.rope_scaling)).ok()) return st;
  // transformers' LlamaConfig and Qwen2Config both default to untied.
  if (!(st = getBool(cfg, c, "tie_word_embeddings", false, s.tied_embeddings)).ok()) return st;
  s.qkv_bias = s.arch == "qwen2";
  s.rope_style = RopeStyle::Half;
  // KV sharing (Gemma 3n's name): the last N layers have no K/V projections
  // and attend over the K/V of layer n_layers - N - 1, which must exist.
  auto kvs = c.find("num_kv_shared_layers");
  if (kvs != c.end() && !kvs->is_null()) {
    int64_t n = kvs->get<int64_t>();  // checked non-negative integer above
    if (n >= int64_t(s.n_layers))
      return Status::Error(cfg + ": num_kv_shared_layers: " + std::to_string(n) +
                           " must be less than num_hidden_layers " +
                           std::to_string(s.n_layers) +
                           " (a shared layer reads an earlier layer's K/V)");
    s.num_kv_shared_layers = uint32_t(n);
  }
  return Status::Ok();
}

} // namespace

Status importHuggingFace(const std::string &dir, ImportedModel &out) {
  std::string cfgPath = dir + "/config.json";
  json c;
  Status st = readJson(cfgPath, c);
  if (!st.ok()) return st;
  out.spec = ModelSpec();
  if (!(st = parseConfig(cfgPath, c, out.spec)).ok()) return st;
  out.spec.source_format = "hf-safetensors";
  out.spec.source_path = dir;
  std::map<std::string, TensorRef> hf;
  std::string weightsFile;
  if (!(st = loadHfTensors(dir, hf, weightsFile)).ok()) return st;
  out.spec.source_path = weightsFile;
  if (!(st = mapHfTensors(cfgPath, hf, out)).ok()) return st;
  out.spec.source_path = dir;

  // tokenizer.json (byte-level BPE) is preferred when present, unless a
  // SentencePiece tokenizer.model sits beside it (Llama 2 style dirs ship
  // both; the .model is the exact source there).
  std::string tok = dir + "/tokenizer.json", spm = dir + "/tokenizer.model";
  if (!fileExists(tok) || (fileExists(spm) && !looksLikeTiktoken(spm))) tok = spm;
  if (!fileExists(tok))
    return Status::Error(tok + ": missing (neither tokenizer.json nor tokenizer.model)");
  if (!(st = loadTokenizerFile(tok, out.spec.vocab_size, out.tokenizer)).ok()) return st;
  std::string tcfg = dir + "/tokenizer_config.json";
  if (fileExists(tcfg) && !(st = applyTokenizerConfig(tcfg, out.tokenizer)).ok()) return st;
  return validateWeights(out);
}

} // namespace mote
