// test_bundle.h: a tiny protobuf writer and bundle builder for runtime tests,
// plus a naive reference forward pass of the model it builds.
#ifndef MOTE_TEST_RUNTIME_TEST_BUNDLE_H
#define MOTE_TEST_RUNTIME_TEST_BUNDLE_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mote/bundle_format.h"

namespace mt {

// ---- protobuf writer -------------------------------------------------------
struct Pb {
  std::string b;
  void raw_varint(uint64_t v) {
    while (v >= 0x80) { b.push_back(char((v & 0x7F) | 0x80)); v >>= 7; }
    b.push_back(char(v));
  }
  void key(uint32_t f, uint32_t wt) { raw_varint((uint64_t(f) << 3) | wt); }
  void varint(uint32_t f, uint64_t v) { key(f, 0); raw_varint(v); }
  void sint(uint32_t f, int64_t v) { varint(f, uint64_t(v)); }
  void fixed64(uint32_t f, uint64_t v) { key(f, 1); for (int i = 0; i < 8; ++i) b.push_back(char(v >> (8 * i))); }
  void f32(uint32_t f, float v) {
    uint32_t u; std::memcpy(&u, &v, 4); key(f, 5);
    for (int i = 0; i < 4; ++i) b.push_back(char(u >> (8 * i)));
  }
  void bytes(uint32_t f, const std::string &s) { key(f, 2); raw_varint(s.size()); b += s; }
  void msg(uint32_t f, const Pb &m) { bytes(f, m.b); }
  template <class T> void packed(uint32_t f, const std::vector<T> &v) {
    Pb p; for (auto x : v) p.raw_varint(uint64_t(int64_t(x))); bytes(f, p.b);
  }
  void packed_f32(uint32_t f, const std::vector<float> &v) {
    Pb p; for (float x : v) { uint32_t u; std::memcpy(&u, &x, 4); for (int i = 0; i < 4; ++i) p.b.push_back(char(u >> (8 * i))); }
    bytes(f, p.b);
  }
};

// ---- bundle model ------------------------------------------------------------
enum { F32 = 1, I32 = 4, Q2 = 16, Q4 = 17, Q8 = 18 };
enum { ARENA = 1, WEIGHT = 2, KV = 3 };
enum { EMB = 1, RMS = 2, LIN = 3, ROPE = 4, KVA = 5, ATT = 6, SWI = 7, ADD = 8, LOG = 9 };

struct Val { uint32_t kind = ARENA, dtype = F32; std::vector<uint64_t> shape; uint64_t offset = 0; uint32_t ref = 0; };
struct Step { uint32_t op; std::vector<uint32_t> operands, results; std::vector<int64_t> i; std::vector<float> f; };
struct Graph {
  std::string name, kind;
  uint32_t max_tokens = 1, context = 0;
  uint64_t arena_bytes = 0;
  std::vector<Val> values;
  std::vector<Step> steps;
  uint32_t in_tok = 0, in_pos = 0, out_logits = 0;
  std::vector<std::string> kernels;  // Step.kernel of steps[i], when given
};
// Quantized tensors (issue 4) carry codes + scales; `data` then holds the
// dequantized values, which the reference forward reads.
struct Quant { uint32_t bits = 0, group = 0, scale_dtype = F32; std::string grid, layout = "rowmajor-lsb";
               uint64_t scale_offset = 0, scale_size = 0; std::vector<uint8_t> codes; std::vector<float> scales;
               bool f16 = false;  // scales stored as IEEE half (scale_dtype F16)
               // Scale bytes as stored: f32, or the halves of f16-exact scales
               // (normal range: exponent rebiased, low 13 mantissa bits are 0).
               std::string scale_bytes() const {
                 if (!f16) return std::string(reinterpret_cast<const char *>(scales.data()), scales.size() * 4);
                 std::string out;
                 for (float v : scales) {
                   uint32_t u; std::memcpy(&u, &v, 4);
                   uint16_t h = uint16_t(((u >> 16) & 0x8000u) | ((((u >> 23) & 0xffu) - 112u) << 10) | ((u >> 13) & 0x3ffu));
                   out.push_back(char(h & 0xff)); out.push_back(char(h >> 8));
                 }
                 return out;
               } };
struct Tensor { std::string name; uint32_t dtype = F32; std::vector<uint64_t> shape; uint32_t section = 0; uint64_t offset = 0, size = 0; std::vector<float> data; Quant q; };
struct Section { std::string name; uint64_t offset = 0, size = 0; uint32_t alignment = MOTE_BUNDLE_WEIGHT_ALIGN; uint64_t xxh64 = 0; };

struct Bundle {
  uint32_t dim = 16, hidden = 24, layers = 2, heads = 4, kv_heads = 2, vocab = 40, context = 32;
  uint32_t prefill_t = 4;
  float eps = 1e-5f, theta = 10000.f;
  uint32_t format_version = 1;
  std::string kind = "model";
  std::vector<Tensor> tensors;
  std::vector<uint32_t> kv_width;
  std::vector<Graph> graphs;
  std::vector<Section> sections;
  uint32_t hd() const { return dim / heads; }

  uint32_t add_tensor(const std::string &n, std::vector<uint64_t> shape, std::mt19937 &rng, float scale, float bias = 0) {
    Tensor t; t.name = n; t.shape = shape;
    uint64_t numel = 1; for (auto d : shape) numel *= d;
    std::uniform_real_distribution<float> u(-scale, scale);
    for (uint64_t k = 0; k < numel; ++k) t.data.push_back(bias + u(rng));
    tensors.push_back(t);
    return uint32_t(tensors.size() - 1);
  }

  // Quantizes tensor i (rank 2, (N, K)) to `bits` with groups of G along K,
  // max-abs scales, packed per the storage contract (docs/quantization.md);
  // data becomes the dequantized weights.
  // f16: scales truncated to f16 precision and stored as F16.
  void quantize(uint32_t i, uint32_t bits, uint32_t G, bool f16 = false) {
    Tensor &t = tensors[i];
    t.q.f16 = f16; t.q.scale_dtype = f16 ? 2u : uint32_t(F32);
    uint64_t N = t.shape[0], K = t.shape[1], ng = (K + G - 1) / G;
    uint64_t row_bytes = (K + 31) / 32 * 32 * bits / 8;
    t.dtype = bits == 2 ? Q2 : bits == 4 ? Q4 : Q8;
    t.q.bits = bits; t.q.group = G; t.q.grid = bits == 8 ? "symmetric" : "balanced";
    t.q.codes.assign(N * row_bytes, 0); t.q.scales.assign(N * ng, 0.f);
    float off = bits == 2 ? 1.5f : bits == 4 ? 7.5f : 0.f, qmax = bits == 8 ? 127.f : off;
    for (uint64_t n = 0; n < N; ++n)
      for (uint64_t g = 0; g < ng; ++g) {
        uint64_t k0 = g * G, k1 = std::min<uint64_t>(K, k0 + G);
        float mx = 0; for (uint64_t k = k0; k < k1; ++k) mx = std::max(mx, std::fabs(t.data[n * K + k]));
        float sc = mx > 0 ? mx / qmax : 1.f;
        if (f16) { uint32_t u; std::memcpy(&u, &sc, 4); u &= ~0x1fffu; std::memcpy(&sc, &u, 4); }
        t.q.scales[n * ng + g] = sc;
        for (uint64_t k = k0; k < k1; ++k) {
          float &w = t.data[n * K + k];
          int c = int(std::lround(w / sc + off));
          int cmax = bits == 8 ? 127 : (1 << bits) - 1, cmin = bits == 8 ? -127 : 0;
          c = std::min(cmax, std::max(cmin, c));
          w = sc * (float(c) - off);
          uint8_t &byte = t.q.codes[n * row_bytes + k * bits / 8];
          if (bits == 8) byte = uint8_t(int8_t(c));
          else byte |= uint8_t(c << ((k % (8 / bits)) * bits));
        }
      }
  }

  // Builds the tiny Llama: weights, KV caches, and graphs "decode" (T=1) and,
  // when prefill_t > 1, "prefill" (T=prefill_t).
  void make(uint32_t seed = 1) {
    std::mt19937 rng(seed);
    add_tensor("tok_embeddings", {vocab, dim}, rng, 1.0f);
    for (uint32_t l = 0; l < layers; ++l) {
      std::string p = "layers." + std::to_string(l) + ".";
      uint32_t kvw = kv_heads * hd();
      add_tensor(p + "attn_norm", {dim}, rng, 0.2f, 1.0f);
      add_tensor(p + "wq", {dim, dim}, rng, 0.4f);
      add_tensor(p + "wk", {kvw, dim}, rng, 0.4f);
      add_tensor(p + "wv", {kvw, dim}, rng, 0.4f);
      add_tensor(p + "wo", {dim, dim}, rng, 0.4f);
      add_tensor(p + "ffn_norm", {dim}, rng, 0.2f, 1.0f);
      add_tensor(p + "w1", {hidden, dim}, rng, 0.4f);
      add_tensor(p + "w2", {dim, hidden}, rng, 0.4f);
      add_tensor(p + "w3", {hidden, dim}, rng, 0.4f);
      kv_width.push_back(kvw);
      kv_width.push_back(kvw);
    }
    add_tensor("norm", {dim}, rng, 0.2f, 1.0f);
    add_tensor("output", {vocab, dim}, rng, 0.5f);
    if (prefill_t > 1) graphs.push_back(make_graph("prefill", prefill_t));
    graphs.push_back(make_graph("decode", 1));
  }

  Graph make_graph(const std::string &name, uint32_t T) {
    Graph g; g.name = name; g.kind = name; g.max_tokens = T; g.context = context;
    auto arena = [&](uint32_t dtype, std::vector<uint64_t> shape) {
      Val v; v.kind = ARENA; v.dtype = dtype; v.shape = shape; v.offset = g.arena_bytes;
      uint64_t n = 4; for (auto d : shape) n *= d;
      g.arena_bytes += (n + 63) / 64 * 64;
      g.values.push_back(v); return uint32_t(g.values.size() - 1);
    };
    auto weight = [&](uint32_t t) {
      Val v; v.kind = WEIGHT; v.shape = tensors[t].shape; v.ref = t;
      g.values.push_back(v); return uint32_t(g.values.size() - 1);
    };
    auto kvv = [&](uint32_t c) {
      Val v; v.kind = KV; v.shape = {context, kv_width[c]}; v.ref = c;
      g.values.push_back(v); return uint32_t(g.values.size() - 1);
    };
    auto step = [&](uint32_t op, std::vector<uint32_t> ops, std::vector<uint64_t> rshape,
                    std::vector<int64_t> i = {}, std::vector<float> f = {}) {
      uint32_t r = arena(F32, rshape);
      g.steps.push_back(Step{op, ops, {r}, i, f});
      return r;
    };
    g.in_tok = arena(I32, {T});
    g.in_pos = arena(I32, {T});
    uint32_t t = 0;
    uint32_t x = step(EMB, {weight(t++), g.in_tok}, {T, dim});
    uint32_t kvw = kv_heads * hd();
    for (uint32_t l = 0; l < layers; ++l) {
      uint32_t h = step(RMS, {x, weight(t++)}, {T, dim}, {}, {eps});
      uint32_t q = step(LIN, {h, weight(t++)}, {T, dim});
      uint32_t k = step(LIN, {h, weight(t++)}, {T, kvw});
      uint32_t v = step(LIN, {h, weight(t++)}, {T, kvw});
      uint32_t qr = step(ROPE, {q, g.in_pos}, {T, dim}, {hd(), 0}, {theta});
      uint32_t kr = step(ROPE, {k, g.in_pos}, {T, kvw}, {hd(), 0}, {theta});
      uint32_t kc = kvv(2 * l), vc = kvv(2 * l + 1);
      g.steps.push_back(Step{KVA, {kc, kr, g.in_pos}, {kc}, {}, {}});
      g.steps.push_back(Step{KVA, {vc, v, g.in_pos}, {vc}, {}, {}});
      uint32_t a = step(ATT, {qr, kc, vc, g.in_pos}, {T, dim}, {heads, kv_heads, hd()},
                        {1.0f / std::sqrt(float(hd()))});
      uint32_t o = step(LIN, {a, weight(t++)}, {T, dim});
      uint32_t x2 = step(ADD, {x, o}, {T, dim});
      uint32_t h2 = step(RMS, {x2, weight(t++)}, {T, dim}, {}, {eps});
      uint32_t w1 = weight(t++), w2 = weight(t++), w3 = weight(t++);
      uint32_t gt = step(LIN, {h2, w1}, {T, hidden});
      uint32_t up = step(LIN, {h2, w3}, {T, hidden});
      uint32_t sw = step(SWI, {gt, up}, {T, hidden});
      uint32_t d = step(LIN, {sw, w2}, {T, dim});
      x = step(ADD, {x2, d}, {T, dim});
    }
    uint32_t hn = step(RMS, {x, weight(t++)}, {T, dim}, {}, {eps});
    g.out_logits = step(LOG, {hn, weight(t++)}, {1, vocab}, {0});
    return g;
  }

  // ---- serialization -------------------------------------------------------
  std::string manifest() const {
    Pb m;
    m.varint(1, format_version);
    m.bytes(2, kind);
    Pb spec;
    spec.bytes(1, "llama"); spec.varint(2, dim); spec.varint(3, hidden); spec.varint(4, layers);
    spec.varint(5, heads); spec.varint(6, kv_heads); spec.varint(7, hd()); spec.varint(8, vocab);
    spec.varint(9, context); spec.f32(10, theta); spec.f32(11, eps);
    m.msg(3, spec);
    Pb tok;
    tok.bytes(1, "sentencepiece-bpe");
    std::vector<float> scores; std::vector<int> types;
    for (uint32_t k = 0; k < vocab; ++k) {
      std::string p = k == 0 ? "<unk>" : k == 1 ? "<s>" : k == 2 ? "</s>" : std::string(1, char('a' + (k - 3) % 26)) + (k - 3 >= 26 ? "x" : "");
      tok.bytes(2, p);
      scores.push_back(-float(k));
      types.push_back(k == 0 ? 1 : k < 3 ? 2 : 0);
    }
    tok.packed_f32(3, scores); tok.packed(4, types);
    tok.sint(5, 1); tok.sint(6, 2); tok.sint(7, 0); tok.sint(8, -1); tok.varint(9, 1);
    tok.varint(11, 1); tok.varint(12, 1); tok.varint(13, 1);
    m.msg(4, tok);
    for (auto &s : sections) {
      Pb p; p.bytes(1, s.name); p.varint(2, s.offset); p.varint(3, s.size); p.varint(4, s.alignment); p.fixed64(5, s.xxh64);
      m.msg(5, p);
    }
    for (auto &t : tensors) {
      Pb p; p.bytes(1, t.name); p.varint(2, t.dtype); p.packed(3, t.shape); p.varint(4, t.section);
      p.varint(5, t.offset); p.varint(6, t.size);
      if (t.q.bits) {
        Pb q; q.varint(1, t.q.bits); q.varint(2, t.q.group); q.bytes(3, t.q.grid); q.varint(4, t.q.scale_dtype);
        q.varint(5, t.q.scale_offset); q.varint(6, t.q.scale_size); q.bytes(7, t.q.layout);
        p.msg(7, q);
      }
      m.msg(6, p);
    }
    for (size_t k = 0; k < kv_width.size(); ++k) {
      Pb p; p.bytes(1, "kv." + std::to_string(k)); p.varint(2, kv_width[k]); p.varint(3, F32);
      m.msg(7, p);
    }
    for (auto &g : graphs) {
      Pb p; p.bytes(1, g.name); p.bytes(2, "cpu"); p.varint(3, g.max_tokens); p.varint(4, g.context);
      p.varint(5, g.arena_bytes);
      for (auto &v : g.values) {
        Pb q; q.varint(1, v.kind); q.varint(2, v.dtype); q.packed(3, v.shape); q.varint(4, v.offset); q.varint(5, v.ref);
        p.msg(6, q);
      }
      for (auto &s : g.steps) {
        Pb q; q.varint(1, s.op); q.packed(2, s.operands); q.packed(3, s.results);
        if (!s.i.empty()) q.packed(4, s.i);
        if (!s.f.empty()) q.packed_f32(5, s.f);
        size_t si = size_t(&s - g.steps.data());
        if (si < g.kernels.size() && !g.kernels[si].empty()) q.bytes(6, g.kernels[si]);
        p.msg(7, q);
      }
      p.varint(8, g.in_tok); p.varint(9, g.in_pos); p.varint(10, g.out_logits); p.bytes(11, g.kind);
      m.msg(8, p);
    }
    return m.b;
  }

  // fix_layout: place tensors in one weights section after the manifest and
  // fill offsets, sizes and checksums. Otherwise serialize the fields as-is.
  std::string build(bool fix_layout = true) {
    std::string weights;
    if (fix_layout) {
      for (auto &t : tensors) {
        weights.resize((weights.size() + 63) / 64 * 64);
        if (t.q.bits) {  // codes, then 64-aligned scales
          t.offset = weights.size(); t.size = t.q.codes.size(); t.section = 0;
          weights.append(reinterpret_cast<const char *>(t.q.codes.data()), t.size);
          weights.resize((weights.size() + 63) / 64 * 64);
          std::string sb = t.q.scale_bytes();
          t.q.scale_offset = weights.size(); t.q.scale_size = sb.size();
          weights.append(sb);
          continue;
        }
        t.offset = weights.size(); t.size = t.data.size() * 4; t.section = 0;
        weights.append(reinterpret_cast<const char *>(t.data.data()), t.size);
      }
      sections.assign(1, Section{"weights", 0, weights.size(), MOTE_BUNDLE_WEIGHT_ALIGN,
                                 mote_xxh64(weights.data(), weights.size(), 0)});
      for (int iter = 0; iter < 4; ++iter) {
        uint64_t want = (64 + manifest().size() + 4095) / 4096 * 4096;
        sections[0].offset = want;
      }
    } else {
      for (auto &t : tensors) {
        if (t.q.bits) {
          std::string sbytes = t.q.scale_bytes();
          size_t cb = t.q.codes.size(), sb = sbytes.size();
          if (weights.size() < t.offset + cb) weights.resize(t.offset + cb);
          std::memcpy(&weights[t.offset], t.q.codes.data(), cb);
          if (t.q.scale_offset < (1u << 30) && weights.size() < t.q.scale_offset + sb) weights.resize(t.q.scale_offset + sb);
          if (t.q.scale_offset < (1u << 30)) std::memcpy(&weights[t.q.scale_offset], sbytes.data(), sb);
          continue;
        }
        if (weights.size() < t.offset + t.data.size() * 4) weights.resize(t.offset + t.data.size() * 4);
        if (!t.data.empty()) std::memcpy(&weights[t.offset], t.data.data(), t.data.size() * 4);
      }
    }
    std::string man = manifest();
    std::string file(64, '\0');
    file += man;
    uint64_t woff = sections.empty() ? file.size() : sections[0].offset;
    if (file.size() < woff && woff < (1u << 30)) file.resize(woff);
    file += weights;
    auto put64 = [&](size_t off, uint64_t v) { for (int i = 0; i < 8; ++i) file[off + i] = char(v >> (8 * i)); };
    auto put32 = [&](size_t off, uint32_t v) { for (int i = 0; i < 4; ++i) file[off + i] = char(v >> (8 * i)); };
    std::memcpy(&file[0], MOTE_BUNDLE_MAGIC, 8);
    put32(8, 1); put32(12, 64); put64(16, 64); put64(24, man.size());
    put64(32, mote_xxh64(man.data(), man.size(), 0));
    put64(40, file.size()); put64(48, 0);
    put64(56, mote_xxh64(file.data(), 56, 0));
    return file;
  }
};

// Rewrites the header checksum after a test edits header fields.
inline void reseal_header(std::string &f) {
  uint64_t h = mote_xxh64(f.data(), 56, 0);
  for (int i = 0; i < 8; ++i) f[56 + i] = char(h >> (8 * i));
}

// ---- reference forward (naive, double accumulation) ------------------------------
struct Ref {
  const Bundle &b;
  std::vector<std::vector<float>> kc, vc;  // per layer (context, kvw)
  explicit Ref(const Bundle &bb) : b(bb) {
    kc.assign(b.layers, std::vector<float>(b.context * b.kv_heads * b.hd()));
    vc = kc;
  }
  const std::vector<float> &W(size_t i) const { return b.tensors[i].data; }
  static void rms(std::vector<float> &y, const std::vector<float> &x, const std::vector<float> &w, float eps) {
    double ss = 0; for (float v : x) ss += double(v) * v;
    float r = float(1.0 / std::sqrt(ss / x.size() + eps));
    y.resize(x.size()); for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w[i];
  }
  static std::vector<float> mat(const std::vector<float> &w, const std::vector<float> &x, size_t N) {
    size_t K = x.size(); std::vector<float> y(N);
    for (size_t n = 0; n < N; ++n) { double s = 0; for (size_t k = 0; k < K; ++k) s += double(w[n * K + k]) * x[k]; y[n] = float(s); }
    return y;
  }
  void rope(std::vector<float> &v, int pos) const {
    uint32_t hd = b.hd();
    for (size_t i = 0; i < v.size(); i += 2) {
      size_t j = i % hd;
      double fr = std::pow(double(b.theta), -double(j) / hd), a = pos * fr;
      double c = std::cos(a), s = std::sin(a), x0 = v[i], x1 = v[i + 1];
      v[i] = float(x0 * c - x1 * s); v[i + 1] = float(x0 * s + x1 * c);
    }
  }
  std::vector<float> step(int tok, int pos) {
    uint32_t D = b.dim, hd = b.hd(), kvw = b.kv_heads * hd;
    std::vector<float> x(W(0).begin() + size_t(tok) * D, W(0).begin() + size_t(tok + 1) * D), h;
    size_t t = 1;
    for (uint32_t l = 0; l < b.layers; ++l) {
      rms(h, x, W(t), b.eps);
      auto q = mat(W(t + 1), h, D), k = mat(W(t + 2), h, kvw), v = mat(W(t + 3), h, kvw);
      rope(q, pos); rope(k, pos);
      std::copy(k.begin(), k.end(), kc[l].begin() + size_t(pos) * kvw);
      std::copy(v.begin(), v.end(), vc[l].begin() + size_t(pos) * kvw);
      std::vector<float> att(D, 0.f);
      for (uint32_t hh = 0; hh < b.heads; ++hh) {
        uint32_t kh = hh / (b.heads / b.kv_heads);
        std::vector<double> sc(pos + 1); double mx = -1e300;
        for (int p = 0; p <= pos; ++p) {
          double s = 0; for (uint32_t d = 0; d < hd; ++d) s += double(q[hh * hd + d]) * kc[l][size_t(p) * kvw + kh * hd + d];
          sc[p] = s / std::sqrt(double(hd)); mx = std::max(mx, sc[p]);
        }
        double z = 0; for (auto &s : sc) { s = std::exp(s - mx); z += s; }
        for (uint32_t d = 0; d < hd; ++d) {
          double a = 0; for (int p = 0; p <= pos; ++p) a += sc[p] / z * vc[l][size_t(p) * kvw + kh * hd + d];
          att[hh * hd + d] = float(a);
        }
      }
      auto o = mat(W(t + 4), att, D);
      for (uint32_t i = 0; i < D; ++i) x[i] += o[i];
      rms(h, x, W(t + 5), b.eps);
      auto g = mat(W(t + 6), h, b.hidden), u = mat(W(t + 8), h, b.hidden);
      for (uint32_t i = 0; i < b.hidden; ++i) g[i] = float(g[i] / (1.0 + std::exp(-double(g[i]))) * u[i]);
      auto dn = mat(W(t + 7), g, D);
      for (uint32_t i = 0; i < D; ++i) x[i] += dn[i];
      t += 9;
    }
    rms(h, x, W(t), b.eps);
    return mat(W(t + 1), h, b.vocab);
  }
};

}  // namespace mt

#endif  // MOTE_TEST_RUNTIME_TEST_BUNDLE_H
