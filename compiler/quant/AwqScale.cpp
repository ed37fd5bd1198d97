// AWQ per-channel weight scaling of a model: see AwqScale.h.
#include "compiler/quant/AwqScale.h"

#include "compiler/quant/Calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mote {

namespace {

using Buffer = std::shared_ptr<std::vector<float>>;

// A tensor's values as f32 (F32, F16, BF16 sources).
Status toF32(const TensorRef &t, std::vector<float> &out) {
  const uint64_t n = t.numel();
  out.resize(n);
  if (t.dtype == DType::F32 && t.bytes == n * 4) {
    std::memcpy(out.data(), t.data, n * 4);
    return Status::Ok();
  }
  if ((t.dtype == DType::F16 || t.dtype == DType::BF16) && t.bytes == n * 2) {
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      if (t.dtype == DType::F16) {
        out[i] = quant::f16ToF32(h);
      } else {
        const uint32_t u = uint32_t(h) << 16;
        std::memcpy(&out[i], &u, 4);
      }
    }
    return Status::Ok();
  }
  return Status::Error(t.name + ": dtype " + dtypeName(t.dtype) + " cannot be scaled");
}

// The model's tensors being rewritten, as f32 copies (written back at the end).
struct Work {
  ImportedModel &model;
  std::map<std::string, std::vector<float>> w;
  std::vector<std::string> dirty; // rewritten, in order

  bool has(const std::string &n) const { return model.weights.find(n) != nullptr; }
  Status get(const std::string &n, std::vector<float> *&out) {
    auto it = w.find(n);
    if (it == w.end()) {
      const TensorRef *t = model.weights.find(n);
      if (!t)
        return Status::Error(n + ": missing");
      std::vector<float> v;
      Status st = toF32(*t, v);
      if (!st.ok())
        return st;
      it = w.emplace(n, std::move(v)).first;
    }
    out = &it->second;
    return Status::Ok();
  }
};

// Channel statistic of `param`'s input: absmean when the file has it
// (checked: F32, shape [K], finite, >= 0), else sqrt(H_kk).
Status channelStat(const CalibrationStats &stats, const std::string &param, uint64_t K,
                   const std::vector<double> &H, std::vector<double> &c, bool &absmean) {
  c.assign(K, 0.0);
  auto it = stats.tensors.find(param + ".absmean");
  absmean = it != stats.tensors.end();
  if (!absmean) {
    for (uint64_t k = 0; k < K; ++k)
      c[k] = std::sqrt(std::max(0.0, H[k * K + k]));
    return Status::Ok();
  }
  const TensorRef &t = it->second;
  const std::string where = stats.path + ": " + param + ".absmean: ";
  if (t.dtype != DType::F32)
    return Status::Error(where + "dtype " + dtypeName(t.dtype) + ", expected f32");
  if (t.shape.size() != 1 || t.shape[0] != K)
    return Status::Error(where + "shape " + (t.shape.size() == 1 ? "[" + std::to_string(t.shape[0]) + "]" : "of rank " + std::to_string(t.shape.size())) +
                         ", expected [" + std::to_string(K) + "]");
  for (uint64_t k = 0; k < K; ++k) {
    float v;
    std::memcpy(&v, t.data + 4 * k, 4); // bytes checked by the reader
    if (!std::isfinite(v) || v < 0.0f)
      return Status::Error(where + "element " + std::to_string(k) +
                           " is not a finite value >= 0");
    c[k] = v;
  }
  return Status::Ok();
}

void scaleColumns(std::vector<float> &w, uint64_t K, const std::vector<double> &s) {
  const uint64_t N = w.size() / K;
  for (uint64_t r = 0; r < N; ++r)
    for (uint64_t k = 0; k < K; ++k)
      w[r * K + k] = float(double(w[r * K + k]) * s[k]);
}

// Rows (or a vector's elements) divided by s.
void divideRows(std::vector<float> &w, uint64_t N, const std::vector<double> &s) {
  const uint64_t K = w.size() / N;
  for (uint64_t r = 0; r < N; ++r)
    for (uint64_t k = 0; k < K; ++k)
      w[r * K + k] = float(double(w[r * K + k]) / s[r]);
}

} // namespace

Status applyAwqScale(ImportedModel &model, CalibrationStats &stats,
                     const quant::QuantSpec &spec, AwqScaleResult &out,
                     double forceAlpha) {
  const ModelSpec &ms = model.spec;
  const uint64_t D = ms.dim, F = ms.hidden_dim, hd = ms.head_dim;
  const uint64_t Hq = ms.n_heads, Hkv = ms.n_kv_heads ? ms.n_kv_heads : ms.n_heads;
  const uint64_t E = Hq * hd, rep = Hkv ? Hq / Hkv : 1;
  const uint32_t L = ms.n_layers;
  const uint32_t shared = ms.num_kv_shared_layers <= L ? ms.num_kv_shared_layers : 0;
  const uint32_t firstShared = L - shared;
  Work work{model, {}, {}};
  // New H per linear (the second moment of x / s).
  std::map<std::string, std::vector<double>> newH;
  bool anyAbs = false, anyRms = false;
  Status st;

  // One group: linears reading one input of width K; H and the statistic
  // from `statParam`; `pool`: tie s over the query heads of a KV head.
  auto group = [&](const std::string &site, const std::vector<std::string> &lins,
                   const std::string &statParam, uint64_t K, bool pool,
                   std::vector<double> &s, AwqScaleGroup &g) -> Status {
    std::vector<double> H;
    if (!(st = calibrationHessian(stats, statParam, K, H)).ok())
      return st;
    std::vector<double> c;
    bool abs = false;
    if (!(st = channelStat(stats, statParam, K, H, c, abs)).ok())
      return st;
    (abs ? anyAbs : anyRms) = true;
    if (pool) { // c[h*hd + d] <- mean over the KV head's query heads
      std::vector<double> p(Hkv * hd, 0.0);
      for (uint64_t h = 0; h < Hq; ++h)
        for (uint64_t d = 0; d < hd; ++d)
          p[(h / rep) * hd + d] += (abs ? c[h * hd + d] : c[h * hd + d] * c[h * hd + d]) /
                                   double(rep);
      for (uint64_t h = 0; h < Hq; ++h)
        for (uint64_t d = 0; d < hd; ++d) {
          const double v = p[(h / rep) * hd + d];
          c[h * hd + d] = abs ? v : std::sqrt(v);
        }
    }
    std::vector<const float *> ws;
    std::vector<uint64_t> rows;
    for (const std::string &n : lins) {
      std::vector<float> *w;
      if (!(st = work.get(n, w)).ok())
        return st;
      ws.push_back(w->data());
      rows.push_back(w->size() / K);
    }
    quant::AwqScaleChoice ch;
    if (forceAlpha >= 0.0) {
      ch.alpha = forceAlpha;
      ch.s = quant::awqScaleFor(c.data(), K, forceAlpha);
    } else {
      ch = quant::awqScaleSearch(ws, rows, K, H.data(), c.data(), spec);
    }
    g.site = site;
    g.linears = lins;
    g.alpha = ch.alpha;
    g.err0 = ch.err0;
    g.err = ch.err;
    s = ch.s;
    g.s = ch.s;
    if (ch.alpha != 0.0)
      for (const std::string &n : lins) {
        std::vector<float> *w;
        work.get(n, w);
        scaleColumns(*w, K, s);
        work.dirty.push_back(n);
        std::vector<double> h2(K * K);
        std::vector<double> Hn;
        if (!(st = calibrationHessian(stats, n, K, Hn)).ok())
          return st;
        for (uint64_t i = 0; i < K; ++i)
          for (uint64_t j = 0; j < K; ++j)
            h2[i * K + j] = Hn[i * K + j] / (s[i] * s[j]);
        newH[n] = std::move(h2);
      }
    return Status::Ok();
  };

  for (uint32_t i = 0; i < L; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    const bool ownsKV = i < firstShared && work.has(p + "wk") && work.has(p + "wv");
    std::vector<double> s;
    std::vector<float> *t;
    // wq (wk, wv): attn_norm takes 1/s.
    {
      AwqScaleGroup g;
      std::vector<std::string> lins = {p + "wq"};
      if (ownsKV) {
        lins.push_back(p + "wk");
        lins.push_back(p + "wv");
      }
      if (!(st = group(p + "attention_input", lins, p + "wq", D, false, s, g)).ok())
        return st;
      g.foldedInto = p + "attn_norm";
      if (g.alpha != 0.0) {
        if (!(st = work.get(p + "attn_norm", t)).ok())
          return st;
        divideRows(*t, D, s);
        work.dirty.push_back(p + "attn_norm");
      }
      out.groups.push_back(g);
    }
    // wo: wv rows (and bv) take 1/s, unless another layer reads this V.
    const bool vShared = shared > 0 && i + 1 == firstShared;
    if (ownsKV && !vShared) {
      AwqScaleGroup g;
      if (!(st = group(p + "attention_output", {p + "wo"}, p + "wo", E, true, s, g)).ok())
        return st;
      g.foldedInto = p + "wv" + (work.has(p + "bv") ? ", " + p + "bv" : "");
      if (g.alpha != 0.0) {
        std::vector<double> sv(Hkv * hd);
        for (uint64_t kv = 0; kv < Hkv; ++kv)
          for (uint64_t d = 0; d < hd; ++d)
            sv[kv * hd + d] = s[kv * rep * hd + d];
        if (!(st = work.get(p + "wv", t)).ok())
          return st;
        divideRows(*t, Hkv * hd, sv);
        work.dirty.push_back(p + "wv");
        if (work.has(p + "bv")) {
          if (!(st = work.get(p + "bv", t)).ok())
            return st;
          divideRows(*t, Hkv * hd, sv);
          work.dirty.push_back(p + "bv");
        }
      }
      out.groups.push_back(g);
    }
    // w1, w3: ffn_norm takes 1/s.
    {
      AwqScaleGroup g;
      if (!(st = group(p + "ffn_input", {p + "w1", p + "w3"}, p + "w1", D, false, s, g)).ok())
        return st;
      g.foldedInto = p + "ffn_norm";
      if (g.alpha != 0.0) {
        if (!(st = work.get(p + "ffn_norm", t)).ok())
          return st;
        divideRows(*t, D, s);
        work.dirty.push_back(p + "ffn_norm");
      }
      out.groups.push_back(g);
    }
    // w2: w3 rows take 1/s (silu(w1 h) * (w3 h) / s).
    {
      AwqScaleGroup g;
      if (!(st = group(p + "ffn_hidden", {p + "w2"}, p + "w2", F, false, s, g)).ok())
        return st;
      g.foldedInto = p + "w3";
      if (g.alpha != 0.0) {
        if (!(st = work.get(p + "w3", t)).ok())
          return st;
        divideRows(*t, F, s);
        work.dirty.push_back(p + "w3");
      }
      out.groups.push_back(g);
    }
  }

  // Write back: the model's tensors and the stats' H point into buffers.
  for (const std::string &n : work.dirty)
    if (std::find(out.changed.begin(), out.changed.end(), n) == out.changed.end())
      out.changed.push_back(n);
  for (auto &kv : work.w) {
    if (std::find(work.dirty.begin(), work.dirty.end(), kv.first) == work.dirty.end())
      continue; // read for a search only
    const TensorRef *old = model.weights.find(kv.first);
    Buffer b = std::make_shared<std::vector<float>>(std::move(kv.second));
    TensorRef t;
    t.name = kv.first;
    t.dtype = DType::F32;
    t.shape = old->shape;
    t.data = reinterpret_cast<const uint8_t *>(b->data());
    t.bytes = b->size() * 4;
    model.weights.add(t);
    out.buffers.push_back(b);
  }
  for (auto &kv : newH) {
    const std::string name = hessianName(kv.first);
    const uint64_t n = kv.second.size();
    Buffer b = std::make_shared<std::vector<float>>(n);
    for (uint64_t j = 0; j < n; ++j)
      (*b)[j] = float(kv.second[j]);
    TensorRef t = stats.tensors[name];
    t.dtype = DType::F32;
    t.data = reinterpret_cast<const uint8_t *>(b->data());
    t.bytes = n * 4;
    t.file.reset();
    stats.tensors[name] = t;
    out.buffers.push_back(b);
  }
  out.statistic = anyAbs && anyRms ? "absmean (rms where absent)" : anyAbs ? "absmean" : "rms";
  return Status::Ok();
}

} // namespace mote
