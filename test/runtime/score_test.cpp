// score_test.cpp: mote_session_score returns every row's logits, equal to
// feeding the same tokens one at a time through mote_session_decode; with a
// "score" graph (motec compile --score-graph) and without one (decode
// fallback); allocates nothing; rejects what prefill rejects.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "mote/mote.h"

namespace {

std::string env(const char *n) {
  const char *p = std::getenv(n);
  return p ? p : "";
}

size_t g_allocs = 0;
void *count_alloc(void *, size_t size, size_t align) {
  ++g_allocs;
  return std::aligned_alloc(align, (size + align - 1) / align * align);
}
void count_free(void *, void *p) { std::free(p); }

struct Fixture {
  mote_allocator_t alloc{count_alloc, count_free, nullptr};
  mote_model_t *m = nullptr;
  mote_session_t *s = nullptr;
  mote_model_info_t info{};
  explicit Fixture(const std::string &path) {
    mote_model_options_t mo{0, &alloc};
    EXPECT_EQ(mote_model_open(path.c_str(), &mo, &m), MOTE_OK) << path << ": " << mote_last_error();
    if (!m) return;
    EXPECT_EQ(mote_model_get_info(m, &info), MOTE_OK);
    mote_session_options_t so{2, 0};
    EXPECT_EQ(mote_session_create(m, &so, &s), MOTE_OK) << mote_last_error();
  }
  ~Fixture() {
    mote_session_destroy(s);
    mote_model_close(m);
  }
};

// Deterministic ids in [3, vocab): an LCG, so no test data file is needed.
std::vector<int32_t> test_ids(size_t n, uint32_t vocab) {
  std::vector<int32_t> ids(n);
  uint32_t x = 12345;
  ids[0] = 1; // BOS
  for (size_t i = 1; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids[i] = int32_t(3 + (x >> 8) % (vocab - 3));
  }
  return ids;
}

// Row-wise max|a - b| / max|b| over count rows of vocab.
double worst_rel(const float *a, const float *b, size_t rows, size_t vocab) {
  double worst = 0;
  for (size_t r = 0; r < rows; ++r) {
    double d = 0, scale = 0;
    for (size_t v = 0; v < vocab; ++v) {
      d = std::max(d, double(std::fabs(a[r * vocab + v] - b[r * vocab + v])));
      scale = std::max(scale, double(std::fabs(b[r * vocab + v])));
    }
    worst = std::max(worst, scale > 0 ? d / scale : d);
  }
  return worst;
}

void check_score_equals_decode(const std::string &path, double tol) {
  ASSERT_FALSE(path.empty()) << "bundle path not set (MOTE_TEST_BUNDLE / MOTE_TEST_SCORE_BUNDLE)";
  Fixture f(path);
  ASSERT_TRUE(f.s);
  const size_t V = f.info.vocab_size;
  // 3 full chunks of a 16-row score graph plus a partial one, then a
  // second call that starts mid-cache (history from the first).
  const size_t n1 = 53, n2 = 11, n = n1 + n2;
  std::vector<int32_t> ids = test_ids(n, f.info.vocab_size);

  std::vector<float> want(n * V);
  const float *lg = nullptr;
  for (size_t t = 0; t < n; ++t) {
    ASSERT_EQ(mote_session_decode(f.s, ids[t], &lg), MOTE_OK) << mote_last_error();
    std::copy(lg, lg + V, want.begin() + t * V);
  }

  std::vector<float> got(n * V, NAN);
  mote_session_reset(f.s);
  size_t before = g_allocs;
  ASSERT_EQ(mote_session_score(f.s, ids.data(), n1, got.data()), MOTE_OK) << mote_last_error();
  EXPECT_EQ(mote_session_position(f.s), n1);
  ASSERT_EQ(mote_session_score(f.s, ids.data() + n1, n2, got.data() + n1 * V), MOTE_OK)
      << mote_last_error();
  EXPECT_EQ(g_allocs, before) << "mote_session_score allocated";
  EXPECT_EQ(mote_session_position(f.s), n);
  double w = worst_rel(got.data(), want.data(), n, V);
  EXPECT_LE(w, tol) << path << ": score vs decode, worst row max|d|/max|logit| = " << w;
  std::printf("%s: score vs decode over %zu rows: worst relative %.3g\n", path.c_str(), n, w);

  // The last row also equals prefill's logits.
  mote_session_reset(f.s);
  ASSERT_EQ(mote_session_prefill(f.s, ids.data(), n, &lg), MOTE_OK);
  EXPECT_LE(worst_rel(got.data() + (n - 1) * V, lg, 1, V), tol);

  // Rejections leave the position where it was.
  mote_session_reset(f.s);
  ASSERT_EQ(mote_session_score(f.s, ids.data(), 5, got.data()), MOTE_OK);
  std::vector<int32_t> bad = ids;
  bad[7] = int32_t(V + 3);
  EXPECT_EQ(mote_session_score(f.s, bad.data(), 10, got.data()), MOTE_ERR_OUT_OF_RANGE);
  EXPECT_EQ(mote_session_position(f.s), 5u);
  std::vector<int32_t> big(f.info.context, 3);
  EXPECT_EQ(mote_session_score(f.s, big.data(), big.size(), got.data()), MOTE_ERR_OUT_OF_RANGE);
  EXPECT_EQ(mote_session_position(f.s), 5u);
  EXPECT_EQ(mote_session_score(f.s, ids.data(), 0, got.data()), MOTE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(mote_session_score(f.s, ids.data(), 3, nullptr), MOTE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(mote_session_score(nullptr, ids.data(), 3, got.data()), MOTE_ERR_INVALID_ARGUMENT);
}

// With a score graph: T-row matrix kernels vs T=1 decode kernels may round
// differently, so the bound is the e2e tolerance, far below any real error.
TEST(Score, ScoreGraphEqualsDecode) {
  check_score_equals_decode(env("MOTE_TEST_SCORE_BUNDLE"), 1e-5);
}

// Without one, score runs the decode graph itself: the same arithmetic.
TEST(Score, DecodeFallbackEqualsDecode) {
  check_score_equals_decode(env("MOTE_TEST_BUNDLE"), 0.0);
}

} // namespace
