// Loader rejections (hostile tokenizer.bin / tokenizer.model, bad JSON) and
// runtime tokenizer edge cases: buffer sizes, id bounds, allocator balance.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "compiler/import/Tokenizers.h"
#include "sentencepiece_model.pb.h"
extern "C" {
#include "tokenizer.h"
}

namespace {

int failures = 0;
#define EXPECT(cond)                                                        \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                           \
    }                                                                       \
  } while (0)

std::string tmpDir() {
  const char *t = std::getenv("TMPDIR");
  return std::string(t ? t : "/tmp") + "/mote_tok_unit_" + std::to_string(getpid());
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string i32(int32_t v) { return std::string(reinterpret_cast<char *>(&v), 4); }
std::string f32(float v) { return std::string(reinterpret_cast<char *>(&v), 4); }

// A rejected file must give an error naming the file (and not crash).
void expectBinError(const std::string &dir, const std::string &name,
                    const std::string &bytes, uint32_t vocab, const char *field) {
  std::string path = dir + "/" + name;
  writeFile(path, bytes);
  mote::TokenizerSpec s;
  mote::Status st = mote::loadTokenizerBin(path, vocab, s);
  EXPECT(!st.ok());
  EXPECT(st.message.find(path) != std::string::npos);
  EXPECT(st.message.find(field) != std::string::npos);
  std::printf("  %s -> %s\n", name.c_str(), st.message.c_str());
}

void hostileBins(const std::string &dir) {
  std::string ok = i32(5) + f32(0) + i32(5) + "<unk>" + f32(0) + i32(1) + "a";
  mote::TokenizerSpec s;
  writeFile(dir + "/good.bin", ok);
  EXPECT(mote::loadTokenizerBin(dir + "/good.bin", 2, s).ok());
  expectBinError(dir, "empty.bin", "", 2, "max_token_length");
  expectBinError(dir, "maxlen.bin", i32(0x7fffffff), 2, "max_token_length");
  expectBinError(dir, "huge.bin", i32(5) + f32(0) + i32(0x7fffffff), 2, "len");
  expectBinError(dir, "neg.bin", i32(5) + f32(0) + i32(-4) + "abcd", 2, "len");
  expectBinError(dir, "trunc.bin", ok.substr(0, ok.size() - 1), 2, "truncated");
  expectBinError(dir, "short.bin", ok, 3, "truncated");
  expectBinError(dir, "trailing.bin", ok + "xx", 2, "trailing");
  expectBinError(dir, "vocab0.bin", ok, 0, "vocab_size");
  expectBinError(dir, "nounk.bin", i32(5) + f32(0) + i32(1) + "b" + f32(0) + i32(1) + "a",
                 2, "unk_id");
  mote::Status st = mote::loadTokenizerBin(dir + "/missing.bin", 2, s);
  EXPECT(!st.ok() && st.message.find("missing.bin") != std::string::npos);
}

mote::sp::ModelProto tinyModel() {
  mote::sp::ModelProto m;
  const char *pieces[] = {"<unk>", "<s>", "</s>", "a", "\xe2\x96\x81"};
  for (int i = 0; i < 5; ++i) {
    auto *p = m.add_pieces();
    p->set_piece(pieces[i]);
    p->set_score(-i);
    p->set_type(i == 0 ? mote::sp::ModelProto::SentencePiece::UNKNOWN
                : i < 3 ? mote::sp::ModelProto::SentencePiece::CONTROL
                        : mote::sp::ModelProto::SentencePiece::NORMAL);
  }
  m.mutable_trainer_spec()->set_model_type(mote::sp::TrainerSpec::BPE);
  m.mutable_normalizer_spec()->set_name("identity");
  return m;
}

void expectModelError(const std::string &dir, const std::string &name,
                      const std::string &bytes, const char *field) {
  std::string path = dir + "/" + name;
  writeFile(path, bytes);
  mote::TokenizerSpec s;
  mote::Status st = mote::loadSentencePieceModel(path, s);
  EXPECT(!st.ok());
  EXPECT(st.message.find(path) != std::string::npos);
  EXPECT(st.message.find(field) != std::string::npos);
  std::printf("  %s -> %s\n", name.c_str(), st.message.c_str());
}

void hostileModels(const std::string &dir) {
  mote::TokenizerSpec s;
  writeFile(dir + "/tiny.model", tinyModel().SerializeAsString());
  EXPECT(mote::loadSentencePieceModel(dir + "/tiny.model", s).ok());
  expectModelError(dir, "garbage.model", std::string("\xff\xff\xff\xff\x0f", 5), "protobuf");
  expectModelError(dir, "empty.model", "", "protobuf");
  mote::sp::ModelProto m = tinyModel();
  m.mutable_trainer_spec()->set_model_type(mote::sp::TrainerSpec::UNIGRAM);
  expectModelError(dir, "unigram.model", m.SerializeAsString(), "model_type");
  m = tinyModel();
  m.mutable_normalizer_spec()->set_name("nmt_nfkc");
  m.mutable_normalizer_spec()->set_precompiled_charsmap("xxxx");
  expectModelError(dir, "nfkc.model", m.SerializeAsString(), "precompiled_charsmap");
  m = tinyModel();
  m.mutable_trainer_spec()->set_bos_id(77);
  expectModelError(dir, "bos.model", m.SerializeAsString(), "bos_id");
  m = tinyModel();
  m.mutable_pieces(3)->set_type(mote::sp::ModelProto::SentencePiece::BYTE);
  expectModelError(dir, "byte.model", m.SerializeAsString(), "byte piece");
}

void configs(const std::string &dir) {
  mote::TokenizerSpec s;
  writeFile(dir + "/tiny.model", tinyModel().SerializeAsString());
  EXPECT(mote::loadSentencePieceModel(dir + "/tiny.model", s).ok());
  EXPECT(mote::applyTokenizerConfig(dir + "/none.json", s).ok());
  writeFile(dir + "/bad.json", "{\"add_bos_token\": tru");
  mote::Status st = mote::applyTokenizerConfig(dir + "/bad.json", s);
  EXPECT(!st.ok() && st.message.find("bad.json") != std::string::npos);
  writeFile(dir + "/type.json", "{\"add_eos_token\": 1}");
  EXPECT(!mote::applyTokenizerConfig(dir + "/type.json", s).ok());
  writeFile(dir + "/unknown.json", "{\"eos_token\": \"<eot>\"}");
  EXPECT(!mote::applyTokenizerConfig(dir + "/unknown.json", s).ok());
  writeFile(dir + "/ok.json", "{\"add_bos_token\": false, \"add_eos_token\": true, "
                              "\"bos_token\": \"</s>\", \"eos_token\": {\"content\": \"<s>\"}}");
  EXPECT(mote::applyTokenizerConfig(dir + "/ok.json", s).ok());
  EXPECT(!s.add_bos && s.add_eos && s.bos_id == 2 && s.eos_id == 1);
}

size_t liveAllocs = 0, totalAllocs = 0;
void *countAlloc(void *, size_t size, size_t) {
  ++liveAllocs;
  ++totalAllocs;
  return std::malloc(size);
}
void countFree(void *, void *p) {
  --liveAllocs;
  std::free(p);
}

mote_tokenizer_t *build(const mote::TokenizerSpec &s, const mote_allocator_t *a) {
  std::vector<const char *> ptrs;
  std::vector<uint32_t> lens;
  std::vector<uint8_t> types;
  for (size_t i = 0; i < s.pieces.size(); ++i) {
    ptrs.push_back(s.pieces[i].data());
    lens.push_back(static_cast<uint32_t>(s.pieces[i].size()));
    types.push_back(static_cast<uint8_t>(s.types[i]));
  }
  mote_tok_config_t cfg = {s.bos_id, s.eos_id, s.unk_id, s.pad_id, s.add_bos, s.add_eos,
                           s.add_dummy_prefix, s.remove_extra_whitespaces,
                           s.escape_whitespaces, s.byte_fallback};
  mote_tokenizer_t *t = nullptr;
  if (mote_tokenizer_create(&cfg, static_cast<uint32_t>(ptrs.size()), ptrs.data(),
                            lens.data(), s.scores.data(), types.data(), a, &t) != MOTE_OK)
    return nullptr;
  return t;
}

void runtimeEdges(const std::string &models) {
  mote::TokenizerSpec s;
  std::string path = models + "/llama2-tokenizer/tokenizer.model";
  mote::Status st = mote::loadSentencePieceModel(path, s);
  if (!st.ok()) {
    std::fprintf(stderr, "cannot load %s: %s\n", path.c_str(), st.message.c_str());
    ++failures;
    return;
  }
  mote_allocator_t a = {countAlloc, countFree, nullptr};
  mote_tokenizer_t *t = build(s, &a);
  EXPECT(t != nullptr);
  if (!t) return;
  const char *text = "Hello world";
  int32_t ids[8];
  size_t n = 0;
  EXPECT(mote_tokenizer_encode(t, text, strlen(text), 1, ids, 2, &n) ==
         MOTE_ERR_BUFFER_TOO_SMALL && n == 3);
  EXPECT(mote_tokenizer_encode(t, text, strlen(text), -1, ids, 3, &n) == MOTE_OK && n == 3);
  EXPECT(ids[0] == 1);
  EXPECT(mote_tokenizer_encode(t, "", 0, 0, nullptr, 0, &n) == MOTE_OK && n == 0);
  char out[16];
  size_t len = 0;
  EXPECT(mote_tokenizer_decode(t, ids, 3, out, 5, &len) == MOTE_ERR_BUFFER_TOO_SMALL &&
         len == 11);
  EXPECT(mote_tokenizer_decode(t, ids, 3, out, sizeof(out), &len) == MOTE_OK &&
         std::string(out) == "Hello world");
  int32_t bad[2] = {5, 32000};
  EXPECT(mote_tokenizer_decode(t, bad, 2, out, sizeof(out), &len) == MOTE_ERR_OUT_OF_RANGE);
  bad[1] = -1;
  EXPECT(mote_tokenizer_decode(t, bad, 2, out, sizeof(out), &len) == MOTE_ERR_OUT_OF_RANGE);
  const char *p = nullptr;
  EXPECT(mote_tokenizer_token_text(t, 1, ids[1], &p, &len) == MOTE_OK &&
         std::string(p, len) == "Hello");
  EXPECT(mote_tokenizer_token_text(t, ids[1], ids[2], &p, &len) == MOTE_OK &&
         std::string(p, len) == " world");
  EXPECT(mote_tokenizer_token_text(t, 1, 3 + 0x41, &p, &len) == MOTE_OK &&
         std::string(p, len) == "A");
  EXPECT(mote_tokenizer_token_text(t, 1, 32000, &p, &len) == MOTE_ERR_OUT_OF_RANGE);
  // A long prompt stays fast: the merge loop is O(n log n).
  std::string big;
  std::ifstream in(std::string(std::getenv("MOTE_SHARED") ? std::getenv("MOTE_SHARED") : "") +
                   "/data/tinystories-valid.txt");
  std::getline(in, big, '\0');
  if (big.size() > 400000) big.resize(400000);
  std::vector<int32_t> many(big.size() + 2);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT(mote_tokenizer_encode(t, big.data(), big.size(), 1, many.data(), many.size(), &n) ==
         MOTE_OK);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  encoded %zu bytes into %zu ids in %.1f ms\n", big.size(), n, ms);
  EXPECT(big.size() < 100000 || (n > 50000 && ms < 5000));
  mote_tokenizer_destroy(t);
  EXPECT(liveAllocs == 0 && totalAllocs > 0);
  // Create rejects inconsistent input.
  mote::TokenizerSpec broken = s;
  broken.unk_id = 40000;
  EXPECT(build(broken, nullptr) == nullptr);
  broken = s;
  broken.pieces[3] = "<0xZZ>";
  EXPECT(build(broken, nullptr) == nullptr);
}

} // namespace

int main() {
  std::string dir = tmpDir();
  std::string cmd = "mkdir -p '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) return 1;
  const char *models = std::getenv("MOTE_MODELS");
  hostileBins(dir);
  hostileModels(dir);
  configs(dir);
  runtimeEdges(models ? models : "../shared/models");
  cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) ++failures;
  std::printf("%s (%d failures)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
