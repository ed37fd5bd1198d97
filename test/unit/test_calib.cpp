// Calibrated rounding (compiler/quant/Calibrate.h, CalibrationStats.h):
// GPTQ on a hand-checked 2-weight case, its Cholesky factor, the guarantee
// that calibrated codes never have a larger output error on the calibration
// H than the weight-only f search (and GPTQ than AWQ-style clipping), H = c*I
// reducing to the weight-only search, and one-line errors for bad stats files.
#include "compiler/quant/Calibrate.h"
#include "compiler/quant/CalibrationStats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

using namespace mote;
using namespace mote::quant;

namespace {

uint8_t codeAt(const std::vector<uint8_t> &codes, uint64_t k, unsigned bits) {
  const unsigned perByte = 8 / bits;
  return uint8_t((codes[k / perByte] >> ((k % perByte) * bits)) & ((1u << bits) - 1));
}

// H = X^T X / n for n rows of correlated inputs with a few large channels
// (the activation outliers that make calibration matter).
std::vector<double> randomH(uint64_t K, uint64_t n, std::mt19937 &rng) {
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> chan(K);
  for (uint64_t k = 0; k < K; ++k)
    chan[k] = (k % 17 == 3) ? 8.0 : 0.5 + std::fabs(nd(rng));
  std::vector<double> H(K * K, 0.0), x(K);
  for (uint64_t r = 0; r < n; ++r) {
    double common = nd(rng);
    for (uint64_t k = 0; k < K; ++k)
      x[k] = chan[k] * (0.6 * nd(rng) + 0.4 * common);
    for (uint64_t i = 0; i < K; ++i)
      for (uint64_t j = 0; j < K; ++j)
        H[i * K + j] += x[i] * x[j] / double(n);
  }
  return H;
}

std::vector<float> randomW(uint64_t N, uint64_t K, std::mt19937 &rng) {
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> w(N * K);
  for (float &v : w)
    v = nd(rng);
  return w;
}

double rowErr(const std::vector<float> &w, uint64_t r, uint64_t K,
              const std::vector<double> &H, const QuantSpec &spec,
              const std::vector<uint8_t> &codes, const std::vector<float> &scales) {
  const uint64_t rb = rowBytes(K, spec.bits), ng = groupsPerRow(K, spec.groupSize);
  return outputError(w.data() + r * K, 1, K, H.data(), spec, codes.data() + r * rb,
                     scales.data() + r * ng);
}

} // namespace

// K = 2, H = [[1, .5], [.5, 1]], no damping, s = 1, 2-bit levels
// {-1.5, -0.5, 0.5, 1.5}. w = [0.9, -0.1]: column 0 rounds to 0.5 (error
// 0.4); GPTQ moves w1 by 0.4 * H01 / H11 = 0.2 to 0.1, which rounds to 0.5
// (code 2) where nearest rounding gives -0.5 (code 1). Output errors e^T H e:
// nearest e = (0.4, 0.4) -> 0.48, GPTQ e = (0.4, -0.6) -> 0.28.
TEST(Calib, GptqHandCase) {
  const double H[4] = {1.0, 0.5, 0.5, 1.0};
  std::vector<double> U;
  ASSERT_TRUE(gptqFactor(H, 2, 0.0, U));
  // U^T U = H^-1 = [[4/3, -2/3], [-2/3, 4/3]].
  EXPECT_NEAR(U[0], std::sqrt(4.0 / 3.0), 1e-12);
  EXPECT_NEAR(U[1], -(2.0 / 3.0) / std::sqrt(4.0 / 3.0), 1e-12);
  EXPECT_EQ(U[2], 0.0);
  EXPECT_NEAR(U[3], 1.0, 1e-12);

  QuantSpec spec;
  spec.bits = 2;
  spec.groupSize = 0;
  const float w[2] = {0.9f, -0.1f};
  const float s = 1.0f;
  std::vector<uint8_t> codes(rowBytes(2, 2), 0xff);
  gptqRow(w, 2, U.data(), spec, &s, codes.data());
  EXPECT_EQ(codeAt(codes, 0, 2), 2);
  EXPECT_EQ(codeAt(codes, 1, 2), 2);
  EXPECT_EQ(codes[0], 2 | 2 << 2);
  for (size_t i = 1; i < codes.size(); ++i)
    EXPECT_EQ(codes[i], 0) << "padding byte " << i;
  EXPECT_NEAR(outputError(w, 1, 2, H, spec, codes.data(), &s), 0.28, 1e-6);
  std::vector<uint8_t> nearest;
  nearest.assign(rowBytes(2, 2), 0);
  nearest[0] = uint8_t(encode(w[0], s, 2) | encode(w[1], s, 2) << 2);
  EXPECT_EQ(codeAt(nearest, 1, 2), 1);
  EXPECT_NEAR(outputError(w, 1, 2, H, spec, nearest.data(), &s), 0.48, 1e-6);
}

// Damping: lambda = damp * mean(diag H) is added to the diagonal.
TEST(Calib, GptqFactorDamping) {
  const double H[4] = {3.0, 0.0, 0.0, 1.0};
  std::vector<double> U;
  ASSERT_TRUE(gptqFactor(H, 2, 0.5, U)); // lambda = 0.5 * 2 = 1
  EXPECT_NEAR(U[0], 1.0 / 2.0, 1e-12);            // (3 + 1)^-1/2
  EXPECT_NEAR(U[3], 1.0 / std::sqrt(2.0), 1e-12); // (1 + 1)^-1/2
  const double notPd[4] = {-1.0, 0.0, 0.0, -1.0};
  EXPECT_FALSE(gptqFactor(notPd, 2, 0.0, U));
  const float w[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::string err;
  QuantSpec spec;
  spec.bits = 4;
  spec.groupSize = 0;
  EXPECT_FALSE(quantizeMatrixCalibrated(w, 2, 2, spec, Rounding::Gptq, notPd, codes,
                                        scales, err, 0.0));
  EXPECT_NE(err.find("positive definite"), std::string::npos) << err;
}

// H = c * I: the output error is c times the weight error, so AWQ-style
// clipping is the weight-only search, byte for byte.
TEST(Calib, IdentityHIsWeightOnlySearch) {
  std::mt19937 rng(7);
  for (unsigned bits : {2u, 4u, 8u})
    for (uint64_t G : {uint64_t(32), uint64_t(0)}) {
      const uint64_t N = 6, K = 77;
      std::vector<float> w = randomW(N, K, rng);
      std::vector<double> H(K * K, 0.0);
      for (uint64_t k = 0; k < K; ++k)
        H[k * K + k] = 2.5;
      QuantSpec spec;
      spec.bits = bits;
      spec.groupSize = G;
      spec.f16Scales = bits != 8;
      std::vector<uint8_t> c1, c2;
      std::vector<float> s1, s2;
      std::string err;
      ASSERT_TRUE(quantizeMatrixCalibrated(w.data(), N, K, spec, Rounding::Awq, H.data(),
                                           c1, s1, err));
      QuantSpec searched = spec;
      searched.f = FMode::Search;
      ASSERT_TRUE(quantizeMatrix(w.data(), N, K, searched, nullptr, 0, c2, s2));
      EXPECT_EQ(c1, c2) << "bits " << bits << " G " << G;
      EXPECT_EQ(s1, s2) << "bits " << bits << " G " << G;
    }
}

// On a correlated H with outlier channels: per row, AWQ-style clipping is
// never worse on H than the weight-only search, GPTQ never worse than it;
// over the matrix calibration must clearly help at 2 bits. Codes stay on
// the grid (GPTQ keeps AWQ's scales).
TEST(Calib, NeverWorseThanWeightOnlySearch) {
  std::mt19937 rng(11);
  for (unsigned bits : {2u, 4u, 8u})
    for (uint64_t G : {uint64_t(32), uint64_t(128), uint64_t(0)})
      for (bool f16 : {false, true}) {
        const uint64_t N = 12, K = 100;
        std::vector<float> w = randomW(N, K, rng);
        std::vector<double> H = randomH(K, 400, rng);
        QuantSpec spec;
        spec.bits = bits;
        spec.groupSize = G;
        spec.f16Scales = f16;
        QuantSpec searched = spec;
        searched.f = FMode::Search;
        std::vector<uint8_t> cs, ca, cg;
        std::vector<float> ss, sa, sg;
        std::string err;
        ASSERT_TRUE(quantizeMatrix(w.data(), N, K, searched, nullptr, 0, cs, ss));
        ASSERT_TRUE(quantizeMatrixCalibrated(w.data(), N, K, spec, Rounding::Awq, H.data(),
                                             ca, sa, err));
        ASSERT_TRUE(quantizeMatrixCalibrated(w.data(), N, K, spec, Rounding::Gptq, H.data(),
                                             cg, sg, err));
        EXPECT_EQ(sa, sg) << "GPTQ keeps the AWQ-style scales";
        for (uint64_t r = 0; r < N; ++r) {
          const double es = rowErr(w, r, K, H, searched, cs, ss);
          const double ea = rowErr(w, r, K, H, spec, ca, sa);
          const double eg = rowErr(w, r, K, H, spec, cg, sg);
          EXPECT_LE(ea, es) << "bits " << bits << " G " << G << " row " << r;
          EXPECT_LE(eg, ea) << "bits " << bits << " G " << G << " row " << r;
        }
        const double es = outputError(w.data(), N, K, H.data(), searched, cs.data(), ss.data());
        const double eg = outputError(w.data(), N, K, H.data(), spec, cg.data(), sg.data());
        if (bits == 2) {
          EXPECT_LT(eg, 0.9 * es) << "G " << G << ": calibration did not help";
        }
        // Every scale is one the f grid can produce for its group (f16-rounded).
        const uint64_t ng = groupsPerRow(K, G), gl = groupLen(K, G);
        for (uint64_t r = 0; r < N; ++r)
          for (uint64_t g = 0; g < ng; ++g) {
            const float *wg = w.data() + r * K + g * gl;
            const uint64_t n = std::min(gl, K - g * gl);
            bool onGrid = false;
            for (int i = 50; i <= 100 && !onGrid; ++i)
              onGrid = scaleFor(wg, n, i / 100.0, bits, f16) == sa[r * ng + g];
            EXPECT_TRUE(onGrid) << "row " << r << " group " << g;
          }
      }
}

// ---------------------------------------------------------------------------
// Stats files
// ---------------------------------------------------------------------------

namespace {

struct Entry {
  std::string name, dtype;
  std::vector<uint64_t> shape;
  std::vector<uint8_t> bytes;
};

std::string writeSafetensors(const std::string &file, const std::vector<Entry> &es) {
  static std::string dir = [] {
    char tmpl[] = "/tmp/mote_calib_XXXXXX";
    const char *d = mkdtemp(tmpl);
    return std::string(d ? d : "/tmp");
  }();
  std::string hdr = "{";
  uint64_t off = 0;
  for (size_t i = 0; i < es.size(); ++i) {
    hdr += (i ? "," : "") + std::string("\"") + es[i].name + "\":{\"dtype\":\"" +
           es[i].dtype + "\",\"shape\":[";
    for (size_t d = 0; d < es[i].shape.size(); ++d)
      hdr += (d ? "," : "") + std::to_string(es[i].shape[d]);
    hdr += "],\"data_offsets\":[" + std::to_string(off) + "," +
           std::to_string(off + es[i].bytes.size()) + "]}";
    off += es[i].bytes.size();
  }
  hdr += "}";
  const std::string path = dir + "/" + file;
  std::ofstream out(path, std::ios::binary);
  uint64_t n = hdr.size();
  out.write(reinterpret_cast<const char *>(&n), 8);
  out.write(hdr.data(), std::streamsize(hdr.size()));
  for (const Entry &e : es)
    out.write(reinterpret_cast<const char *>(e.bytes.data()), std::streamsize(e.bytes.size()));
  return path;
}

Entry f32Entry(const std::string &name, std::vector<uint64_t> shape, std::vector<float> v) {
  Entry e{name, "F32", std::move(shape), {}};
  e.bytes.resize(v.size() * 4);
  std::memcpy(e.bytes.data(), v.data(), e.bytes.size());
  return e;
}

void expectOneLine(const Status &st, const std::string &path, const std::string &field,
                   const std::string &what) {
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message.find('\n'), std::string::npos) << st.message;
  EXPECT_EQ(st.message.rfind(path + ": " + field + ": ", 0), 0u) << st.message;
  EXPECT_NE(st.message.find(what), std::string::npos) << st.message;
}

} // namespace

TEST(Calib, StatsFileGood) {
  // Asymmetric on purpose: the reader symmetrizes (A + A^T) / 2.
  std::string p = writeSafetensors(
      "good.safetensors",
      {f32Entry("layers.0.wq.hessian", {2, 2}, {2.0f, 1.0f, 0.5f, 3.0f})});
  CalibrationStats st;
  ASSERT_TRUE(loadCalibrationStats(p, st).ok());
  std::vector<double> H;
  Status s = calibrationHessian(st, "layers.0.wq", 2, H);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(H, (std::vector<double>{2.0, 0.75, 0.75, 3.0}));
}

TEST(Calib, StatsFileErrors) {
  std::string p = writeSafetensors(
      "bad.safetensors",
      {f32Entry("layers.0.wq.hessian", {2, 3}, {1, 0, 0, 0, 1, 0}),
       f32Entry("layers.0.wk.hessian", {2, 2}, {1.0f, NAN, NAN, 1.0f}),
       f32Entry("layers.0.wv.hessian", {2, 2}, {1.0f, 0.0f, 0.0f, -1.0f}),
       Entry{"layers.0.wo.hessian", "F16", {2, 2}, std::vector<uint8_t>(8, 0)}});
  CalibrationStats st;
  ASSERT_TRUE(loadCalibrationStats(p, st).ok());
  std::vector<double> H;
  expectOneLine(calibrationHessian(st, "layers.0.w1", 2, H), p, "layers.0.w1.hessian",
                "missing");
  expectOneLine(calibrationHessian(st, "layers.0.wq", 2, H), p, "layers.0.wq.hessian",
                "shape [2, 3], expected [2, 2]");
  expectOneLine(calibrationHessian(st, "layers.0.wk", 2, H), p, "layers.0.wk.hessian",
                "not finite");
  expectOneLine(calibrationHessian(st, "layers.0.wv", 2, H), p, "layers.0.wv.hessian",
                "negative");
  expectOneLine(calibrationHessian(st, "layers.0.wo", 2, H), p, "layers.0.wo.hessian",
                "dtype f16, expected f32");
  // A file that is not there / not safetensors: one line naming the file.
  Status s = loadCalibrationStats("/nonexistent/stats.safetensors", st);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message.find("/nonexistent/stats.safetensors"), std::string::npos) << s.message;
  EXPECT_EQ(s.message.find('\n'), std::string::npos);
}

TEST(Calib, RoundingNames) {
  Rounding r;
  EXPECT_TRUE(parseRounding("awq", r));
  EXPECT_EQ(r, Rounding::Awq);
  EXPECT_TRUE(parseRounding("gptq", r));
  EXPECT_EQ(r, Rounding::Gptq);
  EXPECT_TRUE(parseRounding("nearest", r));
  EXPECT_EQ(r, Rounding::Nearest);
  EXPECT_FALSE(parseRounding("GPTQ", r));
  EXPECT_STREQ(roundingName(Rounding::Gptq), "gptq");
}
