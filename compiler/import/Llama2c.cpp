// llama2.c checkpoint importer: legacy v0 and version-1 ("ak42") layouts.
// Weights stay in the mapped file; every size is checked in 128-bit
// arithmetic against the file before a pointer is formed.
#include "compiler/import/Import.h"
#include "compiler/import/TokenizerFinder.h"

#include <cstring>

namespace mote {
namespace {

using u128 = unsigned __int128;

struct L2cHeader {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  bool shared = true;
  int version = 0;
  uint64_t weightsOffset = 0;
};

int32_t readI32(const uint8_t *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

Status fieldError(const std::string &path, const char *field, int64_t v,
                  const std::string &why) {
  return Status::Error(path + ": header field " + field + ": " + std::to_string(v) +
                       " " + why);
}

Status parseHeader(const MappedFile &f, L2cHeader &h) {
  const std::string &path = f.path();
  const uint8_t *p = f.data();
  if (f.size() >= 8 && readI32(p) == 0x616b3432) {
    if (f.size() < 256)
      return Status::Error(path + ": header: file is " + std::to_string(f.size()) +
                           " bytes, shorter than the 256-byte version-1 header");
    int32_t version = readI32(p + 4);
    if (version != 1)
      return fieldError(path, "version", version,
                        "is not supported (only llama2.c version 1 float32 exports)");
    h.version = 1;
    p += 8;
    h.weightsOffset = 256;
  } else {
    if (f.size() < 28)
      return Status::Error(path + ": header: file is " + std::to_string(f.size()) +
                           " bytes, shorter than the 28-byte llama2.c header");
    h.weightsOffset = 28;
  }
  int32_t *fields[] = {&h.dim, &h.hidden_dim, &h.n_layers, &h.n_heads,
                       &h.n_kv_heads, &h.vocab_size, &h.seq_len};
  for (int i = 0; i < 7; ++i) *fields[i] = readI32(p + 4 * i);
  if (h.version == 1) {
    uint8_t shared = p[28];
    if (shared > 1)
      return fieldError(path, "shared_classifier", shared, "must be 0 or 1");
    h.shared = shared == 1;
  } else {
    // A negative vocab_size is llama2.c's flag for a separate classifier.
    h.shared = h.vocab_size > 0;
    if (h.vocab_size < 0 && h.vocab_size != INT32_MIN) h.vocab_size = -h.vocab_size;
  }
  return Status::Ok();
}

Status checkHeader(const std::string &path, const L2cHeader &h) {
  struct Lim { const char *name; int32_t v; int32_t max; };
  const Lim lims[] = {{"dim", h.dim, 1 << 16},        {"hidden_dim", h.hidden_dim, 1 << 18},
                      {"n_layers", h.n_layers, 1024},  {"n_heads", h.n_heads, 4096},
                      {"n_kv_heads", h.n_kv_heads, 4096}, {"vocab_size", h.vocab_size, 1 << 22},
                      {"seq_len", h.seq_len, 1 << 22}};
  for (const Lim &l : lims) {
    if (l.v <= 0) return fieldError(path, l.name, l.v, "must be positive");
    if (l.v > l.max)
      return fieldError(path, l.name, l.v, "is too large (limit " + std::to_string(l.max) + ")");
  }
  if (h.dim % h.n_heads != 0)
    return fieldError(path, "n_heads", h.n_heads,
                      "does not divide dim " + std::to_string(h.dim));
  if (h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0)
    return fieldError(path, "n_kv_heads", h.n_kv_heads,
                      "does not divide n_heads " + std::to_string(h.n_heads));
  if ((h.dim / h.n_heads) % 2 != 0)
    return fieldError(path, "n_heads", h.n_heads,
                      "gives an odd head size " + std::to_string(h.dim / h.n_heads) +
                          " (RoPE rotates pairs)");
  return Status::Ok();
}

// Adds `count` stacked tensors of `per` shape at `off`, advancing it.
void addStack(ImportedModel &m, const std::shared_ptr<MappedFile> &f, uint64_t &off,
              const char *name, uint32_t count, std::vector<uint64_t> per, bool perLayer) {
  uint64_t n = 1;
  for (uint64_t d : per) n *= d;
  for (uint32_t i = 0; i < count; ++i) {
    TensorRef t;
    t.name = perLayer ? "layers." + std::to_string(i) + "." + name : std::string(name);
    t.dtype = DType::F32;
    t.shape = per;
    t.data = f->data() + off;
    t.bytes = n * 4;
    t.file = f;
    off += t.bytes;
    m.weights.add(std::move(t));
  }
}

} // namespace

Status importLlama2c(const std::string &binPath, const std::string &tokenizerPath,
                     ImportedModel &out) {
  std::shared_ptr<MappedFile> f;
  Status st = MappedFile::open(binPath, f);
  if (!st.ok()) return st;
  L2cHeader h;
  if (!(st = parseHeader(*f, h)).ok()) return st;
  if (!(st = checkHeader(binPath, h)).ok()) return st;

  ModelSpec &s = out.spec;
  s = ModelSpec();
  s.arch = "llama";
  s.dim = h.dim; s.hidden_dim = h.hidden_dim; s.n_layers = h.n_layers;
  s.n_heads = h.n_heads; s.n_kv_heads = h.n_kv_heads;
  s.head_dim = h.dim / h.n_heads; s.vocab_size = h.vocab_size; s.max_seq_len = h.seq_len;
  s.rope_theta = 10000.0f; s.norm_eps = 1e-5f; s.tied_embeddings = h.shared;
  s.rope_style = RopeStyle::Interleaved;
  s.source_format = h.version == 1 ? "llama2c-v1" : "llama2c-v0";
  s.source_path = binPath;

  // Size check before any pointer: all counts fit 32 bits, so u128 is exact.
  u128 D = s.dim, F = s.hidden_dim, L = s.n_layers, V = s.vocab_size, hd = s.head_dim;
  u128 q = u128(s.n_heads) * hd, kv = u128(s.n_kv_heads) * hd;
  u128 floats = V * D + L * (2 * D + q * D + 2 * kv * D + D * q + 3 * F * D) + D;
  if (h.version == 0) floats += u128(s.max_seq_len) * hd; // freq_cis real + imag
  if (!h.shared) floats += V * D;
  u128 need = u128(h.weightsOffset) + floats * 4;
  if (need != f->size()) {
    std::string implied = need > u128(UINT64_MAX) ? std::string("more than 2^64")
                                                    : std::to_string(uint64_t(need));
    return Status::Error(binPath + ": header: file is " + std::to_string(f->size()) +
                         " bytes but the header (dim, hidden_dim, n_layers, n_heads, "
                         "n_kv_heads, vocab_size, seq_len) implies " + implied);
  }

  uint32_t nl = s.n_layers;
  uint64_t Du = s.dim, Fu = s.hidden_dim, Vu = s.vocab_size;
  uint64_t qu = uint64_t(q), kvu = uint64_t(kv);
  uint64_t off = h.weightsOffset;
  if (h.version == 1) {
    addStack(out, f, off, "attn_norm", nl, {Du}, true);
    addStack(out, f, off, "ffn_norm", nl, {Du}, true);
    addStack(out, f, off, "norm", 1, {Du}, false);
    addStack(out, f, off, "tok_embeddings", 1, {Vu, Du}, false);
  } else {
    addStack(out, f, off, "tok_embeddings", 1, {Vu, Du}, false);
    addStack(out, f, off, "attn_norm", nl, {Du}, true);
  }
  addStack(out, f, off, "wq", nl, {qu, Du}, true);
  addStack(out, f, off, "wk", nl, {kvu, Du}, true);
  addStack(out, f, off, "wv", nl, {kvu, Du}, true);
  addStack(out, f, off, "wo", nl, {Du, qu}, true);
  if (h.version == 0) addStack(out, f, off, "ffn_norm", nl, {Du}, true);
  addStack(out, f, off, "w1", nl, {Fu, Du}, true);
  addStack(out, f, off, "w2", nl, {Du, Fu}, true);
  addStack(out, f, off, "w3", nl, {Fu, Du}, true);
  if (h.version == 0) {
    addStack(out, f, off, "norm", 1, {Du}, false);
    off += uint64_t(s.max_seq_len) * s.head_dim * 4; // skip freq_cis_real/imag
  }
  if (!h.shared) addStack(out, f, off, "output", 1, {Vu, Du}, false);

  if (!(st = loadTokenizerFor(binPath, tokenizerPath, s.vocab_size, out.tokenizer)).ok())
    return st;
  return validateWeights(out);
}

} // namespace mote
