// Picks the tokenizer file for a checkpoint and loads it with engineer D's
// readers (SentencePiece model or llama2.c tokenizer.bin).
#include "compiler/import/TokenizerFinder.h"

#if __has_include("compiler/import/Tokenizers.h")
#include "compiler/import/Tokenizers.h"
#else
namespace mote {
Status loadSentencePieceModel(const std::string &path, TokenizerSpec &out);
Status loadTokenizerBin(const std::string &path, uint32_t vocabSize, TokenizerSpec &out);
Status applyTokenizerConfig(const std::string &jsonPath, TokenizerSpec &out);
} // namespace mote
#endif

#include "compiler/import/ByteBpe.h"

#include <algorithm>
#include <dirent.h>
#include <sys/stat.h>
#include <vector>

namespace mote {
namespace {

bool endsWith(const std::string &s, const std::string &suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

bool isRegularFile(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dirOf(const std::string &p) {
  size_t slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

std::string baseOf(const std::string &p) {
  size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::vector<std::string> listFiles(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && isRegularFile(dir + "/" + n)) names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The one file in `names` ending in `ext` other than `except`; "" if none or many.
std::string single(const std::vector<std::string> &names, const std::string &ext,
                   const std::string &except) {
  std::string found;
  int count = 0;
  for (const auto &n : names)
    if (endsWith(n, ext) && n != except) { found = n; ++count; }
  return count == 1 ? found : std::string();
}

} // namespace

Status loadTokenizerFile(const std::string &path, uint32_t vocabSize, TokenizerSpec &out) {
  out = TokenizerSpec();
  // tokenizer.json: Hugging Face byte-level BPE; a .model that is not a
  // SentencePiece protobuf but "base64 rank" lines: Meta's tiktoken file.
  Status st = endsWith(path, ".json")    ? loadTokenizerJson(path, out)
              : !endsWith(path, ".model") ? loadTokenizerBin(path, vocabSize, out)
              : looksLikeTiktoken(path)   ? loadTiktokenModel(path, out)
                                          : loadSentencePieceModel(path, out);
  if (!st.ok()) return st;
  // Fewer pieces than embedding rows is common (vocabularies padded to a
  // multiple of 64, random speed models): those ids just have no text. More
  // pieces than rows would let the tokenizer emit ids the model cannot embed.
  if (out.pieces.size() > vocabSize)
    return Status::Error(path + ": pieces: tokenizer has " + std::to_string(out.pieces.size()) +
                         " pieces but the model's vocab_size is " + std::to_string(vocabSize));
  if (out.source.empty()) out.source = path;
  return Status::Ok();
}

Status loadTokenizerFor(const std::string &checkpointPath, const std::string &explicitPath,
                        uint32_t vocabSize, TokenizerSpec &out) {
  if (!explicitPath.empty()) return loadTokenizerFile(explicitPath, vocabSize, out);
  std::string dir = dirOf(checkpointPath), self = baseOf(checkpointPath);
  std::vector<std::string> names = listFiles(dir);
  auto has = [&](const std::string &n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  std::string pick;
  if (has("tokenizer.model")) pick = "tokenizer.model";
  else if (!(pick = single(names, ".model", "")).empty()) {}
  else if (has("tokenizer.bin") && self != "tokenizer.bin") pick = "tokenizer.bin";
  else pick = single(names, ".bin", self);
  if (pick.empty())
    return Status::Error(checkpointPath + ": tokenizer: none found beside the checkpoint "
                         "(tokenizer.model, one *.model, tokenizer.bin or one other *.bin); "
                         "pass one with --tokenizer");
  return loadTokenizerFile(dir + "/" + pick, vocabSize, out);
}

} // namespace mote
