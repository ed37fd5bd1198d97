// Quantizer (compiler/quant) against toolkit/mote_ref/quant.py, an
// independent numpy implementation run at test time on random matrices
// (K not a multiple of G or of 32 included): codes and scales must match
// byte for byte. Plus the worked example of docs/quantization.md.
#include "compiler/quant/Quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <unistd.h>

using namespace mote::quant;

namespace {

std::string tmpDir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/mote_quant_XXXXXX";
    const char *d = mkdtemp(tmpl);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

std::vector<uint8_t> readAll(const std::string &p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void writeAll(const std::string &p, const void *d, size_t n) {
  std::ofstream out(p, std::ios::binary);
  out.write(static_cast<const char *>(d), static_cast<std::streamsize>(n));
}

// Runs the numpy reference; false when python3/numpy is missing.
bool reference(const std::vector<float> &w, uint64_t N, uint64_t K,
               const QuantSpec &spec, const std::vector<float> *fixedF,
               std::vector<uint8_t> &codes, std::vector<float> &scales) {
  std::string d = tmpDir();
  writeAll(d + "/w.f32", w.data(), w.size() * 4);
  std::string cmd = "/usr/bin/python3 " MOTE_SOURCE_DIR "/toolkit/mote_ref/quant.py pack " +
                    std::string(spec.f16Scales ? "--f16 " : "") + d + "/w.f32 " + std::to_string(N) + " " + std::to_string(K) +
                    " " + std::to_string(spec.bits) + " " +
                    std::to_string(spec.groupSize) + " " + fModeName(spec.f) +
                    " " + d + "/c.bin " + d + "/s.bin";
  if (fixedF) {
    writeAll(d + "/f.f32", fixedF->data(), fixedF->size() * 4);
    cmd += " " + d + "/f.f32";
  }
  if (std::system(cmd.c_str()) != 0)
    return false;
  codes = readAll(d + "/c.bin");
  std::vector<uint8_t> s = readAll(d + "/s.bin");
  if (spec.f16Scales) { // IEEE half bytes, widened with our own conversion
    scales.resize(s.size() / 2);
    for (size_t i = 0; i < scales.size(); ++i)
      scales[i] = f16ToF32(uint16_t(s[2 * i] | (s[2 * i + 1] << 8)));
    return true;
  }
  scales.resize(s.size() / 4);
  std::memcpy(scales.data(), s.data(), s.size());
  return true;
}

TEST(Quant, WorkedExample2Bit) {
  // docs/quantization.md: W = [0.3, -0.9, 0.1, 0.6], G = 4 -> s = 0.6,
  // W/s + 0.5 = [1, -1, 0.67, 1.5] -> q = [1, -1, 1, 2] -> c = [2, 0, 2, 3].
  const float w[4] = {0.3f, -0.9f, 0.1f, 0.6f};
  uint8_t codes[8];
  float s;
  quantizeRow(w, 4, {2, 4, FMode::MaxAbs}, nullptr, codes, &s);
  EXPECT_FLOAT_EQ(s, 0.6f);
  EXPECT_EQ(codes[0], 2 | 0 << 2 | 2 << 4 | 3 << 6);
  for (int i = 1; i < 8; ++i)
    EXPECT_EQ(codes[i], 0) << "pad codes are 0";
  EXPECT_NEAR(dequantAt(codes, &s, 2, 4, {2, 4, FMode::MaxAbs}), 0.3, 1e-6);
}

TEST(Quant, SizesAndZeroGroup) {
  EXPECT_EQ(rowBytes(1, 2), 8u);
  EXPECT_EQ(rowBytes(33, 4), 32u);
  EXPECT_EQ(rowBytes(64, 8), 64u);
  EXPECT_EQ(groupsPerRow(100, 32), 4u);
  EXPECT_EQ(groupsPerRow(100, 0), 1u);
  std::vector<float> w(40, 0.0f);
  std::vector<uint8_t> c;
  std::vector<float> s;
  ASSERT_TRUE(quantizeMatrix(w.data(), 1, 40, {4, 32, FMode::Search}, nullptr, 0, c, s));
  EXPECT_EQ(s[0], 0.0f);
  EXPECT_EQ(dequantAt(c.data(), s.data(), 3, 40, {4, 32, FMode::Search}), 0.0);
  std::vector<float> bad(3, 1.0f);
  EXPECT_FALSE(quantizeMatrix(w.data(), 1, 40, {4, 32, FMode::MaxAbs}, bad.data(), 3, c, s));
}

TEST(Quant, SearchNeverWorseThanMaxAbs) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(128);
  for (float &x : w) x = nd(rng);
  for (unsigned bits : {2u, 4u, 8u}) {
    double f = searchF(w.data(), w.size(), bits);
    double eSearch = groupError(w.data(), w.size(), scaleFor(w.data(), w.size(), f, bits), bits);
    double eMax = groupError(w.data(), w.size(), scaleFor(w.data(), w.size(), 1.0, bits), bits);
    EXPECT_LE(eSearch, eMax) << bits;
  }
}

// f16 conversion: every finite half survives a round trip; a value halfway
// between two neighbouring halves goes to the even one, and one f32 ulp
// either side of the midpoint goes to the nearer one (round to nearest even).
TEST(Quant, F16RoundToNearestEven) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    if ((h & 0x7c00u) == 0x7c00u)
      continue; // inf/NaN
    float v = f16ToF32(uint16_t(h));
    ASSERT_EQ(f32ToF16(v), uint16_t(h)) << h;
    if ((h & 0x7fffu) == 0x7bffu || (h & 0x8000u))
      continue; // largest finite / negatives: checked by symmetry below
    float next = f16ToF32(uint16_t(h + 1));
    float mid = float((double(v) + double(next)) / 2); // exact in f32
    uint16_t even = (h & 1u) ? uint16_t(h + 1) : uint16_t(h);
    ASSERT_EQ(f32ToF16(mid), even) << h;
    ASSERT_EQ(f32ToF16(std::nextafter(mid, 0.0f)), uint16_t(h)) << h;
    ASSERT_EQ(f32ToF16(std::nextafter(mid, 1e9f)), uint16_t(h + 1)) << h;
    ASSERT_EQ(f32ToF16(-mid), uint16_t(even | 0x8000u)) << h;
  }
  EXPECT_EQ(f32ToF16(65520.0f), 0x7c00u); // halfway to 2^16 -> inf
  EXPECT_EQ(f32ToF16(65519.0f), 0x7bffu);
  EXPECT_EQ(f32ToF16(1e-9f), 0u);
  EXPECT_EQ(roundF16(0.6f), f16ToF32(f32ToF16(0.6f)));
}

struct Case { uint64_t N, K, G; unsigned bits; FMode f; bool qat; };

TEST(Quant, MatchesNumpyReference) {
  const Case cases[] = {
      {5, 64, 32, 2, FMode::MaxAbs, false}, {7, 100, 32, 2, FMode::Search, false},
      {3, 77, 0, 2, FMode::MaxAbs, false},  {4, 77, 0, 2, FMode::Search, false},
      {6, 130, 64, 4, FMode::MaxAbs, false}, {6, 130, 128, 4, FMode::Search, false},
      {2, 33, 0, 4, FMode::Search, false},  {5, 200, 64, 8, FMode::MaxAbs, false},
      {5, 200, 128, 8, FMode::Search, false}, {3, 45, 0, 8, FMode::Search, false},
      {4, 96, 32, 2, FMode::MaxAbs, true},  {4, 70, 0, 4, FMode::MaxAbs, true}};
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::uniform_real_distribution<float> uf(0.5f, 1.0f);
  for (bool f16 : {false, true}) {
  for (const Case &c : cases) {
    std::vector<float> w(c.N * c.K);
    for (float &x : w) x = nd(rng);
    w[1] = 0.2f; // an outlier, so clipping matters
    if (c.N > 2) // one all-zero row
      std::fill(w.begin() + 2 * c.K, w.begin() + 3 * c.K, 0.0f);
    QuantSpec spec{c.bits, c.G, c.f, f16};
    std::vector<float> ff;
    if (c.qat) {
      ff.resize(c.N * groupsPerRow(c.K, c.G));
      for (float &x : ff) x = uf(rng);
    }
    std::vector<uint8_t> codes, rcodes;
    std::vector<float> scales, rscales;
    ASSERT_TRUE(quantizeMatrix(w.data(), c.N, c.K, spec, c.qat ? ff.data() : nullptr,
                               ff.size(), codes, scales));
    if (!reference(w, c.N, c.K, spec, c.qat ? &ff : nullptr, rcodes, rscales))
      GTEST_SKIP() << "python3 with numpy is needed for the reference";
    SCOPED_TRACE("N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
                 " G=" + std::to_string(c.G) + " bits=" + std::to_string(c.bits) +
                 " f=" + fModeName(c.f) + (c.qat ? " qat" : "") +
                 (f16 ? " f16" : " f32"));
    ASSERT_EQ(codes.size(), c.N * rowBytes(c.K, c.bits));
    ASSERT_EQ(rcodes.size(), codes.size());
    ASSERT_EQ(rscales.size(), scales.size());
    for (size_t i = 0; i < scales.size(); ++i) {
      ASSERT_EQ(scales[i], rscales[i]) << "scale " << i;
      if (f16) { // the stored half bits are identical too
        ASSERT_EQ(f32ToF16(scales[i]), f32ToF16(rscales[i])) << "scale " << i;
      }
    }
    for (size_t i = 0; i < codes.size(); ++i)
      ASSERT_EQ(codes[i], rcodes[i]) << "code byte " << i;
  }
  }
}

} // namespace
