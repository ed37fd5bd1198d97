// importModel: picks the importer for a path (HF directory or llama2.c .bin).
#include "compiler/import/Import.h"

#include <dirent.h>
#include <sys/stat.h>
#include <vector>

namespace mote {
namespace {

bool statIs(const std::string &p, mode_t kind) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && (st.st_mode & S_IFMT) == kind;
}

bool endsWith(const std::string &s, const std::string &suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

} // namespace

Status importModel(const std::string &path, const std::string &tokenizerOverride,
                   ImportedModel &out) {
  if (statIs(path, S_IFREG)) return importLlama2c(path, tokenizerOverride, out);
  if (!statIs(path, S_IFDIR))
    return Status::Error(path + ": no such file or directory");
  if (statIs(path + "/config.json", S_IFREG)) {
    if (!tokenizerOverride.empty())
      return Status::Error(path + ": --tokenizer: only llama2.c checkpoints take a "
                                  "tokenizer override (a Hugging Face dir has its own)");
    return importHuggingFace(path, out);
  }
  // A directory of a llama2.c checkpoint: exactly one .bin that is not a
  // tokenizer (tokenizer.bin, tok*.bin).
  std::vector<std::string> bins;
  if (DIR *d = opendir(path.c_str())) {
    while (dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (!endsWith(n, ".bin") || n == "tokenizer.bin" || n.rfind("tok", 0) == 0) continue;
      if (statIs(path + "/" + n, S_IFREG)) bins.push_back(n);
    }
    closedir(d);
  }
  if (bins.size() != 1)
    return Status::Error(path + ": found " + std::to_string(bins.size()) +
                         " checkpoint .bin files and no config.json; expected a Hugging "
                         "Face directory or exactly one llama2.c checkpoint");
  return importLlama2c(path + "/" + bins[0], tokenizerOverride, out);
}

} // namespace mote
