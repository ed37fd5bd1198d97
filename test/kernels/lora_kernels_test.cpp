// The LoRA up-projection kernel (runtime/kernels/lora_kernels.h): AVX2 vs the
// scalar reference vs a double-precision loop, over ranks, widths with every
// tail length, several rows, sub-ranges [n_begin, n_end) that must leave the
// other columns untouched, for every kernel table of this build (ref, AVX2,
// NEON under qemu).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "lora_kernels.h"

namespace {

struct Case {
  size_t T, r, N, b, e;
};

void check(mote_lora_b_f32_fn fn, const Case &c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> tmp(c.T * c.r), bt(c.r * c.N), y(c.T * c.N), y0;
  for (float &v : tmp) v = u(rng);
  for (float &v : bt) v = u(rng);
  for (float &v : y) v = u(rng);
  y0 = y;
  fn(tmp.data(), c.T, c.r, bt.data(), y.data(), c.N, c.b, c.e);
  for (size_t t = 0; t < c.T; ++t)
    for (size_t n = 0; n < c.N; ++n) {
      double want = y0[t * c.N + n];
      if (n >= c.b && n < c.e)
        for (size_t k = 0; k < c.r; ++k) want += double(tmp[t * c.r + k]) * bt[k * c.N + n];
      double tol = (n >= c.b && n < c.e) ? 1e-5 * (1.0 + double(c.r)) : 0.0;
      ASSERT_LE(std::fabs(y[t * c.N + n] - want), tol)
          << "T " << c.T << " r " << c.r << " N " << c.N << " [" << c.b << ", " << c.e
          << ") at t " << t << " n " << n;
    }
}

std::vector<Case> cases() {
  std::vector<Case> cs;
  for (size_t r : {1, 3, 8, 32, 65})
    for (size_t N : {1, 7, 8, 9, 31, 32, 33, 64, 100, 288})
      for (size_t T : {1, 3}) {
        cs.push_back({T, r, N, 0, N});
        if (N > 10) cs.push_back({T, r, N, 5, N - 3}); // a middle chunk
      }
  return cs;
}

TEST(LoraB, ReferenceMatchesDouble) {
  uint32_t seed = 1;
  for (const Case &c : cases()) check(mote_lora_b_f32_ref, c, seed++);
}

#if defined(MOTE_HAVE_AVX2)
TEST(LoraB, Avx2MatchesDouble) {
  uint32_t seed = 1000;
  for (const Case &c : cases()) check(mote_lora_b_f32_avx2, c, seed++);
}
#endif

TEST(LoraB, EveryTableHasOneMatchingDouble) {
  // The kernel tables carry it (NULL would make the executor use _ref).
  std::vector<const mote_kernels_t *> all = {mote_kernels_ref()};
  if (mote_kernels_avx2()) all.push_back(mote_kernels_avx2());
  if (mote_kernels_neon()) all.push_back(mote_kernels_neon());
  EXPECT_EQ(mote_kernels_ref()->lora_b_f32, &mote_lora_b_f32_ref);
  for (const mote_kernels_t *k : all) {
    ASSERT_NE(k->lora_b_f32, nullptr) << k->isa;
    uint32_t seed = 2000;
    for (const Case &c : cases()) check(k->lora_b_f32, c, seed++);
  }
#if defined(MOTE_HAVE_NEON) && defined(__aarch64__)
  EXPECT_EQ(mote_kernels_neon()->lora_b_f32, &mote_lora_b_f32_neon);
#endif
}

}  // namespace
