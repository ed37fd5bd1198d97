// bundle_test.cpp: the bundle reader rejects every corrupt input with the
// right status (and never crashes); valid bundles run and match a reference.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "mote/mote.h"
#include "test_bundle.h"

namespace {

// Opens bytes through an aligned copy (the runtime requires 4-byte alignment).
mote_status_t open_bytes(const std::string &bytes, mote_model_t **m, uint32_t flags = 0) {
  static std::vector<uint64_t> store;
  store.assign(bytes.size() / 8 + 1, 0);
  std::memcpy(store.data(), bytes.data(), bytes.size());
  mote_model_options_t o{flags, nullptr};
  return mote_model_open_memory(store.data(), bytes.size(), &o, m);
}

mote_status_t status_of(const std::string &bytes, uint32_t flags = 0) {
  mote_model_t *m = nullptr;
  mote_status_t st = open_bytes(bytes, &m, flags);
  if (st == MOTE_OK) mote_model_close(m);
  else EXPECT_EQ(m, nullptr);
  return st;
}

mt::Bundle tiny() { mt::Bundle b; b.make(); return b; }

TEST(Bundle, ValidOpens) {
  mt::Bundle b = tiny();
  mote_model_t *m = nullptr;
  ASSERT_EQ(open_bytes(b.build(), &m), MOTE_OK) << mote_last_error();
  mote_model_info_t info;
  ASSERT_EQ(mote_model_get_info(m, &info), MOTE_OK);
  EXPECT_EQ(info.vocab_size, b.vocab);
  EXPECT_EQ(info.context, b.context);
  EXPECT_EQ(info.prefill_tokens, b.prefill_t);
  EXPECT_STREQ(info.arch, "llama");
  mote_model_close(m);
}

TEST(Bundle, WrongMagic) {
  std::string f = tiny().build();
  f[0] = 'X';
  EXPECT_EQ(status_of(f), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_NE(std::string(mote_last_error()).find("not a Mote bundle"), std::string::npos)
      << mote_last_error();
}

TEST(Bundle, WrongVersion) {
  std::string f = tiny().build();
  f[8] = 2;
  mt::reseal_header(f);
  EXPECT_EQ(status_of(f), MOTE_ERR_UNSUPPORTED_VERSION);
  mt::Bundle b = tiny();
  b.format_version = 7;  // manifest's own version
  EXPECT_EQ(status_of(b.build()), MOTE_ERR_UNSUPPORTED_VERSION);
}

TEST(Bundle, TruncatedAtManyLengths) {
  std::string f = tiny().build();
  for (size_t len = 0; len < f.size(); len += (len < 300 ? 1 : 97)) {
    mote_status_t st = status_of(f.substr(0, len));
    EXPECT_TRUE(st == MOTE_ERR_INVALID_BUNDLE) << "len " << len << " " << st;
  }
}

TEST(Bundle, EveryHeaderByteFlipped) {
  std::string f = tiny().build();
  for (size_t i = 0; i < 64; ++i)
    for (int bit = 0; bit < 8; bit += 3) {
      std::string g = f;
      g[i] = char(g[i] ^ (1 << bit));
      mote_status_t st = status_of(g);
      EXPECT_TRUE(st == MOTE_ERR_INVALID_BUNDLE || st == MOTE_ERR_CHECKSUM ||
                  st == MOTE_ERR_UNSUPPORTED_VERSION) << "byte " << i << " st " << st;
    }
}

TEST(Bundle, ManifestBytesFlippedFailChecksum) {
  mt::Bundle b = tiny();
  std::string f = b.build();
  size_t msize = b.manifest().size();
  for (size_t i = 64; i < 64 + msize; i += 7) {
    std::string g = f;
    g[i] = char(g[i] ^ 0x40);
    EXPECT_EQ(status_of(g), MOTE_ERR_CHECKSUM) << "byte " << i;
  }
}

// Corrupts the manifest and re-seals both checksums, so the parser and the
// validator (not the checksum) must catch it; nothing may crash.
TEST(Bundle, ResealedRandomManifestCorruptionNeverCrashes) {
  mt::Bundle b = tiny();
  std::string f = b.build();
  size_t msize = b.manifest().size();
  std::mt19937 rng(7);
  int rejected = 0;
  for (int it = 0; it < 3000; ++it) {
    std::string g = f;
    int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) g[64 + rng() % msize] = char(rng());
    uint64_t h = mote_xxh64(g.data() + 64, msize, 0);
    for (int i = 0; i < 8; ++i) g[32 + i] = char(h >> (8 * i));
    mt::reseal_header(g);
    mote_model_t *m = nullptr;
    mote_status_t st = open_bytes(g, &m);
    if (st == MOTE_OK) {  // still a valid bundle: it must also run safely
      mote_session_options_t so{1, 0};
      mote_session_t *s = nullptr;
      if (mote_session_create(m, &so, &s) == MOTE_OK) {
        const float *lg;
        int32_t toks[3] = {1, 5, 9};
        mote_status_t pst = mote_session_prefill(s, toks, 3, &lg);
        EXPECT_TRUE(pst == MOTE_OK || pst == MOTE_ERR_OUT_OF_RANGE) << pst;
        mote_session_destroy(s);
      }
      mote_model_close(m);
    } else {
      ++rejected;
      EXPECT_GT(std::strlen(mote_last_error()), 0u);
    }
  }
  EXPECT_GT(rejected, 1000);
}

TEST(Bundle, SectionChecksumAndSkipFlag) {
  mt::Bundle b = tiny();
  std::string f = b.build();
  f[b.sections[0].offset + 5] ^= 0x10;
  EXPECT_EQ(status_of(f), MOTE_ERR_CHECKSUM);
  EXPECT_EQ(status_of(f, MOTE_OPEN_SKIP_SECTION_CHECKSUMS), MOTE_OK) << mote_last_error();
}

// Re-serializes after `edit` with the layout fixed by a first build.
mote_status_t edited(void (*edit)(mt::Bundle &)) {
  mt::Bundle b = tiny();
  b.build();
  edit(b);
  return status_of(b.build(false), MOTE_OPEN_SKIP_SECTION_CHECKSUMS);
}

TEST(Bundle, SectionsOutOfRange) {
  EXPECT_EQ(edited([](mt::Bundle &b) { b.sections[0].size += 4096; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.sections[0].offset += 64; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.sections[0].alignment = 48; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.sections[0].offset = ~0ull - 4095; }), MOTE_ERR_INVALID_BUNDLE);
}

TEST(Bundle, TensorsOutOfRange) {
  EXPECT_EQ(edited([](mt::Bundle &b) { b.tensors[3].offset = b.sections[0].size; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.tensors[3].size += 4; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.tensors[3].section = 1; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.tensors[3].shape[0] = 1ull << 62; }), MOTE_ERR_INVALID_BUNDLE);
  // A Q dtype without Tensor.quant is malformed (issue 4).
  EXPECT_EQ(edited([](mt::Bundle &b) { b.tensors[3].dtype = mt::Q4; }), MOTE_ERR_INVALID_BUNDLE);
}

TEST(Bundle, ValuesOutOfRange) {
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].steps[7].operands[1] = 912; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_NE(std::string(mote_last_error()).find("graphs[1].steps[7].operands[1]: value 912 out of range"),
            std::string::npos) << mote_last_error();
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[0].values[5].offset = b.graphs[0].arena_bytes - 4; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[0].values[5].offset = ~0ull - 3; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[0].arena_bytes /= 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) {
    for (auto &v : b.graphs[1].values) if (v.kind == mt::WEIGHT) { v.ref = 999; break; } }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) {
    for (auto &v : b.graphs[1].values) if (v.kind == mt::KV) { v.ref = 99; break; } }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) {
    for (auto &v : b.graphs[1].values) if (v.kind == mt::WEIGHT) { v.shape[0] += 1; break; } }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].in_tok = 5000; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].out_logits = 0; }), MOTE_ERR_INVALID_BUNDLE);
}

// Every ROPE step gets scaling i = {.., kind, orig}, f = {.., fac, lo, hi}.
void RopeScaled(mt::Bundle &b, int64_t kind, int64_t orig, float fac, float lo, float hi) {
  for (auto &g : b.graphs)
    for (auto &s : g.steps)
      if (s.op == mt::ROPE) {
        s.i.resize(2);
        s.f.resize(1);
        s.i.insert(s.i.end(), {kind, orig});
        s.f.insert(s.f.end(), {fac, lo, hi});
      }
}

TEST(Bundle, StepsInconsistent) {
  auto find = [](mt::Graph &g, uint32_t op) -> mt::Step & {
    for (auto &s : g.steps) if (s.op == op) return s;
    return g.steps[0];
  };
  (void)find;
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].steps[1].operands.pop_back(); }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].steps[2].operands[0] = b.graphs[1].steps[2].operands[1]; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { for (auto &s : b.graphs[1].steps) if (s.op == mt::ROPE) { s.i[0] = 3; break; } }), MOTE_ERR_INVALID_BUNDLE);
  // RoPE scaling attributes (i[2..3], f[1..3]): a valid llama3 step opens;
  // an unknown kind, a factor below 1, low >= high, a zero original context,
  // or scaling ints without the floats are refused.
  EXPECT_EQ(edited([](mt::Bundle &b) { RopeScaled(b, 2, 64, 8.f, 1.f, 4.f); }), MOTE_OK);
  EXPECT_EQ(edited([](mt::Bundle &b) { RopeScaled(b, 1, 0, 2.f, 0.f, 0.f); }), MOTE_OK);
  EXPECT_EQ(edited([](mt::Bundle &b) { RopeScaled(b, 3, 64, 8.f, 1.f, 4.f); }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { RopeScaled(b, 2, 64, 0.5f, 1.f, 4.f); }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { RopeScaled(b, 2, 64, 8.f, 4.f, 1.f); }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { RopeScaled(b, 2, 0, 8.f, 1.f, 4.f); }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { RopeScaled(b, 2, 64, 8.f, 1.f, 4.f);
                                        for (auto &s : b.graphs[1].steps) if (s.op == mt::ROPE) s.f.resize(1); }),
            MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { for (auto &s : b.graphs[1].steps) if (s.op == mt::ATT) { s.i[1] = 3; break; } }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { for (auto &s : b.graphs[1].steps) if (s.op == mt::ATT) { s.operands[3] = s.operands[0]; break; } }), MOTE_ERR_INVALID_BUNDLE);
  // The same cache read with another split into heads (8 x 2 instead of the
  // decode graph's 4 x 4, widths unchanged): the runtime lays an f32 cache
  // out by KV head, so this is refused, naming the cache.
  EXPECT_EQ(edited([](mt::Bundle &b) { for (auto &s : b.graphs[1].steps) if (s.op == mt::ATT) { s.i = {8, 4, 2}; break; } }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_NE(std::string(mote_last_error()).find("kv_caches[0] with head_dim 2"), std::string::npos) << mote_last_error();
  EXPECT_EQ(edited([](mt::Bundle &b) { for (auto &s : b.graphs[1].steps) if (s.op == mt::KVA) { s.results[0] = s.operands[1]; break; } }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].steps.back().i[0] = 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].steps.back().f = {1.f, 2.f, 3.f, 4.f, 5.f}; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].steps[3].op = 42; }), MOTE_ERR_UNSUPPORTED);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.graphs[1].name = "other"; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(edited([](mt::Bundle &b) { b.kind = "adapter"; }), MOTE_ERR_INVALID_BUNDLE);
}

// ---- quantized weights (issue 4) ----------------------------------------------

// tiny() with tok_embeddings 4-bit, layers.0.wq 4-bit (G 8), layers.0.w1
// 2-bit (G = K), layers.1.wv 8-bit and the classifier 2-bit (G 8).
mt::Bundle tiny_q() {
  mt::Bundle b = tiny();
  b.quantize(0, 4, 32);
  b.quantize(2, 4, 8);
  b.quantize(7, 2, b.dim);
  b.quantize(13, 8, 8);
  b.quantize(uint32_t(b.tensors.size() - 1), 2, 8);
  return b;
}

mote_status_t qedited(void (*edit)(mt::Bundle &)) {
  mt::Bundle b = tiny_q();
  b.build();
  edit(b);
  return status_of(b.build(false), MOTE_OPEN_SKIP_SECTION_CHECKSUMS);
}

bool last_error_has(const char *what) {
  return std::string(mote_last_error()).find(what) != std::string::npos;
}

TEST(Quant, ValidOpens) {
  EXPECT_EQ(qedited([](mt::Bundle &) {}), MOTE_OK) << mote_last_error();
  // The WEIGHT value may also name the tensor's Q dtype.
  EXPECT_EQ(qedited([](mt::Bundle &b) {
    for (auto &g : b.graphs) for (auto &v : g.values) if (v.kind == mt::WEIGHT && v.ref == 2) v.dtype = mt::Q4; }), MOTE_OK)
      << mote_last_error();
}

TEST(Quant, HostileTensors) {
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.bits = 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("quant.bits")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].size -= 1; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("size")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.scale_size -= 4; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("scale_size")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.scale_offset = b.sections[0].size - 64; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("outside section")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.scale_offset += 4; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("64-byte")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.group = 0; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("group_size")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].shape = {b.tensors[2].shape[0] * b.tensors[2].shape[1]}; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.bits = 0; b.tensors[2].dtype = mt::Q4; b.tensors[2].q.grid = ""; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.grid = "uniform"; }), MOTE_ERR_UNSUPPORTED);
  EXPECT_TRUE(last_error_has("quant.grid")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[13].q.grid = "balanced"; }), MOTE_ERR_UNSUPPORTED);
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.layout = "interleaved"; }), MOTE_ERR_UNSUPPORTED);
  EXPECT_TRUE(last_error_has("quant.layout")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.scale_dtype = 3; }), MOTE_ERR_UNSUPPORTED);
  EXPECT_TRUE(last_error_has("quant.scale_dtype")) << mote_last_error();
  // F16 scales are 2 bytes each: f32-sized scales under scale_dtype F16 are wrong.
  EXPECT_EQ(qedited([](mt::Bundle &b) { b.tensors[2].q.scale_dtype = 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("scale_size")) << mote_last_error();
}

// The same tiny model with f16 scales (motec's default for 2/4-bit).
mt::Bundle tiny_q16() {
  mt::Bundle b = tiny();
  b.quantize(0, 4, 32, true);
  b.quantize(2, 4, 8, true);
  b.quantize(7, 2, b.dim, true);
  b.quantize(13, 8, 8, true);
  b.quantize(uint32_t(b.tensors.size() - 1), 2, 8, true);
  return b;
}

TEST(Quant, F16ScalesHostile) {
  auto ed = [](void (*edit)(mt::Bundle &)) {
    mt::Bundle b = tiny_q16();
    b.build();
    edit(b);
    return status_of(b.build(false), MOTE_OPEN_SKIP_SECTION_CHECKSUMS);
  };
  EXPECT_EQ(ed([](mt::Bundle &) {}), MOTE_OK) << mote_last_error();
  EXPECT_EQ(ed([](mt::Bundle &b) { b.tensors[2].q.scale_size -= 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("scale_size")) << mote_last_error();
  EXPECT_EQ(ed([](mt::Bundle &b) { b.tensors[2].q.scale_size *= 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("scale_size")) << mote_last_error();
  EXPECT_EQ(ed([](mt::Bundle &b) { b.tensors[2].q.scale_dtype = 1; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(ed([](mt::Bundle &b) { b.tensors[2].q.scale_offset = b.sections[0].size - 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("outside section")) << mote_last_error();
  // The kernels read the halves in place: they must be 64-byte aligned (the
  // embedding table and the classifier too).
  EXPECT_EQ(ed([](mt::Bundle &b) { b.tensors[2].q.scale_offset += 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("64-byte")) << mote_last_error();
  EXPECT_EQ(ed([](mt::Bundle &b) { b.tensors[0].q.scale_offset += 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("64-byte")) << mote_last_error();
  EXPECT_EQ(ed([](mt::Bundle &b) { b.tensors.back().q.scale_size -= 2; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_TRUE(last_error_has("scale_size")) << mote_last_error();
}

// f16 scales are read where they lie in the bundle: opening an f16-scaled
// bundle allocates no more than the same bundle with f32 scales (no widened
// f32 copy of the scales).
TEST(Quant, F16ScalesNotCopied) {
  struct Count { size_t bytes = 0; };
  auto bytes_at_open = [](const std::string &file) {
    Count c;
    mote_allocator_t a{[](void *u, size_t n, size_t al) -> void * {
                         static_cast<Count *>(u)->bytes += n;
                         size_t A = al < 16 ? 16 : al;
                         return aligned_alloc(A, (n + A) / A * A);
                       },
                       [](void *, void *p) { free(p); }, &c};
    std::vector<uint64_t> store(file.size() / 8 + 1, 0);
    std::memcpy(store.data(), file.data(), file.size());
    mote_model_options_t o{MOTE_OPEN_SKIP_SECTION_CHECKSUMS, &a};
    mote_model_t *m = nullptr;
    EXPECT_EQ(mote_model_open_memory(store.data(), file.size(), &o, &m), MOTE_OK)
        << mote_last_error();
    mote_model_close(m);
    return c.bytes;
  };
  mt::Bundle h = tiny_q16(), f = tiny_q();
  size_t hb = bytes_at_open(h.build()), fb = bytes_at_open(f.build());
  EXPECT_GT(fb, 0u);
  EXPECT_LE(hb, fb) << "f16 scales allocated " << hb - fb << " more bytes than f32 ones";
}

TEST(Quant, HostileValuesAndSteps) {
  // A quantized weight value's shape and dtype must match the tensor.
  EXPECT_EQ(qedited([](mt::Bundle &b) {
    for (auto &v : b.graphs[1].values) if (v.kind == mt::WEIGHT && v.ref == 2) v.shape[1] += 1; }), MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(qedited([](mt::Bundle &b) {
    for (auto &v : b.graphs[1].values) if (v.kind == mt::WEIGHT && v.ref == 2) v.dtype = mt::Q8; }), MOTE_ERR_INVALID_BUNDLE);
  // Only LINEAR / LOGITS weights and EMBEDDING tables may be quantized: an
  // RMS_NORM weight or a LINEAR bias that names one is unsupported.
  EXPECT_EQ(qedited([](mt::Bundle &b) {
    auto &g = b.graphs[1];
    uint32_t qv = 0;
    for (uint32_t i = 0; i < g.values.size(); ++i) if (g.values[i].kind == mt::WEIGHT && g.values[i].ref == 2) qv = i;
    for (auto &st : g.steps) if (st.op == mt::RMS) { st.operands[1] = qv; break; } }), MOTE_ERR_UNSUPPORTED);
  EXPECT_TRUE(last_error_has("cannot take quantized or f16 weight")) << mote_last_error();
  // A step kernel naming another width than its weight's is unsupported;
  // the matching name opens.
  auto set_kernel = [](mt::Bundle &b, const char *name) {
    auto &g = b.graphs[1];
    g.kernels.assign(g.steps.size(), "");
    for (size_t i = 0; i < g.steps.size(); ++i)
      if (g.steps[i].op == mt::LIN && g.values[g.steps[i].operands[1]].ref == 2) g.kernels[i] = name;
    g.kernels[0] = "embedding_q4_f32";
    g.kernels.back() = "logits_q2_f32";
  };
  static void (*set)(mt::Bundle &, const char *) = set_kernel;
  EXPECT_EQ(qedited([](mt::Bundle &b) { set(b, "linear_q4_f32"); }), MOTE_OK) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) { set(b, "linear_q2_f32"); }), MOTE_ERR_UNSUPPORTED);
  EXPECT_TRUE(last_error_has("kernel: \"linear_q2_f32\"")) << mote_last_error();
  EXPECT_EQ(qedited([](mt::Bundle &b) {
    auto &g = b.graphs[1];
    uint32_t qv = 0;
    for (uint32_t i = 0; i < g.values.size(); ++i) if (g.values[i].kind == mt::WEIGHT && g.values[i].ref == 2) qv = i;
    for (auto &st : g.steps) if (st.op == mt::LIN) { st.operands.push_back(qv); break; } }), MOTE_ERR_UNSUPPORTED);
}

// ---- execution ---------------------------------------------------------------

void expect_close(const float *got, const std::vector<float> &want, const char *what, int at) {
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-3f + 1e-3f * std::fabs(want[i])) << what << " pos " << at << " logit " << i;
}

TEST(Execute, DecodeAndPrefillMatchReference) {
  for (uint32_t threads : {1u, 2u}) {
    mt::Bundle b = tiny();
    std::string f = b.build();
    mote_model_t *m = nullptr;
    ASSERT_EQ(open_bytes(f, &m), MOTE_OK) << mote_last_error();
    mote_session_options_t so{threads, 0};
    mote_session_t *s = nullptr;
    ASSERT_EQ(mote_session_create(m, &so, &s), MOTE_OK) << mote_last_error();
    std::vector<int32_t> toks = {1, 7, 3, 22, 39, 5, 11, 8, 0, 14, 2};  // > 2 prefill chunks
    mt::Ref ref(b);
    std::vector<float> want;
    for (size_t t = 0; t < toks.size(); ++t) want = ref.step(toks[t], int(t));
    const float *lg = nullptr;
    ASSERT_EQ(mote_session_prefill(s, toks.data(), toks.size(), &lg), MOTE_OK) << mote_last_error();
    expect_close(lg, want, "prefill", int(toks.size()));
    EXPECT_EQ(mote_session_position(s), toks.size());
    for (int t = 0; t < 12; ++t) {
      int32_t next = (t * 7 + 3) % int(b.vocab);
      want = ref.step(next, int(toks.size()) + t);
      ASSERT_EQ(mote_session_decode(s, next, &lg), MOTE_OK) << mote_last_error();
      expect_close(lg, want, "decode", t);
    }
    // Context full and bad ids are errors, not crashes.
    mote_session_reset(s);
    EXPECT_EQ(mote_session_decode(s, int32_t(b.vocab), &lg), MOTE_ERR_OUT_OF_RANGE);
    EXPECT_EQ(mote_session_decode(s, -1, &lg), MOTE_ERR_OUT_OF_RANGE);
    std::vector<int32_t> big(b.context + 1, 3);
    EXPECT_EQ(mote_session_prefill(s, big.data(), big.size(), &lg), MOTE_ERR_OUT_OF_RANGE);
    EXPECT_EQ(mote_session_prefill(s, big.data(), b.context, &lg), MOTE_OK);
    EXPECT_EQ(mote_session_decode(s, 3, &lg), MOTE_ERR_OUT_OF_RANGE);
    mote_session_destroy(s);
    mote_model_close(m);
  }
}

// Quantized weights end to end: the naive reference runs on the dequantized
// weights (test_bundle.h quantizes independently of the runtime), on every
// kernel table (MOTE_ISA=ref too) and with 1 and 2 threads.
TEST(Execute, QuantizedMatchesReference) {
  for (const char *isa : {"best", "ref"})
    for (uint32_t threads : {1u, 2u}) {
      for (bool f16 : {false, true}) {
      SCOPED_TRACE(f16 ? "f16 scales" : "f32 scales");
      if (std::string(isa) == "ref") setenv("MOTE_ISA", "ref", 1);
      mt::Bundle b = f16 ? tiny_q16() : tiny_q();
      mote_model_t *m = nullptr;
      ASSERT_EQ(open_bytes(b.build(), &m), MOTE_OK) << mote_last_error();
      mote_session_options_t so{threads, 0};
      mote_session_t *s = nullptr;
      ASSERT_EQ(mote_session_create(m, &so, &s), MOTE_OK) << mote_last_error();
      unsetenv("MOTE_ISA");
      std::vector<int32_t> toks = {1, 7, 3, 22, 39, 5, 11};
      mt::Ref ref(b);
      std::vector<float> want;
      for (size_t t = 0; t < toks.size(); ++t) want = ref.step(toks[t], int(t));
      const float *lg = nullptr;
      ASSERT_EQ(mote_session_prefill(s, toks.data(), toks.size(), &lg), MOTE_OK) << mote_last_error();
      expect_close(lg, want, "q prefill", int(toks.size()));
      for (int t = 0; t < 6; ++t) {
        int32_t next = (t * 5 + 2) % int(b.vocab);
        want = ref.step(next, int(toks.size()) + t);
        ASSERT_EQ(mote_session_decode(s, next, &lg), MOTE_OK) << mote_last_error();
        expect_close(lg, want, "q decode", t);
      }
      mote_session_destroy(s);
      mote_model_close(m);
      }
    }
}

TEST(Execute, NoPrefillGraphFallsBackToDecode) {
  mt::Bundle b;
  b.prefill_t = 1;
  b.make();
  mote_model_t *m = nullptr;
  ASSERT_EQ(open_bytes(b.build(), &m), MOTE_OK) << mote_last_error();
  mote_session_t *s = nullptr;
  mote_session_options_t so{1, 0};
  ASSERT_EQ(mote_session_create(m, &so, &s), MOTE_OK);
  std::vector<int32_t> toks = {1, 4, 9};
  mt::Ref ref(b);
  std::vector<float> want;
  for (size_t t = 0; t < toks.size(); ++t) want = ref.step(toks[t], int(t));
  const float *lg;
  ASSERT_EQ(mote_session_prefill(s, toks.data(), toks.size(), &lg), MOTE_OK);
  expect_close(lg, want, "prefill-via-decode", 3);
  mote_session_destroy(s);
  mote_model_close(m);
}

TEST(Execute, FileOpenAndErrors) {
  mote_model_t *m = nullptr;
  EXPECT_EQ(mote_model_open("/nonexistent/x.mote", nullptr, &m), MOTE_ERR_IO);
  EXPECT_EQ(m, nullptr);
  std::string path = testing::TempDir() + "/tiny.mote";
  { std::ofstream o(path, std::ios::binary); o << tiny().build(); }
  ASSERT_EQ(mote_model_open(path.c_str(), nullptr, &m), MOTE_OK) << mote_last_error();
  mote_model_close(m);
  EXPECT_STREQ(mote_status_name(MOTE_ERR_CHECKSUM), "MOTE_ERR_CHECKSUM");
}

}  // namespace

// ---- LAST_ROW (KV-shared prefill, mote-prune-shared-prefill) ------------------

namespace {

constexpr uint32_t kLastRow = 10;

// tiny() whose prefill graph takes the last row of the residual stream
// before the final norm (LAST_ROW f32) and of the positions (LAST_ROW i32):
// the final RMS and LOGITS then run on one row. Exact for prefill's logits.
mt::Bundle tiny_last_row() {
  mt::Bundle b = tiny();
  for (auto &g : b.graphs) {
    if (g.max_tokens == 1) continue;
    auto arena = [&](uint32_t dtype, std::vector<uint64_t> shape) {
      mt::Val v; v.dtype = dtype; v.shape = shape; v.offset = g.arena_bytes;
      uint64_t n = 4; for (auto d : shape) n *= d;
      g.arena_bytes += (n + 63) / 64 * 64;
      g.values.push_back(v); return uint32_t(g.values.size() - 1);
    };
    mt::Step &rms = g.steps[g.steps.size() - 2];  // final norm, then LOGITS
    uint32_t x1 = arena(mt::F32, {1, b.dim}), h1 = arena(mt::F32, {1, b.dim});
    uint32_t p1 = arena(mt::I32, {1});
    mt::Step lx{kLastRow, {rms.operands[0]}, {x1}, {}, {}};
    mt::Step lp{kLastRow, {g.in_pos}, {p1}, {}, {}};
    rms.operands[0] = x1;
    rms.results[0] = h1;
    g.steps.back().operands[0] = h1;
    g.steps.insert(g.steps.end() - 2, {lx, lp});
  }
  return b;
}

mote_status_t lr_edited(void (*edit)(mt::Graph &)) {
  mt::Bundle b = tiny_last_row();
  b.build();
  for (auto &g : b.graphs)
    if (g.max_tokens > 1) edit(g);
  return status_of(b.build(false), MOTE_OPEN_SKIP_SECTION_CHECKSUMS);
}

// The index of the first LAST_ROW step of g.
size_t last_row_at(const mt::Graph &g) {
  for (size_t k = 0; k < g.steps.size(); ++k)
    if (g.steps[k].op == kLastRow) return k;
  return 0;
}

TEST(LastRow, PrefillMatchesReference) {
  for (uint32_t threads : {1u, 2u}) {
    mt::Bundle b = tiny_last_row();
    mote_model_t *m = nullptr;
    ASSERT_EQ(open_bytes(b.build(), &m), MOTE_OK) << mote_last_error();
    mote_session_options_t so{threads, 0};
    mote_session_t *s = nullptr;
    ASSERT_EQ(mote_session_create(m, &so, &s), MOTE_OK) << mote_last_error();
    std::vector<int32_t> toks = {1, 7, 3, 22, 39, 5, 11, 8, 0, 14, 2};  // partial last chunk
    mt::Ref ref(b);
    std::vector<float> want;
    for (size_t t = 0; t < toks.size(); ++t) want = ref.step(toks[t], int(t));
    const float *lg = nullptr;
    ASSERT_EQ(mote_session_prefill(s, toks.data(), toks.size(), &lg), MOTE_OK) << mote_last_error();
    expect_close(lg, want, "prefill", int(toks.size()));
    for (int t = 0; t < 4; ++t) {  // the cache the prefill wrote is intact
      int32_t next = (t * 7 + 3) % int(b.vocab);
      want = ref.step(next, int(toks.size()) + t);
      ASSERT_EQ(mote_session_decode(s, next, &lg), MOTE_OK) << mote_last_error();
      expect_close(lg, want, "decode", t);
    }
    mote_session_destroy(s);
    mote_model_close(m);
  }
}

TEST(LastRow, HostileShapes) {
  EXPECT_EQ(lr_edited([](mt::Graph &) {}), MOTE_OK) << mote_last_error();
  // Result with two rows, with other columns, with the wrong dtype.
  EXPECT_EQ(lr_edited([](mt::Graph &g) { g.values[g.steps[last_row_at(g)].results[0]].shape[0] = 2; }),
            MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(lr_edited([](mt::Graph &g) { g.values[g.steps[last_row_at(g)].results[0]].shape[1] -= 1; }),
            MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(lr_edited([](mt::Graph &g) { g.values[g.steps[last_row_at(g)].results[0]].dtype = mt::I32; }),
            MOTE_ERR_INVALID_BUNDLE);
  // The positions copy must have one i32 row.
  EXPECT_EQ(lr_edited([](mt::Graph &g) { g.values[g.steps[last_row_at(g) + 1].results[0]].shape[0] = 2; }),
            MOTE_ERR_INVALID_BUNDLE);
  // Operand already one row (LAST_ROW of its own result), operand count.
  EXPECT_EQ(lr_edited([](mt::Graph &g) { auto &s = g.steps[last_row_at(g)]; s.operands[0] = s.results[0]; }),
            MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(lr_edited([](mt::Graph &g) { g.steps[last_row_at(g)].operands.push_back(g.in_pos); }),
            MOTE_ERR_INVALID_BUNDLE);
  // A 1-row activation with no LAST_ROW before it (the step is dropped).
  EXPECT_EQ(lr_edited([](mt::Graph &g) {
              size_t k = last_row_at(g);
              g.steps.erase(g.steps.begin() + long(k), g.steps.begin() + long(k) + 2);
            }),
            MOTE_ERR_INVALID_BUNDLE);
  // A T-row step fed the 1-row positions copy; a 1-row norm writing T rows.
  EXPECT_EQ(lr_edited([](mt::Graph &g) {
              uint32_t p1 = g.steps[last_row_at(g) + 1].results[0];
              for (auto &s : g.steps) if (s.op == mt::ROPE) { s.operands[1] = p1; break; }
            }),
            MOTE_ERR_INVALID_BUNDLE);
  EXPECT_EQ(lr_edited([](mt::Graph &g) { g.values[g.steps[g.steps.size() - 2].results[0]].shape[0] = g.max_tokens; }),
            MOTE_ERR_INVALID_BUNDLE);
}

}  // namespace
