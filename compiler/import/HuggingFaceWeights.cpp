// Hugging Face weights: finds the safetensors file(s) of a model directory
// and renames HF tensor names to Mote's canonical ones.
#include "compiler/import/HuggingFace.h"
#include "compiler/import/Import.h"
#include "compiler/import/Safetensors.h"

#include <nlohmann/json.hpp>

#include <set>
#include <sys/stat.h>

namespace mote {
namespace {

using json = nlohmann::json;

Status loadSharded(const std::string &dir, std::map<std::string, TensorRef> &out) {
  std::string idx = dir + "/model.safetensors.index.json";
  std::shared_ptr<MappedFile> f;
  Status st = MappedFile::open(idx, f);
  if (!st.ok()) return st;
  const char *b = reinterpret_cast<const char *>(f->data());
  json j = json::parse(b, b + f->size(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::Error(idx + ": not a valid JSON object");
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object() || wm->empty())
    return Status::Error(idx + ": weight_map: missing or not a non-empty object");
  std::map<std::string, std::map<std::string, TensorRef>> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string())
      return Status::Error(idx + ": weight_map: " + it.key() + ": not a file name");
    std::string shard = it->get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard[0] == '.')
      return Status::Error(idx + ": weight_map: " + it.key() + ": \"" + shard.substr(0, 80) +
                           "\" is not a file name inside the model directory");
    if (!shards.count(shard) &&
        !(st = readSafetensors(dir + "/" + shard, shards[shard])).ok())
      return st;
    auto &tensors = shards[shard];
    auto t = tensors.find(it.key());
    if (t == tensors.end())
      return Status::Error(dir + "/" + shard + ": " + it.key() +
                           ": missing, but weight_map in " + idx + " places it here");
    out[it.key()] = t->second;
  }
  for (const auto &s : shards)
    for (const auto &t : s.second)
      if (!wm->contains(t.first))
        return Status::Error(dir + "/" + s.first + ": " + t.first +
                             ": not listed in weight_map of " + idx);
  return Status::Ok();
}

// "model.layers.12.mlp.up_proj.weight" -> "layers.12.w3"; "" when unknown.
std::string canonicalName(const std::string &hf, uint32_t nLayers) {
  static const std::map<std::string, std::string> top = {
      {"model.embed_tokens.weight", "tok_embeddings"},
      {"model.norm.weight", "norm"},
      {"lm_head.weight", "output"}};
  static const std::map<std::string, std::string> layer = {
      {"input_layernorm.weight", "attn_norm"},
      {"post_attention_layernorm.weight", "ffn_norm"},
      {"self_attn.q_proj.weight", "wq"}, {"self_attn.k_proj.weight", "wk"},
      {"self_attn.v_proj.weight", "wv"}, {"self_attn.o_proj.weight", "wo"},
      {"self_attn.q_proj.bias", "bq"},   {"self_attn.k_proj.bias", "bk"},
      {"self_attn.v_proj.bias", "bv"},   {"mlp.gate_proj.weight", "w1"},
      {"mlp.up_proj.weight", "w3"},      {"mlp.down_proj.weight", "w2"}};
  auto t = top.find(hf);
  if (t != top.end()) return t->second;
  const std::string pre = "model.layers.";
  if (hf.compare(0, pre.size(), pre) != 0) return "";
  size_t i = pre.size(), j = i;
  uint64_t n = 0;
  while (j < hf.size() && j - i < 6 && hf[j] >= '0' && hf[j] <= '9')
    n = n * 10 + uint64_t(hf[j++] - '0');
  if (j == i || j >= hf.size() || hf[j] != '.' || n >= nLayers ||
      (hf[i] == '0' && j - i > 1))
    return "";
  auto l = layer.find(hf.substr(j + 1));
  return l == layer.end() ? "" : "layers." + std::to_string(n) + "." + l->second;
}

// Inverse of canonicalName, for messages about missing tensors.
std::string hfName(const std::string &canon) {
  static const std::map<std::string, std::string> top = {
      {"tok_embeddings", "model.embed_tokens.weight"},
      {"norm", "model.norm.weight"},
      {"output", "lm_head.weight"}};
  static const std::map<std::string, std::string> layer = {
      {"attn_norm", "input_layernorm.weight"}, {"ffn_norm", "post_attention_layernorm.weight"},
      {"wq", "self_attn.q_proj.weight"}, {"wk", "self_attn.k_proj.weight"},
      {"wv", "self_attn.v_proj.weight"}, {"wo", "self_attn.o_proj.weight"},
      {"bq", "self_attn.q_proj.bias"},   {"bk", "self_attn.k_proj.bias"},
      {"bv", "self_attn.v_proj.bias"},   {"w1", "mlp.gate_proj.weight"},
      {"w3", "mlp.up_proj.weight"},      {"w2", "mlp.down_proj.weight"}};
  auto t = top.find(canon);
  if (t != top.end()) return t->second;
  size_t dot = canon.rfind('.');
  auto l = layer.find(canon.substr(dot + 1));
  if (canon.compare(0, 7, "layers.") != 0 || dot == std::string::npos || l == layer.end())
    return canon;
  return "model." + canon.substr(0, dot) + "." + l->second;
}

bool endsWith(const std::string &s, const std::string &suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

} // namespace

Status loadHfTensors(const std::string &dir, std::map<std::string, TensorRef> &out,
                     std::string &weightsFile) {
  std::string single = dir + "/model.safetensors";
  struct stat st;
  if (stat(single.c_str(), &st) == 0) {
    weightsFile = single;
    return readSafetensors(single, out);
  }
  weightsFile = dir + "/model.safetensors.index.json";
  if (stat(weightsFile.c_str(), &st) != 0)
    return Status::Error(dir + ": no model.safetensors or model.safetensors.index.json");
  return loadSharded(dir, out);
}

Status mapHfTensors(const std::string &cfgPath, std::map<std::string, TensorRef> &hf,
                    ImportedModel &out) {
  const ModelSpec &s = out.spec;
  auto expected = expectedTensorShapes(s);
  for (auto &kv : hf) {
    const std::string &name = kv.first;
    TensorRef &t = kv.second;
    std::string where = t.file->path() + ": " + name;
    if (endsWith(name, ".rotary_emb.inv_freq")) continue; // a cache, not a weight
    if (name == "lm_head.weight" && s.tied_embeddings) continue; // tied copy
    if (endsWith(name, ".quant_f")) { // QAT clipping factors of one weight
      std::string base = canonicalName(name.substr(0, name.size() - 8), s.n_layers);
      if (base.empty() || !expected.count(base))
        return Status::Error(where + ": quant_f of a tensor this model does not have");
      t.name = base + ".quant_f";
      out.quantF.add(t);
      continue;
    }
    std::string canon = canonicalName(name, s.n_layers);
    if (canon.empty() || !expected.count(canon))
      return Status::Error(where + ": unexpected tensor for this " + s.arch +
                           " model (see " + cfgPath + ")");
    const auto &want = expected[canon];
    if (t.shape != want)
      return Status::Error(where + ": shape " + shapeString(t.shape) + " contradicts " +
                           "config.json (expected " + shapeString(want) + ")");
    t.name = canon;
    out.weights.add(t);
  }
  for (const auto &kv : expected)
    if (!out.weights.find(kv.first))
      return Status::Error(s.source_path + ": " + hfName(kv.first) +
                           ": tensor missing (config.json implies shape " +
                           shapeString(kv.second) + ")");
  return Status::Ok();
}

} // namespace mote
