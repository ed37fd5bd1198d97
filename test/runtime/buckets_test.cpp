// buckets_test.cpp: bucketed bundles (motec --buckets, docs/buckets.md).
// Chunked prefill through static (T, C) graphs gives the logits of one
// dynamic prefill call (max|d| <= 1e-5 max|logit|) and the same greedy
// tokens for every prompt length; the chunk planner finds the least-cost
// chunking (checked against an independent forward search) and pads only
// the last chunk; nothing is allocated per token.
//
// MOTE_TEST_BUCKET_BUNDLE: a bucketed bundle; MOTE_TEST_ONESHOT_BUNDLE: the
// same model without buckets whose prefill graph takes a whole prompt;
// MOTE_TEST_MAX_LEN (default 300) and MOTE_TEST_LEN_STEP (default 1): the
// prompt lengths compared.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <limits>
#include <string>
#include <vector>

#include "mote/bundle_format.h"
#include "mote/mote.h"

namespace {

std::string env(const char *n) {
  const char *p = std::getenv(n);
  return p ? p : "";
}
size_t envNum(const char *n, size_t dflt) {
  std::string v = env(n);
  return v.empty() ? dflt : size_t(std::strtoul(v.c_str(), nullptr, 10));
}

size_t g_allocs = 0;
void *count_alloc(void *, size_t size, size_t align) {
  ++g_allocs;
  return std::aligned_alloc(align, (size + align - 1) / align * align);
}
void count_free(void *, void *p) { std::free(p); }

struct Model {
  mote_allocator_t alloc{count_alloc, count_free, nullptr};
  mote_model_t *m = nullptr;
  mote_session_t *s = nullptr;
  mote_model_info_t info{};
  explicit Model(const std::string &path, uint32_t context = 0) {
    mote_model_options_t mo{0, &alloc};
    EXPECT_EQ(mote_model_open(path.c_str(), &mo, &m), MOTE_OK) << path << ": " << mote_last_error();
    if (!m) return;
    EXPECT_EQ(mote_model_get_info(m, &info), MOTE_OK);
    mote_session_options_t so{2, context};
    EXPECT_EQ(mote_session_create(m, &so, &s), MOTE_OK) << mote_last_error();
  }
  ~Model() {
    mote_session_destroy(s);
    mote_model_close(m);
  }
};

std::vector<int32_t> prompt(size_t n, uint32_t vocab, uint32_t seed) {
  std::vector<int32_t> p(n);
  uint32_t x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    p[i] = i == 0 ? 1 : int32_t((x >> 8) % vocab);
  }
  return p;
}

int32_t argmax(const float *l, uint32_t n) {
  return int32_t(std::max_element(l, l + n) - l);
}

// Prefill logits and the next `gen` greedy tokens.
void run(Model &md, const std::vector<int32_t> &p, int gen, std::vector<float> &logits,
         std::vector<int32_t> &toks) {
  mote_session_reset(md.s);
  const float *lg = nullptr;
  ASSERT_EQ(mote_session_prefill(md.s, p.data(), p.size(), &lg), MOTE_OK) << mote_last_error();
  ASSERT_EQ(mote_session_position(md.s), p.size());
  logits.assign(lg, lg + md.info.vocab_size);
  toks.clear();
  for (int i = 0; i < gen; ++i) {
    int32_t t = argmax(lg, md.info.vocab_size);
    toks.push_back(t);
    if (mote_session_position(md.s) + 1 > md.info.context) break;
    ASSERT_EQ(mote_session_decode(md.s, t, &lg), MOTE_OK) << mote_last_error();
  }
}

std::vector<uint32_t> plan(Model &md, size_t count) {
  std::vector<uint32_t> rows(count + 1);
  size_t n = 0;
  EXPECT_EQ(mote_session_prefill_plan(md.s, count, rows.data(), rows.size(), &n), MOTE_OK)
      << mote_last_error();
  rows.resize(n);
  return rows;
}

// Least cost of covering `count` tokens from position 0, by a forward search
// over covered prefixes (the runtime plans backwards over remaining length):
// chunks before the last cost cost * mid_share (no logits) and stay inside
// the prompt; the last one (full, or padded within the context) costs cost.
double forwardBest(const mote_buckets_info_t &bi, const std::vector<double> &cost, size_t count,
                   size_t context) {
  std::vector<double> f(count + 1, std::numeric_limits<double>::infinity());
  f[0] = 0;
  double best = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < count; ++i)
    for (uint32_t k = 0; k < bi.n_tokens; ++k) {
      size_t T = bi.tokens[k];
      if (i + T < count) f[i + T] = std::min(f[i + T], f[i] + cost[k] * bi.mid_share[k]);
      else if (i + T <= context) best = std::min(best, f[i] + cost[k]);
    }
  return best;
}

double planCost(const mote_buckets_info_t &bi, const std::vector<double> &cost,
                const std::vector<uint32_t> &rows) {
  double c = 0;
  for (size_t i = 0; i < rows.size(); ++i)
    for (uint32_t k = 0; k < bi.n_tokens; ++k)
      if (bi.tokens[k] == rows[i]) c += cost[k] * (i + 1 < rows.size() ? bi.mid_share[k] : 1.0);
  return c;
}

class Buckets : public ::testing::Test {
protected:
  void SetUp() override {
    bucketed = env("MOTE_TEST_BUCKET_BUNDLE");
    oneshot = env("MOTE_TEST_ONESHOT_BUNDLE");
    if (bucketed.empty() || oneshot.empty())
      GTEST_SKIP() << "MOTE_TEST_BUCKET_BUNDLE / MOTE_TEST_ONESHOT_BUNDLE not set";
  }
  std::string bucketed, oneshot;
};

TEST_F(Buckets, TableAndPlanner) {
  Model b(bucketed), o(oneshot);
  ASSERT_TRUE(b.s && o.s);
  mote_buckets_info_t bi, oi;
  ASSERT_EQ(mote_model_get_buckets(b.m, &bi), MOTE_OK);
  ASSERT_EQ(mote_model_get_buckets(o.m, &oi), MOTE_OK);
  EXPECT_EQ(oi.n_tokens, 0u);
  ASSERT_GE(bi.n_tokens, 2u);
  ASSERT_GE(bi.n_contexts, 1u);
  EXPECT_EQ(bi.contexts[bi.n_contexts - 1], b.info.context);
  for (uint32_t k = 0; k < bi.n_tokens; ++k) {
    EXPECT_GT(bi.cost_estimate_s[k], 0.0);
    EXPECT_GT(bi.mid_share[k], 0.0);
    EXPECT_LT(bi.mid_share[k], 1.0) << "the logits step has a cost";
    if (k) {
      EXPECT_GT(bi.cost_estimate_s[k], bi.cost_estimate_s[k - 1]);
    }
  }
  const size_t maxLen = std::min<size_t>(envNum("MOTE_TEST_MAX_LEN", 300), b.info.context);
  // Three cost models: the compiler's estimate; cost = T (padding never
  // pays); the largest bucket nearly free (everything padded to it).
  std::vector<std::vector<double>> models(3, std::vector<double>(bi.n_tokens));
  for (uint32_t k = 0; k < bi.n_tokens; ++k) {
    models[0][k] = bi.cost_estimate_s[k];
    models[1][k] = bi.tokens[k];
    models[2][k] = k + 1 == bi.n_tokens ? 1e-6 : 1.0;
  }
  const uint32_t Tmax = bi.tokens[bi.n_tokens - 1];
  for (size_t mi = 0; mi < models.size(); ++mi) {
    for (uint32_t k = 0; k < bi.n_tokens; ++k)
      ASSERT_EQ(mote_session_set_bucket_cost(b.s, bi.tokens[k], models[mi][k]), MOTE_OK);
    for (size_t L = 1; L <= maxLen; ++L) {
      std::vector<uint32_t> rows = plan(b, L);
      ASSERT_FALSE(rows.empty());
      size_t total = 0;
      for (size_t i = 0; i < rows.size(); ++i) {
        total += rows[i];
        if (i + 1 < rows.size()) {
          ASSERT_LE(total, L) << "padding before the last chunk";
        }
      }
      ASSERT_GE(total, L);
      ASSERT_LE(total, b.info.context);
      EXPECT_NEAR(planCost(bi, models[mi], rows),
                  forwardBest(bi, models[mi], L, b.info.context), 1e-9)
          << "model " << mi << " L " << L;
      if (mi == 1) {
        EXPECT_EQ(total, L) << "padding with cost = T";
      }
      if (mi == 2) {
        EXPECT_EQ(rows.size(), (L + Tmax - 1) / Tmax) << L;
      }
    }
  }
  // The fixed policies.
  ASSERT_EQ(mote_session_set_prefill_policy(b.s, MOTE_PREFILL_PAD_LARGEST), MOTE_OK);
  std::vector<uint32_t> pad = plan(b, 100);
  ASSERT_EQ(pad.size(), 1u);
  EXPECT_EQ(pad[0], Tmax);
  ASSERT_EQ(mote_session_set_prefill_policy(b.s, MOTE_PREFILL_DYNAMIC), MOTE_OK);
  std::vector<uint32_t> dyn = plan(b, 100);
  size_t sum = 0;
  for (uint32_t r : dyn) sum += r;
  EXPECT_EQ(sum, 100u);
  // Errors.
  EXPECT_EQ(mote_session_set_prefill_policy(b.s, 7), MOTE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(mote_session_set_bucket_cost(b.s, 3, 1.0), MOTE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(mote_session_set_bucket_cost(b.s, bi.tokens[0], -1.0), MOTE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(mote_session_set_bucket_cost(b.s, bi.tokens[0], NAN), MOTE_ERR_INVALID_ARGUMENT);
  size_t n = 0;
  uint32_t one[1];
  EXPECT_EQ(mote_session_prefill_plan(b.s, b.info.context + 1, one, 1, &n), MOTE_ERR_OUT_OF_RANGE);
  ASSERT_EQ(mote_session_set_prefill_policy(b.s, MOTE_PREFILL_BUCKETS), MOTE_OK);
  EXPECT_EQ(mote_session_prefill_plan(b.s, Tmax + 1, one, 1, &n), MOTE_ERR_BUFFER_TOO_SMALL);
  EXPECT_GE(n, 2u);
}

// A padded chunk never pads past the context: near the end of a small
// session context the last chunk splits instead (or runs unpadded).
TEST_F(Buckets, PaddingStopsAtTheContext) {
  Model b(bucketed, 0);
  ASSERT_TRUE(b.s);
  mote_buckets_info_t bi;
  ASSERT_EQ(mote_model_get_buckets(b.m, &bi), MOTE_OK);
  const uint32_t Tmax = bi.tokens[bi.n_tokens - 1];
  // Largest bucket nearly free: padding preferred wherever it fits.
  for (uint32_t k = 0; k < bi.n_tokens; ++k)
    ASSERT_EQ(mote_session_set_bucket_cost(b.s, bi.tokens[k], k + 1 == bi.n_tokens ? 1e-6 : 1.0),
              MOTE_OK);
  const size_t C = b.info.context;
  std::vector<int32_t> p = prompt(C, b.info.vocab_size, 7);
  const float *lg = nullptr;
  ASSERT_EQ(mote_session_prefill(b.s, p.data(), C - Tmax / 2, &lg), MOTE_OK);
  std::vector<uint32_t> rows = plan(b, Tmax / 2);
  size_t total = 0;
  for (uint32_t r : rows) total += r;
  EXPECT_LE(mote_session_position(b.s) + total, C);
  ASSERT_EQ(mote_session_prefill(b.s, p.data(), Tmax / 2, &lg), MOTE_OK) << mote_last_error();
  EXPECT_EQ(mote_session_position(b.s), C);
}

TEST_F(Buckets, ChunkedPrefillMatchesOneShotEveryLength) {
  Model b(bucketed), o(oneshot);
  ASSERT_TRUE(b.s && o.s);
  ASSERT_EQ(b.info.vocab_size, o.info.vocab_size);
  const size_t maxLen = std::min<size_t>(envNum("MOTE_TEST_MAX_LEN", 300), b.info.context - 8);
  const size_t step = std::max<size_t>(envNum("MOTE_TEST_LEN_STEP", 1), 1);
  mote_buckets_info_t bi;
  ASSERT_EQ(mote_model_get_buckets(b.m, &bi), MOTE_OK);
  ASSERT_GE(o.info.prefill_tokens, maxLen) << "the one-shot bundle must take the whole prompt";
  std::vector<float> lo, lb;
  std::vector<int32_t> to, tb;
  double worst = 0;
  size_t checked = 0;
  for (size_t L = 1; L <= maxLen; L += (L < 140 ? 1 : step)) {
    std::vector<int32_t> p = prompt(L, b.info.vocab_size, uint32_t(L));
    ASSERT_NO_FATAL_FAILURE(run(o, p, 6, lo, to));
    float mx = 0;
    for (float v : lo) mx = std::max(mx, std::fabs(v));
    // The cost-based plan, then everything padded to the largest bucket.
    for (int policy : {MOTE_PREFILL_BUCKETS, MOTE_PREFILL_PAD_LARGEST}) {
      ASSERT_EQ(mote_session_set_prefill_policy(b.s, policy), MOTE_OK);
      ASSERT_NO_FATAL_FAILURE(run(b, p, 6, lb, tb));
      float d = 0;
      for (size_t i = 0; i < lo.size(); ++i) d = std::max(d, std::fabs(lo[i] - lb[i]));
      worst = std::max(worst, double(d / mx));
      ASSERT_LE(d, 1e-5f * mx) << "L=" << L << " policy " << policy;
      ASSERT_EQ(to, tb) << "greedy tokens differ at L=" << L << " policy " << policy;
    }
    ++checked;
  }
  std::printf("buckets: %zu prompt lengths, worst max|d|/max|logit| %.3g\n", checked, worst);
}

TEST_F(Buckets, NoAllocationPerToken) {
  Model b(bucketed);
  ASSERT_TRUE(b.s);
  size_t before = g_allocs;
  const size_t L = std::min<size_t>(300, b.info.context - 40);
  std::vector<int32_t> p = prompt(L, b.info.vocab_size, 3);
  const float *lg = nullptr;
  for (int policy : {MOTE_PREFILL_BUCKETS, MOTE_PREFILL_PAD_LARGEST, MOTE_PREFILL_DYNAMIC}) {
    ASSERT_EQ(mote_session_set_prefill_policy(b.s, policy), MOTE_OK);
    for (size_t n : {size_t(1), size_t(7), size_t(33), L}) {
      mote_session_reset(b.s);
      ASSERT_EQ(mote_session_prefill(b.s, p.data(), n, &lg), MOTE_OK) << mote_last_error();
      for (int i = 0; i < 30; ++i)
        ASSERT_EQ(mote_session_decode(b.s, argmax(lg, b.info.vocab_size), &lg), MOTE_OK);
    }
  }
  mote_session_reset(b.s);
  std::vector<uint32_t> rows = plan(b, L);
  EXPECT_FALSE(rows.empty());
  EXPECT_EQ(g_allocs, before) << "bucketed prefill/decode allocated";
}

// A bucketed bundle whose manifest bytes were edited (same length), with its
// checksums redone: open must fail with one line naming the problem.
std::string openEdited(const std::string &path, const std::string &from, const std::string &to) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string b = ss.str();
  uint64_t moff, mlen;
  std::memcpy(&moff, b.data() + MOTE_HDR_OFF_MANIFEST_OFFSET, 8);
  std::memcpy(&mlen, b.data() + MOTE_HDR_OFF_MANIFEST_SIZE, 8);
  size_t at = b.rfind(from, moff + mlen - from.size());
  if (at == std::string::npos || at < moff) return "pattern not found";
  b.replace(at, from.size(), to);
  uint64_t h = mote_xxh64(b.data() + moff, mlen, 0);
  std::memcpy(&b[MOTE_HDR_OFF_MANIFEST_XXH64], &h, 8);
  h = mote_xxh64(b.data(), MOTE_HDR_OFF_HEADER_XXH64, 0);
  std::memcpy(&b[MOTE_HDR_OFF_HEADER_XXH64], &h, 8);
  std::vector<uint64_t> store(b.size() / 8 + 1);
  std::memcpy(store.data(), b.data(), b.size());
  mote_model_t *m = nullptr;
  mote_status_t st = mote_model_open_memory(store.data(), b.size(), nullptr, &m);
  mote_model_close(m);
  return st == MOTE_ERR_INVALID_BUNDLE ? mote_last_error() : "opened";
}

TEST_F(Buckets, RejectsBrokenBucketSets) {
  // The last graph is decode_c<largest C>: renaming its kind, or clearing
  // its bucket flag (field 50 = varint key 0x90 0x03), leaves a hole.
  std::string e = openEdited(bucketed, std::string("\x5a\x06" "decode", 8),
                             std::string("\x5a\x06" "verify", 8));
  EXPECT_NE(e.find("bucket: kind 'verify' is neither prefill nor decode"), std::string::npos) << e;
  e = openEdited(bucketed, std::string("\x90\x03\x01", 3), std::string("\x90\x03\x00", 3));
  EXPECT_NE(e.find("no decode bucket graph for context"), std::string::npos) << e;
}

} // namespace
