// Byte-level BPE tokenizers (GPT-2 / Llama 3) -> TokenizerSpec kind
// "byte-bpe": Meta's tiktoken tokenizer.model and Hugging Face
// tokenizer.json (model BPE + ByteLevel). docs/tokenizers.md.
#include "compiler/import/ByteBpe.h"

#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace mote {
namespace {

using json = nlohmann::json;

constexpr uint32_t kNoRank = 0xFFFFFFFFu;
constexpr size_t kMaxTokens = 1u << 24;

const char *const kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char *const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

bool readWholeFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return !in.bad();
}

// ---- tiktoken --------------------------------------------------------------

int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 (padded, length a multiple of 4).
bool decodeBase64(const std::string &s, std::string &out) {
  out.clear();
  if (s.empty() || s.size() % 4 != 0) return false;
  for (size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned char c = static_cast<unsigned char>(s[i + k]);
      if (c == '=') {
        if (i + 4 != s.size() || k < 2) return false;
        ++pad;
        v[k] = 0;
        continue;
      }
      if (pad) return false; // data after '='
      if ((v[k] = b64val(c)) < 0) return false;
    }
    uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) |
                 uint32_t(v[3]);
    out += static_cast<char>(w >> 16);
    if (pad < 2) out += static_cast<char>((w >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(w & 0xFF);
  }
  return true;
}

// Llama 3 / 3.1 / 3.2 special tokens after the 128000 ranks, as Meta's
// Hugging Face tokenizer.json files for Llama-3.1-8B and Llama-3.2-1B list
// them (docs/tokenizers.md): ids 128000..128255.
std::vector<std::string> llama3Specials() {
  std::vector<std::string> s = {
      "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
      "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
      "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
      "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
  for (int i = 3; s.size() < 256; ++i)
    s.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  return s;
}

// ---- tokenizer.json --------------------------------------------------------

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68
// to U+0100.. in byte order. Returns the inverse: code point -> byte.
std::map<uint32_t, uint8_t> unicodeToByte() {
  std::map<uint32_t, uint8_t> m;
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    m[printable ? b : next++] = static_cast<uint8_t>(b);
  }
  return m;
}

// Maps a byte-level token string back to raw bytes; false on a character
// outside the 256-character alphabet or malformed UTF-8.
bool unmapByteLevel(const std::string &s, const std::map<uint32_t, uint8_t> &inv,
                    std::string &out) {
  out.clear();
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t n;
    if (c < 0x80) { cp = c; n = 1; }
    else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      n = 2;
    } else {
      return false; // the alphabet is U+0021..U+0143: 1 or 2 bytes
    }
    auto it = inv.find(cp);
    if (it == inv.end()) return false;
    out += static_cast<char>(it->second);
    i += n;
  }
  return !out.empty();
}

Status err(const std::string &path, const std::string &field, const std::string &why) {
  return Status::Error(path + ": " + field + ": " + why);
}

// Recognises the pre-tokenizer: ByteLevel with its own (GPT-2) regex, or a
// Sequence of Split(regex) + ByteLevel(use_regex false).
Status readPreTokenizer(const std::string &path, const json &j, TokenizerSpec &s) {
  auto pt = j.find("pre_tokenizer");
  if (pt == j.end() || !pt->is_object())
    return err(path, "pre_tokenizer", "missing (byte-level BPE needs a ByteLevel pre-tokenizer)");
  auto byteLevel = [&](const json &b, bool &useRegex) -> Status {
    if (b.value("add_prefix_space", false))
      return err(path, "pre_tokenizer.add_prefix_space", "true is not supported");
    useRegex = b.value("use_regex", true);
    return Status::Ok();
  };
  std::string type = pt->value("type", "");
  bool useRegex = true;
  if (type == "ByteLevel") {
    if (Status st = byteLevel(*pt, useRegex); !st.ok()) return st;
    if (!useRegex)
      return err(path, "pre_tokenizer.use_regex", "false without a Split is not supported");
    s.pre_tokenizer = "gpt2";
    return Status::Ok();
  }
  if (type != "Sequence")
    return err(path, "pre_tokenizer.type", "'" + type +
               "' is not supported (ByteLevel, or Sequence of Split + ByteLevel)");
  auto list = pt->find("pretokenizers");
  if (list == pt->end() || !list->is_array() || list->size() != 2 || !(*list)[0].is_object() ||
      !(*list)[1].is_object() || (*list)[0].value("type", "") != "Split" ||
      (*list)[1].value("type", "") != "ByteLevel")
    return err(path, "pre_tokenizer.pretokenizers",
               "only [Split(regex), ByteLevel] is supported");
  const json &split = (*list)[0];
  if (Status st = byteLevel((*list)[1], useRegex); !st.ok()) return st;
  if (useRegex)
    return err(path, "pre_tokenizer.pretokenizers[1].use_regex",
               "true after a Split is not supported");
  std::string pattern;
  auto pat = split.find("pattern");
  if (pat != split.end() && pat->is_object() && pat->contains("Regex") &&
      (*pat)["Regex"].is_string())
    pattern = (*pat)["Regex"].get<std::string>();
  if (split.value("behavior", "") != "Isolated" || split.value("invert", false))
    return err(path, "pre_tokenizer.pretokenizers[0].behavior",
               "only Isolated, not inverted, is supported");
  if (pattern == kLlama3Pattern) s.pre_tokenizer = "llama3";
  else if (pattern == kGpt2Pattern) s.pre_tokenizer = "gpt2";
  else
    return err(path, "pre_tokenizer.pretokenizers[0].pattern",
               "regex is neither the Llama 3 nor the GPT-2 pattern");
  return Status::Ok();
}

// BOS from a TemplateProcessing post-processor (alone or in a Sequence):
// "single" = [SpecialToken X, Sequence A] means add X in front.
void readPostProcessor(const json &j, TokenizerSpec &s) {
  auto pp = j.find("post_processor");
  if (pp == j.end() || !pp->is_object()) return;
  std::vector<const json *> procs = {&*pp};
  if (pp->value("type", "") == "Sequence" && pp->contains("processors") &&
      (*pp)["processors"].is_array())
    for (const json &p : (*pp)["processors"]) procs.push_back(&p);
  for (const json *p : procs) {
    if (!p->is_object() || p->value("type", "") != "TemplateProcessing") continue;
    auto single = p->find("single");
    if (single == p->end() || !single->is_array() || single->empty()) continue;
    const json &first = (*single)[0];
    if (!first.is_object() || !first.contains("SpecialToken")) continue;
    const json &st = first["SpecialToken"];
    if (!st.is_object() || !st.contains("id") || !st["id"].is_string()) continue;
    std::string content = st["id"].get<std::string>();
    for (size_t i = 0; i < s.pieces.size(); ++i)
      if (s.pieces[i] == content && s.types[i] != PieceType::Normal) {
        s.bos_id = static_cast<int32_t>(i);
        s.add_bos = true;
        return;
      }
  }
}

int32_t findSpecial(const TokenizerSpec &s, const char *content) {
  for (size_t i = 0; i < s.pieces.size(); ++i)
    if (s.types[i] != PieceType::Normal && s.pieces[i] == content)
      return static_cast<int32_t>(i);
  return -1;
}

TokenizerSpec byteBpeBase(const std::string &path) {
  TokenizerSpec s;
  s.kind = "byte-bpe";
  s.source = path;
  s.bos_id = s.eos_id = s.unk_id = s.pad_id = -1;
  s.add_bos = s.add_eos = false;
  s.add_dummy_prefix = s.remove_extra_whitespaces = s.escape_whitespaces = false;
  s.byte_fallback = false;
  s.unk_surface.clear();
  return s;
}

} // namespace

bool looksLikeTiktoken(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line)) return false;
  // "<printable ASCII> <digits>": a SentencePiece protobuf starts with the
  // binary tag 0x0A instead. The token itself is checked when loading.
  if (!line.empty() && line.back() == '\r') line.pop_back();
  size_t sp = line.find(' ');
  if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size()) return false;
  for (size_t i = 0; i < sp; ++i)
    if (line[i] <= ' ' || line[i] > '~') return false;
  for (size_t i = sp + 1; i < line.size(); ++i)
    if (line[i] < '0' || line[i] > '9') return false;
  return true;
}

Status validateByteBpe(const TokenizerSpec &s) {
  const std::string &p = s.source;
  size_t n = s.pieces.size();
  if (n < 256 || n >= kMaxTokens)
    return err(p, "vocab", "bad token count " + std::to_string(n));
  if (s.types.size() != n || s.ranks.size() != n || !s.scores.empty())
    return err(p, "vocab", "types/ranks do not match the tokens");
  if (s.pre_tokenizer != "llama3" && s.pre_tokenizer != "gpt2")
    return err(p, "pre_tokenizer", "'" + s.pre_tokenizer + "' (expected llama3 or gpt2)");
  const std::pair<const char *, int32_t> ids[] = {
      {"bos_id", s.bos_id}, {"eos_id", s.eos_id}, {"pad_id", s.pad_id}};
  for (const auto &[name, id] : ids)
    if (id < -1 || id >= static_cast<int64_t>(n))
      return err(p, name, std::to_string(id) + " outside the vocabulary of " +
                              std::to_string(n));
  bool byte[256] = {};
  for (size_t i = 0; i < n; ++i) {
    if (s.types[i] != PieceType::Normal && s.types[i] != PieceType::Control &&
        s.types[i] != PieceType::UserDefined)
      return err(p, "vocab[" + std::to_string(i) + "]", "bad token type");
    if (s.pieces[i].empty())
      return err(p, "vocab[" + std::to_string(i) + "]", "empty token");
    if (s.types[i] == PieceType::Normal && s.pieces[i].size() == 1)
      byte[static_cast<unsigned char>(s.pieces[i][0])] = true;
  }
  // Bytes that valid UTF-8 never holds (0xC0, 0xC1, 0xF5..0xFF) may lack a
  // token (GPT-NeoX's vocabulary); every other byte needs one.
  for (int b = 0; b < 256; ++b)
    if (!byte[b] && !(b == 0xC0 || b == 0xC1 || b >= 0xF5)) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      return err(p, "vocab", std::string("no token for the byte ") + hex);
    }
  return Status::Ok();
}

Status loadTiktokenModel(const std::string &path, TokenizerSpec &out) {
  std::string text;
  if (!readWholeFile(path, text)) return Status::Error(path + ": cannot read the file");
  TokenizerSpec s = byteBpeBase(path);
  std::unordered_map<std::string, size_t> seen;
  size_t lineNo = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::string where = "line " + std::to_string(lineNo);
    size_t sp = line.find(' ');
    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
      return err(path, where, "expected \"<base64 token> <rank>\"");
    std::string rankStr = line.substr(sp + 1), bytes;
    if (rankStr.empty() || rankStr.size() > 9 ||
        rankStr.find_first_not_of("0123456789") != std::string::npos)
      return err(path, where, "rank '" + rankStr.substr(0, 20) + "' is not a number below 10^9");
    uint64_t rank = std::stoull(rankStr);
    if (!decodeBase64(line.substr(0, sp), bytes))
      return err(path, where, "token is not valid base64");
    if (rank >= kMaxTokens)
      return err(path, where, "rank " + rankStr + " is too large");
    if (rank >= s.pieces.size()) {
      s.pieces.resize(rank + 1);
      s.ranks.resize(rank + 1, kNoRank);
    }
    if (s.ranks[rank] != kNoRank)
      return err(path, where, "duplicate rank " + rankStr);
    auto [it, fresh] = seen.emplace(bytes, rank);
    if (!fresh)
      return err(path, where, "duplicate token (also rank " + std::to_string(it->second) + ")");
    s.pieces[rank] = bytes;
    s.ranks[rank] = static_cast<uint32_t>(rank);
  }
  for (size_t i = 0; i < s.pieces.size(); ++i)
    if (s.ranks[i] == kNoRank)
      return err(path, "rank " + std::to_string(i), "missing (ranks must be 0..N-1)");
  if (s.pieces.size() != 128000)
    return err(path, "ranks", std::to_string(s.pieces.size()) +
               " ranks: only Llama 3's tiktoken vocabulary (128000) is known "
               "(its special tokens and pre-tokenizer)");
  s.types.assign(s.pieces.size(), PieceType::Normal);
  for (const std::string &sp : llama3Specials()) {
    s.pieces.push_back(sp);
    s.types.push_back(PieceType::Control);
    s.ranks.push_back(kNoRank);
  }
  s.pre_tokenizer = "llama3";
  s.ignore_merges = true; // tiktoken emits a pre-token that is a token whole
  s.bos_id = 128000;
  s.eos_id = 128001;
  s.add_bos = true;
  if (Status st = validateByteBpe(s); !st.ok()) return st;
  out = std::move(s);
  return Status::Ok();
}

Status loadTokenizerJson(const std::string &path, TokenizerSpec &out) {
  std::string text;
  if (!readWholeFile(path, text)) return Status::Error(path + ": cannot read the file");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Error(path + ": not a JSON object");
  auto model = j.find("model");
  if (model == j.end() || !model->is_object()) return err(path, "model", "missing");
  std::string type = model->value("type", "");
  if (type != "BPE")
    return err(path, "model.type", "'" + type + "' is not supported (only byte-level BPE)");
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    return err(path, "normalizer", "not supported (byte-level BPE without a normalizer only)");
  if (model->value("byte_fallback", false))
    return err(path, "model.byte_fallback", "true is not supported");
  for (const char *k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model->find(k);
    if (it != model->end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      return err(path, std::string("model.") + k, "not supported");
  }
  TokenizerSpec s = byteBpeBase(path);
  if (Status st = readPreTokenizer(path, j, s); !st.ok()) return st;
  s.ignore_merges = model->value("ignore_merges", false);

  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object() || vocab->empty())
    return err(path, "model.vocab", "missing or empty");
  if (vocab->size() >= kMaxTokens) return err(path, "model.vocab", "too many tokens");
  const auto inv = unicodeToByte();
  std::vector<bool> have;
  std::unordered_map<std::string, uint32_t> idOf; // byte-level text -> id
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_unsigned() || it.value().get<uint64_t>() >= kMaxTokens)
      return err(path, "model.vocab['" + it.key() + "']", "id is not a number below 2^24");
    uint32_t id = it.value().get<uint32_t>();
    std::string bytes;
    if (!unmapByteLevel(it.key(), inv, bytes))
      return err(path, "model.vocab['" + it.key() + "']", "not a byte-level token");
    if (id >= s.pieces.size()) {
      s.pieces.resize(id + 1);
      have.resize(id + 1, false);
    }
    if (have[id]) return err(path, "model.vocab['" + it.key() + "']", "duplicate id " +
                             std::to_string(id));
    have[id] = true;
    s.pieces[id] = bytes;
    idOf.emplace(it.key(), id);
  }
  s.types.assign(s.pieces.size(), PieceType::Normal);

  auto added = j.find("added_tokens");
  if (added != j.end() && !added->is_null()) {
    if (!added->is_array()) return err(path, "added_tokens", "not an array");
    for (size_t k = 0; k < added->size(); ++k) {
      const json &a = (*added)[k];
      std::string where = "added_tokens[" + std::to_string(k) + "]";
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() ||
          !a.contains("content") || !a["content"].is_string())
        return err(path, where, "needs an id and a content");
      uint64_t id = a["id"].get<uint64_t>();
      std::string content = a["content"].get<std::string>();
      if (id >= kMaxTokens || content.empty())
        return err(path, where, "bad id or empty content");
      if (id >= s.pieces.size()) {
        s.pieces.resize(id + 1);
        have.resize(id + 1, false);
        s.types.resize(id + 1, PieceType::Normal);
      }
      if (have[id] && s.pieces[id] != content)
        return err(path, where, "id " + std::to_string(id) + " is already '" + s.pieces[id] + "'");
      have[id] = true;
      s.pieces[id] = content;
      s.types[id] = a.value("special", false) ? PieceType::Control : PieceType::UserDefined;
    }
  }
  for (size_t i = 0; i < have.size(); ++i)
    if (!have[i]) return err(path, "model.vocab", "no token with id " + std::to_string(i));

  s.ranks.assign(s.pieces.size(), kNoRank);
  auto merges = model->find("merges");
  if (merges == model->end() || !merges->is_array())
    return err(path, "model.merges", "missing");
  for (size_t r = 0; r < merges->size(); ++r) {
    const json &m = (*merges)[r];
    std::string a, b, where = "model.merges[" + std::to_string(r) + "]";
    if (m.is_string()) {
      std::string t = m.get<std::string>();
      size_t sp = t.find(' ');
      if (sp == std::string::npos || t.find(' ', sp + 1) != std::string::npos)
        return err(path, where, "expected \"a b\"");
      a = t.substr(0, sp);
      b = t.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      return err(path, where, "expected \"a b\" or [a, b]");
    }
    auto ia = idOf.find(a), ib = idOf.find(b), ic = idOf.find(a + b);
    if (ia == idOf.end() || ib == idOf.end() || ic == idOf.end())
      return err(path, where, "'" + a + "' + '" + b + "' is not in the vocabulary");
    uint32_t &rank = s.ranks[ic->second];
    if (rank == kNoRank) rank = static_cast<uint32_t>(r);
  }

  readPostProcessor(j, s);
  s.eos_id = -1;
  for (const char *e : {"<|end_of_text|>", "<|endoftext|>", "</s>"})
    if ((s.eos_id = findSpecial(s, e)) >= 0) break;
  if (Status st = validateByteBpe(s); !st.ok()) return st;
  out = std::move(s);
  return Status::Ok();
}

} // namespace mote
