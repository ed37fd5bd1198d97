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
  if (mote_kernels_neon()) want = mote_kernels_neon();
  EXPECT_EQ(mote_kernels_best(), want);
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
  float theta;
};

std::vector<RopeCase> RopeCases() {
  std::vector<RopeCase> c;
  for (size_t hd : {2, 6, 8, 10, 32, 64, 128})
    for (int style : {0, 1})
      for (float theta : {10000.0f, 500000.0f}) c.push_back({3, hd, style, theta});
  c.push_back({2, 1024, 1, 10000.0f}); // beyond the SIMD table size
  return c;
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
                                 c.theta, 0, T);
    for (size_t t = 0; t < T; ++t)
      for (size_t h = 0; h < c.H; ++h)
        for (size_t i = 0; i < c.hd / 2; ++i) {
          size_t base = t * row + h * c.hd;
          size_t i0 = c.style == 0 ? 2 * i : i;
          size_t i1 = c.style == 0 ? 2 * i + 1 : i + c.hd / 2;
          double a = pos[t] * std::pow((double)c.theta, -2.0 * i / c.hd);
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
                                   c.theta, 0, T);
      Vec y = x;
      k->rope_f32(y.data(), y.data(), pos.data(), c.H, c.hd, c.style, c.theta, 0, 2);
      k->rope_f32(y.data(), y.data(), pos.data(), c.H, c.hd, c.style, c.theta, 2, T);
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
  return c;
}

struct AttnData {
  Vec q, k, v;
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
  return d;
}

Vec RunAttn(mote_attention_f32_fn f, const AttnCase &c, const AttnData &d,
            size_t hb, size_t he, Vec *out = nullptr) {
  Vec o(c.T * c.Hq * c.hd, kSentinel), scores(d.C);
  Vec &dst = out ? *out : o;
  f(d.q.data(), d.k.data(), d.v.data(), d.pos.data(), dst.data(), c.T, c.Hq, c.Hkv,
    c.hd, 1.0f / std::sqrt((float)c.hd), scores.data(), hb, he);
  return dst;
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
      Vec part = RunAttn(k->attention_f32, c, d, 1, 3);
      for (size_t t = 0; t < c.T; ++t)
        for (size_t h = 0; h < c.Hq; ++h)
          for (size_t e = 0; e < c.hd; ++e) {
            size_t i = (t * c.Hq + h) * c.hd + e;
            if (h < 1 || h >= 3) ASSERT_EQ(part[i], kSentinel) << "wrote outside its heads";
            else ASSERT_EQ(part[i], y[i]);
          }
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

} // namespace
