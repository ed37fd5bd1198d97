// int8-activation quantized linear (issue 4): the activation quantizer against
// the contract in kernels.h, the scalar reference against the same formula in
// double and against the f32-activation reference (within the activation
// rounding bound), every SIMD table against the reference on odd shapes
// (K not a multiple of 32 / 128, N odd, T 1..9, every group size the kernels
// take), and range splitting.
#include <string>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels_internal.h"

namespace {

using Vec = std::vector<float>;

struct QW {
  unsigned bits;
  size_t N, K, G, row_bytes, ng;
  std::vector<uint8_t> codes;
  Vec scales;                   // f32 values of `half`, exactly
  std::vector<uint16_t> half;  // the same scales as IEEE halves
  int Code(size_t n, size_t k) const {
    const uint8_t *r = codes.data() + n * row_bytes;
    if (bits == 8) return int8_t(r[k]);
    return (r[k * bits / 8] >> ((k % (8 / bits)) * bits)) & ((1 << bits) - 1);
  }
  double Off() const { return bits == 2 ? 1.5 : bits == 4 ? 7.5 : 0.0; }
  double At(size_t n, size_t k) const {
    return double(scales[n * ng + k / G]) * (Code(n, k) - Off());
  }
};

QW MakeQW(unsigned bits, size_t N, size_t K, size_t G, std::mt19937 &rng) {
  QW q{bits, N, K, G, (K + 31) / 32 * 32 * bits / 8, (K + G - 1) / G, {}, {}, {}};
  std::uniform_int_distribution<int> byte(0, 255);
  q.codes.resize(N * q.row_bytes);
  for (auto &c : q.codes) c = uint8_t(byte(rng));  // padding too: must not matter
  if (bits == 8)  // symmetric 8-bit never stores -128; the kernels take it anyway
    for (size_t i = 0; i < q.codes.size(); i += 97) q.codes[i] = 0x80;
  std::uniform_int_distribution<int> h(0x2000, 0x3266);  // halves in [2^-7, ~0.2]
  q.half.resize(N * q.ng);
  q.scales.resize(N * q.ng);
  for (size_t i = 0; i < q.half.size(); ++i) {
    q.half[i] = uint16_t(h(rng));
    q.scales[i] = mote_half_to_float(q.half[i]);
  }
  return q;
}

Vec Random(size_t n, std::mt19937 &rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  Vec v(n);
  for (float &x : v) x = d(rng);
  // Some blocks all zero, some with one large outlier: both edge cases of the scale.
  for (size_t i = 0; i + 32 <= n; i += 32 * 7) std::fill(v.begin() + i, v.begin() + i + 32, 0.0f);
  for (size_t i = 45; i < n; i += 211) v[i] = 37.0f;
  return v;
}

// The quantized activations, owning their storage.
struct Act {
  size_t T, K, kp;
  std::vector<int8_t> q;
  Vec d, bs;
  mote_act_i8_t a;
  Act(size_t T_, size_t K_) : T(T_), K(K_), kp(mote_act_i8_kp(K_)) {
    q.assign(T * kp, int8_t(99));  // garbage the quantizer must overwrite
    d.assign(T * kp / 32, 99.0f);
    bs.assign(T * kp / 32, 99.0f);
    a = mote_act_i8_t{q.data(), d.data(), bs.data(), kp};
  }
  // Natural-order code of activation k of row t (layout of kernels.h; wide:
  // the AVX-512 table's 64-byte planes, linear_q_i8_avx512.c).
  int Code(unsigned bits, size_t t, size_t k, bool wide = false) const {
    size_t p = k;
    if (bits == 2 && wide)
      p = (k / 256) * 256 + (k % 4) * 64 + (k % 256) / 128 * 32 + (k % 128) / 4;
    else if (bits == 2)
      p = (k / 128) * 128 + (k % 4) * 32 + (k % 128) / 4;
    if (bits == 4 && wide)
      p = (k / 128) * 128 + (k % 2) * 64 + (k % 128) / 64 * 32 + (k % 64) / 2;
    else if (bits == 4)
      p = (k / 64) * 64 + (k % 2) * 32 + (k % 64) / 2;
    return q[t * kp + p];
  }
};

// Whether table kt's quantizer writes the wide layout for rows of K (the
// AVX-512 table, 2-bit only when kp is a multiple of 256).
bool Wide(const mote_kernels_t *kt, unsigned bits, size_t K) {
  return std::string(kt->isa) == "avx512vnni" && (bits != 2 || mote_act_i8_kp(K) % 256 == 0);
}

Act Quantize(const mote_kernels_t *kt, unsigned bits, const Vec &x, size_t T, size_t K) {
  Act a(T, K);
  kt->linear_qact_i8(bits, x.data(), K, &a.a, 0, T);
  return a;
}

mote_linear_q_i8_fn Fn(const mote_kernels_t *k, unsigned bits) {
  return bits == 2 ? k->linear_q2_i8 : bits == 4 ? k->linear_q4_i8 : k->linear_q8_i8;
}

const float kSentinel = 12345.0f;

Vec RunI8(mote_linear_q_i8_fn f, const QW &q, const Act &a, const float *bias, size_t nb,
          size_t ne, bool f16 = false) {
  Vec y(a.T * q.N, kSentinel);
  const void *sc = f16 ? static_cast<const void *>(q.half.data())
                       : static_cast<const void *>(q.scales.data());
  f(&a.a, a.T, q.K, q.codes.data(), sc, f16 ? 1 : 0, q.G, q.row_bytes, bias, y.data(), q.N,
    nb, ne);
  return y;
}

// The contract's value in double: sum_k w_k * d_b(k) * code_k.
double Exact(const QW &q, const Act &a, size_t t, size_t n, double *absdot) {
  double acc = 0, ab = 0;
  for (size_t k = 0; k < q.K; ++k) {
    double v = q.At(n, k) * double(a.d[t * a.kp / 32 + k / 32]) * a.Code(q.bits, t, k);
    acc += v;
    ab += std::fabs(v);
  }
  if (absdot) *absdot = ab;
  return acc;
}

std::vector<const mote_kernels_t *> SimdTables() {
  std::vector<const mote_kernels_t *> t;
  if (const mote_kernels_t *k = mote_kernels_avx2()) t.push_back(k);
  if (const mote_kernels_t *k = mote_kernels_avxvnni()) t.push_back(k);
  if (const mote_kernels_t *k = mote_kernels_avx512vnni()) t.push_back(k);
  if (const mote_kernels_t *k = mote_kernels_neon()) t.push_back(k);
  return t;
}

const unsigned kBits[] = {2, 4, 8};
const size_t kKs[] = {1, 3, 31, 33, 64, 100, 127, 128, 129, 172, 300, 1023, 2048};

TEST(QLinearI8, TablesAreComplete) {
  std::vector<const mote_kernels_t *> all = SimdTables();
  all.push_back(mote_kernels_ref());
  for (const mote_kernels_t *k : all) {
    EXPECT_NE(k->linear_qact_i8, nullptr) << k->isa;
    for (unsigned b : kBits) EXPECT_NE(Fn(k, b), nullptr) << k->isa << " bits " << b;
  }
}

#if defined(MOTE_HAVE_NEON)
// The sdot kernels exactly when the CPU has them (qemu -cpu max / cortex-a53).
TEST(QLinearI8, NeonPicksDotprodByHwcap) {
  const mote_kernels_t *k = mote_kernels_neon();
  ASSERT_NE(k, nullptr);
  bool dot = mote_cpu_has_dotprod() != 0;
  std::printf("CPU dot product: %s\n", dot ? "yes" : "no");
  EXPECT_EQ(k->linear_q2_i8, dot ? &mote_linear_q2_i8_dotprod : &mote_linear_q2_i8_ref);
  EXPECT_EQ(k->linear_q4_i8, dot ? &mote_linear_q4_i8_dotprod : &mote_linear_q4_i8_ref);
  EXPECT_EQ(k->linear_q8_i8, dot ? &mote_linear_q8_i8_dotprod : &mote_linear_q8_i8_ref);
  EXPECT_EQ(k->linear_qact_i8, dot ? &mote_linear_qact_i8_dotprod : &mote_linear_qact_i8_ref);
  if (const char *want = std::getenv("MOTE_EXPECT_DOTPROD")) {
    EXPECT_EQ(dot, want[0] == '1') << "MOTE_EXPECT_DOTPROD=" << want;
  }
}
#endif

TEST(QLinearI8, GroupSupport) {
  EXPECT_TRUE(mote_linear_q_i8_ok(100, 32));
  EXPECT_TRUE(mote_linear_q_i8_ok(100, 96));
  EXPECT_TRUE(mote_linear_q_i8_ok(100, 100));  // whole row
  EXPECT_TRUE(mote_linear_q_i8_ok(33, 40));    // one group
  EXPECT_FALSE(mote_linear_q_i8_ok(100, 8));
  EXPECT_FALSE(mote_linear_q_i8_ok(100, 48));
  EXPECT_FALSE(mote_linear_q_i8_ok(100, 0));
}

TEST(QLinearI8, QuantizerMatchesContract) {
  std::mt19937 rng(7);
  for (unsigned bits : kBits)
    for (size_t K : kKs) {
      const size_t T = 3;
      Vec x = Random(T * K, rng);
      Act a = Quantize(mote_kernels_ref(), bits, x, T, K);
      ASSERT_EQ(a.kp % 128, 0u);
      ASSERT_GE(a.kp, K);
      for (size_t t = 0; t < T; ++t)
        for (size_t b = 0; b < a.kp / 32; ++b) {
          float amax = 0;
          for (size_t k = b * 32; k < std::min(K, b * 32 + 32); ++k)
            amax = std::max(amax, std::fabs(x[t * K + k]));
          const float d = a.d[t * a.kp / 32 + b];
          ASSERT_EQ(d, amax / 127.0f) << "bits " << bits << " K " << K << " block " << b;
          long sum = 0;
          for (size_t k = b * 32; k < b * 32 + 32; ++k) {
            int c = a.Code(bits, t, k);
            sum += c;
            if (k >= K) {
              ASSERT_EQ(c, 0) << "pad code, K " << K << " k " << k;
              continue;
            }
            ASSERT_LE(std::abs(c), 127);
            // within half a step of x (the rounding), and exact ties to even
            double want = amax > 0 ? double(x[t * K + k]) * (127.0 / amax) : 0.0;
            ASSERT_LE(std::fabs(c - want), 0.5 + 1e-4) << "K " << K << " k " << k;
          }
          ASSERT_EQ(a.bs[t * a.kp / 32 + b], d * float(sum));
        }
    }
}

TEST(QLinearI8, SimdQuantizerIsBitExact) {
  if (SimdTables().empty()) GTEST_SKIP() << "no SIMD kernels on this CPU";
  std::mt19937 rng(8);
  for (const mote_kernels_t *kt : SimdTables())
    for (unsigned bits : kBits)
      for (size_t K : kKs) {
        const size_t T = 4;
        Vec x = Random(T * K, rng);
        if (K >= 3) {  // exact ties (id = 1): rounding must match the reference
          x[0] = 2.5f;
          x[1] = 127.0f;
          x[2] = -3.5f;
        }
        Act r = Quantize(mote_kernels_ref(), bits, x, T, K);
        Act s(T, K);
        kt->linear_qact_i8(bits, x.data(), K, &s.a, 1, T);  // a row range
        kt->linear_qact_i8(bits, x.data(), K, &s.a, 0, 1);
        const bool wide = Wide(kt, bits, K);
        if (!wide) {
          ASSERT_EQ(r.q, s.q) << kt->isa << " bits " << bits << " K " << K;
        }
        for (size_t t = 0; t < T; ++t)  // every code, padding included, in its place
          for (size_t k = 0; k < r.kp; ++k)
            ASSERT_EQ(r.Code(bits, t, k), s.Code(bits, t, k, wide))
                << kt->isa << " bits " << bits << " K " << K << " k " << k;
        ASSERT_EQ(r.d, s.d) << kt->isa << " bits " << bits << " K " << K;
        ASSERT_EQ(r.bs, s.bs) << kt->isa << " bits " << bits << " K " << K;
      }
}

// The reference computes the contract's sum (in f32) and lies within the
// activation rounding of the f32-activation reference.
TEST(QLinearI8, ReferenceMatchesContractAndF32Path) {
  std::mt19937 rng(9);
  const mote_kernels_t *ref = mote_kernels_ref();
  for (unsigned bits : kBits)
    for (size_t K : {size_t(1), size_t(33), size_t(172), size_t(1023)})
      for (size_t G : {size_t(32), size_t(64), size_t(96), K}) {
        if (!mote_linear_q_i8_ok(K, G)) continue;
        const size_t N = 5, T = 3;
        QW q = MakeQW(bits, N, K, G, rng);
        Vec x = Random(T * K, rng);
        Act a = Quantize(ref, bits, x, T, K);
        Vec y = RunI8(Fn(ref, bits), q, a, nullptr, 0, N);
        ASSERT_EQ(RunI8(Fn(ref, bits), q, a, nullptr, 0, N, true), y)
            << "f16 scales, bits " << bits << " K " << K << " G " << G;
        Vec yf(T * N);
        (bits == 2 ? ref->linear_q2_f32 : bits == 4 ? ref->linear_q4_f32 : ref->linear_q8_f32)(
            x.data(), T, K, q.codes.data(), q.scales.data(), 0, G, q.row_bytes, nullptr,
            yf.data(), N, 0, N);
        for (size_t t = 0; t < T; ++t)
          for (size_t n = 0; n < N; ++n) {
            double ab;
            double want = Exact(q, a, t, n, &ab);
            ASSERT_NEAR(y[t * N + n], want, 1e-5 * ab + 1e-6)
                << "bits " << bits << " K " << K << " G " << G;
            // |x - d*code| <= d/2 per activation
            double bound = 0;
            for (size_t k = 0; k < K; ++k)
              bound += std::fabs(q.At(n, k)) * 0.5 * a.d[t * a.kp / 32 + k / 32];
            ASSERT_LE(std::fabs(double(y[t * N + n]) - yf[t * N + n]), bound * 1.001 + 1e-4)
                << "bits " << bits << " K " << K << " G " << G;
          }
      }
}

TEST(QLinearI8, SimdMatchesReference) {
  if (SimdTables().empty()) GTEST_SKIP() << "no SIMD kernels on this CPU";
  std::mt19937 rng(10);
  const mote_kernels_t *ref = mote_kernels_ref();
  for (const mote_kernels_t *kt : SimdTables())
    for (unsigned bits : kBits)
      for (size_t K : kKs)
        for (size_t G : {size_t(32), size_t(64), size_t(96), size_t(128), size_t(256), K,
                         size_t(8)}) {
          for (size_t T : {size_t(1), size_t(2), size_t(3), size_t(5), size_t(9)}) {
            const size_t N = (K + T) % 3 == 0 ? 13 : 7;
            QW q = MakeQW(bits, N, K, G, rng);
            Vec x = Random(T * K, rng);
            Vec bias = Random(N, rng);
            Act a = Quantize(ref, bits, x, T, K);
            Act ak = Quantize(kt, bits, x, T, K);  // the table's own layout
            if (!mote_linear_q_i8_ok(K, G)) continue;  // the executor uses the f32 path
            for (const float *b : {static_cast<const float *>(nullptr), static_cast<const float *>(bias.data())}) {
              const bool f16 = b != nullptr;  // halves with bias, f32 without
              Vec want = RunI8(Fn(ref, bits), q, a, b, 0, N);
              Vec got = RunI8(Fn(kt, bits), q, ak, b, 0, N, f16);
              for (size_t t = 0; t < T; ++t)
                for (size_t n = 0; n < N; ++n) {
                  double ab;
                  Exact(q, a, t, n, &ab);
                  ASSERT_NEAR(got[t * N + n], want[t * N + n], 2e-6 * ab + 1e-6)
                      << kt->isa << " bits " << bits << " K " << K << " G " << G << " T "
                      << T << " t " << t << " n " << n;
                }
            }
          }
        }
}

TEST(QLinearI8, RangeSplitting) {
  std::mt19937 rng(11);
  std::vector<const mote_kernels_t *> all = SimdTables();
  all.push_back(mote_kernels_ref());
  for (const mote_kernels_t *kt : all)
    for (unsigned bits : kBits) {
      const size_t N = 37, K = 300, G = 32, T = 3;
      QW q = MakeQW(bits, N, K, G, rng);
      Vec x = Random(T * K, rng);
      Act a = Quantize(kt, bits, x, T, K);
      Vec whole = RunI8(Fn(kt, bits), q, a, nullptr, 0, N, bits != 8);
      Vec part = RunI8(Fn(kt, bits), q, a, nullptr, 5, 22, bits != 8);
      for (size_t t = 0; t < T; ++t)
        for (size_t n = 0; n < N; ++n) {
          if (n >= 5 && n < 22)
            ASSERT_EQ(part[t * N + n], whole[t * N + n]) << kt->isa << " n " << n;
          else
            ASSERT_EQ(part[t * N + n], kSentinel) << kt->isa << " wrote row " << n;
        }
    }
}

}  // namespace
