// Importer tests on the real models in $MOTE_MODELS: shapes and spec fields,
// and that llama2.c v0, v1 and HF (F32, BF16) give the same numbers.
#include "compiler/import/Import.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace mote;

namespace {

std::string modelsDir() {
  const char *m = std::getenv("MOTE_MODELS");
  return m && *m ? m : "../shared/models";
}

bool ciMode() {
  const char *ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// Skips (or fails under CI=true) when a model folder is absent.
#define REQUIRE_MODEL(rel)                                                        \
  do {                                                                            \
    struct stat st_;                                                              \
    if (stat((modelsDir() + "/" + (rel)).c_str(), &st_) != 0) {                   \
      if (ciMode()) FAIL() << "missing model " << (rel);                          \
      GTEST_SKIP() << "missing model " << (rel);                                  \
    }                                                                             \
  } while (0)

ImportedModel load(const std::string &rel, const std::string &tok = "") {
  ImportedModel m;
  Status st = importModel(modelsDir() + "/" + rel, tok, m);
  EXPECT_TRUE(st.ok()) << st.message;
  return m;
}

float bf16ToF32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round-to-nearest-even f32 -> bf16 (no NaNs in these models).
uint16_t f32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}

std::vector<float> values(const TensorRef &t) {
  std::vector<float> v(t.numel());
  for (size_t i = 0; i < v.size(); ++i) {
    if (t.dtype == DType::F32) {
      std::memcpy(&v[i], t.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      EXPECT_EQ(t.dtype, DType::BF16);
      v[i] = bf16ToF32(h);
    }
  }
  return v;
}

// HF's conversion stores each head's rows as [even pairs..., odd pairs...]
// (rotate-half); llama2.c keeps pairs interleaved. Undo it for comparison.
std::vector<float> unpermute(const TensorRef &t, uint32_t heads) {
  std::vector<float> hf = values(t), out(hf.size());
  uint64_t cols = t.shape[1], hd = t.shape[0] / heads;
  for (uint64_t h = 0; h < heads; ++h)
    for (uint64_t j = 0; j < hd / 2; ++j)
      for (uint64_t k = 0; k < 2; ++k)
        std::memcpy(&out[(h * hd + 2 * j + k) * cols], &hf[(h * hd + k * hd / 2 + j) * cols],
                    cols * sizeof(float));
  return out;
}

void expectSpec(const ModelSpec &s, uint32_t D, uint32_t F, uint32_t L, uint32_t H,
                uint32_t KV, uint32_t V, uint32_t seq) {
  EXPECT_EQ(s.arch, "llama");
  EXPECT_EQ(s.dim, D);
  EXPECT_EQ(s.hidden_dim, F);
  EXPECT_EQ(s.n_layers, L);
  EXPECT_EQ(s.n_heads, H);
  EXPECT_EQ(s.n_kv_heads, KV);
  EXPECT_EQ(s.head_dim, D / H);
  EXPECT_EQ(s.vocab_size, V);
  EXPECT_EQ(s.max_seq_len, seq);
  EXPECT_TRUE(s.tied_embeddings);
  EXPECT_FLOAT_EQ(s.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(s.rope_theta, 10000.0f);
  EXPECT_EQ(s.num_kv_shared_layers, 0u);
  EXPECT_FALSE(s.qkv_bias);
}

// Every tensor of `a` equals `b`'s (same shapes); wq/wk of `hf` un-permuted.
void expectSameWeights(const ImportedModel &ref, const ImportedModel &hf, bool bf16) {
  ASSERT_EQ(ref.weights.all().size(), hf.weights.all().size());
  for (const auto &kv : ref.weights.all()) {
    const TensorRef *t = hf.weights.find(kv.first);
    ASSERT_NE(t, nullptr) << kv.first;
    ASSERT_EQ(t->shape, kv.second.shape) << kv.first;
    bool isQ = kv.first.size() > 3 && kv.first.compare(kv.first.size() - 3, 3, ".wq") == 0;
    bool isK = kv.first.size() > 3 && kv.first.compare(kv.first.size() - 3, 3, ".wk") == 0;
    bool permuted = hf.spec.rope_style == RopeStyle::Half &&
                    ref.spec.rope_style == RopeStyle::Interleaved;
    std::vector<float> got = (permuted && (isQ || isK))
                                 ? unpermute(*t, isQ ? hf.spec.n_heads : hf.spec.n_kv_heads)
                                 : values(*t);
    std::vector<float> want = values(kv.second);
    size_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      float w = bf16 ? bf16ToF32(f32ToBf16(want[i])) : want[i];
      if (std::memcmp(&w, &got[i], 4) != 0) ++bad;
    }
    EXPECT_EQ(bad, 0u) << kv.first << ": " << bad << " of " << want.size() << " differ";
  }
}

TEST(ImportLlama2c, Stories260KV0) {
  REQUIRE_MODEL("stories260K");
  ImportedModel m = load("stories260K");
  expectSpec(m.spec, 64, 172, 5, 8, 4, 512, 512);
  EXPECT_EQ(m.spec.source_format, "llama2c-v0");
  EXPECT_EQ(m.spec.rope_style, RopeStyle::Interleaved);
  EXPECT_EQ(m.weights.all().size(), 2u + 9u * 5u);
  EXPECT_EQ(m.tokenizer.pieces.size(), 512u);
  // tok512.model beside the checkpoint wins over tok512.bin.
  EXPECT_NE(m.tokenizer.source.find("tok512.model"), std::string::npos) << m.tokenizer.source;
  const TensorRef *wk = m.weights.find("layers.4.wk");
  ASSERT_NE(wk, nullptr);
  EXPECT_EQ(wk->shape, (std::vector<uint64_t>{32, 64}));
  // The same file given directly, with an explicit tokenizer.bin.
  ImportedModel b = load("stories260K/stories260K.bin", modelsDir() + "/stories260K/tok512.bin");
  EXPECT_NE(b.tokenizer.source.find("tok512.bin"), std::string::npos);
  EXPECT_EQ(b.tokenizer.pieces, m.tokenizer.pieces);
}

TEST(ImportLlama2c, Stories260KV1MatchesV0) {
  REQUIRE_MODEL("stories260K");
  REQUIRE_MODEL("stories260K-v1");
  ImportedModel v0 = load("stories260K"), v1 = load("stories260K-v1");
  expectSpec(v1.spec, 64, 172, 5, 8, 4, 512, 512);
  EXPECT_EQ(v1.spec.source_format, "llama2c-v1");
  expectSameWeights(v0, v1, false);
}

TEST(ImportHF, Stories260KMatchesV0) {
  REQUIRE_MODEL("stories260K");
  REQUIRE_MODEL("stories260K-hf");
  ImportedModel v0 = load("stories260K"), hf = load("stories260K-hf");
  expectSpec(hf.spec, 64, 172, 5, 8, 4, 512, 512);
  EXPECT_EQ(hf.spec.source_format, "hf-safetensors");
  EXPECT_EQ(hf.spec.rope_style, RopeStyle::Half);
  EXPECT_EQ(hf.tokenizer.pieces, v0.tokenizer.pieces);
  expectSameWeights(v0, hf, false);
}

TEST(ImportHF, Stories260KBf16Sharded) {
  REQUIRE_MODEL("stories260K");
  REQUIRE_MODEL("stories260K-hf-bf16");
  ImportedModel v0 = load("stories260K"), hf = load("stories260K-hf-bf16");
  expectSpec(hf.spec, 64, 172, 5, 8, 4, 512, 512);
  EXPECT_EQ(hf.weights.find("tok_embeddings")->dtype, DType::BF16);
  expectSameWeights(v0, hf, true);
}

TEST(ImportLlama2c, AiDreams) {
  REQUIRE_MODEL("aidreams260K");
  ImportedModel m = load("aidreams260K");
  expectSpec(m.spec, 64, 172, 4, 4, 4, 512, 128);
  EXPECT_NE(m.tokenizer.source.find("tok512.bin"), std::string::npos);
  EXPECT_EQ(m.tokenizer.pieces.size(), 512u);
}

TEST(ImportHF, TinyStories3MMatchesLlama2c) {
  REQUIRE_MODEL("tinystories-3M");
  REQUIRE_MODEL("tinystories-3M-llama2c");
  ImportedModel hf = load("tinystories-3M"), l2c = load("tinystories-3M-llama2c");
  expectSpec(hf.spec, 192, 512, 8, 6, 3, 512, 256);
  expectSpec(l2c.spec, 192, 512, 8, 6, 3, 512, 256);
  expectSameWeights(l2c, hf, false);
}

TEST(ImportHF, KvSharedImports) {
  REQUIRE_MODEL("tinystories-3M-kvshared");
  ImportedModel m = load("tinystories-3M-kvshared");
  ModelSpec s = m.spec;
  EXPECT_EQ(s.num_kv_shared_layers, 3u);
  s.num_kv_shared_layers = 0;  // the rest is tinystories-3M's spec
  expectSpec(s, 192, 512, 8, 6, 3, 512, 256);
  // Layers 0-4 own K/V projections; the shared layers 5-7 have none.
  for (int i = 0; i < 8; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    EXPECT_EQ(m.weights.find(p + "wk") != nullptr, i < 5) << p;
    EXPECT_EQ(m.weights.find(p + "wv") != nullptr, i < 5) << p;
    EXPECT_NE(m.weights.find(p + "wq"), nullptr) << p;
  }
}

// ---- hostile inputs straight into the importers (motec-level: test/badinput)

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mote-import-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string &name, const std::string &bytes) {
    std::ofstream(path + "/" + name, std::ios::binary) << bytes;
    return path + "/" + name;
  }
};

std::string header(std::initializer_list<int32_t> v) {
  std::string s;
  for (int32_t x : v) s.append(reinterpret_cast<const char *>(&x), 4);
  return s;
}

Status importBin(TempDir &d, const std::string &bytes) {
  std::string p = d.write("model.bin", bytes);
  ImportedModel m;
  return importLlama2c(p, "", m);
}

TEST(ImportHostile, Llama2cHeaders) {
  TempDir d;
  struct Case { std::initializer_list<int32_t> h; const char *field; };
  Case cases[] = {{{0, 172, 5, 8, 4, 512, 512}, "dim"},
                  {{-64, 172, 5, 8, 4, 512, 512}, "dim"},
                  {{64, 172, 5, 8, 4, INT32_MIN, 512}, "vocab_size"},
                  {{1 << 30, 172, 5, 8, 4, 512, 512}, "dim"},
                  {{64, 172, 5, 7, 7, 512, 512}, "n_heads"},
                  {{64, 172, 5, 8, 3, 512, 512}, "n_kv_heads"},
                  {{64, 172, 5, 8, 4, 512, 0}, "seq_len"},
                  {{65536, 262144, 1024, 8, 4, 4194304, 512}, "header"}};
  for (const Case &c : cases) {
    Status st = importBin(d, header(c.h) + std::string(64, '\0'));
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message.find(c.field), std::string::npos) << st.message;
    EXPECT_NE(st.message.find("model.bin"), std::string::npos) << st.message;
  }
  EXPECT_FALSE(importBin(d, "abc").ok());
}

TEST(ImportHostile, TruncatedCheckpoint) {
  REQUIRE_MODEL("stories260K");
  std::ifstream in(modelsDir() + "/stories260K/stories260K.bin", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TempDir d;
  Status st = importBin(d, bytes.substr(0, bytes.size() - 4));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("implies"), std::string::npos) << st.message;
}

} // namespace
