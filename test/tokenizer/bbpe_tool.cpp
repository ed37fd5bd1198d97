// Byte-level BPE test driver: loads a tokenizer file through the importers
// (tokenizer.model tiktoken / tokenizer.json), builds the runtime tokenizer
// and encodes what bbpe_check.py feeds it.
//   bbpe_tool encode PATH   stdin: u32 len + bytes, repeated; stdout per
//                           record "ids|hex(decode(ids))|hex(token texts)"
//                           (no BOS), or "ERR message"
//   bbpe_tool pretok llama3|gpt2   stdin as above; stdout per record the
//                           byte offsets where the pre-tokens end
//   bbpe_tool load PATH     imports only; prints a summary or the error
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "compiler/import/TokenizerFinder.h"
extern "C" {
#include "tokenizer.h"
#include "tokenizer_bbpe.h"
}

namespace {

std::string hex(const std::string &s) {
  static const char *d = "0123456789abcdef";
  std::string r;
  for (unsigned char c : s) {
    r += d[c >> 4];
    r += d[c & 15];
  }
  return r;
}

mote_tokenizer_t *build(const mote::TokenizerSpec &s) {
  std::vector<const char *> ptrs;
  std::vector<uint32_t> lens;
  std::vector<uint8_t> types;
  for (size_t i = 0; i < s.pieces.size(); ++i) {
    ptrs.push_back(s.pieces[i].data());
    lens.push_back(static_cast<uint32_t>(s.pieces[i].size()));
    types.push_back(static_cast<uint8_t>(s.types[i]));
  }
  mote_bbpe_config_t cfg = {s.bos_id, s.eos_id, s.pad_id, s.add_bos, s.add_eos,
                            s.ignore_merges,
                            static_cast<uint8_t>(s.pre_tokenizer == "llama3" ? MOTE_PRE_LLAMA3
                                                                              : MOTE_PRE_GPT2)};
  mote_tokenizer_t *t = nullptr;
  if (mote_tokenizer_create_byte_bpe(&cfg, static_cast<uint32_t>(ptrs.size()), ptrs.data(),
                                     lens.data(), s.ranks.data(), types.data(), nullptr,
                                     &t) != MOTE_OK) {
    std::fprintf(stderr, "create failed: %s\n", mote_last_error());
    return nullptr;
  }
  return t;
}

bool readRecord(std::string &text) {
  uint32_t n = 0;
  if (std::fread(&n, 4, 1, stdin) != 1) return false;
  text.assign(n, '\0');
  return n == 0 || std::fread(text.data(), 1, n, stdin) == n;
}

int encodeAll(const mote_tokenizer_t *t) {
  std::string text;
  while (readRecord(text)) {
    size_t count = 0;
    mote_status_t st = mote_tokenizer_encode(t, text.data(), text.size(), 0, nullptr, 0, &count);
    std::vector<int32_t> ids(count);
    if (st == MOTE_ERR_BUFFER_TOO_SMALL)
      st = mote_tokenizer_encode(t, text.data(), text.size(), 0, ids.data(), ids.size(), &count);
    if (st != MOTE_OK) {
      std::printf("ERR %s\n", mote_last_error());
      continue;
    }
    std::string line, stream, dec;
    for (int32_t id : ids) {
      line += std::to_string(id) + " ";
      const char *p = nullptr;
      size_t len = 0;
      if (mote_tokenizer_token_text(t, -1, id, &p, &len) != MOTE_OK) return 3;
      stream.append(p, len);
    }
    size_t len = 0;
    st = mote_tokenizer_decode(t, ids.data(), ids.size(), nullptr, 0, &len);
    dec.assign(len + 1, '\0');
    if (mote_tokenizer_decode(t, ids.data(), ids.size(), dec.data(), dec.size(), &len) != MOTE_OK)
      return 4;
    dec.resize(len);
    std::printf("%s|%s|%s\n", line.c_str(), hex(dec).c_str(), hex(stream).c_str());
  }
  return 0;
}

int pretokAll(uint32_t pre) {
  std::string text;
  while (readRecord(text)) {
    size_t n = 0;
    std::vector<uint32_t> ends(text.size() + 1);
    if (mote_bbpe_pretokenize(pre, nullptr, text.data(), text.size(), ends.data(), ends.size(),
                              &n) != MOTE_OK)
      return 3;
    std::string line;
    for (size_t i = 0; i < n; ++i) line += std::to_string(ends[i]) + " ";
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s encode|load PATH | pretok llama3|gpt2\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1], path = argv[2];
  if (mode == "pretok") return pretokAll(path == "llama3" ? MOTE_PRE_LLAMA3 : MOTE_PRE_GPT2);
  mote::TokenizerSpec spec;
  mote::Status st = mote::loadTokenizerFile(path, 1u << 24, spec);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.message.c_str());
    return 1;
  }
  if (mode == "load") {
    std::printf("kind %s tokens %zu bos %d eos %d add_bos %d pre %s ignore_merges %d\n",
                spec.kind.c_str(), spec.pieces.size(), spec.bos_id, spec.eos_id,
                int(spec.add_bos), spec.pre_tokenizer.c_str(), int(spec.ignore_merges));
    return 0;
  }
  if (spec.kind != "byte-bpe") {
    std::fprintf(stderr, "%s: not a byte-level BPE tokenizer\n", path.c_str());
    return 1;
  }
  mote_tokenizer_t *t = build(spec);
  if (!t) return 1;
  int rc = encodeAll(t);
  mote_tokenizer_destroy(t);
  std::fflush(stdout);
  return rc;
}
