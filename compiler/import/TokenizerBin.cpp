// llama2.c tokenizer.bin -> TokenizerSpec, bounds-checked against hostile files.
#include "compiler/import/Tokenizers.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mote {
namespace {

// Longest piece we accept: real vocabularies stay far below it, and it
// keeps a hostile max_token_length from meaning anything.
constexpr int32_t kMaxPieceBytes = 1 << 16;

const char kSpaceSymbol[] = "\xe2\x96\x81"; // "▁"

// llama2.c's export replaced "▁" by ' '; pieces never hold a real ' '.
std::string restoreSpaces(const std::string &s) {
  std::string r;
  for (char c : s) {
    if (c == ' ') r += kSpaceSymbol;
    else r += c;
  }
  return r;
}

bool isBytePiece(const std::string &s) {
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(s[3])) &&
         std::isxdigit(static_cast<unsigned char>(s[4]));
}

struct Cursor {
  const std::string &bytes;
  size_t off = 0;
  bool read(void *dst, size_t n) {
    if (off > bytes.size() || n > bytes.size() - off) return false;
    std::memcpy(dst, bytes.data() + off, n);
    off += n;
    return true;
  }
};

// Types as SentencePiece had them: llama2.c kept only the text.
void inferTypes(TokenizerSpec &s) {
  int bytePieces = 0;
  for (size_t i = 0; i < s.pieces.size(); ++i) {
    std::string &p = s.pieces[i];
    PieceType t = PieceType::Normal;
    if (i == 0 && p == "<unk>") {
      t = PieceType::Unknown;
    } else if (p == "\n<s>\n" || p == "<s>") {
      p = "<s>";
      t = PieceType::Control;
      s.bos_id = static_cast<int32_t>(i);
    } else if (p == "\n</s>\n" || p == "</s>") {
      p = "</s>";
      t = PieceType::Control;
      s.eos_id = static_cast<int32_t>(i);
    } else if (isBytePiece(p)) {
      t = PieceType::Byte;
      ++bytePieces;
    } else {
      p = restoreSpaces(p);
    }
    s.types[i] = t;
  }
  s.byte_fallback = bytePieces == 256;
  // tokenizer.bin lost the normalizer flags. A vocabulary trained with
  // remove_extra_whitespaces never saw two spaces in a row, so it has no
  // piece holding "▁▁"; one trained without it (Llama 2) learns such pieces.
  bool doubleSpace = false;
  for (size_t i = 0; i < s.pieces.size() && !doubleSpace; ++i)
    doubleSpace = s.types[i] == PieceType::Normal &&
                  s.pieces[i].find("\xe2\x96\x81\xe2\x96\x81") != std::string::npos;
  s.remove_extra_whitespaces = !doubleSpace;
}

} // namespace

Status loadTokenizerBin(const std::string &path, uint32_t vocabSize,
                        TokenizerSpec &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot read the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  if (vocabSize == 0 || vocabSize >= (1u << 30))
    return Status::Error(path + ": vocab_size: bad value " + std::to_string(vocabSize));
  Cursor c{bytes};
  int32_t maxLen = 0;
  if (!c.read(&maxLen, 4))
    return Status::Error(path + ": max_token_length: file truncated");
  if (maxLen <= 0 || maxLen > kMaxPieceBytes)
    return Status::Error(path + ": max_token_length: bad value " + std::to_string(maxLen));
  TokenizerSpec s;
  s.kind = "sentencepiece-bpe";
  s.source = path;
  s.bos_id = s.eos_id = -1;
  s.pad_id = -1;
  s.unk_id = 0;
  s.add_dummy_prefix = true; // llama2.c tokenizers: identity normalizer
  s.escape_whitespaces = true;
  s.pieces.resize(vocabSize);
  s.scores.resize(vocabSize);
  s.types.resize(vocabSize);
  for (uint32_t i = 0; i < vocabSize; ++i) {
    std::string where = path + ": token " + std::to_string(i) + ": ";
    int32_t len = 0;
    if (!c.read(&s.scores[i], 4) || !c.read(&len, 4))
      return Status::Error(where + "score/len: file truncated");
    if (len < 0 || len > maxLen)
      return Status::Error(where + "len: " + std::to_string(len) +
                           " outside [0, max_token_length " +
                           std::to_string(maxLen) + "]");
    s.pieces[i].resize(static_cast<size_t>(len));
    if (!c.read(s.pieces[i].data(), static_cast<size_t>(len)))
      return Status::Error(where + "bytes: file truncated (" + std::to_string(len) +
                           " bytes wanted)");
  }
  if (c.off != bytes.size())
    return Status::Error(path + ": " + std::to_string(bytes.size() - c.off) +
                         " trailing bytes after " + std::to_string(vocabSize) +
                         " tokens (vocab_size mismatch?)");
  inferTypes(s);
  s.add_bos = s.bos_id >= 0;
  if (Status st = validateTokenizer(s); !st.ok()) return st;
  out = std::move(s);
  return Status::Ok();
}

} // namespace mote
