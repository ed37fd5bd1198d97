// Quantized linear kernels (issue 4): the scalar reference against a plain
// dequantize-then-dot in double, every SIMD table against the reference on
// odd shapes / group sizes / token counts, and range splitting; each with
// f32 scales and with the bundle's IEEE-half scales (read in place).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels_internal.h"

namespace {

using Vec = std::vector<float>;

// IEEE half -> double, written out independently of the runtime's converters.
double HalfValue(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(1.0 + m / 1024.0, e - 15);
  return (h & 0x8000) ? -v : v;
}

struct QW {
  unsigned bits;
  size_t N, K, G, row_bytes, ng;
  std::vector<uint8_t> codes;
  Vec scales;                  // f32 values, each exactly a half
  std::vector<uint16_t> half;  // the same scales as IEEE halves
  const void *Scales(bool f16) const {
    return f16 ? static_cast<const void *>(half.data()) : scales.data();
  }
  // Dequantized straight from the storage contract (docs/quantization.md).
  float At(size_t n, size_t k) const {
    const uint8_t *r = codes.data() + n * row_bytes;
    float s = scales[n * ng + k / G];
    if (bits == 8) return s * float(int8_t(r[k]));
    unsigned byte = r[k * bits / 8];
    unsigned c = (byte >> ((k % (8 / bits)) * bits)) & ((1u << bits) - 1);
    return s * (float(c) - (bits == 2 ? 1.5f : 7.5f));
  }
};

QW MakeQW(unsigned bits, size_t N, size_t K, size_t G, std::mt19937 &rng) {
  QW q{bits, N, K, G, (K + 31) / 32 * 32 * bits / 8, (K + G - 1) / G, {}, {}, {}};
  std::uniform_int_distribution<int> byte(0, 255);
  q.codes.resize(N * q.row_bytes);
  for (auto &c : q.codes) c = uint8_t(byte(rng));  // padding too: must not matter
  // Random halves in [2^-8, 0.25): every mantissa bit in use.
  std::uniform_int_distribution<int> e(7, 12), m(0, 1023);
  q.scales.resize(N * q.ng);
  q.half.resize(N * q.ng);
  for (size_t i = 0; i < q.half.size(); ++i) {
    q.half[i] = uint16_t(e(rng) << 10 | m(rng));
    q.scales[i] = float(HalfValue(q.half[i]));
  }
  return q;
}

Vec Random(size_t n, std::mt19937 &rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  Vec v(n);
  for (float &x : v) x = d(rng);
  return v;
}

mote_linear_q_f32_fn Fn(const mote_kernels_t *k, unsigned bits) {
  return bits == 2 ? k->linear_q2_f32 : bits == 4 ? k->linear_q4_f32 : k->linear_q8_f32;
}

const float kSentinel = 12345.0f;

Vec RunQ(mote_linear_q_f32_fn f, const QW &q, const Vec &x, size_t T, const float *bias,
        size_t nb, size_t ne, bool f16 = false) {
  Vec y(T * q.N, kSentinel);
  f(x.data(), T, q.K, q.codes.data(), q.Scales(f16), f16, q.G, q.row_bytes, bias, y.data(),
    q.N, nb, ne);
  return y;
}

// sum |x w| over a row: the scale of float rounding in a K-term dot.
double AbsDot(const QW &q, const Vec &x, size_t t, size_t n) {
  double a = 0;
  for (size_t k = 0; k < q.K; ++k) a += std::fabs(double(x[t * q.K + k]) * q.At(n, k));
  return a;
}

std::vector<const mote_kernels_t *> SimdTables() {
  std::vector<const mote_kernels_t *> t;
  if (const mote_kernels_t *k = mote_kernels_avx2()) t.push_back(k);
  if (const mote_kernels_t *k = mote_kernels_neon()) t.push_back(k);
  return t;
}

const size_t kKs[] = {1, 3, 31, 33, 172, 1023};
const size_t kTs[] = {1, 2, 3, 5, 64};

TEST(QLinear, TablesAreComplete) {
  std::vector<const mote_kernels_t *> all = SimdTables();
  all.push_back(mote_kernels_ref());
  for (const mote_kernels_t *k : all)
    EXPECT_TRUE(k->linear_q2_f32 && k->linear_q4_f32 && k->linear_q8_f32) << k->isa;
}

TEST(QLinear, ReferenceMatchesDequantizeThenDot) {
  std::mt19937 rng(7);
  for (unsigned bits : {2u, 4u, 8u})
    for (size_t K : kKs)
      for (size_t G : {size_t(32), size_t(64), size_t(128), K, size_t(12)}) {
        size_t T = 3, N = 7;
        QW q = MakeQW(bits, N, K, G, rng);
        Vec x = Random(T * K, rng), bias = Random(N, rng);
        Vec y = RunQ(Fn(mote_kernels_ref(), bits), q, x, T, bias.data(), 0, N);
        for (size_t t = 0; t < T; ++t)
          for (size_t n = 0; n < N; ++n) {
            double want = bias[n];
            for (size_t k = 0; k < K; ++k) want += double(x[t * K + k]) * q.At(n, k);
            EXPECT_NEAR(y[t * N + n], want, 1e-6 * (AbsDot(q, x, t, n) + 1) + 1e-6)
                << "bits " << bits << " K " << K << " G " << G;
          }
        // The same scales as halves give the same numbers.
        ASSERT_EQ(RunQ(Fn(mote_kernels_ref(), bits), q, x, T, bias.data(), 0, N, true), y)
            << "f16 scales, bits " << bits << " K " << K << " G " << G;
      }
}

TEST(QLinear, DequantRowMatchesContract) {
  std::mt19937 rng(8);
  for (unsigned bits : {2u, 4u, 8u})
    for (size_t K : kKs)
      for (size_t G : {size_t(32), K, size_t(5)}) {
        QW q = MakeQW(bits, 5, K, G, rng);
        Vec out(K + 1, kSentinel);
        for (size_t n = 0; n < q.N; ++n)
          for (bool f16 : {false, true}) {
            std::fill(out.begin(), out.end(), kSentinel);
            mote_dequant_row_q(bits, q.codes.data(), q.Scales(f16), f16, K, G, q.row_bytes, n,
                               out.data());
            for (size_t k = 0; k < K; ++k)
              ASSERT_EQ(out[k], q.At(n, k)) << bits << " " << K << " f16 " << f16;
            ASSERT_EQ(out[K], kSentinel);
          }
      }
}

TEST(QLinear, SimdMatchesReference) {
  if (SimdTables().empty()) GTEST_SKIP() << "no SIMD kernels on this CPU";
  std::mt19937 rng(9);
  for (const mote_kernels_t *tab : SimdTables())
    for (unsigned bits : {2u, 4u, 8u})
      for (size_t K : kKs)
        for (size_t G : {size_t(32), size_t(64), size_t(128), K, size_t(12)})
          for (size_t T : kTs) {
            size_t N = 13;
            QW q = MakeQW(bits, N, K, G, rng);
            Vec x = Random(T * K, rng), bias = Random(N, rng);
            for (const float *b : {static_cast<const float *>(nullptr),
                                   static_cast<const float *>(bias.data())}) {
              Vec want = RunQ(Fn(mote_kernels_ref(), bits), q, x, T, b, 0, N);
              Vec got = RunQ(Fn(tab, bits), q, x, T, b, 0, N);
              for (size_t t = 0; t < T; ++t)
                for (size_t n = 0; n < N; ++n)
                  ASSERT_NEAR(got[t * N + n], want[t * N + n],
                              2e-6 * AbsDot(q, x, t, n) + 1e-6)
                      << tab->isa << " bits " << bits << " K " << K << " G " << G
                      << " T " << T << " t " << t << " n " << n;
              // Half scales are widened exactly and the arithmetic after is
              // the f32 path's: bit-identical.
              ASSERT_EQ(RunQ(Fn(tab, bits), q, x, T, b, 0, N, true), got)
                  << tab->isa << " f16 scales, bits " << bits << " K " << K << " G " << G
                  << " T " << T;
            }
          }
}

// The decode fast path (T = 1, rows a multiple of 128 / 64 weights) and the
// shapes around it: every group size it takes or declines.
TEST(QLinear, SimdDecodeShapes) {
  if (SimdTables().empty()) GTEST_SKIP() << "no SIMD kernels on this CPU";
  std::mt19937 rng(11);
  for (const mote_kernels_t *tab : SimdTables())
    for (unsigned bits : {2u, 4u, 8u})
      for (size_t K : {size_t(64), size_t(128), size_t(192), size_t(256), size_t(384),
                       size_t(2048), size_t(8192), size_t(8320)})
        for (size_t G : {size_t(8), size_t(16), size_t(32), size_t(64), size_t(96), size_t(128),
                         size_t(256), K, K + 5})
          for (size_t T : {size_t(1), size_t(2)}) {
            size_t N = 9;
            QW q = MakeQW(bits, N, K, G, rng);
            Vec x = Random(T * K, rng), bias = Random(N, rng);
            for (bool f16 : {false, true}) {
              Vec want = RunQ(Fn(mote_kernels_ref(), bits), q, x, T, bias.data(), 0, N, f16);
              Vec got = RunQ(Fn(tab, bits), q, x, T, bias.data(), 1, N, f16);
              for (size_t t = 0; t < T; ++t) {
                ASSERT_EQ(got[t * N], kSentinel);
                for (size_t n = 1; n < N; ++n)
                  ASSERT_NEAR(got[t * N + n], want[t * N + n],
                              2e-6 * AbsDot(q, x, t, n) + 1e-6)
                      << tab->isa << " bits " << bits << " K " << K << " G " << G << " T "
                      << T << " n " << n << " f16 " << f16;
              }
            }
          }
}

// Split ranges give exactly the whole call's rows, and nothing outside a
// range is written.
TEST(QLinear, RangeSplitting) {
  std::mt19937 rng(10);
  std::vector<const mote_kernels_t *> all = SimdTables();
  all.push_back(mote_kernels_ref());
  for (const mote_kernels_t *tab : all)
    for (unsigned bits : {2u, 4u, 8u})
      for (size_t T : {size_t(1), size_t(5)})
      for (bool f16 : {false, true}) {
        size_t N = 37, K = 172;
        QW q = MakeQW(bits, N, K, 32, rng);
        Vec x = Random(T * K, rng);
        Vec whole = RunQ(Fn(tab, bits), q, x, T, nullptr, 0, N, f16);
        Vec parts(T * N, kSentinel);
        const size_t cuts[] = {0, 5, 17, 30, N};
        for (size_t c = 0; c + 1 < 5; ++c) {
          Vec part = RunQ(Fn(tab, bits), q, x, T, nullptr, cuts[c], cuts[c + 1], f16);
          for (size_t t = 0; t < T; ++t)
            for (size_t n = 0; n < N; ++n) {
              bool in = n >= cuts[c] && n < cuts[c + 1];
              if (in)
                parts[t * N + n] = part[t * N + n];
              else
                ASSERT_EQ(part[t * N + n], kSentinel) << tab->isa << " n " << n;
            }
        }
        for (size_t i = 0; i < whole.size(); ++i)
          ASSERT_EQ(parts[i], whole[i]) << tab->isa << " bits " << bits << " i " << i;
      }
}

// Half scales at the edges of the format (zero, subnormals, the largest
// normal, negative) through every path of every table (decode fast path,
// tiles, prefill strips, tails): widened exactly, so the same numbers as
// those values in f32, and the reference's within rounding.
TEST(QLinear, F16ScaleEdgeValues) {
  std::mt19937 rng(12);
  const uint16_t kEdge[] = {0x0000, 0x0001, 0x0155, 0x03ff, 0x0400, 0x3c00,
                            0x7bff, 0x8000, 0xb555, 0x2e66, 0x1234};
  std::uniform_int_distribution<size_t> pick(0, sizeof kEdge / sizeof kEdge[0] - 1);
  std::vector<const mote_kernels_t *> all = SimdTables();
  all.push_back(mote_kernels_ref());
  for (const mote_kernels_t *tab : all)
    for (unsigned bits : {2u, 4u, 8u})
      for (size_t K : {size_t(33), size_t(256), size_t(1023), size_t(2048)})
        for (size_t G : {size_t(32), size_t(64), K})
          for (size_t T : {size_t(1), size_t(2), size_t(5)}) {
            size_t N = 11;
            QW q = MakeQW(bits, N, K, G, rng);
            for (size_t i = 0; i < q.half.size(); ++i) {
              q.half[i] = kEdge[pick(rng)];
              q.scales[i] = float(HalfValue(q.half[i]));
            }
            Vec x = Random(T * K, rng), bias = Random(N, rng);
            Vec got = RunQ(Fn(tab, bits), q, x, T, bias.data(), 0, N, true);
            ASSERT_EQ(got, RunQ(Fn(tab, bits), q, x, T, bias.data(), 0, N, false))
                << tab->isa << " bits " << bits << " K " << K << " G " << G << " T " << T;
            Vec want = RunQ(Fn(mote_kernels_ref(), bits), q, x, T, bias.data(), 0, N, true);
            for (size_t t = 0; t < T; ++t)
              for (size_t n = 0; n < N; ++n)
                ASSERT_NEAR(got[t * N + n], want[t * N + n], 2e-6 * AbsDot(q, x, t, n) + 1e-6)
                    << tab->isa << " bits " << bits << " K " << K << " G " << G << " T " << T;
          }
}

}  // namespace
