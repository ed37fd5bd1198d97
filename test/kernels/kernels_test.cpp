// Kernel tests: each ISA table against the scalar reference, the reference
// against double-precision formulas, on odd shapes and split ranges.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels_internal.h"

namespace {

using Vec = std::vector<float>;

Vec Random(size_t n, std::mt19937 &rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  Vec v(n);
  for (float &x : v) x = d(rng);
  return v;
}

// Every SIMD table this build and CPU have (AVX2 on x86-64, NEON on aarch64).
std::vector<const mote_kernels_t *> SimdTables() {
  std::vector<const mote_kernels_t *> t;
  if (const mote_kernels_t *k = mote_kernels_avx2()) t.push_back(k);
  if (const mote_kernels_t *k = mote_kernels_neon()) t.push_back(k);
  return t;
}

#define FOR_EACH_SIMD(k)                                                       \
  if (SimdTables().empty()) GTEST_SKIP() << "no SIMD kernels on this CPU";     \
  for (const mote_kernels_t *k : SimdTables())

const size_t kLens[] = {1, 3, 31, 33, 1023};
const float kSentinel = 12345.0f;

TEST(Dispatch, TablesAreComplete) {
  std::vector<const mote_kernels_t *> all = SimdTables();
  all.push_back(mote_kernels_ref());
  for (const mote_kernels_t *k : all) {
    ASSERT_NE(k->isa, nullptr);
    EXPECT_TRUE(k->linear_f32 && k->rms_norm_f32 && k->rope_f32 &&
                k->attention_f32 && k->swiglu_f32 && k->add_f32)
        << k->isa;
  }
  EXPECT_STREQ(mote_kernels_ref()->isa, "ref");
}

TEST(Dispatch, Avx2WhereTheCpuHasIt) {
#if defined(MOTE_HAVE_AVX2)
  __builtin_cpu_init();
  bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  EXPECT_EQ(mote_kernels_avx2() != nullptr, has);
#else
  EXPECT_EQ(mote_kernels_avx2(), nullptr);
#endif
}

#if defined(MOTE_HAVE_AVX2)
// A VNNI table v is the AVX2 table with its own int8-activation dot kernels
// (and, where own_quantizer, its own activation quantizer and layout).
void ExpectAvx2PlusInt8(const mote_kernels_t *v, const char *isa, bool own_quantizer) {
  const mote_kernels_t *a = mote_kernels_avx2();
  EXPECT_STREQ(v->isa, isa);
  EXPECT_EQ(v->linear_f32, a->linear_f32);
  if (own_quantizer)
    EXPECT_NE(v->linear_qact_i8, a->linear_qact_i8) << isa;
  else
    EXPECT_EQ(v->linear_qact_i8, a->linear_qact_i8) << isa;
  EXPECT_NE(v->linear_q2_i8, a->linear_q2_i8) << isa;
  EXPECT_NE(v->linear_q4_i8, a->linear_q4_i8) << isa;
  EXPECT_NE(v->linear_q8_i8, a->linear_q8_i8) << isa;
}
#endif

// AVX-VNNI: the table exactly where the CPU (and the compiler) has it; it
// differs from the AVX2 table only in the int8-activation dot kernels.
TEST(Dispatch, AvxVnniWhereTheCpuHasIt) {
#if defined(MOTE_HAVE_AVX2) && defined(MOTE_HAVE_AVXVNNI)
  __builtin_cpu_init();
  bool has = __builtin_cpu_supports("avxvnni") && mote_kernels_avx2() != nullptr;
  ASSERT_EQ(mote_kernels_avxvnni() != nullptr, has);
  if (!has) GTEST_SKIP() << "no AVX-VNNI on this CPU";
  ExpectAvx2PlusInt8(mote_kernels_avxvnni(), "avxvnni", false);
#else
  EXPECT_EQ(mote_kernels_avxvnni(), nullptr);
#endif
}

// AVX-512 VNNI: the table exactly where the CPU has F, BW, VL and VNNI; its
// four int8-activation entries (quantizer included) are its own.
TEST(Dispatch, Avx512VnniWhereTheCpuHasIt) {
#if defined(MOTE_HAVE_AVX2) && defined(MOTE_HAVE_AVX512VNNI)
  __builtin_cpu_init();
  bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
             mote_kernels_avx2() != nullptr;
  ASSERT_EQ(mote_kernels_avx512vnni() != nullptr, has);
  if (!has) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  ExpectAvx2PlusInt8(mote_kernels_avx512vnni(), "avx512vnni", true);
#else
  EXPECT_EQ(mote_kernels_avx512vnni(), nullptr);
#endif
}

TEST(Dispatch, NeonOnAarch64) {
#if defined(MOTE_HAVE_NEON) && defined(__aarch64__)
  ASSERT_NE(mote_kernels_neon(), nullptr); // NEON is mandatory on AArch64
  EXPECT_STREQ(mote_kernels_neon()->isa, "neon");
  // Kernels without a NEON version fall back to the reference.
  EXPECT_NE(mote_kernels_neon()->linear_f32, mote_kernels_ref()->linear_f32);
#else
  EXPECT_EQ(mote_kernels_neon(), nullptr);
#endif
}

TEST(Dispatch, EnvForcesReference) {
  const char *old = getenv("MOTE_ISA");
  std::string saved = old ? old : "";
  setenv("MOTE_ISA", "ref", 1);
  EXPECT_EQ(mote_kernels_best(), mote_kernels_ref());
  unsetenv("MOTE_ISA");
  const mote_kernels_t *want =
      mote_kernels_avx2() ? mote_kernels_avx2() : mote_kernels_ref();
  if (mote_kernels_avxvnni()) want = mote_kernels_avxvnni();
  if (mote_kernels_avx512vnni()) want = mote_kernels_avx512vnni();
  if (mote_kernels_neon()) want = mote_kernels_neon();
  EXPECT_EQ(mote_kernels_best(), want);
  // MOTE_ISA=<isa> picks each table this CPU has by name, even where a
  // more specific one is there; an unknown name gets the best.
  for (const mote_kernels_t *k : {mote_kernels_avx2(), mote_kernels_avxvnni(),
                                  mote_kernels_avx512vnni(), mote_kernels_neon()}) {
    if (!k) continue;
    setenv("MOTE_ISA", k->isa, 1);
    EXPECT_EQ(mote_kernels_best(), k) << k->isa;
  }
  setenv("MOTE_ISA", "no-such-isa", 1);
  EXPECT_EQ(mote_kernels_best(), want);
  unsetenv("MOTE_ISA");
  if (old) setenv("MOTE_ISA", saved.c_str(), 1);
}

// ------------------------------------------------------------------ linear

struct LinearCase {
  size_t T, K, N;
};

// y over [nb, ne) with untouched sentinels elsewhere.
Vec RunLinear(mote_linear_f32_fn f, const Vec &x, const Vec &w, const float *bias,
              size_t T, size_t K, size_t N, size_t nb, size_t ne) {
  Vec y(T * N, kSentinel);
  f(x.data(), T, K, w.data(), bias, y.data(), N, nb, ne);
  return y;
}

std::vector<LinearCase> LinearCases() {
  std::vector<LinearCase> c;
  for (size_t T : {1, 2, 3, 5, 64})
    for (size_t K : kLens)
      for (size_t N : {1, 2, 5, 7, 13, 33})
        if (T * K * N <= 4000000) c.push_back({T, K, N});
  c.push_back({1, 31, 300});   // several row chunks
  c.push_back({7, 64, 1000});  // several row chunks, token tail
  c.push_back({100, 1023, 14}); // several token chunks
  return c;
}

TEST(Linear, ReferenceMatchesDouble) {
  std::mt19937 rng(1);
  for (const LinearCase &c : LinearCases()) {
    Vec x = Random(c.T * c.K, rng), w = Random(c.N * c.K, rng), b = Random(c.N, rng);
    Vec y = RunLinear(mote_kernels_ref()->linear_f32, x, w, b.data(), c.T, c.K, c.N, 0, c.N);
    for (size_t t = 0; t < c.T; ++t)
      for (size_t n = 0; n < c.N; ++n) {
        double s = b[n], mag = std::fabs(b[n]);
        for (size_t k = 0; k < c.K; ++k) {
          s += (double)x[t * c.K + k] * w[n * c.K + k];
          mag += std::fabs((double)x[t * c.K + k] * w[n * c.K + k]);
        }
        ASSERT_NEAR(y[t * c.N + n], s, 1e-5 * mag + 1e-7)
            << "T=" << c.T << " K=" << c.K << " N=" << c.N;
      }
  }
}

TEST(Linear, SimdMatchesReference) {
  FOR_EACH_SIMD(k) {
    std::mt19937 rng(2);
    for (const LinearCase &c : LinearCases())
      for (bool with_bias : {false, true}) {
        Vec x = Random(c.T * c.K, rng), w = Random(c.N * c.K, rng), b = Random(c.N, rng);
        const float *bias = with_bias ? b.data() : nullptr;
        size_t nb = c.N > 2 ? 1 : 0, ne = c.N > 4 ? c.N - 1 : c.N;
        Vec r = RunLinear(mote_kernels_ref()->linear_f32, x, w, bias, c.T, c.K, c.N, nb, ne);
        Vec y = RunLinear(k->linear_f32, x, w, bias, c.T, c.K, c.N, nb, ne);
        for (size_t t = 0; t < c.T; ++t)
          for (size_t n = 0; n < c.N; ++n) {
            size_t i = t * c.N + n;
            if (n < nb || n >= ne) {
              ASSERT_EQ(y[i], kSentinel) << "wrote outside its range";
              continue;
            }
            double mag = with_bias ? std::fabs(b[n]) : 0.0;
            for (size_t kk = 0; kk < c.K; ++kk)
              mag += std::fabs(x[t * c.K + kk] * w[n * c.K + kk]);
            ASSERT_NEAR(y[i], r[i], 1e-5 * mag + 1e-7)
                << k->isa << " T=" << c.T << " K=" << c.K << " N=" << c.N
                << " t=" << t << " n=" << n;
          }
      }
  }
}

TEST(Linear, SplitRangesMatchWhole) {
  std::vector<const mote_kernels_t *> all = SimdTables();
  all.push_back(mote_kernels_ref());
  std::mt19937 rng(3);
  for (const mote_kernels_t *k : all)
    for (const LinearCase &c : LinearCases()) {
      Vec x = Random(c.T * c.K, rng), w = Random(c.N * c.K, rng), b = Random(c.N, rng);
      Vec whole = RunLinear(k->linear_f32, x, w, b.data(), c.T, c.K, c.N, 0, c.N);
      size_t mid = c.N / 2 + (c.N > 3);
      Vec split(c.T * c.N, kSentinel);
      k->linear_f32(x.data(), c.T, c.K, w.data(), b.data(), split.data(), c.N, 0, mid);
      k->linear_f32(x.data(), c.T, c.K, w.data(), b.data(), split.data(), c.N, mid, c.N);
      ASSERT_EQ(0, memcmp(whole.data(), split.data(), whole.size() * sizeof(float)))
          << k->isa << " T=" << c.T << " K=" << c.K << " N=" << c.N;
    }
}

// -------------------------------------------------------- linear, f16 W

// Every one of the 65536 halves against an independent formula.
TEST(Half, ToFloatIsExact) {
  for (uint32_t h = 0; h < 65536; ++h) {
    int e = int(h >> 10) & 31, m = int(h & 1023);
    double sign = (h & 0x8000) ? -1.0 : 1.0;
    float got = mote_half_to_float(uint16_t(h));
    if (e == 31) {
      ASSERT_TRUE(m ? std::isnan(got) : std::isinf(got)) << h;
      continue;
    }
    double want = e == 0 ? sign * std::ldexp(double(m), -24)
                         : sign * std::ldexp(double(1024 + m), e - 25);
    ASSERT_EQ(double(got), want) << h;
    ASSERT_EQ(std::signbit(got), bool(h & 0x8000)) << h;
  }
}

// Random finite halves in about [-4, 4] (subnormals and zeros included).
std::vector<uint16_t> RandomHalves(size_t n, std::mt19937 &rng) {
  std::uniform_int_distribution<int> e(0, 17), m(0, 1023), s(0, 1);
  std::vector<uint16_t> v(n);
  for (uint16_t &h : v) h = uint16_t((s(rng) << 15) | (e(rng) << 10) | m(rng));
  return v;
}

Vec RunLinearF16(mote_linear_f16_fn f, const Vec &x, const std::vector<uint16_t> &w,
                 const float *bias, size_t T, size_t K, size_t N, size_t nb, size_t ne) {
  Vec y(T * N, kSentinel);
  f(x.data(), T, K, w.data(), bias, y.data(), N, nb, ne);
  return y;
}

TEST(LinearF16, ReferenceMatchesDouble) {
  std::mt19937 rng(11);
  for (const LinearCase &c : LinearCases()) {
    Vec x = Random(c.T * c.K, rng), b = Random(c.N, rng);
    std::vector<uint16_t> w = RandomHalves(c.N * c.K, rng);
    Vec y = RunLinearF16(mote_kernels_ref()->linear_f16, x, w, b.data(), c.T, c.K, c.N, 0, c.N);
    for (size_t t = 0; t < c.T; ++t)
      for (size_t n = 0; n < c.N; ++n) {
        double sum = b[n], mag = std::fabs(b[n]);
        for (size_t k = 0; k < c.K; ++k) {
          double wk = mote_half_to_float(w[n * c.K + k]);
          sum += (double)x[t * c.K + k] * wk;
          mag += std::fabs((double)x[t * c.K + k] * wk);
        }
        ASSERT_NEAR(y[t * c.N + n], sum, 1e-5 * mag + 1e-7)
            << "T=" << c.T << " K=" << c.K << " N=" << c.N;
      }
  }
}

TEST(LinearF16, SimdMatchesReferenceAndSplit) {
  FOR_EACH_SIMD(k) {
    ASSERT_NE(k->linear_f16, nullptr) << k->isa;
    std::mt19937 rng(12);
    for (const LinearCase &c : LinearCases())
      for (bool with_bias : {false, true}) {
        Vec x = Random(c.T * c.K, rng), b = Random(c.N, rng);
        std::vector<uint16_t> w = RandomHalves(c.N * c.K, rng);
        const float *bias = with_bias ? b.data() : nullptr;
        size_t nb = c.N > 2 ? 1 : 0, ne = c.N > 4 ? c.N - 1 : c.N;
        Vec r = RunLinearF16(mote_kernels_ref()->linear_f16, x, w, bias, c.T, c.K, c.N, nb, ne);
        Vec y = RunLinearF16(k->linear_f16, x, w, bias, c.T, c.K, c.N, nb, ne);
        for (size_t t = 0; t < c.T; ++t)
          for (size_t n = 0; n < c.N; ++n) {
            size_t i = t * c.N + n;
            if (n < nb || n >= ne) {
              ASSERT_EQ(y[i], kSentinel) << "wrote outside its range";
              continue;
            }
            double mag = with_bias ? std::fabs(b[n]) : 0.0;
            for (size_t kk = 0; kk < c.K; ++kk)
              mag += std::fabs(x[t * c.K + kk] * mote_half_to_float(w[n * c.K + kk]));
            ASSERT_NEAR(y[i], r[i], 1e-5 * mag + 1e-7)
                << k->isa << " T=" << c.T << " K=" << c.K << " N=" << c.N << " t=" << t
                << " n=" << n;
          }
        // Two halves of the row range give the same bytes as one call.
        Vec whole = RunLinearF16(k->linear_f16, x, w, bias, c.T, c.K, c.N, 0, c.N);
        size_t mid = c.N / 2 + (c.N > 3);
        Vec split(c.T * c.N, kSentinel);
        k->linear_f16(x.data(), c.T, c.K, w.data(), bias, split.data(), c.N, 0, mid);
        k->linear_f16(x.data(), c.T, c.K, w.data(), bias, split.data(), c.N, mid, c.N);
        ASSERT_EQ(0, memcmp(whole.data(), split.data(), whole.size() * sizeof(float)))
            << k->isa << " T=" << c.T << " K=" << c.K << " N=" << c.N;
      }
  }
}

// ---------------------------------------------------------------- rms_norm

TEST(RmsNorm, ReferenceMatchesDouble) {
  std::mt19937 rng(4);
  for (size_t D : kLens) {
    size_t T = 3;
    Vec x = Random(T * D, rng, -3, 3), w = Random(D, rng), y(T * D);
    mote_kernels_ref()->rms_norm_f32(x.data(), w.data(), y.data(), D, 1e-5f, 0, T);
    for (size_t t = 0; t < T; ++t) {
      double ss = 0;
      for (size_t d = 0; d < D; ++d) ss += (double)x[t * D + d] * x[t * D + d];
      double inv = 1.0 / std::sqrt(ss / D + 1e-5);
      for (size_t d = 0; d < D; ++d) {
        double want = x[t * D + d] * inv * w[d];
        ASSERT_NEAR(y[t * D + d], want, 1e-5 * std::fabs(want) + 1e-7) << "D=" << D;
      }
    }
  }
}

TEST(RmsNorm, SimdMatchesReferenceInPlaceAndSplit) {
  FOR_EACH_SIMD(k) {
    std::mt19937 rng(5);
    for (size_t D : kLens) {
      size_t T = 5;
      Vec x = Random(T * D, rng, -3, 3), w = Random(D, rng), r(T * D, kSentinel);
      mote_kernels_ref()->rms_norm_f32(x.data(), w.data(), r.data(), D, 1e-6f, 1, T);
      Vec y = x; // in place, two ranges
      k->rms_norm_f32(y.data(), w.data(), y.data(), D, 1e-6f, 1, 3);
      k->rms_norm_f32(y.data(), w.data(), y.data(), D, 1e-6f, 3, T);
      for (size_t i = 0; i < D; ++i) ASSERT_EQ(y[i], x[i]) << "row 0 is outside the range";
      for (size_t i = D; i < T * D; ++i)
        ASSERT_NEAR(y[i], r[i], 1e-5 * std::fabs(r[i]) + 1e-7) << k->isa << " D=" << D;
    }
  }
}

// -------------------------------------------------------------------- rope

struct RopeCase {
  size_t H, hd;
  int style;
  mote_rope_spec_t rope;
};

// Plain theta, linear scaling, and llama3 scaling with a short original
// context (64) so head_dims of 8+ have frequencies in all three of its bands.
std::vector<RopeCase> RopeCases() {
  std::vector<RopeCase> c;
  const mote_rope_spec_t specs[] = {
      {10000.0f, MOTE_ROPE_PLAIN, 1, 0, 0, 0},
      {500000.0f, MOTE_ROPE_PLAIN, 1, 0, 0, 0},
      {10000.0f, MOTE_ROPE_LINEAR, 4.0f, 0, 0, 0},
      {500000.0f, MOTE_ROPE_LLAMA3, 8.0f, 1.0f, 4.0f, 64.0f}};
  for (size_t hd : {2, 6, 8, 10, 32, 64, 128})
    for (int style : {0, 1})
      for (const mote_rope_spec_t &r : specs) c.push_back({3, hd, style, r});
  c.push_back({2, 1024, 1, specs[0]}); // beyond the SIMD table size
  c.push_back({2, 1024, 1, specs[3]});
  return c;
}

// freq_i in double: the contract of mote_rope_spec_t (kernels.h).
double RopeFreq(const mote_rope_spec_t &r, size_t i, size_t hd) {
  double base = std::pow((double)r.theta, -2.0 * i / hd);
  if (r.scaling == MOTE_ROPE_LINEAR) return base / r.factor;
  if (r.scaling != MOTE_ROPE_LLAMA3) return base;
  double wl = 2 * M_PI / base;
  if (wl < r.original_max_pos / r.high_freq_factor) return base;
  if (wl > r.original_max_pos / r.low_freq_factor) return base / r.factor;
  double m = (r.original_max_pos / wl - r.low_freq_factor) /
             (r.high_freq_factor - r.low_freq_factor);
  return (1 - m) * base / r.factor + m * base;
}

TEST(Rope, Llama3BandsAllUsed) {
  // The llama3 case above really has kept, scaled and blended frequencies.
  const mote_rope_spec_t r = {500000.0f, MOTE_ROPE_LLAMA3, 8.0f, 1.0f, 4.0f, 64.0f};
  int kept = 0, scaled = 0, blended = 0;
  for (size_t i = 0; i < 64; ++i) {
    double base = std::pow(500000.0, -2.0 * i / 128), f = RopeFreq(r, i, 128);
    if (f == base) ++kept;
    else if (std::fabs(f - base / 8) < 1e-15) ++scaled;
    else ++blended;
    ASSERT_NEAR(mote_rope_inv_freq(&r, i, 128), f, 1e-6 * f) << i;
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(scaled, 0);
  EXPECT_GT(blended, 0);
}

std::vector<int32_t> Positions(size_t T, std::mt19937 &rng) {
  std::uniform_int_distribution<int32_t> d(0, 300);
  std::vector<int32_t> p(T);
  for (int32_t &v : p) v = d(rng);
  p[0] = 300;
  return p;
}

TEST(Rope, ReferenceMatchesDouble) {
  std::mt19937 rng(6);
  for (const RopeCase &c : RopeCases()) {
    size_t T = 4, row = c.H * c.hd;
    Vec x = Random(T * row, rng), y(T * row);
    std::vector<int32_t> pos = Positions(T, rng);
    mote_kernels_ref()->rope_f32(x.data(), y.data(), pos.data(), c.H, c.hd, c.style,
                                 &c.rope, 0, T);
    for (size_t t = 0; t < T; ++t)
      for (size_t h = 0; h < c.H; ++h)
        for (size_t i = 0; i < c.hd / 2; ++i) {
          size_t base = t * row + h * c.hd;
          size_t i0 = c.style == 0 ? 2 * i : i;
          size_t i1 = c.style == 0 ? 2 * i + 1 : i + c.hd / 2;
          double a = pos[t] * RopeFreq(c.rope, i, c.hd);
          double x0 = x[base + i0], x1 = x[base + i1];
          // f32 angles at pos 300 are off by up to ~300 * 2^-24 rad.
          double tol = 5e-5 * (std::fabs(x0) + std::fabs(x1)) + 1e-7;
          ASSERT_NEAR(y[base + i0], x0 * std::cos(a) - x1 * std::sin(a), tol);
          ASSERT_NEAR(y[base + i1], x1 * std::cos(a) + x0 * std::sin(a), tol);
        }
  }
}

TEST(Rope, SimdMatchesReferenceInPlaceAndSplit) {
  FOR_EACH_SIMD(k) {
    std::mt19937 rng(7);
    for (const RopeCase &c : RopeCases()) {
      size_t T = 5, row = c.H * c.hd;
      Vec x = Random(T * row, rng), r(T * row, kSentinel);
      std::vector<int32_t> pos = Positions(T, rng);
      mote_kernels_ref()->rope_f32(x.data(), r.data(), pos.data(), c.H, c.hd, c.style,
                                   &c.rope, 0, T);
      Vec y = x;
      k->rope_f32(y.data(), y.data(), pos.data(), c.H, c.hd, c.style, &c.rope, 0, 2);
      k->rope_f32(y.data(), y.data(), pos.data(), c.H, c.hd, c.style, &c.rope, 2, T);
      for (size_t i = 0; i < T * row; ++i)
        ASSERT_NEAR(y[i], r[i], 1e-6 * (std::fabs(r[i]) + 1.0))
            << k->isa << " hd=" << c.hd << " style=" << c.style << " i=" << i;
    }
  }
}

// --------------------------------------------------------------- attention

struct AttnCase {
  size_t T, Hq, Hkv, hd;
  int32_t p0;        // row t sits at position p0 + t
  float qscale = 1.0f; // large: scores in the thousands (needs a stable softmax)
};

std::vector<AttnCase> AttnCases() {
  std::vector<AttnCase> c;
  for (size_t hd : {8, 12, 32, 64})
    for (size_t ratio : {1, 2, 4})
      for (size_t T : {1, 3, 5})
        for (int32_t p0 : {0, 7, 296}) c.push_back({T, 4, 4 / ratio, hd, p0});
  c.push_back({3, 4, 2, 64, 40, 100.0f});
  // Groups wider than MOTE_ATTENTION_HEADS, and of an odd size.
  c.push_back({1, 8, 1, 64, 40});
  c.push_back({2, 12, 4, 12, 9});
  c.push_back({1, 6, 2, 32, 300});
  return c;
}

struct AttnData {
  Vec q, k, v;   // (C, Hkv*hd) rows
  Vec kh, vh;    // the same, head-major (Hkv, C, hd)
  std::vector<int32_t> pos;
  size_t C;
};

AttnData MakeAttn(const AttnCase &c, std::mt19937 &rng) {
  AttnData d;
  d.C = (size_t)c.p0 + c.T;
  d.q = Random(c.T * c.Hq * c.hd, rng, -2 * c.qscale, 2 * c.qscale);
  d.k = Random(d.C * c.Hkv * c.hd, rng, -2, 2);
  d.v = Random(d.C * c.Hkv * c.hd, rng);
  for (size_t t = 0; t < c.T; ++t) d.pos.push_back(c.p0 + (int32_t)t);
  d.kh.resize(d.k.size());
  d.vh.resize(d.v.size());
  for (size_t p = 0; p < d.C; ++p)
    for (size_t g = 0; g < c.Hkv; ++g)
      for (size_t e = 0; e < c.hd; ++e) {
        d.kh[(g * d.C + p) * c.hd + e] = d.k[(p * c.Hkv + g) * c.hd + e];
        d.vh[(g * d.C + p) * c.hd + e] = d.v[(p * c.Hkv + g) * c.hd + e];
      }
  return d;
}

// head_major: read d.kh/d.vh (the runtime's f32 cache layout) instead of rows.
Vec RunAttn(mote_attention_f32_fn f, const AttnCase &c, const AttnData &d,
            size_t hb, size_t he, Vec *out = nullptr, bool head_major = false) {
  Vec o(c.T * c.Hq * c.hd, kSentinel), scores(MOTE_ATTENTION_HEADS * d.C);
  Vec &dst = out ? *out : o;
  if (head_major)
    f(d.q.data(), d.kh.data(), d.vh.data(), c.hd, d.C * c.hd, d.pos.data(), dst.data(), c.T,
      c.Hq, c.Hkv, c.hd, 1.0f / std::sqrt((float)c.hd), scores.data(), hb, he);
  else
    f(d.q.data(), d.k.data(), d.v.data(), c.Hkv * c.hd, c.hd, d.pos.data(), dst.data(), c.T,
      c.Hq, c.Hkv, c.hd, 1.0f / std::sqrt((float)c.hd), scores.data(), hb, he);
  return dst;
}

// part ran heads [1, 3) only: exactly whole's values there, untouched elsewhere.
void ExpectHeads1To3(const Vec &part, const Vec &whole, const AttnCase &c) {
  for (size_t t = 0; t < c.T; ++t)
    for (size_t h = 0; h < c.Hq; ++h)
      for (size_t e = 0; e < c.hd; ++e) {
        size_t i = (t * c.Hq + h) * c.hd + e;
        if (h < 1 || h >= 3) ASSERT_EQ(part[i], kSentinel) << "wrote outside its heads";
        else ASSERT_EQ(part[i], whole[i]) << "t=" << t << " h=" << h;
      }
}

TEST(Attention, ReferenceMatchesDouble) {
  std::mt19937 rng(8);
  for (const AttnCase &c : AttnCases()) {
    AttnData d = MakeAttn(c, rng);
    Vec o = RunAttn(mote_kernels_ref()->attention_f32, c, d, 0, c.Hq);
    for (size_t t = 0; t < c.T; ++t)
      for (size_t h = 0; h < c.Hq; ++h) {
        size_t kvh = h / (c.Hq / c.Hkv), n = d.pos[t] + 1;
        std::vector<double> p(n);
        double mx = -1e300, sum = 0;
        for (size_t j = 0; j < n; ++j) {
          double s = 0;
          for (size_t e = 0; e < c.hd; ++e)
            s += (double)d.q[(t * c.Hq + h) * c.hd + e] * d.k[(j * c.Hkv + kvh) * c.hd + e];
          p[j] = s / std::sqrt((double)c.hd);
          mx = std::max(mx, p[j]);
        }
        for (double &x : p) sum += (x = std::exp(x - mx));
        for (size_t e = 0; e < c.hd; ++e) {
          double want = 0;
          for (size_t j = 0; j < n; ++j) want += p[j] / sum * d.v[(j * c.Hkv + kvh) * c.hd + e];
          // f32 scores carry ~1e-7 relative error: absolute in the logits.
          ASSERT_NEAR(o[(t * c.Hq + h) * c.hd + e], want, 1e-5 * c.qscale);
        }
      }
  }
}

TEST(Attention, SimdMatchesReferenceAndSplit) {
  FOR_EACH_SIMD(k) {
    std::mt19937 rng(9);
    for (const AttnCase &c : AttnCases()) {
      AttnData d = MakeAttn(c, rng);
      Vec r = RunAttn(mote_kernels_ref()->attention_f32, c, d, 0, c.Hq);
      Vec y(r.size(), kSentinel);
      RunAttn(k->attention_f32, c, d, 0, 1, &y);
      RunAttn(k->attention_f32, c, d, 1, c.Hq, &y);
      for (size_t i = 0; i < r.size(); ++i)
        ASSERT_NEAR(y[i], r[i], 2e-6 * c.qscale) << k->isa << " hd=" << c.hd << " Hkv=" << c.Hkv
                                      << " T=" << c.T << " p0=" << c.p0;
      // The head-major cache gives the same bits, as does each head alone.
      Vec hm = RunAttn(k->attention_f32, c, d, 0, c.Hq, nullptr, true);
      Vec rh = RunAttn(mote_kernels_ref()->attention_f32, c, d, 0, c.Hq, nullptr, true);
      Vec one(r.size(), kSentinel);
      for (size_t h = 0; h < c.Hq; ++h) RunAttn(k->attention_f32, c, d, h, h + 1, &one);
      for (size_t i = 0; i < r.size(); ++i) {
        ASSERT_EQ(hm[i], y[i]) << k->isa << " head-major, hd=" << c.hd << " Hkv=" << c.Hkv;
        ASSERT_EQ(rh[i], r[i]) << "ref head-major, hd=" << c.hd << " Hkv=" << c.Hkv;
        ASSERT_EQ(one[i], y[i]) << k->isa << " one head per call, hd=" << c.hd;
      }
      ExpectHeads1To3(RunAttn(k->attention_f32, c, d, 1, 3), y, c);
    }
  }
}

// ------------------------------------------------------------- elementwise

TEST(Elementwise, ReferenceSwigluMatchesDouble) {
  std::mt19937 rng(10);
  Vec g = Random(1023, rng, -20, 20), u = Random(1023, rng), o(1023);
  mote_kernels_ref()->swiglu_f32(g.data(), u.data(), o.data(), 0, 1023);
  for (size_t i = 0; i < 1023; ++i) {
    double want = g[i] / (1.0 + std::exp(-(double)g[i])) * u[i];
    ASSERT_NEAR(o[i], want, 1e-6 * std::fabs(want) + 1e-30);
  }
}

TEST(Elementwise, SimdMatchesReference) {
  FOR_EACH_SIMD(k) {
    std::mt19937 rng(11);
    for (size_t n : kLens) {
      Vec g = Random(n + 2, rng, -30, 30), u = Random(n + 2, rng, -2, 2);
      g[1] = 100.0f;  // exp(-g) underflows
      if (n > 2) g[2] = -100.0f; // exp(-g) overflows: -0
      Vec rs(n + 2, kSentinel), ra(n + 2, kSentinel);
      mote_kernels_ref()->swiglu_f32(g.data(), u.data(), rs.data(), 1, n + 1);
      mote_kernels_ref()->add_f32(g.data(), u.data(), ra.data(), 1, n + 1);
      Vec ys = g, ya = u; // out aliases an input
      k->swiglu_f32(ys.data(), u.data(), ys.data(), 1, n + 1);
      k->add_f32(g.data(), ya.data(), ya.data(), 1, n + 1);
      ASSERT_EQ(ys[0], g[0]);
      ASSERT_EQ(ys[n + 1], g[n + 1]);
      ASSERT_EQ(ya[n + 1], u[n + 1]);
      for (size_t i = 1; i <= n; ++i) {
        ASSERT_NEAR(ys[i], rs[i], 2e-6 * std::fabs(rs[i]) + 1e-37) << k->isa << " n=" << n;
        ASSERT_EQ(ya[i], ra[i]);
      }
    }
  }
}

#if defined(MOTE_HAVE_AVX2)
TEST(Elementwise, Avx2ExpRelativeErrorBelow1e6) {
  if (!mote_kernels_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  Vec x;
  for (double v = -87.0; v <= 88.0; v += 0.000731) x.push_back((float)v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 0.5f, -0.5f, 88.0f, -87.0f})
    x.push_back(v);
  Vec y(x.size());
  mote_exp_f32_avx2(x.data(), y.data(), x.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double want = std::exp((double)x[i]);
    worst = std::max(worst, std::fabs(y[i] - want) / want);
  }
  EXPECT_LE(worst, 1e-6);
  float edge[4] = {-1000.0f, 1000.0f, 0.0f, -INFINITY}, out[4];
  mote_exp_f32_avx2(edge, out, 4);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], INFINITY);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], 0.0f);
}
#endif

#if defined(MOTE_HAVE_NEON)
TEST(Elementwise, NeonExpRelativeErrorBelow1e6) {
  Vec x;
  for (double v = -87.0; v <= 88.0; v += 0.00731) x.push_back((float)v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 0.5f, -0.5f, 88.0f, -87.0f})
    x.push_back(v);
  Vec y(x.size());
  mote_exp_f32_neon(x.data(), y.data(), x.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double want = std::exp((double)x[i]);
    worst = std::max(worst, std::fabs(y[i] - want) / want);
  }
  EXPECT_LE(worst, 1e-6);
  float edge[5] = {-1000.0f, 1000.0f, 0.0f, -INFINITY, 1.0f}, out[5];
  mote_exp_f32_neon(edge, out, 5); // also a 1-lane tail
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], INFINITY);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], 0.0f);
  EXPECT_NEAR(out[4], std::exp(1.0), 3e-6);
}
#endif

// ------------------------------------------------ 8-bit KV cache (kv8)

// A q8 cache of C rows: codes (C, Hkv*hd) and scales (C, Hkv), rows quantized
// by mote_kv_quant_row_q8 (group = hd: one scale per row and KV head), the
// same head-major (Hkv, C, hd) and (Hkv, C) as the runtime keeps them, and
// the dequantized f32 rows (and head-major copy) for the f32 kernels.
struct Q8Cache {
  std::vector<int8_t> codes, codes_h;
  Vec scales, scales_h, deq, deq_h;
};

Q8Cache Quantize(const Vec &x, size_t C, size_t Hkv, size_t hd) {
  Q8Cache q;
  size_t W = Hkv * hd;
  q.codes.assign(C * W, 0);
  q.scales.assign(C * Hkv, kSentinel);
  q.deq.resize(C * W);
  for (size_t j = 0; j < C; ++j)
    mote_kv_quant_row_q8(x.data() + j * W, W, hd, q.codes.data() + j * W,
                         q.scales.data() + j * Hkv);
  for (size_t j = 0; j < C; ++j)
    for (size_t i = 0; i < W; ++i)
      q.deq[j * W + i] = q.scales[j * Hkv + i / hd] * (float)q.codes[j * W + i];
  q.codes_h.resize(q.codes.size());
  q.scales_h.resize(q.scales.size());
  q.deq_h.resize(q.deq.size());
  for (size_t j = 0; j < C; ++j)
    for (size_t g = 0; g < Hkv; ++g) {
      q.scales_h[g * C + j] = q.scales[j * Hkv + g];
      for (size_t e = 0; e < hd; ++e) {
        q.codes_h[(g * C + j) * hd + e] = q.codes[j * W + g * hd + e];
        q.deq_h[(g * C + j) * hd + e] = q.deq[j * W + g * hd + e];
      }
    }
  return q;
}

// Runs a q8 attention over heads [hb, he): the row layout, or head-major
// (the runtime's), with the kvbuf scratch or without.
void RunAttnQ8(mote_attention_q8_f32_fn f, const AttnCase &c, const AttnData &d,
               const Q8Cache &kq, const Q8Cache &vq, bool head_major, float *kvbuf, Vec &o,
               size_t hb, size_t he) {
  Vec scores(MOTE_ATTENTION_HEADS * d.C);
  float sc = 1.0f / std::sqrt((float)c.hd);
  if (head_major)
    f(d.q.data(), kq.codes_h.data(), kq.scales_h.data(), vq.codes_h.data(),
      vq.scales_h.data(), c.hd, d.C * c.hd, d.pos.data(), o.data(), c.T, c.Hq, c.Hkv, c.hd,
      sc, scores.data(), kvbuf, hb, he);
  else
    f(d.q.data(), kq.codes.data(), kq.scales.data(), vq.codes.data(), vq.scales.data(),
      c.Hkv * c.hd, c.hd, d.pos.data(), o.data(), c.T, c.Hq, c.Hkv, c.hd, sc, scores.data(),
      kvbuf, hb, he);
}

TEST(KvQuantQ8, WorkedExampleTiesToEven) {
  // max|x| = 127 -> s = 1; 0.5 and -2.5 are ties and go to the even 0 / -2.
  const float x[8] = {127.0f, 0.5f, 1.5f, -2.5f, 0.0f, -127.0f, 3.49f, -0.51f};
  int8_t c[8];
  float s = 0;
  mote_kv_quant_row_q8(x, 8, 8, c, &s);
  EXPECT_EQ(s, 1.0f);
  const int8_t want[8] = {127, 0, 2, -2, 0, -127, 3, -1};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(c[i], want[i]) << i;
}

TEST(KvQuantQ8, GroupsZerosAndBounds) {
  std::mt19937 rng(81);
  for (size_t hd : {8, 10, 24, 64, 128}) {
    size_t Hkv = 3, W = Hkv * hd;
    Vec x = Random(W, rng, -3, 3);
    for (size_t i = hd; i < 2 * hd; ++i) x[i] = 0.0f; // head 1: all zero
    std::vector<int8_t> c(W, 99);
    Vec s(Hkv, kSentinel);
    mote_kv_quant_row_q8(x.data(), W, hd, c.data(), s.data());
    for (size_t g = 0; g < Hkv; ++g) {
      float m = 0;
      for (size_t i = 0; i < hd; ++i) m = std::max(m, std::fabs(x[g * hd + i]));
      ASSERT_EQ(s[g], m / 127.0f) << "scale = max|x|/127 in f32";
      bool hit127 = g == 1;
      for (size_t i = 0; i < hd; ++i) {
        int code = c[g * hd + i];
        ASSERT_LE(std::abs(code), 127);
        hit127 |= std::abs(code) == 127;
        if (g == 1) ASSERT_EQ(code, 0);
        else // round to nearest: within half a step (plus f32 division rounding)
          ASSERT_LE(std::fabs(x[g * hd + i] / s[g] - code), 0.5f + 1e-4f);
      }
      EXPECT_TRUE(hit127) << "the max element gets code +-127";
    }
  }
}

// The q8 attention equals the f32 attention over the dequantized caches, in
// either layout (the same numbers: the layout only moves them).
TEST(AttentionQ8, ReferenceMatchesF32OnDequantized) {
  std::mt19937 rng(82);
  for (const AttnCase &c : AttnCases()) {
    AttnData d = MakeAttn(c, rng);
    Q8Cache kq = Quantize(d.k, d.C, c.Hkv, c.hd), vq = Quantize(d.v, d.C, c.Hkv, c.hd);
    AttnData dq = d;
    dq.k = kq.deq;
    dq.v = vq.deq;
    Vec r = RunAttn(mote_kernels_ref()->attention_f32, c, dq, 0, c.Hq);
    Vec o(r.size(), kSentinel), oh(r.size(), kSentinel);
    RunAttnQ8(mote_kernels_ref()->attention_q8_f32, c, d, kq, vq, false, nullptr, o, 0, c.Hq);
    RunAttnQ8(mote_kernels_ref()->attention_q8_f32, c, d, kq, vq, true, nullptr, oh, 0, c.Hq);
    for (size_t i = 0; i < r.size(); ++i) {
      ASSERT_NEAR(o[i], r[i], 3e-6 * c.qscale) << "hd=" << c.hd << " i=" << i;
      ASSERT_EQ(oh[i], o[i]) << "head-major hd=" << c.hd << " i=" << i;
    }
  }
}

TEST(AttentionQ8, SimdMatchesReferenceOddShapesAndSplit) {
  FOR_EACH_SIMD(k) {
    ASSERT_NE(k->attention_q8_f32, nullptr) << k->isa;
    std::mt19937 rng(83);
    std::vector<AttnCase> cases;
    for (size_t hd : {8, 10, 14, 24, 40, 48, 64, 72, 100, 128})
      for (size_t Hkv : {1, 2, 4})
        for (size_t T : {1, 3})
          for (int32_t p0 : {0, 5, 130}) cases.push_back({T, 4, Hkv, hd, p0});
    for (int32_t p0 : {0, 9, 17, 20}) { // stories260K's heads: 8 query, 4 KV, hd 8
      cases.push_back({1, 8, 4, 8, p0});
      cases.push_back({5, 6, 3, 24, p0});
    }
    cases.push_back({3, 4, 2, 64, 40, 100.0f});
    cases.push_back({1, 32, 8, 64, 300}); // Llama-3.2-1B's heads, 4 per KV head
    cases.push_back({2, 12, 2, 16, 33});  // groups of 6, wider than MOTE_ATTENTION_HEADS
    for (const AttnCase &c : cases) {
      AttnData d = MakeAttn(c, rng);
      Q8Cache kq = Quantize(d.k, d.C, c.Hkv, c.hd), vq = Quantize(d.v, d.C, c.Hkv, c.hd);
      // kvbuf exactly 2 * C * hd floats (the contract), NaN-filled: a kernel
      // that reads a widened row it did not write shows up in the output.
      Vec kvbuf(2 * d.C * c.hd, NAN);
      Vec r(c.T * c.Hq * c.hd, kSentinel), y(r.size(), kSentinel), part(r.size(), kSentinel);
      Vec yb(r.size(), kSentinel), yh(r.size(), kSentinel);
      RunAttnQ8(mote_kernels_ref()->attention_q8_f32, c, d, kq, vq, false, nullptr, r, 0, c.Hq);
      RunAttnQ8(k->attention_q8_f32, c, d, kq, vq, false, nullptr, y, 0, 1);
      RunAttnQ8(k->attention_q8_f32, c, d, kq, vq, false, nullptr, y, 1, c.Hq);
      RunAttnQ8(k->attention_q8_f32, c, d, kq, vq, true, nullptr, yh, 0, c.Hq);
      // The runtime's way: head-major with kvbuf (prefill widens each KV
      // head once; decode reads the codes for a group's heads together),
      // heads split mid-group.
      RunAttnQ8(k->attention_q8_f32, c, d, kq, vq, true, kvbuf.data(), yb, 0, 2);
      RunAttnQ8(k->attention_q8_f32, c, d, kq, vq, true, kvbuf.data(), yb, 2, c.Hq);
      // Prefill (T > 1) is the ISA's f32 kernel over the widened
      // (dequantized) caches, bit for bit; decode is the codes path.
      AttnData dq = d;
      dq.kh = kq.deq_h;
      dq.vh = vq.deq_h;
      Vec f = RunAttn(k->attention_f32, c, dq, 0, c.Hq, nullptr, true);
      for (size_t i = 0; i < r.size(); ++i) {
        ASSERT_NEAR(y[i], r[i], 3e-6 * c.qscale) << k->isa << " hd=" << c.hd << " Hkv="
                                                 << c.Hkv << " T=" << c.T << " p0=" << c.p0;
        ASSERT_EQ(yh[i], y[i]) << k->isa << " head-major hd=" << c.hd << " i=" << i;
        ASSERT_NEAR(yb[i], r[i], 3e-6 * c.qscale) << k->isa << " kvbuf hd=" << c.hd << " Hkv="
                                                  << c.Hkv << " T=" << c.T << " p0=" << c.p0;
        if (c.T > 1)
          ASSERT_EQ(yb[i], f[i]) << k->isa << " kvbuf = f32 kernel, hd=" << c.hd << " i=" << i;
        else
          ASSERT_EQ(yb[i], yh[i]) << k->isa << " decode ignores kvbuf, hd=" << c.hd;
      }
      for (float *kb : {(float *)nullptr, kvbuf.data()}) {
        std::fill(part.begin(), part.end(), kSentinel);
        RunAttnQ8(k->attention_q8_f32, c, d, kq, vq, kb != nullptr, kb, part, 1, 3);
        ExpectHeads1To3(part, kb ? yb : yh, c);
      }
    }
  }
}

} // namespace
