// Writes the model.mote container: 64-byte header, protobuf manifest, then a
// 4 KiB-aligned weights section streamed tensor by tensor from the source
// mapping. Layout and checksums: docs/bundle-format.md.
#include "compiler/bundle/BundleWriter.h"
#include "compiler/import/Import.h"
#include "compiler/quant/Calibrate.h"
#include "compiler/quant/CalibrationStats.h"
#include "compiler/quant/Quantize.h"
#include "dialects/Mote/IR/MoteOps.h"

#include "mote/bundle_format.h"
#include "mote_bundle.pb.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mote {
namespace {

namespace pb = ::mote::bundle;

constexpr uint64_t kTensorAlign = 64;

uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

std::string errnoText() { return std::strerror(errno); }

// ---------------------------------------------------------------------------
// Spec and tokenizer -> manifest
// ---------------------------------------------------------------------------

void fillSpec(const ModelSpec &s, pb::ModelSpec &m) {
  m.set_arch(s.arch);
  m.set_dim(s.dim);
  m.set_hidden_dim(s.hidden_dim);
  m.set_n_layers(s.n_layers);
  m.set_n_heads(s.n_heads);
  m.set_n_kv_heads(s.n_kv_heads);
  m.set_head_dim(s.head_dim);
  m.set_vocab_size(s.vocab_size);
  m.set_max_seq_len(s.max_seq_len);
  m.set_rope_theta(s.rope_theta);
  m.set_norm_eps(s.norm_eps);
  m.set_tied_embeddings(s.tied_embeddings);
  m.set_rope_style(static_cast<uint32_t>(s.rope_style));
  m.set_source_format(s.source_format);
  m.set_source_path(s.source_path);
  m.set_num_kv_shared_layers(s.num_kv_shared_layers);
  m.set_qkv_bias(s.qkv_bias);
}

void fillTokenizer(const TokenizerSpec &t, pb::Tokenizer &m) {
  m.set_kind(t.kind);
  for (const std::string &p : t.pieces)
    m.add_pieces(p);
  for (float s : t.scores)
    m.add_scores(s);
  for (PieceType ty : t.types)
    m.add_types(static_cast<pb::PieceType>(ty));
  m.set_bos_id(t.bos_id);
  m.set_eos_id(t.eos_id);
  m.set_unk_id(t.unk_id);
  m.set_pad_id(t.pad_id);
  m.set_add_bos(t.add_bos);
  m.set_add_eos(t.add_eos);
  m.set_add_dummy_prefix(t.add_dummy_prefix);
  m.set_remove_extra_whitespaces(t.remove_extra_whitespaces);
  m.set_escape_whitespaces(t.escape_whitespaces);
  m.set_byte_fallback(t.byte_fallback);
  m.set_source(t.source);
  for (uint32_t r : t.ranks)
    m.add_ranks(r);
  m.set_pre_tokenizer(t.pre_tokenizer);
  m.set_ignore_merges(t.ignore_merges);
}

// ---------------------------------------------------------------------------
// Output file: a temp file that becomes `out` only when complete
// ---------------------------------------------------------------------------

class TempFile {
public:
  explicit TempFile(const std::string &out)
      : out_(out), tmp_(out + ".tmp." + std::to_string(getpid())) {}
  ~TempFile() {
    if (fd_ >= 0)
      ::close(fd_);
    if (!committed_)
      ::unlink(tmp_.c_str());
  }
  Status open() {
    fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0)
      return Status::Error(out_ + ": cannot create: " + errnoText());
    return Status::Ok();
  }
  Status pwriteAll(const void *data, uint64_t len, uint64_t off) {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    while (len > 0) {
      ssize_t n = ::pwrite(fd_, p, len, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return Status::Error(out_ + ": write failed: " + errnoText());
      p += n;
      off += static_cast<uint64_t>(n);
      len -= static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }
  // XXH64 of [off, off+len) as written, read back through a mapping so the
  // weights are never held in memory as a whole.
  Status hashRange(uint64_t off, uint64_t len, uint64_t &out) {
    if (len == 0) {
      out = mote_xxh64(nullptr, 0, 0);
      return Status::Ok();
    }
    void *m = ::mmap(nullptr, off + len, PROT_READ, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED)
      return Status::Error(out_ + ": cannot map for checksum: " + errnoText());
    out = mote_xxh64(static_cast<const uint8_t *>(m) + off, len, 0);
    ::munmap(m, off + len);
    return Status::Ok();
  }
  Status commit(uint64_t size) {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0 || ::fsync(fd_) != 0)
      return Status::Error(out_ + ": cannot flush: " + errnoText());
    if (::close(fd_) != 0) {
      fd_ = -1;
      return Status::Error(out_ + ": cannot close: " + errnoText());
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), out_.c_str()) != 0)
      return Status::Error(out_ + ": cannot rename temp file: " + errnoText());
    committed_ = true;
    return Status::Ok();
  }

private:
  std::string out_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// ---------------------------------------------------------------------------
// Weights
// ---------------------------------------------------------------------------

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13); // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else { // subnormal: renormalize
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Writes one source tensor as F32 at `off`, converting in fixed-size chunks.
Status writeTensorF32(TempFile &file, const TensorRef &t, uint64_t off,
                      std::vector<float> &buf) {
  if (t.bytes != t.numel() * dtypeSize(t.dtype))
    return Status::Error(t.name + ": byte size does not match its shape");
  if (t.dtype == DType::F32)
    return file.pwriteAll(t.data, t.bytes, off);
  if (t.dtype != DType::F16 && t.dtype != DType::BF16)
    return Status::Error(t.name + ": dtype " + dtypeName(t.dtype) +
                         " cannot be stored as f32 weights");
  uint64_t n = t.numel();
  for (uint64_t i = 0; i < n; i += buf.size()) {
    uint64_t m = std::min<uint64_t>(buf.size(), n - i);
    for (uint64_t j = 0; j < m; ++j) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * (i + j), 2); // source may be unaligned
      buf[j] = t.dtype == DType::F16 ? halfToFloat(h) : bf16ToFloat(h);
    }
    Status st = file.pwriteAll(buf.data(), m * 4, off + i * 4);
    if (!st.ok())
      return st;
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Quantized weights (docs/quantization.md)
// ---------------------------------------------------------------------------

// The `mote.quant` of each manifest tensor's param (bits 0 = stored f32).
struct QuantChoice {
  unsigned bits = 0;
  quant::QuantSpec spec;
};

std::vector<QuantChoice> quantChoices(mlir::ModuleOp module,
                                      const std::vector<std::string> &refd,
                                      const std::string &scaleDtype) {
  llvm::StringMap<mlir::DictionaryAttr> attrs;
  for (ParamOp p : module.getOps<ParamOp>())
    if (auto q = p->getAttrOfType<mlir::DictionaryAttr>(kQuantAttr))
      attrs[p.getSymName()] = q;
  std::vector<QuantChoice> out(refd.size());
  for (size_t i = 0; i < refd.size(); ++i) {
    auto it = attrs.find(refd[i]);
    if (it == attrs.end())
      continue;
    mlir::DictionaryAttr q = it->second;
    auto bits = mlir::dyn_cast_or_null<mlir::IntegerAttr>(q.get("bits"));
    if (bits && bits.getInt() == 16) { // f16 storage: no grid
      out[i].bits = 16;
      continue;
    }
    auto group = mlir::dyn_cast_or_null<mlir::IntegerAttr>(q.get("group_size"));
    auto f = mlir::dyn_cast_or_null<mlir::StringAttr>(q.get("f"));
    if (!bits || !group || !f) // the dialect verifier rules this out
      continue;
    out[i].bits = unsigned(bits.getInt());
    out[i].spec.bits = out[i].bits;
    out[i].spec.groupSize = uint64_t(group.getInt());
    quant::parseFMode(f.getValue().str(), out[i].spec.f);
    out[i].spec.f16Scales =
        scaleDtype == "f16" || (scaleDtype != "f32" && out[i].bits != 8);
  }
  return out;
}

pb::DType quantDType(unsigned bits) {
  return bits == 2 ? pb::Q2 : bits == 4 ? pb::Q4 : pb::Q8;
}

// Codes at `off`, f32 scales after them (64-byte aligned); advances `off`.
bool layoutQuantized(pb::Tensor &t, const std::vector<uint64_t> &shape,
                     const QuantChoice &q, uint64_t &off) {
  if (shape.size() != 2 || t.dtype() != pb::F32)
    return false;
  const uint64_t N = shape[0], K = shape[1];
  t.set_dtype(quantDType(q.bits));
  t.set_section(0);
  t.set_offset(off);
  t.set_size(quant::codeBytes(N, K, q.bits));
  pb::Quant *pq = t.mutable_quant();
  pq->set_bits(q.bits);
  pq->set_group_size(uint32_t(q.spec.groupSize == 0 ? K : q.spec.groupSize));
  pq->set_grid(q.bits == 8 ? "symmetric" : "balanced");
  pq->set_scale_dtype(q.spec.f16Scales ? pb::F16 : pb::F32);
  pq->set_scale_offset(alignUp(off + t.size(), kTensorAlign));
  pq->set_scale_size(
      quant::scaleBytes(N, K, q.spec.groupSize, q.spec.f16Scales ? 2 : 4));
  pq->set_layout("rowmajor-lsb");
  off = pq->scale_offset() + pq->scale_size();
  return true;
}

// WEIGHT values take their tensor's dtype (the runtime checks they agree).
void retypeWeightValues(pb::Manifest &m) {
  for (pb::Graph &g : *m.mutable_graphs())
    for (pb::Value &v : *g.mutable_values())
      if (v.kind() == pb::WEIGHT && v.ref() < uint32_t(m.tensors_size()))
        v.set_dtype(m.tensors(int(v.ref())).dtype());
}

// Graph.cost_estimate_s of each bucket graph (docs/buckets.md): a roofline
// of one call, weight bytes / 20 GB/s + FLOPs / 100 GFLOP/s + 1 us per
// step. FLOPs: 2·rows·N·K per linear/logits/LoRA step, plus attention at a
// half-full context (4·rows·heads·head_dim·C/2). The constants only need to
// rank chunkings sensibly; mote-bench --bucket-costs measures real ones.
void estimateBucketCosts(pb::Manifest &m) {
  for (pb::Graph &g : *m.mutable_graphs()) {
    if (!g.bucket())
      continue;
    auto shape = [&](uint32_t v, int d) -> double {
      if (v >= uint32_t(g.values_size()) || d >= g.values(int(v)).shape_size())
        return 0.0;
      return double(g.values(int(v)).shape(d));
    };
    double flops = 0.0, bytes = 0.0, logits = 0.0;
    std::set<uint32_t> seen;
    for (const pb::Value &v : g.values())
      if (v.kind() == pb::WEIGHT && v.ref() < uint32_t(m.tensors_size()) &&
          seen.insert(v.ref()).second) {
        const pb::Tensor &t = m.tensors(int(v.ref()));
        bytes += double(t.size()) + (t.has_quant() ? double(t.quant().scale_size()) : 0.0);
      }
    for (const pb::Step &s : g.steps()) {
      if (s.operands_size() < 2 || s.results_size() < 1)
        continue;
      double rows = shape(s.results(0), 0);
      if (s.op() == pb::LINEAR || s.op() == pb::LOGITS || s.op() == pb::LORA_LINEAR)
        flops += 2.0 * rows * shape(s.operands(1), 0) * shape(s.operands(1), 1);
      if (s.op() == pb::LOGITS) { // its weight streams once per call
        uint32_t w = s.operands(1);
        const pb::Value &v = g.values(int(w));
        double tb = 0.0;
        if (v.kind() == pb::WEIGHT && v.ref() < uint32_t(m.tensors_size())) {
          const pb::Tensor &t = m.tensors(int(v.ref()));
          tb = double(t.size()) + (t.has_quant() ? double(t.quant().scale_size()) : 0.0);
        }
        logits += tb / 20e9 + 2.0 * rows * shape(w, 0) * shape(w, 1) / 100e9 + 1e-6;
      }
      else if (s.op() == pb::ATTENTION)
        flops += 4.0 * rows * shape(s.operands(0), 1) * double(g.context()) / 2.0;
    }
    double t = bytes / 20e9 + flops / 100e9 + 1e-6 * double(g.steps_size());
    g.set_cost_estimate_s(float(t));
    g.set_logits_estimate_s(float(std::min(logits, t)));
  }
}

// Source tensor as f32 (one tensor in memory at a time).
Status loadF32(const TensorRef &t, std::vector<float> &out) {
  if (t.bytes != t.numel() * dtypeSize(t.dtype))
    return Status::Error(t.name + ": byte size does not match its shape");
  out.resize(t.numel());
  for (uint64_t i = 0; i < out.size(); ++i) {
    if (t.dtype == DType::F32) {
      std::memcpy(&out[i], t.data + 4 * i, 4);
      continue;
    }
    uint16_t h;
    std::memcpy(&h, t.data + 2 * i, 2);
    if (t.dtype == DType::F16) out[i] = halfToFloat(h);
    else if (t.dtype == DType::BF16) out[i] = bf16ToFloat(h);
    else return Status::Error(t.name + ": dtype " + dtypeName(t.dtype) +
                              " cannot be quantized");
  }
  return Status::Ok();
}

// Canonical linear weight names, layers.<i>.{wq,wk,wv,wo,w1,w2,w3}: the
// weights calibrated rounding applies to (docs/quantization.md).
bool isLinearWeightName(const std::string &name) {
  if (name.rfind("layers.", 0) != 0)
    return false;
  size_t i = 7, d = i;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9')
    ++i;
  if (i == d || i >= name.size() || name[i] != '.')
    return false;
  const std::string w = name.substr(i + 1);
  return w == "wq" || w == "wk" || w == "wv" || w == "wo" || w == "w1" ||
         w == "w2" || w == "w3";
}

// Calibrated rounding for this writeBundle call (none when stats is null).
struct CalibrationChoice {
  const CalibrationStats *stats = nullptr;
  quant::Rounding rounding = quant::Rounding::Nearest;
};

// f16 weights (--weights f16): each value rounded to the nearest half, the
// sum of squared rounding errors returned for the report.
Status writeTensorF16(TempFile &file, const TensorRef &t, uint64_t off,
                      std::vector<float> &w, double &relErr) {
  Status st = loadF32(t, w);
  if (!st.ok())
    return st;
  std::vector<uint16_t> half(w.size());
  double err = 0, norm = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    half[i] = quant::f32ToF16(w[i]);
    double d = double(w[i]) - double(quant::f16ToF32(half[i]));
    err += d * d;
    norm += double(w[i]) * double(w[i]);
  }
  relErr = norm > 0 ? err / norm : 0;
  return file.pwriteAll(half.data(), half.size() * 2, off);
}

// Quantizes one tensor and writes its codes and scales. A QAT checkpoint's
// "<name>.quant_f" tensor ([N] or [N, groups]) gives f instead of the mode;
// otherwise a linear weight takes calibrated rounding when `calib` has stats.
Status writeTensorQuant(TempFile &file, const ImportedModel &model,
                        const std::string &name, const pb::Tensor &t,
                        const QuantChoice &q, uint64_t woff,
                        std::vector<float> &w, std::vector<float> &qf,
                        TensorSummary &sum, const CalibrationChoice &calib) {
  Status st = loadF32(*model.weights.find(name), w);
  if (!st.ok())
    return st;
  const uint64_t N = t.shape(0), K = t.shape(1);
  const float *fixed = nullptr;
  uint64_t nf = 0;
  if (const TensorRef *f = model.quantF.find(name + ".quant_f")) {
    const uint64_t ng = quant::groupsPerRow(K, q.spec.groupSize);
    bool okShape = (f->shape.size() == 1 && f->shape[0] == N) ||
                   (f->shape.size() == 2 && f->shape[0] == N && f->shape[1] == ng);
    if (!okShape)
      return Status::Error(f->file->path() + ": " + name + ".quant_f: shape " +
                           shapeString(f->shape) +
                           " must be [" + std::to_string(N) + "] or [" +
                           std::to_string(N) + ", " + std::to_string(ng) +
                           "] (rows, groups of " + std::to_string(q.spec.groupSize ? q.spec.groupSize : K) + ")");
    if (!(st = loadF32(*f, qf)).ok())
      return st;
    fixed = qf.data();
    nf = qf.size();
  }
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  const bool calibrated = calib.stats && !fixed && isLinearWeightName(name);
  if (calibrated) {
    std::vector<double> H;
    if (!(st = calibrationHessian(*calib.stats, name, K, H)).ok())
      return st;
    std::string err;
    if (!quant::quantizeMatrixCalibrated(w.data(), N, K, q.spec, calib.rounding,
                                         H.data(), codes, scales, err))
      return Status::Error(calib.stats->path + ": " + hessianName(name) + ": " + err);
    // Output error on H, beside the weight-only search's.
    quant::QuantSpec searched = q.spec;
    searched.f = quant::FMode::Search;
    std::vector<uint8_t> c2;
    std::vector<float> s2;
    quant::quantizeMatrix(w.data(), N, K, searched, nullptr, 0, c2, s2);
    const double energy = quant::outputEnergy(w.data(), N, K, H.data());
    const double den = energy > 0.0 ? energy : 1.0;
    sum.relOutErr =
        quant::outputError(w.data(), N, K, H.data(), q.spec, codes.data(), scales.data()) / den;
    sum.relOutErrSearch =
        quant::outputError(w.data(), N, K, H.data(), searched, c2.data(), s2.data()) / den;
    sum.f = quant::roundingName(calib.rounding);
  } else if (!quant::quantizeMatrix(w.data(), N, K, q.spec, fixed, nf, codes, scales)) {
    return Status::Error(name + ".quant_f: wrong number of values");
  }
  sum.relErr = quant::relSqError(w.data(), N, K, q.spec, codes.data(), scales.data());
  sum.relErrMaxAbs = sum.relErr;
  if (fixed || calibrated || q.spec.f != quant::FMode::MaxAbs) { // report f = 1 beside it
    quant::QuantSpec plain = q.spec;
    plain.f = quant::FMode::MaxAbs;
    std::vector<uint8_t> c1;
    std::vector<float> s1;
    quant::quantizeMatrix(w.data(), N, K, plain, nullptr, 0, c1, s1);
    sum.relErrMaxAbs = quant::relSqError(w.data(), N, K, plain, c1.data(), s1.data());
  }
  if (!(st = file.pwriteAll(codes.data(), codes.size(), woff + t.offset())).ok())
    return st;
  if (q.spec.f16Scales) { // exact: the scales are already f16 values
    std::vector<uint16_t> half(scales.size());
    for (size_t j = 0; j < scales.size(); ++j)
      half[j] = quant::f32ToF16(scales[j]);
    return file.pwriteAll(half.data(), half.size() * 2,
                          woff + t.quant().scale_offset());
  }
  return file.pwriteAll(scales.data(), scales.size() * 4,
                        woff + t.quant().scale_offset());
}

// Assigns each manifest tensor its offset in the weights section (64-byte
// aligned) after checking it against the weight store. Returns the section
// size.
Status layoutTensors(pb::Manifest &m, const std::vector<std::string> &refd,
                     const ImportedModel &model,
                     const std::vector<QuantChoice> &quant,
                     uint64_t &sectionSize) {
  uint64_t off = 0;
  for (int i = 0; i < m.tensors_size(); ++i) {
    pb::Tensor *t = m.mutable_tensors(i);
    const TensorRef *src = model.weights.find(refd[i]);
    if (!src)
      return Status::Error("@" + refd[i] + ": no such tensor in " +
                           model.spec.source_path);
    std::vector<uint64_t> shape(t->shape().begin(), t->shape().end());
    if (shape != src->shape)
      return Status::Error("@" + refd[i] + ": IR shape " + shapeString(shape) +
                           " differs from the model's " + shapeString(src->shape));
    uint64_t numel = src->numel();
    if (quant[i].bits == 16) { // f16 weights: plain IEEE half, no Quant
      if (t->dtype() != pb::F32)
        return Status::Error("@" + refd[i] + ": mote.quant needs an f32 param");
      off = alignUp(off, kTensorAlign);
      t->set_dtype(pb::F16);
      t->set_section(0);
      t->set_offset(off);
      t->set_size(numel * 2);
      off += numel * 2;
      continue;
    }
    if (quant[i].bits) {
      off = alignUp(off, kTensorAlign);
      if (!layoutQuantized(*t, shape, quant[i], off))
        return Status::Error("@" + refd[i] + ": mote.quant needs a rank-2 f32 param");
      continue;
    }
    if (t->dtype() != pb::F32)
      return Status::Error("@" + refd[i] + ": only f32 params are supported "
                           "(--weights f32)");
    off = alignUp(off, kTensorAlign);
    t->set_section(0);
    t->set_offset(off);
    t->set_size(numel * 4);
    off += numel * 4;
  }
  sectionSize = alignUp(off, kTensorAlign);
  return Status::Ok();
}

// End of the last byte any tensor (codes or scales) occupies.
uint64_t tensorsEnd(const pb::Manifest &m) {
  uint64_t end = 0;
  for (const pb::Tensor &t : m.tensors()) {
    end = std::max(end, t.offset() + t.size());
    if (t.has_quant())
      end = std::max(end, t.quant().scale_offset() + t.quant().scale_size());
  }
  return end;
}

void putU32(uint8_t *p, uint32_t v) { std::memcpy(p, &v, 4); } // LE host
void putU64(uint8_t *p, uint64_t v) { std::memcpy(p, &v, 8); }

void fillReport(const pb::Manifest &m, uint64_t fileSize, BundleReport &r) {
  r.tensors = m.tensors_size();
  r.weightBytes = 0;
  for (const pb::Tensor &t : m.tensors())
    r.weightBytes += t.size() + (t.has_quant() ? t.quant().scale_size() : 0);
  r.kvBytesPerToken = 0;
  for (const pb::KVCache &kv : m.kv_caches())
    r.kvBytesPerToken += kv.dtype() == pb::Q8 && kv.group_size()
                             ? uint64_t(kv.width()) + 4ull * (kv.width() / kv.group_size())
                             : uint64_t(kv.width()) * 4;
  r.fileBytes = fileSize;
  r.graphs.clear();
  for (const pb::Graph &g : m.graphs())
    r.graphs.push_back({g.name(), g.kind(), g.max_tokens(), g.context(),
                        uint64_t(g.steps_size()), uint64_t(g.values_size()),
                        g.arena_bytes()});
}

// Manifest at 64, zero padding up to the weights, then the header that
// checksums both.
Status writeManifestAndHeader(TempFile &file, const pb::Manifest &m,
                              uint64_t woff, uint64_t fileSize,
                              const std::string &outPath) {
  Status st;
  std::string bytes;
  if (!m.SerializeToString(&bytes))
    return Status::Error(outPath + ": manifest: protobuf serialization failed");
  if (MOTE_BUNDLE_HEADER_SIZE + bytes.size() > woff)
    return Status::Error(outPath + ": manifest: grew past the weights section");
  std::vector<uint8_t> pad(woff - MOTE_BUNDLE_HEADER_SIZE - bytes.size(), 0);
  if (!(st = file.pwriteAll(bytes.data(), bytes.size(), MOTE_BUNDLE_HEADER_SIZE)).ok() ||
      !(st = file.pwriteAll(pad.data(), pad.size(),
                            MOTE_BUNDLE_HEADER_SIZE + bytes.size())).ok())
    return st;

  uint8_t hdr[MOTE_BUNDLE_HEADER_SIZE] = {};
  std::memcpy(hdr + MOTE_HDR_OFF_MAGIC, MOTE_BUNDLE_MAGIC, 8);
  putU32(hdr + MOTE_HDR_OFF_VERSION, MOTE_BUNDLE_FORMAT_VERSION);
  putU32(hdr + MOTE_HDR_OFF_HEADER_SIZE, MOTE_BUNDLE_HEADER_SIZE);
  putU64(hdr + MOTE_HDR_OFF_MANIFEST_OFFSET, MOTE_BUNDLE_HEADER_SIZE);
  putU64(hdr + MOTE_HDR_OFF_MANIFEST_SIZE, bytes.size());
  putU64(hdr + MOTE_HDR_OFF_MANIFEST_XXH64, mote_xxh64(bytes.data(), bytes.size(), 0));
  putU64(hdr + MOTE_HDR_OFF_FILE_SIZE, fileSize);
  putU64(hdr + MOTE_HDR_OFF_FLAGS, 0);
  putU64(hdr + MOTE_HDR_OFF_HEADER_XXH64, mote_xxh64(hdr, MOTE_HDR_OFF_HEADER_XXH64, 0));
  if (!(st = file.pwriteAll(hdr, sizeof hdr, 0)).ok())
    return st;
  return Status::Ok();
}

// The weights offset depends on the manifest's size, which depends on the
// offset (varints): iterate to a fixed point. The checksum is a fixed64, so
// a non-zero placeholder already has the final size.
pb::Section *addWeightsSection(pb::Manifest &m, uint64_t wsize) {
  pb::Section *sec = m.add_sections();
  sec->set_name("weights");
  sec->set_size(wsize);
  sec->set_alignment(MOTE_BUNDLE_WEIGHT_ALIGN);
  sec->set_xxh64(~0ull);
  uint64_t woff = 0;
  for (int iter = 0; iter < 8; ++iter) {
    uint64_t need = alignUp(MOTE_BUNDLE_HEADER_SIZE + m.ByteSizeLong(),
                            MOTE_BUNDLE_WEIGHT_ALIGN);
    if (need <= woff)
      break;
    woff = need;
    sec->set_offset(woff);
  }
  return sec;
}

} // namespace

Status writeBundle(mlir::ModuleOp module, const ImportedModel &model,
                   const BundleOptions &options, const std::string &outPath,
                   BundleReport &report, const ProgressFn &progress) {
  pb::Manifest m;
  m.set_format_version(MOTE_BUNDLE_FORMAT_VERSION);
  m.set_kind("model");
  fillSpec(model.spec, *m.mutable_model());
  fillTokenizer(model.tokenizer, *m.mutable_tokenizer());
  pb::CompileOptions *co = m.mutable_options();
  co->set_command_line(options.commandLine);
  co->set_weights(options.weights);
  co->set_context(options.context);
  co->set_prefill_tokens(options.prefillTokens);
  co->set_targets(options.targets);
  co->set_compiler_version("motec 0.1.0");
  co->set_kv_dtype(options.kvDtype);
  if (!options.activations.empty()) co->set_activations(options.activations);

  std::vector<std::string> refd;
  Status st = serializeSchedule(module, m, refd);
  if (!st.ok())
    return st;
  uint64_t wsize = 0;
  const std::vector<QuantChoice> quant = quantChoices(module, refd, options.scaleDtype);
  st = layoutTensors(m, refd, model, quant, wsize);
  if (!st.ok())
    return st;
  retypeWeightValues(m);
  estimateBucketCosts(m);

  pb::Section *sec = addWeightsSection(m, wsize);
  const uint64_t woff = sec->offset();
  const uint64_t fileSize = woff + wsize;

  // Calibrated rounding: every calibrated weight's H is checked before
  // anything is written.
  CalibrationStats calibStats;
  CalibrationChoice calib;
  if (!options.calibration.empty()) {
    if (!quant::parseRounding(options.rounding, calib.rounding) ||
        calib.rounding == quant::Rounding::Nearest)
      return Status::Error("--rounding " + options.rounding +
                           ": must be awq or gptq with --calibration");
    if (options.calibrationStats)
      calibStats = *options.calibrationStats;
    else if (!(st = loadCalibrationStats(options.calibration, calibStats)).ok())
      return st;
    calib.stats = &calibStats;
    std::vector<double> H;
    for (int i = 0; i < m.tensors_size(); ++i)
      if (quant[size_t(i)].bits && isLinearWeightName(refd[size_t(i)]) &&
          !model.quantF.find(refd[size_t(i)] + ".quant_f") &&
          !(st = calibrationHessian(calibStats, refd[size_t(i)], m.tensors(i).shape(1), H)).ok())
        return st;
  }

  TempFile file(outPath);
  if (!(st = file.open()).ok())
    return st;
  std::vector<float> buf(1u << 18), qw, qf;
  std::vector<TensorSummary> qsum(size_t(m.tensors_size()));
  for (int i = 0; i < m.tensors_size(); ++i) {
    const pb::Tensor &t = m.tensors(i);
    if (quant[i].bits == 16)
      st = writeTensorF16(file, *model.weights.find(refd[i]), woff + t.offset(), qw,
                          qsum[size_t(i)].relErr);
    else if (quant[i].bits)
      st = writeTensorQuant(file, model, refd[i], t, quant[i], woff, qw, qf, qsum[size_t(i)],
                            calib);
    else
      st = writeTensorF32(file, *model.weights.find(refd[i]), woff + t.offset(), buf);
    if (!st.ok())
      return st;
    if (progress)
      progress(t.offset() + t.size(), wsize);
  }
  // Zero tail so the section (and file) has its declared size before hashing.
  if (wsize > 0) {
    uint8_t zero[kTensorAlign] = {};
    uint64_t end = tensorsEnd(m);
    if (wsize > end && !(st = file.pwriteAll(zero, wsize - end, woff + end)).ok())
      return st;
  }
  uint64_t h = 0;
  if (!(st = file.hashRange(woff, wsize, h)).ok())
    return st;
  sec->set_xxh64(h);

  if (!(st = writeManifestAndHeader(file, m, woff, fileSize, outPath)).ok())
    return st;
  if (!(st = file.commit(fileSize)).ok())
    return st;
  fillReport(m, fileSize, report);
  report.tensorList.clear();
  for (int i = 0; i < m.tensors_size(); ++i) {
    const pb::Tensor &t = m.tensors(i);
    TensorSummary ts;
    ts.name = refd[i];
    ts.numel = 1;
    for (uint64_t d : t.shape())
      ts.numel *= d;
    ts.bytes = t.size();
    if (quant[i].bits == 16) {
      ts.bits = 16;
      ts.f = "f16";
      ts.relErr = ts.relErrMaxAbs = qsum[size_t(i)].relErr;
    } else if (quant[i].bits) {
      ts.bits = quant[i].bits;
      ts.groupSize = t.quant().group_size();
      ts.f = model.quantF.find(refd[i] + ".quant_f")
                 ? "qat"
                 : quant::fModeName(quant[i].spec.f);
      ts.bytes += t.quant().scale_size();
      ts.relErr = qsum[size_t(i)].relErr;
      ts.relErrMaxAbs = qsum[size_t(i)].relErrMaxAbs;
      if (!qsum[size_t(i)].f.empty()) // calibrated rounding
        ts.f = qsum[size_t(i)].f;
      ts.relOutErr = qsum[size_t(i)].relOutErr;
      ts.relOutErrSearch = qsum[size_t(i)].relOutErrSearch;
    }
    report.tensorList.push_back(ts);
  }
  return Status::Ok();
}

} // namespace mote
