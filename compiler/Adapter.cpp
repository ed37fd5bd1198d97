// motec adapter: reads a PEFT LoRA directory (adapter_config.json +
// adapter_model.safetensors, docs/lora.md) and writes name.mote-lora, the
// bundle container with manifest kind "adapter": per site A (r, K) and
// B (N, r) as f32 plus the scale, and base_hash = the base bundle's manifest
// XXH64 (header field manifest_xxh64). Every mismatch with the base is a
// one-line error naming the file and the field; the output appears only
// when complete (temp file + rename).
#include "compiler/Driver.h"

#include "compiler/ModelSpec.h"
#include "compiler/import/Safetensors.h"
#include "compiler/quant/Quantize.h"
#include "mote/bundle_format.h"
#include "mote_bundle.pb.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

namespace mote {
namespace {

namespace pb = ::mote::bundle;

uint64_t getU64(const std::string &b, size_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}

// The base bundle's manifest (checksums checked) and its identity hash.
Status readBase(const std::string &path, pb::Manifest &m, uint64_t &hash) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::Error(path + ": cannot open the base bundle");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  if (bytes.size() < MOTE_BUNDLE_HEADER_SIZE ||
      bytes.compare(0, 8, MOTE_BUNDLE_MAGIC, 8) != 0)
    return Status::Error(path + ": header: not a Mote bundle (bad magic)");
  if (getU64(bytes, MOTE_HDR_OFF_HEADER_XXH64) !=
      mote_xxh64(bytes.data(), MOTE_HDR_OFF_HEADER_XXH64, 0))
    return Status::Error(path + ": header: checksum mismatch");
  uint64_t off = getU64(bytes, MOTE_HDR_OFF_MANIFEST_OFFSET);
  uint64_t len = getU64(bytes, MOTE_HDR_OFF_MANIFEST_SIZE);
  if (getU64(bytes, MOTE_HDR_OFF_FILE_SIZE) != bytes.size() || off > bytes.size() ||
      len > bytes.size() - off)
    return Status::Error(path + ": header: file_size or manifest out of range (truncated?)");
  hash = getU64(bytes, MOTE_HDR_OFF_MANIFEST_XXH64);
  if (hash != mote_xxh64(bytes.data() + off, len, 0))
    return Status::Error(path + ": manifest: checksum mismatch");
  if (!m.ParseFromArray(bytes.data() + off, int(len)))
    return Status::Error(path + ": manifest: not a valid protobuf");
  if (m.kind() != "model")
    return Status::Error(path + ": kind: \"" + m.kind() + "\" (expected a model bundle)");
  if (m.lora_sites_size() == 0)
    return Status::Error(path + ": lora_sites: the base has no LoRA sites (compile it "
                         "with motec compile --lora-max-rank N)");
  return Status::Ok();
}

struct Config {
  uint32_t r = 0;
  double alpha = 0;
  bool rslora = false;
  std::vector<std::string> targets; // HF names: q_proj, ...
  std::vector<int64_t> layers;      // empty = every layer
};

Status readConfig(const std::string &path, Config &c) {
  std::ifstream in(path);
  if (!in)
    return Status::Error(path + ": cannot open");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception &) {
    return Status::Error(path + ": not valid JSON");
  }
  if (!j.is_object())
    return Status::Error(path + ": must be a JSON object");
  auto field = [&](const char *k) -> const nlohmann::json * {
    auto it = j.find(k);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  auto err = [&](const std::string &f, const std::string &what) {
    return Status::Error(path + ": " + f + ": " + what);
  };
  if (auto *p = field("peft_type"); p && (!p->is_string() || *p != "LORA"))
    return err("peft_type", "must be \"LORA\"");
  auto *r = field("r");
  if (!r || !r->is_number_integer() || r->get<int64_t>() < 1 || r->get<int64_t>() > 65536)
    return err("r", "must be a positive integer");
  c.r = uint32_t(r->get<int64_t>());
  auto *a = field("lora_alpha");
  if (!a || !a->is_number() || !std::isfinite(a->get<double>()))
    return err("lora_alpha", "must be a number");
  c.alpha = a->get<double>();
  if (auto *p = field("use_rslora")) {
    if (!p->is_boolean())
      return err("use_rslora", "must be true or false");
    c.rslora = p->get<bool>();
  }
  for (const char *k : {"use_dora", "fan_in_fan_out"})
    if (auto *p = field(k); p && (!p->is_boolean() || p->get<bool>()))
      return err(k, "only false is supported");
  if (auto *p = field("bias"); p && (!p->is_string() || *p != "none"))
    return err("bias", "only \"none\" is supported");
  for (const char *k : {"rank_pattern", "alpha_pattern"})
    if (auto *p = field(k); p && !(p->is_object() && p->empty()))
      return err(k, "per-module ranks/alphas are not supported (must be {})");
  if (auto *m = field("mote"); m && m->is_object() && m->contains("qk_row_layout") &&
                               (*m)["qk_row_layout"] != "hf-rotate-half")
    return err("mote.qk_row_layout", "only \"hf-rotate-half\" is supported");
  auto *t = field("target_modules");
  if (!t)
    return err("target_modules", "missing");
  if (t->is_string())
    c.targets.push_back(t->get<std::string>());
  else if (t->is_array())
    for (const auto &e : *t) {
      if (!e.is_string())
        return err("target_modules", "must be a list of module names");
      c.targets.push_back(e.get<std::string>());
    }
  else
    return err("target_modules", "must be a list of module names");
  if (auto *l = field("layers_to_transform")) {
    if (l->is_number_integer())
      c.layers.push_back(l->get<int64_t>());
    else if (l->is_array())
      for (const auto &e : *l) {
        if (!e.is_number_integer())
          return err("layers_to_transform", "must be a list of layer indices");
        c.layers.push_back(e.get<int64_t>());
      }
    else
      return err("layers_to_transform", "must be null or a list of layer indices");
  }
  return Status::Ok();
}

// HF module -> (Mote weight suffix, attention/mlp block), in PEFT's order.
const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> &hfModules() {
  static const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> m = {
      {"q_proj", {"wq", "self_attn"}}, {"k_proj", {"wk", "self_attn"}},
      {"v_proj", {"wv", "self_attn"}}, {"o_proj", {"wo", "self_attn"}},
      {"gate_proj", {"w1", "mlp"}},    {"up_proj", {"w3", "mlp"}},
      {"down_proj", {"w2", "mlp"}}};
  return m;
}

float halfBits(uint16_t h, bool bf16) {
  uint32_t bits;
  if (bf16) {
    bits = uint32_t(h) << 16;
  } else {
    uint32_t sign = uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
      float v = std::ldexp(float(m), -24);
      return sign ? -v : v;
    }
    bits = e == 31 ? sign | 0x7f800000u | (m << 13) : sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<float> toF32(const TensorRef &t) {
  std::vector<float> out(t.numel());
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == DType::F32) {
      std::memcpy(&out[i], t.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = halfBits(h, t.dtype == DType::BF16);
    }
  }
  return out;
}

struct SiteData {
  std::string name; // lora.layers.i.wq
  uint32_t K = 0, N = 0, r = 0;
  std::vector<float> A, B; // (r, K), (N, r) in the base's row order
};

// q/k B rows: HF rotate-half order -> llama2.c interleaved order (docs/lora.md):
// HF row h*hd + s*hd/2 + j is llama2.c row h*hd + 2j + s.
void hfRowsToInterleaved(std::vector<float> &B, uint32_t r, uint32_t heads, uint32_t hd) {
  std::vector<float> out(B.size());
  for (uint32_t h = 0; h < heads; ++h)
    for (uint32_t s = 0; s < 2; ++s)
      for (uint32_t j = 0; j < hd / 2; ++j) {
        size_t from = size_t(h) * hd + s * (hd / 2) + j, to = size_t(h) * hd + 2 * j + s;
        std::memcpy(&out[to * r], &B[from * r], r * sizeof(float));
      }
  B.swap(out);
}

Status collectSites(const AdapterRequest &req, const Config &c, const pb::Manifest &base,
                    std::vector<SiteData> &sites) {
  const std::string cfgPath = req.adapterDir + "/adapter_config.json";
  const std::string stPath = req.adapterDir + "/adapter_model.safetensors";
  std::map<std::string, TensorRef> tensors;
  Status st = readSafetensors(stPath, tensors);
  if (!st.ok())
    return st;
  const pb::ModelSpec &spec = base.model();
  std::set<std::string> targets;
  for (const std::string &t : c.targets) {
    bool known = false;
    for (const auto &hm : hfModules())
      known = known || hm.first == t;
    if (!known)
      return Status::Error(cfgPath + ": target_modules: '" + t +
                           "' is not a LoRA target Mote knows (q_proj k_proj v_proj o_proj "
                           "gate_proj up_proj down_proj)");
    targets.insert(t);
  }
  std::vector<int64_t> layers = c.layers;
  if (layers.empty())
    for (uint32_t i = 0; i < spec.n_layers(); ++i)
      layers.push_back(i);
  for (int64_t l : layers)
    if (l < 0 || l >= int64_t(spec.n_layers()))
      return Status::Error(cfgPath + ": layers_to_transform: layer " + std::to_string(l) +
                           " out of range (the base has " +
                           std::to_string(spec.n_layers()) + " layers)");
  std::map<std::string, const pb::LoraSite *> baseSites;
  for (const pb::LoraSite &s : base.lora_sites())
    baseSites[s.name()] = &s;
  std::set<std::string> baseTensors;
  for (const pb::Tensor &t : base.tensors())
    baseTensors.insert(t.name());
  std::set<std::string> used;
  for (int64_t l : layers) {
    for (const auto &[hf, mw] : hfModules()) {
      if (!targets.count(hf))
        continue;
      std::string prefix = "base_model.model.model.layers." + std::to_string(l) + "." +
                           mw.second + "." + hf + ".";
      std::string an = prefix + "lora_A.weight", bn = prefix + "lora_B.weight";
      auto ai = tensors.find(an), bi = tensors.find(bn);
      std::string weight = "layers." + std::to_string(l) + "." + mw.first;
      if (ai == tensors.end() && bi == tensors.end() && !baseTensors.count(weight))
        continue; // a module this layer lacks (k/v of a KV-shared layer)
      if (ai == tensors.end() || bi == tensors.end())
        return Status::Error(stPath + ": " + (ai == tensors.end() ? an : bn) +
                             ": missing (target_modules and layers_to_transform of " +
                             cfgPath + " name it)");
      used.insert(an);
      used.insert(bn);
      const TensorRef &A = ai->second, &B = bi->second;
      if (A.shape.size() != 2 || B.shape.size() != 2)
        return Status::Error(stPath + ": " + prefix + "lora_A/lora_B: must be rank 2");
      if (A.shape[0] != c.r || B.shape[1] != c.r)
        return Status::Error(stPath + ": " + prefix + "lora_A/lora_B: ranks " +
                             std::to_string(A.shape[0]) + " and " + std::to_string(B.shape[1]) +
                             " disagree with r = " + std::to_string(c.r) + " of " + cfgPath);
      std::string siteName = "lora." + weight;
      auto si = baseSites.find(siteName);
      if (si == baseSites.end())
        return Status::Error(req.base + ": lora_sites: no site " + siteName + " for " +
                             prefix + "lora_A (target '" + hf +
                             "' or layer not compiled; motec compile --lora-targets)");
      const pb::LoraSite &bs = *si->second;
      if (A.shape[1] != bs.in_features() || B.shape[0] != bs.out_features())
        return Status::Error(stPath + ": " + prefix + "lora_A/lora_B: shapes (" +
                             std::to_string(A.shape[0]) + ", " + std::to_string(A.shape[1]) +
                             ") and (" + std::to_string(B.shape[0]) + ", " +
                             std::to_string(B.shape[1]) + ") do not fit site " + siteName +
                             " of " + req.base + " (K " + std::to_string(bs.in_features()) +
                             ", N " + std::to_string(bs.out_features()) +
                             "): an adapter for another base");
      if (c.r > bs.max_rank())
        return Status::Error(cfgPath + ": r: " + std::to_string(c.r) +
                             " is above the compiled max rank " +
                             std::to_string(bs.max_rank()) + " of " + req.base +
                             " (motec compile --lora-max-rank)");
      SiteData sd;
      sd.name = siteName;
      sd.K = bs.in_features();
      sd.N = bs.out_features();
      sd.r = c.r;
      sd.A = toF32(A);
      sd.B = toF32(B);
      if (spec.rope_style() == 0 && (hf == "q_proj" || hf == "k_proj")) {
        uint32_t heads = hf == "q_proj" ? spec.n_heads() : spec.n_kv_heads();
        uint32_t hd = spec.head_dim();
        if (hd == 0 || hd % 2 || uint64_t(heads) * hd != sd.N)
          return Status::Error(req.base + ": model: heads x head_dim do not match site " +
                               siteName);
        hfRowsToInterleaved(sd.B, sd.r, heads, hd);
      }
      sites.push_back(std::move(sd));
    }
  }
  for (const auto &kv : tensors)
    if (!used.count(kv.first))
      return Status::Error(stPath + ": " + kv.first +
                           ": not a LoRA tensor of target_modules/layers_to_transform in " +
                           cfgPath);
  if (sites.empty())
    return Status::Error(stPath + ": no LoRA tensors");
  return Status::Ok();
}

uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
void putU32(uint8_t *p, uint32_t v) { std::memcpy(p, &v, 4); }
void putU64(uint8_t *p, uint64_t v) { std::memcpy(p, &v, 8); }

Status writeAdapter(const std::string &out, const pb::Manifest &base, uint64_t baseHash,
                    const Config &c, const std::vector<SiteData> &sites, bool f16,
                    uint64_t &fileSize) {
  pb::Manifest m;
  m.set_format_version(MOTE_BUNDLE_FORMAT_VERSION);
  m.set_kind("adapter");
  *m.mutable_model() = base.model();
  m.set_base_hash(baseHash);
  const float scale = float(c.rslora ? c.alpha / std::sqrt(double(c.r)) : c.alpha / c.r);
  std::string data;
  auto addTensor = [&](const std::string &name, const std::vector<float> &v, uint64_t d0,
                       uint64_t d1) {
    pb::Tensor *t = m.add_tensors();
    t->set_name(name);
    t->set_dtype(f16 ? pb::F16 : pb::F32);
    t->add_shape(d0);
    t->add_shape(d1);
    t->set_section(0);
    data.resize(alignUp(data.size(), 64), '\0');
    t->set_offset(data.size());
    if (f16) { // IEEE half, round to nearest even (the quantizer's f16 scales)
      std::vector<uint16_t> h(v.size());
      for (size_t i = 0; i < v.size(); ++i)
        h[i] = quant::f32ToF16(v[i]);
      t->set_size(h.size() * 2);
      data.append(reinterpret_cast<const char *>(h.data()), h.size() * 2);
    } else {
      t->set_size(v.size() * 4);
      data.append(reinterpret_cast<const char *>(v.data()), v.size() * 4);
    }
    return uint32_t(m.tensors_size() - 1);
  };
  for (const SiteData &s : sites) {
    pb::LoraSite *ls = m.add_lora_sites();
    ls->set_name(s.name);
    ls->set_in_features(s.K);
    ls->set_out_features(s.N);
    ls->set_max_rank(s.r);
    ls->set_scale(scale);
    ls->set_a_tensor(addTensor(s.name + ".lora_A", s.A, s.r, s.K));
    ls->set_b_tensor(addTensor(s.name + ".lora_B", s.B, s.N, s.r));
  }
  data.resize(alignUp(data.size(), 64), '\0');
  pb::Section *sec = m.add_sections();
  sec->set_name("weights");
  sec->set_size(data.size());
  sec->set_alignment(MOTE_BUNDLE_MIN_ALIGN);
  sec->set_xxh64(mote_xxh64(data.data(), data.size(), 0));
  uint64_t woff = 0;
  for (int iter = 0; iter < 8; ++iter) { // offset varint vs manifest size
    uint64_t need = alignUp(MOTE_BUNDLE_HEADER_SIZE + m.ByteSizeLong(), MOTE_BUNDLE_MIN_ALIGN);
    if (need <= woff)
      break;
    woff = need;
    sec->set_offset(woff);
  }
  std::string man;
  if (!m.SerializeToString(&man) || MOTE_BUNDLE_HEADER_SIZE + man.size() > woff)
    return Status::Error(out + ": manifest: serialization failed");
  fileSize = woff + data.size();
  std::string file(fileSize, '\0');
  uint8_t *h = reinterpret_cast<uint8_t *>(&file[0]);
  std::memcpy(h + MOTE_HDR_OFF_MAGIC, MOTE_ADAPTER_MAGIC, 8);
  putU32(h + MOTE_HDR_OFF_VERSION, MOTE_BUNDLE_FORMAT_VERSION);
  putU32(h + MOTE_HDR_OFF_HEADER_SIZE, MOTE_BUNDLE_HEADER_SIZE);
  putU64(h + MOTE_HDR_OFF_MANIFEST_OFFSET, MOTE_BUNDLE_HEADER_SIZE);
  putU64(h + MOTE_HDR_OFF_MANIFEST_SIZE, man.size());
  putU64(h + MOTE_HDR_OFF_MANIFEST_XXH64, mote_xxh64(man.data(), man.size(), 0));
  putU64(h + MOTE_HDR_OFF_FILE_SIZE, fileSize);
  putU64(h + MOTE_HDR_OFF_FLAGS, 0);
  putU64(h + MOTE_HDR_OFF_HEADER_XXH64, mote_xxh64(h, MOTE_HDR_OFF_HEADER_XXH64, 0));
  std::memcpy(h + MOTE_BUNDLE_HEADER_SIZE, man.data(), man.size());
  std::memcpy(h + woff, data.data(), data.size());

  // Atomic: a temp file beside the output, flushed, then renamed.
  std::string tmp = out + ".tmp." + std::to_string(getpid());
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    return Status::Error(out + ": cannot create: " + std::strerror(errno));
  bool ok = std::fwrite(file.data(), 1, file.size(), f) == file.size();
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(fileno(f)) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), out.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    return Status::Error(out + ": write failed: " + why);
  }
  return Status::Ok();
}

Status adapter(const AdapterRequest &req) {
  pb::Manifest base;
  uint64_t hash = 0;
  Status st = readBase(req.base, base, hash);
  if (!st.ok())
    return st;
  if (req.dtype != "f32" && req.dtype != "f16")
    return Status::Error("--dtype " + req.dtype + ": must be f32 or f16");
  Config c;
  if (!(st = readConfig(req.adapterDir + "/adapter_config.json", c)).ok())
    return st;
  std::vector<SiteData> sites;
  if (!(st = collectSites(req, c, base, sites)).ok())
    return st;
  uint64_t size = 0;
  if (!(st = writeAdapter(req.output, base, hash, c, sites, req.dtype == "f16", size)).ok())
    return st;
  if (!req.quiet)
    std::fprintf(stderr,
                 "motec: wrote %s (%llu bytes): %zu sites, rank %u, scale %g, base %s "
                 "(hash %016llx)\n",
                 req.output.c_str(), (unsigned long long)size, sites.size(), c.r,
                 c.rslora ? c.alpha / std::sqrt(double(c.r)) : c.alpha / c.r,
                 req.base.c_str(), (unsigned long long)hash);
  return Status::Ok();
}

} // namespace

int runAdapter(const AdapterRequest &req) {
  Status st = adapter(req);
  if (!st.ok()) {
    std::string one = st.message;
    for (char &ch : one)
      if (ch == '\n' || ch == '\r')
        ch = ' ';
    std::fprintf(stderr, "motec: error: %s\n", one.c_str());
    return 1;
  }
  return 0;
}

} // namespace mote
