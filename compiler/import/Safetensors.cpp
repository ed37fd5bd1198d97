// Safetensors reader: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}}, then the data region. Nothing in the
// header is trusted: every number is checked before a pointer is formed.
#include "compiler/import/Safetensors.h"
#include "compiler/import/Import.h"

#include <nlohmann/json.hpp>

#include <cstring>

namespace mote {
namespace {

using json = nlohmann::json;
using u128 = unsigned __int128;

constexpr uint64_t kMaxHeader = 100ull << 20; // a header past 100 MiB is hostile

Status parseDType(const std::string &where, const json &v, DType &out) {
  if (!v.is_string()) return Status::Error(where + ": dtype: not a string");
  std::string d = v.get<std::string>();
  if (d == "F32") out = DType::F32;
  else if (d == "F16") out = DType::F16;
  else if (d == "BF16") out = DType::BF16;
  else if (d == "F64" || d == "I64" || d == "I32" || d == "I16" || d == "I8" ||
           d == "U8" || d == "BOOL" || d == "U16" || d == "U32" || d == "U64" ||
           d == "F8_E4M3" || d == "F8_E5M2")
    return Status::Error(where + ": dtype: " + d + " is not supported (F32, F16, BF16 are)");
  else
    return Status::Error(where + ": dtype: unknown dtype \"" + d.substr(0, 32) + "\"");
  return Status::Ok();
}

Status parseShape(const std::string &where, const json &v, std::vector<uint64_t> &shape,
                  u128 &numel) {
  if (!v.is_array() || v.size() > 8)
    return Status::Error(where + ": shape: not an array of at most 8 dimensions");
  numel = 1;
  for (const json &d : v) {
    if (!d.is_number_unsigned())
      return Status::Error(where + ": shape: dimension is not a non-negative integer");
    uint64_t n = d.get<uint64_t>();
    shape.push_back(n);
    numel *= n;
    if (numel > (u128(1) << 64)) // keeps the product exact in 128 bits
      return Status::Error(where + ": shape: " + shapeString(shape) + " is too large");
  }
  return Status::Ok();
}

Status parseEntry(const std::shared_ptr<MappedFile> &f, uint64_t dataStart,
                  const std::string &name, const json &e, TensorRef &t) {
  std::string where = f->path() + ": " + name;
  if (!e.is_object()) return Status::Error(where + ": header entry is not an object");
  auto dt = e.find("dtype"), sh = e.find("shape"), off = e.find("data_offsets");
  if (dt == e.end()) return Status::Error(where + ": dtype: missing");
  if (sh == e.end()) return Status::Error(where + ": shape: missing");
  if (off == e.end()) return Status::Error(where + ": data_offsets: missing");
  Status st = parseDType(where, *dt, t.dtype);
  if (!st.ok()) return st;
  u128 numel = 0;
  if (!(st = parseShape(where, *sh, t.shape, numel)).ok()) return st;
  const json &o = *off;
  if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() ||
      !o[1].is_number_unsigned())
    return Status::Error(where + ": data_offsets: not two non-negative integers");
  uint64_t b = o[0].get<uint64_t>(), end = o[1].get<uint64_t>();
  uint64_t dataSize = f->size() - dataStart;
  if (b > end || end > dataSize)
    return Status::Error(where + ": data_offsets: [" + std::to_string(b) + ", " +
                         std::to_string(end) + "] outside the data region of " +
                         std::to_string(dataSize) + " bytes");
  if (u128(end - b) != numel * dtypeSize(t.dtype))
    return Status::Error(where + ": data_offsets: [" + std::to_string(b) + ", " +
                         std::to_string(end) + "] hold " + std::to_string(end - b) +
                         " bytes but shape " + shapeString(t.shape) + " x " +
                         dtypeName(t.dtype) + " needs " +
                         std::to_string(uint64_t(numel * dtypeSize(t.dtype))));
  t.name = name;
  t.data = f->data() + dataStart + b;
  t.bytes = end - b;
  t.file = f;
  return Status::Ok();
}

} // namespace

Status readSafetensors(const std::string &path, std::map<std::string, TensorRef> &out) {
  std::shared_ptr<MappedFile> f;
  Status st = MappedFile::open(path, f);
  if (!st.ok()) return st;
  if (f->size() < 8)
    return Status::Error(path + ": header length: file is " + std::to_string(f->size()) +
                         " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | f->data()[i]; // little-endian
  if (n > f->size() - 8 || n > kMaxHeader)
    return Status::Error(path + ": header length: " + std::to_string(n) +
                         " runs past the end of the file (" + std::to_string(f->size()) +
                         " bytes)");
  const char *hb = reinterpret_cast<const char *>(f->data() + 8);
  json h = json::parse(hb, hb + n, nullptr, /*allow_exceptions=*/false);
  if (h.is_discarded() || !h.is_object())
    return Status::Error(path + ": header: not a valid JSON object");
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    TensorRef t;
    if (!(st = parseEntry(f, 8 + n, it.key(), it.value(), t)).ok()) return st;
    out[it.key()] = std::move(t);
  }
  return Status::Ok();
}

} // namespace mote
