// stories_test.cpp: a real motec-compiled stories260K bundle opens, rejects
// corruption, and generates llama2.c's greedy text (PROVENANCE.md's fact).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mote/mote.h"

namespace {

std::string bundle_path() {
  const char *p = std::getenv("MOTE_TEST_BUNDLE");
  return p ? p : "";
}

std::string read_file(const std::string &p) {
  std::ifstream i(p, std::ios::binary);
  std::stringstream s;
  s << i.rdbuf();
  return s.str();
}

TEST(Stories, GreedyTextMatchesLlama2c) {
  ASSERT_FALSE(bundle_path().empty());
  mote_model_t *m = nullptr;
  ASSERT_EQ(mote_model_open(bundle_path().c_str(), nullptr, &m), MOTE_OK) << mote_last_error();
  mote_session_options_t so{1, 0};
  mote_session_t *s = nullptr;
  ASSERT_EQ(mote_session_create(m, &so, &s), MOTE_OK) << mote_last_error();
  const char *prompt = "Once upon a time";
  int32_t ids[64];
  size_t n = 0;
  ASSERT_EQ(mote_tokenize(m, prompt, strlen(prompt), 1, ids, 64, &n), MOTE_OK) << mote_last_error();
  const float *lg;
  ASSERT_EQ(mote_session_prefill(s, ids, n, &lg), MOTE_OK) << mote_last_error();
  mote_model_info_t info;
  ASSERT_EQ(mote_model_get_info(m, &info), MOTE_OK);
  mote_sampler_params_t sp{0.f, 0, 1.f, 0};
  mote_sampler_t *smp = nullptr;
  ASSERT_EQ(mote_sampler_create(&sp, info.vocab_size, nullptr, &smp), MOTE_OK);
  std::vector<int32_t> out(ids, ids + n);
  for (int i = 0; i < 40; ++i) {
    int32_t t = mote_sampler_sample(smp, lg);
    out.push_back(t);
    ASSERT_EQ(mote_session_decode(s, t, &lg), MOTE_OK) << mote_last_error();
  }
  char text[2048];
  size_t len = 0;
  ASSERT_EQ(mote_detokenize(m, out.data(), out.size(), text, sizeof text, &len), MOTE_OK);
  std::string got(text, len);
  const std::string want =
      "Once upon a time, there was a little girl named Lily. She loved to play "
      "outside in the park.";
  EXPECT_EQ(got.substr(0, want.size()), want) << got;

  // Decode speed, for the log (single thread, 200 tokens after a reset).
  mote_session_reset(s);
  auto t0 = std::chrono::steady_clock::now();
  int32_t tok = 1;
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(mote_session_decode(s, tok, &lg), MOTE_OK);
    tok = mote_sampler_sample(smp, lg);
  }
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("stories260K decode: %.0f tok/s (1 thread, isa %s)\n", 200 / sec, mote_kernel_isa());
  mote_sampler_destroy(smp);
  mote_session_destroy(s);
  mote_model_close(m);
}

// MOTE_OPEN_READ_INTO_MEMORY reads the file into the model's own memory: the
// same logits, bit for bit, as the mapped file; a missing file is an I/O
// error naming it.
// Opens the test bundle (open flags), a session of `threads`, and prefills
// `ids`; returns the prefill's logits. ASSERTs: call through ASSERT_NO_FATAL_FAILURE.
void open_and_prefill(uint32_t flags, uint32_t threads, const std::vector<int32_t> &ids,
                      mote_model_t **m, mote_session_t **s, std::vector<float> *logits) {
  mote_model_options_t o{flags, nullptr};
  ASSERT_EQ(mote_model_open(bundle_path().c_str(), &o, m), MOTE_OK) << mote_last_error();
  mote_model_info_t info;
  ASSERT_EQ(mote_model_get_info(*m, &info), MOTE_OK);
  mote_session_options_t so{threads, 0};
  ASSERT_EQ(mote_session_create(*m, &so, s), MOTE_OK) << mote_last_error();
  const float *lg = nullptr;
  ASSERT_EQ(mote_session_prefill(*s, ids.data(), ids.size(), &lg), MOTE_OK) << mote_last_error();
  logits->assign(lg, lg + info.vocab_size);
}

TEST(Stories, ReadIntoMemoryMatchesMapping) {
  ASSERT_FALSE(bundle_path().empty());
  const std::vector<int32_t> ids = {1, 403, 407, 261, 378};
  std::vector<float> want;
  for (uint32_t flags : {0u, unsigned(MOTE_OPEN_READ_INTO_MEMORY)}) {
    mote_model_t *m = nullptr;
    mote_session_t *s = nullptr;
    std::vector<float> got;
    ASSERT_NO_FATAL_FAILURE(open_and_prefill(flags, 1, ids, &m, &s, &got));
    if (flags == 0)
      want = got;
    else
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), got.size() * sizeof(float)));
    mote_session_destroy(s);
    mote_model_close(m);
  }
  mote_model_options_t o{MOTE_OPEN_READ_INTO_MEMORY, nullptr};
  mote_model_t *m = nullptr;
  EXPECT_EQ(mote_model_open("/nonexistent/x.mote", &o, &m), MOTE_ERR_IO);
  EXPECT_NE(std::string(mote_last_error()).find("/nonexistent/x.mote"), std::string::npos);
  EXPECT_EQ(m, nullptr);
}

// MOTE_PROFILE=1: destroying the session logs (info) one line per graph
// with its calls and one per kind of step; without it, nothing. The logits
// are the same either way.
TEST(Stories, ProfileReportsEveryKindOfStep) {
  ASSERT_FALSE(bundle_path().empty());
  const std::vector<int32_t> ids = {1, 403, 407, 261, 378};
  std::vector<float> want;
  for (int profile : {0, 1}) {
    if (profile) setenv("MOTE_PROFILE", "1", 1);
    setenv("MOTE_LOG", "info", 1);
    mote_model_t *m = nullptr;
    mote_session_t *s = nullptr;
    std::vector<float> got;
    ASSERT_NO_FATAL_FAILURE(open_and_prefill(0, 2, ids, &m, &s, &got));
    const float *lg = nullptr;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(mote_session_decode(s, 7, &lg), MOTE_OK);
    got.assign(lg, lg + got.size());
    testing::internal::CaptureStderr();
    mote_session_destroy(s);
    std::string log = testing::internal::GetCapturedStderr();
    mote_model_close(m);
    unsetenv("MOTE_PROFILE");
    unsetenv("MOTE_LOG");
    if (!profile) {
      want = got;
      EXPECT_EQ(log.find("profile:"), std::string::npos) << log;
      continue;
    }
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), got.size() * sizeof(float)));
    EXPECT_NE(log.find("profile: graph decode: 3 calls"), std::string::npos) << log;
    for (const char *kind : {"embedding", "rms_norm", "linear", "rope", "kv_append", "attention",
                             "swiglu", "add", "logits"})
      EXPECT_NE(log.find(std::string("profile:   ") + kind), std::string::npos) << kind << "\n"
                                                                               << log;
  }
}

TEST(Stories, CorruptRealBundle) {
  ASSERT_FALSE(bundle_path().empty());
  std::string f = read_file(bundle_path());
  ASSERT_GT(f.size(), 4096u);
  std::vector<uint64_t> store(f.size() / 8 + 1);
  for (size_t len : {size_t(0), size_t(7), size_t(63), size_t(64), size_t(100), f.size() / 2, f.size() - 1}) {
    std::memcpy(store.data(), f.data(), len);
    mote_model_t *m = nullptr;
    EXPECT_EQ(mote_model_open_memory(store.data(), len, nullptr, &m), MOTE_ERR_INVALID_BUNDLE) << len;
  }
  // A flipped weight byte fails the section checksum unless skipped.
  std::memcpy(store.data(), f.data(), f.size());
  reinterpret_cast<char *>(store.data())[f.size() - 8] ^= 0x5a;
  mote_model_t *m = nullptr;
  EXPECT_EQ(mote_model_open_memory(store.data(), f.size(), nullptr, &m), MOTE_ERR_CHECKSUM);
  mote_model_options_t o{MOTE_OPEN_SKIP_SECTION_CHECKSUMS, nullptr};
  ASSERT_EQ(mote_model_open_memory(store.data(), f.size(), &o, &m), MOTE_OK) << mote_last_error();
  mote_model_close(m);
}

}  // namespace
