// SentencePiece tokenizer.model and HF tokenizer_config.json -> TokenizerSpec.
#include "compiler/import/Tokenizers.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sentencepiece_model.pb.h"

namespace mote {
namespace {

bool readWholeFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return !in.bad();
}

PieceType convertType(sp::ModelProto::SentencePiece::Type t) {
  switch (t) {
  case sp::ModelProto::SentencePiece::UNKNOWN: return PieceType::Unknown;
  case sp::ModelProto::SentencePiece::CONTROL: return PieceType::Control;
  case sp::ModelProto::SentencePiece::USER_DEFINED: return PieceType::UserDefined;
  case sp::ModelProto::SentencePiece::BYTE: return PieceType::Byte;
  case sp::ModelProto::SentencePiece::UNUSED: return PieceType::Unused;
  default: return PieceType::Normal;
  }
}

// Rejects the options whose encoding behaviour the runtime lacks, so a
// model is never tokenized differently from SentencePiece without notice.
Status checkSupported(const std::string &path, const sp::ModelProto &m) {
  const sp::TrainerSpec &ts = m.trainer_spec();
  if (ts.model_type() != sp::TrainerSpec::BPE)
    return Status::Error(path + ": trainer_spec.model_type: " +
                         sp::TrainerSpec::ModelType_Name(ts.model_type()) +
                         " is not supported (only BPE)");
  if (ts.treat_whitespace_as_suffix())
    return Status::Error(path + ": trainer_spec.treat_whitespace_as_suffix: "
                                "not supported");
  const sp::NormalizerSpec &ns = m.normalizer_spec();
  if (!ns.precompiled_charsmap().empty())
    return Status::Error(path + ": normalizer_spec.precompiled_charsmap: "
                                "normalizer '" + ns.name() +
                         "' needs a character map, which Mote does not "
                         "implement (only 'identity')");
  if (m.has_denormalizer_spec() &&
      !m.denormalizer_spec().precompiled_charsmap().empty())
    return Status::Error(path + ": denormalizer_spec.precompiled_charsmap: "
                                "denormalization is not supported");
  return Status::Ok();
}

int32_t findPiece(const TokenizerSpec &s, const std::string &piece) {
  for (size_t i = 0; i < s.pieces.size(); ++i)
    if (s.pieces[i] == piece) return static_cast<int32_t>(i);
  return -1;
}

// bos_token / eos_token: a string, or an AddedToken object with "content".
Status tokenId(const std::string &path, const nlohmann::json &j,
               const char *key, const TokenizerSpec &s, int32_t &id) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  const nlohmann::json *v = &*it;
  if (v->is_object()) {
    auto c = v->find("content");
    if (c == v->end()) return Status::Error(path + ": " + key + ": no \"content\"");
    v = &*c;
  }
  if (!v->is_string())
    return Status::Error(path + ": " + key + ": expected a string");
  int32_t found = findPiece(s, v->get<std::string>());
  if (found < 0)
    return Status::Error(path + ": " + key + ": '" + v->get<std::string>() +
                         "' is not a piece of the tokenizer");
  id = found;
  return Status::Ok();
}

Status boolField(const std::string &path, const nlohmann::json &j,
                 const char *key, bool &out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_boolean())
    return Status::Error(path + ": " + key + ": expected true or false");
  out = it->get<bool>();
  return Status::Ok();
}

} // namespace

Status validateTokenizer(const TokenizerSpec &s) {
  const std::string &p = s.source;
  size_t n = s.pieces.size();
  if (n == 0 || n >= (1u << 30))
    return Status::Error(p + ": pieces: bad count " + std::to_string(n));
  if (s.scores.size() != n || s.types.size() != n)
    return Status::Error(p + ": pieces: scores/types do not match pieces");
  const std::pair<const char *, int32_t> ids[] = {
      {"bos_id", s.bos_id}, {"eos_id", s.eos_id}, {"unk_id", s.unk_id},
      {"pad_id", s.pad_id}};
  for (const auto &[name, id] : ids)
    if (id < -1 || id >= static_cast<int64_t>(n))
      return Status::Error(p + ": " + name + ": " + std::to_string(id) +
                           " outside the vocabulary of " + std::to_string(n));
  if (s.unk_id < 0 || s.types[s.unk_id] != PieceType::Unknown)
    return Status::Error(p + ": unk_id: " + std::to_string(s.unk_id) +
                         " is not an unknown piece");
  for (size_t i = 0; i < n; ++i) {
    if (s.types[i] != PieceType::Byte) continue;
    const std::string &b = s.pieces[i];
    if (b.size() != 6 || b.compare(0, 3, "<0x") != 0 || b[5] != '>' ||
        !isxdigit(static_cast<unsigned char>(b[3])) ||
        !isxdigit(static_cast<unsigned char>(b[4])))
      return Status::Error(p + ": pieces[" + std::to_string(i) +
                           "]: byte piece '" + b + "' is not <0xXX>");
  }
  return Status::Ok();
}

Status loadSentencePieceModel(const std::string &path, TokenizerSpec &out) {
  std::string bytes;
  if (!readWholeFile(path, bytes))
    return Status::Error(path + ": cannot read the file");
  sp::ModelProto m;
  if (bytes.empty() || !m.ParseFromString(bytes))
    return Status::Error(path + ": not a SentencePiece model (protobuf parse failed)");
  if (Status st = checkSupported(path, m); !st.ok()) return st;
  TokenizerSpec s;
  s.kind = "sentencepiece-bpe";
  s.source = path;
  for (const auto &piece : m.pieces()) {
    s.pieces.push_back(piece.piece());
    s.scores.push_back(piece.score());
    s.types.push_back(convertType(piece.type()));
  }
  const sp::TrainerSpec &ts = m.trainer_spec();
  const sp::NormalizerSpec &ns = m.normalizer_spec();
  s.unk_id = ts.unk_id();
  s.bos_id = ts.bos_id();
  s.eos_id = ts.eos_id();
  s.pad_id = ts.pad_id();
  s.byte_fallback = ts.byte_fallback();
  s.unk_surface = ts.unk_surface();
  s.add_dummy_prefix = ns.add_dummy_prefix();
  s.remove_extra_whitespaces = ns.remove_extra_whitespaces();
  s.escape_whitespaces = ns.escape_whitespaces();
  s.add_bos = s.bos_id >= 0;
  s.add_eos = false;
  if (Status st = validateTokenizer(s); !st.ok()) return st;
  out = std::move(s);
  return Status::Ok();
}

Status applyTokenizerConfig(const std::string &jsonPath, TokenizerSpec &out) {
  std::ifstream probe(jsonPath);
  if (!probe) return Status::Ok(); // optional file
  std::string text;
  if (!readWholeFile(jsonPath, text))
    return Status::Error(jsonPath + ": cannot read the file");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::Error(jsonPath + ": not a JSON object");
  TokenizerSpec s = out;
  if (Status st = boolField(jsonPath, j, "add_bos_token", s.add_bos); !st.ok()) return st;
  if (Status st = boolField(jsonPath, j, "add_eos_token", s.add_eos); !st.ok()) return st;
  if (Status st = tokenId(jsonPath, j, "bos_token", s, s.bos_id); !st.ok()) return st;
  if (Status st = tokenId(jsonPath, j, "eos_token", s, s.eos_id); !st.ok()) return st;
  out = std::move(s);
  return Status::Ok();
}

} // namespace mote
