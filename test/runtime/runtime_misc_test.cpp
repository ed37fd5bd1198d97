// runtime_misc_test.cpp: XXH64 against xxhsum, the protobuf reader on
// malformed input, the sampler, and zero allocations per token.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "mote/mote.h"
#include "pb.h"
#include "test_bundle.h"

namespace {

bool ci() { const char *c = std::getenv("CI"); return c && std::string(c) == "true"; }

// ---- XXH64 vs Debian's xxhsum (an independent implementation) -----------------
TEST(Xxh64, MatchesXxhsum) {
  if (std::system("command -v xxhsum >/dev/null 2>&1") != 0) {
    if (ci()) FAIL() << "xxhsum (Debian package xxhash) is required";
    GTEST_SKIP() << "xxhsum not installed";
  }
  std::mt19937 rng(3);
  for (size_t len : {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64, 100, 1000, 4097}) {
    std::string data(len, '\0');
    for (auto &c : data) c = char(rng());
    std::string path = testing::TempDir() + "/xxh_" + std::to_string(len);
    { std::ofstream o(path, std::ios::binary); o << data; }
    std::string cmd = "xxhsum -H1 " + path;
    FILE *p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[256] = {0};
    ASSERT_NE(fgets(buf, sizeof buf, p), nullptr);
    pclose(p);
    uint64_t want = std::strtoull(buf, nullptr, 16);
    EXPECT_EQ(mote_xxh64(data.data(), len, 0), want) << "len " << len << ": " << buf;
  }
}

// ---- protobuf reader -------------------------------------------------------
int read_all(const std::string &s) {
  pb_reader_t r;
  pb_field_t f;
  pb_init(&r, s.data(), s.size());
  int rc, n = 0;
  while ((rc = pb_next(&r, &f)) == 1) ++n;
  return rc < 0 ? -1 : n;
}

TEST(Pb, WellFormed) {
  mt::Pb p;
  p.varint(1, 300);
  p.fixed64(2, 0x1122334455667788ull);
  p.f32(3, 1.5f);
  p.bytes(4, "abc");
  p.packed(5, std::vector<uint64_t>{1, 300, 1ull << 63});
  EXPECT_EQ(read_all(p.b), 5);
  pb_reader_t r;
  pb_field_t f;
  pb_init(&r, p.b.data(), p.b.size());
  ASSERT_EQ(pb_next(&r, &f), 1);
  EXPECT_EQ(f.u64, 300u);
  ASSERT_EQ(pb_next(&r, &f), 1);
  EXPECT_EQ(f.u64, 0x1122334455667788ull);
  ASSERT_EQ(pb_next(&r, &f), 1);
  EXPECT_EQ(pb_bits_to_float(uint32_t(f.u64)), 1.5f);
  ASSERT_EQ(pb_next(&r, &f), 1);
  EXPECT_EQ(std::string((const char *)f.data, f.len), "abc");
  ASSERT_EQ(pb_next(&r, &f), 1);
  ASSERT_EQ(pb_count_varints(&f), 3);
  uint64_t v[3];
  ASSERT_EQ(pb_get_varints(&f, v, 3), 0);
  EXPECT_EQ(v[1], 300u);
  EXPECT_EQ(v[2], 1ull << 63);
}

TEST(Pb, Malformed) {
  EXPECT_EQ(read_all(std::string("\x08", 1)), -1);                       // varint missing
  EXPECT_EQ(read_all(std::string("\x08\x80\x80", 3)), -1);               // truncated varint
  EXPECT_EQ(read_all(std::string("\x08") + std::string(10, '\xff') + "\x01"), -1);  // 11 bytes
  EXPECT_EQ(read_all(std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11)), -1);  // > 64 bits
  EXPECT_EQ(read_all(std::string("\x0b", 1)), -1);                       // group start
  EXPECT_EQ(read_all(std::string("\x0e\x00", 2)), -1);                   // wire type 6
  EXPECT_EQ(read_all(std::string("\x12\x05" "abc", 5)), -1);             // length past end
  EXPECT_EQ(read_all(std::string("\x12\xff\xff\xff\xff\x0f", 6)), -1);   // huge length
  EXPECT_EQ(read_all(std::string("\x09\x01\x02", 3)), -1);               // short fixed64
  EXPECT_EQ(read_all(std::string("\x0d\x01", 2)), -1);                   // short fixed32
  EXPECT_EQ(read_all(std::string("\x00\x01", 2)), -1);                   // field number 0
  pb_field_t f{};
  f.wire = PB_LEN;
  f.data = (const uint8_t *)"\x80";
  f.len = 1;
  EXPECT_EQ(pb_count_varints(&f), -1);  // packed run ends mid-varint
  f.len = 1;
  EXPECT_EQ(pb_count_fixed32(&f), -1);  // packed floats not a multiple of 4
}

// ---- sampler ---------------------------------------------------------------
TEST(Sampler, GreedyTiesAndSeededSampling) {
  mote_sampler_params_t g{0.f, 0, 1.f, 1};
  mote_sampler_t *s = nullptr;
  ASSERT_EQ(mote_sampler_create(&g, 5, nullptr, &s), MOTE_OK);
  float lg[5] = {0.f, 3.f, 1.f, 3.f, -2.f};
  EXPECT_EQ(mote_sampler_sample(s, lg), 1);
  mote_sampler_destroy(s);
  // top_k = 1 is greedy whatever the temperature.
  mote_sampler_params_t k1{1.5f, 1, 1.f, 9};
  ASSERT_EQ(mote_sampler_create(&k1, 5, nullptr, &s), MOTE_OK);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(mote_sampler_sample(s, lg), 1);
  mote_sampler_destroy(s);
  // top_p small keeps only the most likely tokens (1 and 3, tied).
  mote_sampler_params_t tp{1.f, 0, 0.5f, 5};
  ASSERT_EQ(mote_sampler_create(&tp, 5, nullptr, &s), MOTE_OK);
  for (int i = 0; i < 50; ++i) {
    int32_t t = mote_sampler_sample(s, lg);
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
  mote_sampler_destroy(s);
  // Same seed, same sequence; frequencies follow softmax.
  mote_sampler_params_t t1{1.f, 0, 1.f, 42};
  mote_sampler_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(mote_sampler_create(&t1, 5, nullptr, &a), MOTE_OK);
  ASSERT_EQ(mote_sampler_create(&t1, 5, nullptr, &b), MOTE_OK);
  std::vector<int> count(5, 0);
  for (int i = 0; i < 20000; ++i) {
    int32_t x = mote_sampler_sample(a, lg);
    ASSERT_EQ(x, mote_sampler_sample(b, lg));
    count[x]++;
  }
  double z = 0;
  for (float v : lg) z += std::exp(v);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(count[i] / 20000.0, std::exp(lg[i]) / z, 0.02) << i;
  mote_sampler_destroy(a);
  mote_sampler_destroy(b);
  mote_sampler_params_t bad{-1.f, 0, 1.f, 0};
  EXPECT_EQ(mote_sampler_create(&bad, 5, nullptr, &s), MOTE_ERR_INVALID_ARGUMENT);
}

// ---- allocation hook --------------------------------------------------------
struct Counter { long allocs = 0, frees = 0; };
void *count_alloc(void *u, size_t n, size_t align) {
  static_cast<Counter *>(u)->allocs++;
  void *p = nullptr;
  return posix_memalign(&p, align, n) == 0 ? p : nullptr;
}
void count_free(void *u, void *p) {
  static_cast<Counter *>(u)->frees++;
  std::free(p);
}

// Runs a model from `bytes` or `path` and proves prefill/decode allocate nothing.
void check_no_allocs(const std::string &bytes, const char *path, uint32_t threads) {
  Counter c;
  mote_allocator_t a{count_alloc, count_free, &c};
  mote_model_options_t mo{0, &a};
  mote_model_t *m = nullptr;
  std::vector<uint64_t> store(bytes.size() / 8 + 1);
  if (!bytes.empty()) std::memcpy(store.data(), bytes.data(), bytes.size());
  ASSERT_EQ(path ? mote_model_open(path, &mo, &m)
                 : mote_model_open_memory(store.data(), bytes.size(), &mo, &m),
            MOTE_OK) << mote_last_error();
  mote_session_options_t so{threads, 0};
  mote_session_t *s = nullptr;
  ASSERT_EQ(mote_session_create(m, &so, &s), MOTE_OK) << mote_last_error();
  mote_model_info_t info;
  ASSERT_EQ(mote_model_get_info(m, &info), MOTE_OK);
  EXPECT_GT(c.allocs, 0);
  long before = c.allocs;
  const float *lg;
  std::vector<int32_t> prompt = {1, 3, 5, 7, 9, 11};
  ASSERT_EQ(mote_session_prefill(s, prompt.data(), prompt.size(), &lg), MOTE_OK);
  int steps = std::min<int>(200, int(info.context) - int(prompt.size()) - 1);
  for (int i = 0; i < steps; ++i)
    ASSERT_EQ(mote_session_decode(s, (i * 13) % int(info.vocab_size), &lg), MOTE_OK) << i;
  mote_session_reset(s);
  ASSERT_EQ(mote_session_prefill(s, prompt.data(), prompt.size(), &lg), MOTE_OK);
  EXPECT_EQ(c.allocs, before) << "prefill/decode allocated";
  mote_session_destroy(s);
  mote_model_close(m);
  EXPECT_EQ(c.allocs, c.frees);
}

TEST(Alloc, NoAllocationPerToken) {
  mt::Bundle b;
  b.context = 256;
  b.make();
  check_no_allocs(b.build(), nullptr, 1);
  check_no_allocs(b.build(), nullptr, 2);
}

TEST(Alloc, NoAllocationPerTokenStories) {
  const char *p = std::getenv("MOTE_TEST_BUNDLE");
  if (!p || !*p) GTEST_SKIP() << "MOTE_TEST_BUNDLE not set (motec not built)";
  check_no_allocs("", p, 1);
  check_no_allocs("", p, 2);
}

}  // namespace
