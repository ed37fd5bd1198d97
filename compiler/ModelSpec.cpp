// ModelSpec helpers: read-only file mappings, dtype sizes, and the check that
// an importer's weight store matches the hyper-parameters it claims.
#include "compiler/ModelSpec.h"
#include "compiler/import/Import.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mote {

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32: return "f32";
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  case DType::I32: return "i32";
  }
  return "unknown";
}

uint64_t dtypeSize(DType t) {
  switch (t) {
  case DType::F32: return 4;
  case DType::F16: return 2;
  case DType::BF16: return 2;
  case DType::I32: return 4;
  }
  return 0;
}

uint64_t TensorRef::numel() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

Status MappedFile::open(const std::string &path, std::shared_ptr<MappedFile> &out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::Error(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Error(path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void *p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return Status::Error(path + ": cannot map: " + std::strerror(e));
    }
    f->data_ = static_cast<const uint8_t *>(p);
  }
  ::close(fd); // the mapping outlives the descriptor
  out = std::move(f);
  return Status::Ok();
}

MappedFile::~MappedFile() {
  if (data_)
    munmap(const_cast<uint8_t *>(data_), size_);
}

std::string shapeString(const std::vector<uint64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::map<std::string, std::vector<uint64_t>> expectedTensorShapes(const ModelSpec &s) {
  std::map<std::string, std::vector<uint64_t>> m;
  uint64_t D = s.dim, F = s.hidden_dim, V = s.vocab_size, hd = s.head_dim;
  uint64_t q = uint64_t(s.n_heads) * hd, kv = uint64_t(s.n_kv_heads) * hd;
  m["tok_embeddings"] = {V, D};
  m["norm"] = {D};
  if (!s.tied_embeddings) m["output"] = {V, D};
  // KV-shared layers (the last num_kv_shared_layers) own no K/V projection.
  uint32_t firstShared = s.num_kv_shared_layers <= s.n_layers
                             ? s.n_layers - s.num_kv_shared_layers : 0;
  for (uint32_t i = 0; i < s.n_layers; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    bool ownsKV = i < firstShared;
    m[p + "attn_norm"] = {D};
    m[p + "ffn_norm"] = {D};
    m[p + "wq"] = {q, D};
    m[p + "wo"] = {D, q};
    m[p + "w1"] = {F, D};
    m[p + "w3"] = {F, D};
    m[p + "w2"] = {D, F};
    if (ownsKV) {
      m[p + "wk"] = {kv, D};
      m[p + "wv"] = {kv, D};
    }
    if (s.qkv_bias) {
      m[p + "bq"] = {q};
      if (ownsKV) {
        m[p + "bk"] = {kv};
        m[p + "bv"] = {kv};
      }
    }
  }
  return m;
}

static std::string tensorFile(const TensorRef &t, const ModelSpec &s) {
  return t.file ? t.file->path() : s.source_path;
}

Status validateWeights(const ImportedModel &model) {
  const ModelSpec &s = model.spec;
  auto expected = expectedTensorShapes(s);
  for (const auto &kv : expected) {
    const TensorRef *t = model.weights.find(kv.first);
    if (!t)
      return Status::Error(s.source_path + ": " + kv.first +
                           ": tensor missing (expected shape " +
                           shapeString(kv.second) + ")");
    std::string where = tensorFile(*t, s) + ": " + kv.first;
    if (t->shape != kv.second)
      return Status::Error(where + ": shape " + shapeString(t->shape) +
                           " contradicts the model's hyper-parameters (expected " +
                           shapeString(kv.second) + ")");
    if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16)
      return Status::Error(where + ": unsupported dtype " + dtypeName(t->dtype));
    unsigned __int128 need = (unsigned __int128)t->numel() * dtypeSize(t->dtype);
    if (need != t->bytes)
      return Status::Error(where + ": byte size " + std::to_string(t->bytes) +
                           " does not match shape x dtype");
    if (t->bytes && (!t->data || !t->file ||
                     t->data < t->file->data() ||
                     uint64_t(t->data - t->file->data()) > t->file->size() ||
                     t->bytes > t->file->size() - uint64_t(t->data - t->file->data())))
      return Status::Error(where + ": data lies outside its file");
  }
  for (const auto &kv : model.weights.all())
    if (!expected.count(kv.first))
      return Status::Error(tensorFile(kv.second, s) + ": " + kv.first +
                           ": unexpected tensor for this model" +
                           (s.num_kv_shared_layers
                                ? " (num_kv_shared_layers " +
                                      std::to_string(s.num_kv_shared_layers) +
                                      ": shared layers own no K/V projection)"
                                : std::string()));
  return Status::Ok();
}

} // namespace mote
