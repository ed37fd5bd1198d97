// Test driver: loads a tokenizer through the importers, builds the runtime
// tokenizer from it and encodes/decodes what tokenizer_check.py feeds it.
//   tokenizer_tool encode model|bin PATH [VOCAB]  stdin: u32 len + bytes, repeated
//     stdout per record: "ids|hex(decode(ids))|hex(stream text)" (ids with BOS
//     are not printed; the stream starts after BOS as mote-run would)
//   tokenizer_tool decode model|bin PATH [VOCAB]  stdin: lines of ids
//     stdout per line: hex(decode) or "ERR <status>"
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "compiler/import/Tokenizers.h"
extern "C" {
#include "tokenizer.h"
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
  mote_tok_config_t cfg = {s.bos_id, s.eos_id, s.unk_id, s.pad_id,
                           s.add_bos, s.add_eos, s.add_dummy_prefix,
                           s.remove_extra_whitespaces, s.escape_whitespaces,
                           s.byte_fallback};
  mote_tokenizer_t *t = nullptr;
  if (mote_tokenizer_create(&cfg, static_cast<uint32_t>(ptrs.size()), ptrs.data(),
                            lens.data(), s.scores.data(), types.data(), nullptr,
                            &t) != MOTE_OK) {
    std::fprintf(stderr, "create failed: %s\n", mote_last_error());
    return nullptr;
  }
  if (mote_tokenizer_set_unk_surface(t, s.unk_surface.data(), s.unk_surface.size()) !=
      MOTE_OK) {
    mote_tokenizer_destroy(t);
    return nullptr;
  }
  return t;
}

std::string decode(const mote_tokenizer_t *t, const std::vector<int32_t> &ids,
                   mote_status_t &st) {
  size_t len = 0;
  st = mote_tokenizer_decode(t, ids.data(), ids.size(), nullptr, 0, &len);
  if (st != MOTE_OK && st != MOTE_ERR_BUFFER_TOO_SMALL) return "";
  std::string out(len + 1, '\0');
  st = mote_tokenizer_decode(t, ids.data(), ids.size(), out.data(), out.size(), &len);
  out.resize(len);
  return out;
}

int encodeAll(const mote_tokenizer_t *t) {
  uint32_t n = 0;
  while (std::fread(&n, 4, 1, stdin) == 1) {
    std::string text(n, '\0');
    if (n && std::fread(text.data(), 1, n, stdin) != n) return 2;
    size_t count = 0;
    mote_status_t st = mote_tokenizer_encode(t, text.data(), text.size(), 1,
                                             nullptr, 0, &count);
    std::vector<int32_t> ids(count);
    if (st == MOTE_ERR_BUFFER_TOO_SMALL)
      st = mote_tokenizer_encode(t, text.data(), text.size(), 1, ids.data(),
                                 ids.size(), &count);
    if (st != MOTE_OK) {
      std::printf("ERR %s\n", mote_last_error());
      continue;
    }
    std::string stream;
    for (size_t i = 1; i < ids.size(); ++i) {
      const char *p = nullptr;
      size_t len = 0;
      if (mote_tokenizer_token_text(t, ids[i - 1], ids[i], &p, &len) != MOTE_OK)
        return 3;
      stream.append(p, len);
    }
    std::vector<int32_t> body(ids.begin() + 1, ids.end()); // without BOS
    std::string line;
    for (int32_t id : body) line += std::to_string(id) + " ";
    mote_status_t dst;
    std::string dec = decode(t, body, dst);
    std::printf("%s|%s|%s\n", line.c_str(), hex(dec).c_str(), hex(stream).c_str());
  }
  return 0;
}

int decodeAll(const mote_tokenizer_t *t) {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos < line.size()) {
      size_t used = 0;
      ids.push_back(std::stoi(line.substr(pos), &used));
      pos += used;
      while (pos < line.size() && line[pos] == ' ') ++pos;
    }
    mote_status_t st;
    std::string dec = decode(t, ids, st);
    if (st != MOTE_OK) std::printf("ERR %d\n", static_cast<int>(st));
    else std::printf("%s\n", hex(dec).c_str());
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s encode|decode model|bin PATH [VOCAB]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1], kind = argv[2], path = argv[3];
  mote::TokenizerSpec spec;
  mote::Status st = kind == "bin"
      ? mote::loadTokenizerBin(path, argc > 4 ? std::atoi(argv[4]) : 0, spec)
      : mote::loadSentencePieceModel(path, spec);
  if (!st.ok()) {
    std::fprintf(stderr, "load failed: %s\n", st.message.c_str());
    return 1;
  }
  mote_tokenizer_t *t = build(spec);
  if (!t) return 1;
  int rc = mode == "encode" ? encodeAll(t) : decodeAll(t);
  mote_tokenizer_destroy(t);
  std::fflush(stdout);
  return rc;
}
