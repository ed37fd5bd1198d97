// Calibrated rounding (compiler/quant/Calibrate.h, CalibrationStats.h):
// GPTQ on a hand-checked 2-weight case, its Cholesky factor, the guarantee
// that calibrated codes never have a larger output error on the calibration
// H than the weight-only f search (and GPTQ than AWQ-style clipping), H = c*I
// reducing to the weight-only search, and one-line errors for bad stats files.
// GPTQ act-order (gptq-act): a hand-checked 2-weight case, the permutation
// (order, codes at their original columns) and never worse than GPTQ.
#include "compiler/quant/AwqScale.h"
#include "compiler/quant/Calibrate.h"
#include "compiler/quant/CalibrationStats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
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

// Act-order, K = 2, H = [[1, .5], [.5, 2]], no damping, s = 1, 2-bit levels
// {-1.5, -0.5, 0.5, 1.5}. Column 1 has the larger H_kk, so it goes first.
// Permuted H: [[2, .5], [.5, 1]], inverse [[4/7, -2/7], [-2/7, 8/7]], upper
// Cholesky factor U = [[sqrt(4/7), -(2/7)/sqrt(4/7)], [0, 1]].
// w = [0.1, 1.1]: w1 = 1.1 rounds to 1.5 (code 3, error -0.4); feedback
// x0 = 0.1 - (-0.4) * U01/U00 = 0.1 - 0.2 = -0.1 -> -0.5 (code 1).
// Output error of e = (0.6, -0.4): 0.36 - 0.24 + 0.32 = 0.44 (the optimum of
// the four grid choices). Plain GPTQ: w0 = 0.1 -> 0.5 (code 2, error -0.4),
// x1 = 1.1 + 0.4 * 0.5 / 2 = 1.2 -> 1.5 (code 3): e = (-0.4, -0.4), 0.64.
TEST(Calib, GptqActHandCase) {
  const double H[4] = {1.0, 0.5, 0.5, 2.0};
  const std::vector<uint64_t> perm = actOrder(H, 2);
  ASSERT_EQ(perm, (std::vector<uint64_t>{1, 0}));
  std::vector<double> Ua, U;
  ASSERT_TRUE(gptqFactorPermuted(H, 2, perm, 0.0, Ua));
  EXPECT_NEAR(Ua[0], std::sqrt(4.0 / 7.0), 1e-12);
  EXPECT_NEAR(Ua[1], -(2.0 / 7.0) / std::sqrt(4.0 / 7.0), 1e-12);
  EXPECT_EQ(Ua[2], 0.0);
  EXPECT_NEAR(Ua[3], 1.0, 1e-12);
  ASSERT_TRUE(gptqFactor(H, 2, 0.0, U));

  QuantSpec spec;
  spec.bits = 2;
  spec.groupSize = 0;
  const float w[2] = {0.1f, 1.1f};
  const float s = 1.0f;
  std::vector<uint8_t> act(rowBytes(2, 2), 0xff), plain(rowBytes(2, 2), 0xff);
  gptqRowOrdered(w, 2, Ua.data(), perm, spec, &s, act.data());
  gptqRow(w, 2, U.data(), spec, &s, plain.data());
  // Codes at their ORIGINAL columns: column 0 -> 1, column 1 -> 3.
  EXPECT_EQ(codeAt(act, 0, 2), 1);
  EXPECT_EQ(codeAt(act, 1, 2), 3);
  EXPECT_EQ(codeAt(plain, 0, 2), 2);
  EXPECT_EQ(codeAt(plain, 1, 2), 3);
  for (size_t i = 1; i < act.size(); ++i)
    EXPECT_EQ(act[i], 0) << "padding byte " << i;
  EXPECT_NEAR(outputError(w, 1, 2, H, spec, act.data(), &s), 0.44, 1e-6);
  EXPECT_NEAR(outputError(w, 1, 2, H, spec, plain.data(), &s), 0.64, 1e-6);
}

// actOrder: decreasing diagonal, equal diagonals in index order.
TEST(Calib, ActOrderPermutation) {
  const uint64_t K = 6;
  std::vector<double> H(K * K, 0.0);
  const double diag[K] = {1.0, 5.0, 2.0, 5.0, 0.5, 2.0};
  for (uint64_t k = 0; k < K; ++k)
    H[k * K + k] = diag[k];
  EXPECT_EQ(actOrder(H.data(), K), (std::vector<uint64_t>{1, 3, 2, 5, 0, 4}));
}

// With one scale per row, act-order GPTQ of w is plain GPTQ of the permuted
// row w[perm] on the permuted H, codes moved back to their columns; with
// the identity order (H's diagonal already decreasing) it is gptqRow byte
// for byte, groups included.
TEST(Calib, GptqActIsGptqOnThePermutedProblem) {
  std::mt19937 rng(5);
  for (unsigned bits : {2u, 4u}) {
    const uint64_t K = 70;
    std::vector<float> w = randomW(1, K, rng);
    std::vector<double> H = randomH(K, 300, rng);
    const std::vector<uint64_t> perm = actOrder(H.data(), K);
    std::vector<uint64_t> sorted(perm);
    std::sort(sorted.begin(), sorted.end());
    for (uint64_t k = 0; k < K; ++k)
      ASSERT_EQ(sorted[k], k) << "not a permutation";
    bool identity = true;
    for (uint64_t k = 0; k < K; ++k) {
      identity = identity && perm[k] == k;
      if (k) {
        EXPECT_GE(H[perm[k - 1] * K + perm[k - 1]], H[perm[k] * K + perm[k]]);
      }
    }
    ASSERT_FALSE(identity) << "the test needs a non-trivial order";
    QuantSpec spec;
    spec.bits = bits;
    spec.groupSize = 0;
    const float s = scaleFor(w.data(), K, 0.8, bits, false);
    std::vector<double> Ua, Up;
    ASSERT_TRUE(gptqFactorPermuted(H.data(), K, perm, kGptqDamp, Ua));
    std::vector<double> Hp(K * K);
    std::vector<float> wp(K);
    for (uint64_t i = 0; i < K; ++i) {
      wp[i] = w[perm[i]];
      for (uint64_t j = 0; j < K; ++j)
        Hp[i * K + j] = H[perm[i] * K + perm[j]];
    }
    ASSERT_TRUE(gptqFactor(Hp.data(), K, kGptqDamp, Up));
    EXPECT_EQ(Ua, Up);
    std::vector<uint8_t> act(rowBytes(K, bits)), ref(rowBytes(K, bits));
    gptqRowOrdered(w.data(), K, Ua.data(), perm, spec, &s, act.data());
    gptqRow(wp.data(), K, Up.data(), spec, &s, ref.data());
    for (uint64_t j = 0; j < K; ++j)
      EXPECT_EQ(codeAt(act, perm[j], bits), codeAt(ref, j, bits)) << "bits " << bits << " j " << j;
    // Identity order with groups of 32: H's diagonal made decreasing.
    std::vector<double> Hd(Hp);
    spec.groupSize = 32;
    std::vector<float> scales;
    for (uint64_t g = 0; g < groupsPerRow(K, 32); ++g)
      scales.push_back(scaleFor(wp.data() + g * 32, std::min<uint64_t>(32, K - g * 32), 0.9,
                                bits, false));
    const std::vector<uint64_t> id = actOrder(Hd.data(), K);
    for (uint64_t k = 0; k < K; ++k)
      ASSERT_EQ(id[k], k);
    std::vector<uint8_t> a2(rowBytes(K, bits)), r2(rowBytes(K, bits));
    gptqRowOrdered(wp.data(), K, Up.data(), id, spec, scales.data(), a2.data());
    gptqRow(wp.data(), K, Up.data(), spec, scales.data(), r2.data());
    EXPECT_EQ(a2, r2);
  }
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
        int actBetter = 0; // rows where act-order won outright
        std::vector<float> w = randomW(N, K, rng);
        std::vector<double> H = randomH(K, 400, rng);
        QuantSpec spec;
        spec.bits = bits;
        spec.groupSize = G;
        spec.f16Scales = f16;
        QuantSpec searched = spec;
        searched.f = FMode::Search;
        std::vector<uint8_t> cs, ca, cg, ct;
        std::vector<float> ss, sa, sg, st;
        std::string err;
        ASSERT_TRUE(quantizeMatrix(w.data(), N, K, searched, nullptr, 0, cs, ss));
        ASSERT_TRUE(quantizeMatrixCalibrated(w.data(), N, K, spec, Rounding::Awq, H.data(),
                                             ca, sa, err));
        ASSERT_TRUE(quantizeMatrixCalibrated(w.data(), N, K, spec, Rounding::Gptq, H.data(),
                                             cg, sg, err));
        ASSERT_TRUE(quantizeMatrixCalibrated(w.data(), N, K, spec, Rounding::GptqAct,
                                             H.data(), ct, st, err));
        EXPECT_EQ(sa, sg) << "GPTQ keeps the AWQ-style scales";
        EXPECT_EQ(sa, st) << "GPTQ act-order keeps the AWQ-style scales";
        for (uint64_t r = 0; r < N; ++r) {
          const double es = rowErr(w, r, K, H, searched, cs, ss);
          const double ea = rowErr(w, r, K, H, spec, ca, sa);
          const double eg = rowErr(w, r, K, H, spec, cg, sg);
          EXPECT_LE(ea, es) << "bits " << bits << " G " << G << " row " << r;
          EXPECT_LE(eg, ea) << "bits " << bits << " G " << G << " row " << r;
          const double et = rowErr(w, r, K, H, spec, ct, st);
          EXPECT_LE(et, eg) << "act-order, bits " << bits << " G " << G << " row " << r;
          if (et < eg)
            ++actBetter;
        }
        const double es = outputError(w.data(), N, K, H.data(), searched, cs.data(), ss.data());
        const double eg = outputError(w.data(), N, K, H.data(), spec, cg.data(), sg.data());
        if (bits == 2) {
          EXPECT_LT(eg, 0.9 * es) << "G " << G << ": calibration did not help";
          // The outlier channels of randomH make act-order matter at 2 bits.
          EXPECT_GT(actBetter, 0) << "G " << G << ": act-order never won";
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
  EXPECT_TRUE(parseRounding("gptq-act", r));
  EXPECT_EQ(r, Rounding::GptqAct);
  EXPECT_STREQ(roundingName(Rounding::GptqAct), "gptq-act");
}

// ---------------------------------------------------------------------------
// AWQ per-channel weight scaling (awqScaleFor / awqScaleSearch, AwqScale.h)
// ---------------------------------------------------------------------------

TEST(AwqScale, ScaleForNormalizesAndClamps) {
  const double c[4] = {4.0, 1.0, 0.0, 16.0};
  std::vector<double> s = awqScaleFor(c, 4, 0.0);
  EXPECT_EQ(s, (std::vector<double>{1.0, 1.0, 1.0, 1.0}));
  s = awqScaleFor(c, 4, 0.5);
  // c clamped below at 1e-5 * 16; s = c^0.5 / sqrt(max * min).
  const double lo = std::sqrt(16e-5), norm = std::sqrt(4.0 * lo);
  EXPECT_NEAR(s[0], 2.0 / norm, 1e-12);
  EXPECT_NEAR(s[1], 1.0 / norm, 1e-12);
  EXPECT_NEAR(s[2], lo / norm, 1e-12);
  EXPECT_NEAR(s[3], 4.0 / norm, 1e-12);
  EXPECT_NEAR(s[2] * s[3], 1.0, 1e-12); // max * min = 1
  const double zero[2] = {0.0, 0.0};
  EXPECT_EQ(awqScaleFor(zero, 2, 1.0), (std::vector<double>{1.0, 1.0}));
}

namespace {

// The search's loss for a given s, computed independently: quantizeMatrix
// (f = search) of the f32 W diag(s), residual mapped back by 1/s, on H.
double scaledLoss(const std::vector<float> &w, uint64_t N, uint64_t K, const std::vector<double> &H,
                  const std::vector<double> &s, QuantSpec spec) {
  spec.f = FMode::Search;
  std::vector<float> ws(N * K);
  for (uint64_t r = 0; r < N; ++r)
    for (uint64_t k = 0; k < K; ++k)
      ws[r * K + k] = float(double(w[r * K + k]) * s[k]);
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  quantizeMatrix(ws.data(), N, K, spec, nullptr, 0, codes, scales);
  const uint64_t rb = rowBytes(K, spec.bits), ng = groupsPerRow(K, spec.groupSize);
  std::vector<double> e(K);
  double total = 0.0;
  for (uint64_t r = 0; r < N; ++r) {
    for (uint64_t k = 0; k < K; ++k)
      e[k] = (double(ws[r * K + k]) -
              dequantAt(codes.data() + r * rb, scales.data() + r * ng, k, K, spec)) / s[k];
    total += quadForm(e.data(), K, H.data());
  }
  return total;
}

} // namespace

// The search: alpha = 0 is the unscaled weight-only search's output error,
// the chosen alpha's loss is what it reports and never above alpha = 0's; on
// inputs with outlier channels, at 2 bits, scaling helps.
TEST(AwqScale, SearchNeverWorseThanUnscaled) {
  std::mt19937 rng(3);
  for (unsigned bits : {2u, 4u})
    for (uint64_t G : {uint64_t(32), uint64_t(0)}) {
      const uint64_t N = 16, K = 64;
      std::vector<float> w1 = randomW(N, K, rng), w2 = randomW(8, K, rng);
      std::vector<double> H = randomH(K, 400, rng), c(K);
      for (uint64_t k = 0; k < K; ++k)
        c[k] = std::sqrt(H[k * K + k]);
      QuantSpec spec;
      spec.bits = bits;
      spec.groupSize = G;
      spec.f16Scales = true;
      const AwqScaleChoice ch =
          awqScaleSearch({w1.data(), w2.data()}, {N, 8}, K, H.data(), c.data(), spec);
      const std::vector<double> ones(K, 1.0);
      const double l0 = scaledLoss(w1, N, K, H, ones, spec) + scaledLoss(w2, 8, K, H, ones, spec);
      EXPECT_NEAR(ch.err0, l0, 1e-9 * l0) << "bits " << bits << " G " << G;
      QuantSpec searched = spec;
      searched.f = FMode::Search;
      std::vector<uint8_t> codes;
      std::vector<float> scales;
      quantizeMatrix(w1.data(), N, K, searched, nullptr, 0, codes, scales);
      const double e1 = outputError(w1.data(), N, K, H.data(), searched, codes.data(), scales.data());
      EXPECT_NEAR(scaledLoss(w1, N, K, H, ones, spec), e1, 1e-9 * e1);
      EXPECT_LE(ch.err, ch.err0);
      EXPECT_EQ(ch.s, awqScaleFor(c.data(), K, ch.alpha));
      const double l = scaledLoss(w1, N, K, H, ch.s, spec) + scaledLoss(w2, 8, K, H, ch.s, spec);
      EXPECT_NEAR(ch.err, l, 1e-9 * l);
      if (bits == 2 && G == 32) { // (whole-row groups: alpha = 0 wins here)
        EXPECT_GT(ch.alpha, 0.0) << "G " << G;
        EXPECT_LT(ch.err, ch.err0) << "G " << G;
      }
    }
}

// ---------------------------------------------------------------------------
// Folding (applyAwqScale): a tiny GQA model with q/k/v biases and one
// KV-shared layer computes the same function (in float64, up to the f32
// rounding of the rescaled weights) after the rewrite; H is rewritten to
// diag(1/s) H diag(1/s); wo is left alone where another layer reads the V.
// ---------------------------------------------------------------------------

namespace {

struct TinyModel {
  ImportedModel m;
  std::vector<std::shared_ptr<std::vector<float>>> keep;
  CalibrationStats stats;

  void add(const std::string &name, std::vector<uint64_t> shape, std::vector<float> v,
           bool toStats = false) {
    auto b = std::make_shared<std::vector<float>>(std::move(v));
    TensorRef t;
    t.name = name;
    t.dtype = DType::F32;
    t.shape = std::move(shape);
    t.data = reinterpret_cast<const uint8_t *>(b->data());
    t.bytes = b->size() * 4;
    if (toStats)
      stats.tensors[name] = t;
    else
      m.weights.add(t);
    keep.push_back(b);
  }
};

std::vector<double> getW(const ImportedModel &m, const std::string &n) {
  const TensorRef *t = m.weights.find(n);
  std::vector<double> v(t->numel());
  for (uint64_t i = 0; i < v.size(); ++i) {
    float f;
    std::memcpy(&f, t->data + 4 * i, 4);
    v[i] = f;
  }
  return v;
}

// y (T, N) = x (T, K) W^T + b
std::vector<double> lin(const std::vector<double> &x, uint64_t T, const std::vector<double> &W,
                        uint64_t N, uint64_t K, const std::vector<double> *b = nullptr) {
  std::vector<double> y(T * N, 0.0);
  for (uint64_t t = 0; t < T; ++t)
    for (uint64_t n = 0; n < N; ++n) {
      double s = b ? (*b)[n] : 0.0;
      for (uint64_t k = 0; k < K; ++k)
        s += x[t * K + k] * W[n * K + k];
      y[t * N + n] = s;
    }
  return y;
}

std::vector<double> rms(const std::vector<double> &x, uint64_t T, uint64_t D,
                        const std::vector<double> &w) {
  std::vector<double> y(T * D);
  for (uint64_t t = 0; t < T; ++t) {
    double ss = 0.0;
    for (uint64_t d = 0; d < D; ++d)
      ss += x[t * D + d] * x[t * D + d];
    const double r = 1.0 / std::sqrt(ss / double(D) + 1e-5);
    for (uint64_t d = 0; d < D; ++d)
      y[t * D + d] = x[t * D + d] * r * w[d];
  }
  return y;
}

// The float64 forward of the tiny model (no RoPE: it acts on q/k only,
// which the rewrite does not change), T tokens, causal attention.
std::vector<double> forward(const ImportedModel &m, std::vector<double> x, uint64_t T) {
  const ModelSpec &s = m.spec;
  const uint64_t D = s.dim, F = s.hidden_dim, hd = s.head_dim, Hq = s.n_heads,
                 Hkv = s.n_kv_heads, rep = Hq / Hkv;
  const uint32_t first = s.n_layers - s.num_kv_shared_layers;
  std::vector<double> K, V;
  for (uint32_t i = 0; i < s.n_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    std::vector<double> h = rms(x, T, D, getW(m, p + "attn_norm"));
    std::vector<double> bq = getW(m, p + "bq");
    std::vector<double> q = lin(h, T, getW(m, p + "wq"), Hq * hd, D, &bq);
    if (i < first) {
      std::vector<double> bk = getW(m, p + "bk"), bv = getW(m, p + "bv");
      K = lin(h, T, getW(m, p + "wk"), Hkv * hd, D, &bk);
      V = lin(h, T, getW(m, p + "wv"), Hkv * hd, D, &bv);
    }
    std::vector<double> a(T * Hq * hd, 0.0);
    for (uint64_t t = 0; t < T; ++t)
      for (uint64_t hh = 0; hh < Hq; ++hh) {
        const uint64_t g = hh / rep;
        std::vector<double> sc(t + 1);
        double mx = -1e300, den = 0.0;
        for (uint64_t u = 0; u <= t; ++u) {
          double d = 0.0;
          for (uint64_t j = 0; j < hd; ++j)
            d += q[t * Hq * hd + hh * hd + j] * K[u * Hkv * hd + g * hd + j];
          sc[u] = d / std::sqrt(double(hd));
          mx = std::max(mx, sc[u]);
        }
        for (uint64_t u = 0; u <= t; ++u)
          den += (sc[u] = std::exp(sc[u] - mx));
        for (uint64_t u = 0; u <= t; ++u)
          for (uint64_t j = 0; j < hd; ++j)
            a[t * Hq * hd + hh * hd + j] += sc[u] / den * V[u * Hkv * hd + g * hd + j];
      }
    std::vector<double> o = lin(a, T, getW(m, p + "wo"), D, Hq * hd);
    for (uint64_t j = 0; j < T * D; ++j)
      x[j] += o[j];
    h = rms(x, T, D, getW(m, p + "ffn_norm"));
    std::vector<double> g = lin(h, T, getW(m, p + "w1"), F, D), u = lin(h, T, getW(m, p + "w3"), F, D);
    for (uint64_t j = 0; j < T * F; ++j)
      g[j] = g[j] / (1.0 + std::exp(-g[j])) * u[j];
    std::vector<double> d = lin(g, T, getW(m, p + "w2"), D, F);
    for (uint64_t j = 0; j < T * D; ++j)
      x[j] += d[j];
  }
  return x;
}

void makeTiny(TinyModel &tm, std::mt19937 &rng) {
  ModelSpec &s = tm.m.spec;
  s.dim = 8;
  s.hidden_dim = 12;
  s.n_layers = 3;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.head_dim = 2;
  s.num_kv_shared_layers = 1; // layer 2 reads layer 1's K/V
  s.qkv_bias = true;
  std::normal_distribution<float> nd(0.0f, 0.4f);
  std::uniform_real_distribution<float> ud(0.5f, 1.5f);
  auto rnd = [&](uint64_t n, bool positive = false) {
    std::vector<float> v(n);
    for (float &x : v)
      x = positive ? ud(rng) : nd(rng);
    return v;
  };
  const uint64_t D = 8, F = 12, E = 8, W = 4;
  tm.stats.path = "mem.safetensors";
  auto stat = [&](const std::string &param, uint64_t K) {
    std::vector<double> H = randomH(K, 50, rng);
    std::vector<float> h(H.begin(), H.end()), a(K);
    for (uint64_t k = 0; k < K; ++k)
      a[k] = float(0.8 * std::sqrt(H[k * K + k]));
    tm.add(param + ".hessian", {K, K}, h, true);
    tm.add(param + ".absmean", {K}, a, true);
  };
  for (uint32_t i = 0; i < 3; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    tm.add(p + "attn_norm", {D}, rnd(D, true));
    tm.add(p + "ffn_norm", {D}, rnd(D, true));
    tm.add(p + "wq", {E, D}, rnd(E * D));
    tm.add(p + "bq", {E}, rnd(E));
    tm.add(p + "wo", {D, E}, rnd(D * E));
    tm.add(p + "w1", {F, D}, rnd(F * D));
    tm.add(p + "w3", {F, D}, rnd(F * D));
    tm.add(p + "w2", {D, F}, rnd(D * F));
    for (const char *n : {"wq", "wo", "w1", "w3", "w2"})
      stat(p + n, std::string(n) == "wo" ? E : std::string(n) == "w2" ? F : D);
    if (i < 2) {
      tm.add(p + "wk", {W, D}, rnd(W * D));
      tm.add(p + "wv", {W, D}, rnd(W * D));
      tm.add(p + "bk", {W}, rnd(W));
      tm.add(p + "bv", {W}, rnd(W));
      stat(p + "wk", D);
      stat(p + "wv", D);
    }
  }
}

} // namespace

TEST(AwqScale, FoldingIsExact) {
  std::mt19937 rng(21);
  TinyModel tm;
  makeTiny(tm, rng);
  const uint64_t T = 5, D = 8;
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> x(T * D);
  for (double &v : x)
    v = nd(rng);
  const std::vector<double> y0 = forward(tm.m, x, T);
  std::map<std::string, std::vector<double>> H0;
  for (const auto &kv : tm.stats.tensors)
    if (kv.first.size() > 8 && kv.first.compare(kv.first.size() - 8, 8, ".hessian") == 0) {
      const std::string param = kv.first.substr(0, kv.first.size() - 8);
      ASSERT_TRUE(calibrationHessian(tm.stats, param, kv.second.shape[0], H0[param]).ok());
    }
  const std::vector<double> wo2 = getW(tm.m, "layers.2.wo"), wo1 = getW(tm.m, "layers.1.wo");
  const std::vector<double> wv1orig = getW(tm.m, "layers.1.wv");
  QuantSpec spec;
  spec.bits = 2;
  spec.groupSize = 0;
  AwqScaleResult res;
  Status st = applyAwqScale(tm.m, tm.stats, spec, res, 0.5);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(res.statistic, "absmean");
  const std::vector<double> y1 = forward(tm.m, x, T);
  double mx = 0.0, md = 0.0;
  for (uint64_t j = 0; j < y0.size(); ++j) {
    mx = std::max(mx, std::fabs(y0[j]));
    md = std::max(md, std::fabs(y0[j] - y1[j]));
  }
  EXPECT_LT(md, 1e-5 * mx) << "the rescaled model computes something else";
  // Groups: attention input (wq, wk, wv in layers 0-1, wq only in the shared
  // layer 2), attention output only in layer 0 (layer 1's V is read by
  // layer 2), ffn input and hidden everywhere.
  std::vector<std::string> sites;
  for (const AwqScaleGroup &g : res.groups)
    sites.push_back(g.site);
  EXPECT_EQ(sites, (std::vector<std::string>{
                       "layers.0.attention_input", "layers.0.attention_output",
                       "layers.0.ffn_input", "layers.0.ffn_hidden", "layers.1.attention_input",
                       "layers.1.ffn_input", "layers.1.ffn_hidden", "layers.2.attention_input",
                       "layers.2.ffn_input", "layers.2.ffn_hidden"}));
  EXPECT_EQ(res.groups[7].linears, (std::vector<std::string>{"layers.2.wq"}));
  EXPECT_EQ(getW(tm.m, "layers.2.wo"), wo2);
  EXPECT_EQ(getW(tm.m, "layers.1.wo"), wo1);
  // GQA: query heads 0, 1 share KV head 0 (2, 3: head 1): equal s per dim.
  const std::vector<double> &so = res.groups[1].s;
  ASSERT_EQ(so.size(), 8u);
  for (uint64_t d = 0; d < 2; ++d) {
    EXPECT_EQ(so[0 * 2 + d], so[1 * 2 + d]);
    EXPECT_EQ(so[2 * 2 + d], so[3 * 2 + d]);
  }
  // The norms took 1/s; the stats' H became diag(1/s) H diag(1/s).
  for (const AwqScaleGroup &g : res.groups) {
    bool anyNot1 = false;
    for (double v : g.s)
      anyNot1 = anyNot1 || v != 1.0;
    EXPECT_TRUE(anyNot1) << g.site;
    for (const std::string &n : g.linears) {
      const uint64_t K = g.s.size();
      std::vector<double> H1;
      ASSERT_TRUE(calibrationHessian(tm.stats, n, K, H1).ok());
      for (uint64_t i = 0; i < K; ++i)
        for (uint64_t j = 0; j < K; ++j) {
          const double want = H0[n][i * K + j] / (g.s[i] * g.s[j]);
          EXPECT_NEAR(H1[i * K + j], want, 1e-6 * std::fabs(want) + 1e-12) << n;
        }
    }
  }
  EXPECT_NE(std::find(res.changed.begin(), res.changed.end(), "layers.0.attn_norm"),
            res.changed.end());
  EXPECT_NE(std::find(res.changed.begin(), res.changed.end(), "layers.0.bv"), res.changed.end());
  // Layer 1's wv: columns times its attention-input s, rows NOT divided
  // (layer 2 reads this V with an unscaled wo).
  const std::vector<double> wv1 = getW(tm.m, "layers.1.wv");
  const std::vector<double> &sa = res.groups[4].s;
  ASSERT_EQ(res.groups[4].site, "layers.1.attention_input");
  for (uint64_t r = 0; r < 4; ++r)
    for (uint64_t k = 0; k < 8; ++k)
      EXPECT_EQ(wv1[r * 8 + k], double(float(wv1orig[r * 8 + k] * sa[k])));
}

// The search on the tiny model: every group ends no worse than unscaled, the
// model still computes the same function; a stats file without absmean
// falls back to sqrt(H_kk); a bad absmean is a one-line error.
TEST(AwqScale, SearchedModelAndStatistics) {
  std::mt19937 rng(22);
  TinyModel tm;
  makeTiny(tm, rng);
  for (auto it = tm.stats.tensors.begin(); it != tm.stats.tensors.end();)
    it = it->first.find(".absmean") != std::string::npos ? tm.stats.tensors.erase(it) : ++it;
  const uint64_t T = 4, D = 8;
  std::vector<double> x(T * D);
  for (uint64_t j = 0; j < x.size(); ++j)
    x[j] = std::sin(double(j) * 0.7);
  const std::vector<double> y0 = forward(tm.m, x, T);
  QuantSpec spec;
  spec.bits = 2;
  spec.groupSize = 0;
  AwqScaleResult res;
  ASSERT_TRUE(applyAwqScale(tm.m, tm.stats, spec, res).ok());
  EXPECT_EQ(res.statistic, "rms");
  for (const AwqScaleGroup &g : res.groups)
    EXPECT_LE(g.err, g.err0) << g.site;
  const std::vector<double> y1 = forward(tm.m, x, T);
  for (uint64_t j = 0; j < y0.size(); ++j)
    EXPECT_NEAR(y1[j], y0[j], 1e-5 * (1.0 + std::fabs(y0[j])));

  TinyModel bad;
  makeTiny(bad, rng);
  bad.add("layers.1.w1.absmean", {7}, std::vector<float>(7, 1.0f), true);
  AwqScaleResult r2;
  Status st = applyAwqScale(bad.m, bad.stats, spec, r2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message.find('\n'), std::string::npos);
  EXPECT_EQ(st.message.rfind("mem.safetensors: layers.1.w1.absmean: shape [7], expected [8]", 0),
            0u)
      << st.message;
}
