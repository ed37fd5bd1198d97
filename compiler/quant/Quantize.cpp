// Quantizer: see Quantize.h and docs/quantization.md. Arithmetic is in
// double with the f32 scale, in a fixed order and without FMA contraction
// (built with -ffp-contract=off), so toolkit/mote_ref/quant.py reproduces
// codes and scales bit for bit.
#include "compiler/quant/Quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

namespace mote {
namespace quant {

double qmax(unsigned bits) {
  return bits == 2 ? 1.5 : bits == 4 ? 7.5 : 127.0;
}

uint64_t rowBytes(uint64_t K, unsigned bits) {
  return (K + 31) / 32 * 32 * bits / 8;
}

uint64_t groupLen(uint64_t K, uint64_t groupSize) {
  return groupSize == 0 ? K : groupSize;
}

uint64_t groupsPerRow(uint64_t K, uint64_t groupSize) {
  uint64_t g = groupLen(K, groupSize);
  return g == 0 ? 0 : (K + g - 1) / g;
}

uint64_t codeBytes(uint64_t N, uint64_t K, unsigned bits) {
  return N * rowBytes(K, bits);
}

uint64_t scaleBytes(uint64_t N, uint64_t K, uint64_t groupSize,
                    unsigned scaleElemBytes) {
  return N * groupsPerRow(K, groupSize) * scaleElemBytes;
}

uint16_t f32ToF16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) // inf, NaN
    return uint16_t(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (a >= 0x477ff000u) // >= 65520 rounds to inf
    return uint16_t(sign | 0x7c00u);
  if (a < 0x38800000u) { // below 2^-14: subnormal half (units of 2^-24)
    float v;
    std::memcpy(&v, &a, 4);
    double t = double(v) * 16777216.0; // exact, < 1024
    const double magic = 6755399441055744.0;
    double r = (t + magic) - magic; // round half to even
    return uint16_t(sign | uint16_t(r));
  }
  const uint32_t mant = a & 0x7fffffu;
  uint32_t h = ((((a >> 23) - 127u + 15u) << 10) | (mant >> 13));
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
    ++h; // a carry into the exponent is still right
  return uint16_t(sign | h);
}

float f16ToF32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t u;
  if (e == 0) {
    float v = float(m) * (1.0f / 16777216.0f); // exact
    std::memcpy(&u, &v, 4);
    u |= sign;
  } else if (e == 31) {
    u = sign | 0x7f800000u | (m << 13);
  } else {
    u = sign | ((e - 15u + 127u) << 23) | (m << 13);
  }
  float out;
  std::memcpy(&out, &u, 4);
  return out;
}

float roundF16(float x) { return f16ToF32(f32ToF16(x)); }

// rint (round half to even, the default rounding mode) without a libm call:
// adding and subtracting 1.5*2^52 rounds any |x| < 2^51 to an integer. x is
// first clamped to +-1024, which the later clamp to the code range makes
// harmless. (nearbyint is a slow library call without SSE4.1.)
static inline double rne(double x) {
  x = std::min(1024.0, std::max(-1024.0, x));
  const double magic = 6755399441055744.0; // 1.5 * 2^52
  double t = x + magic; // IEEE order kept: no -ffast-math here
  return t - magic;
}

uint8_t encode(float w, float s, unsigned bits) {
  return encodeDouble(double(w), s, bits);
}

uint8_t encodeDouble(double w, float s, unsigned bits) {
  if (s == 0.0f)
    return bits == 2 ? 1 : bits == 4 ? 7 : 0;
  double x = w / double(s);
  if (bits == 8) {
    double q = std::min(127.0, std::max(-127.0, rne(x)));
    return static_cast<uint8_t>(static_cast<int8_t>(q));
  }
  double lo = bits == 2 ? -1.0 : -7.0, hi = bits == 2 ? 2.0 : 8.0;
  double q = std::min(hi, std::max(lo, rne(x + 0.5)));
  return static_cast<uint8_t>(int(q) - int(lo));
}

double decode(uint8_t c, float s, unsigned bits) {
  if (bits == 8)
    return double(s) * double(static_cast<int8_t>(c));
  double mid = bits == 2 ? 1.5 : 7.5;
  return double(s) * (double(c) - mid);
}

double groupMaxAbs(const float *w, uint64_t n) {
  double m = 0.0;
  for (uint64_t i = 0; i < n; ++i)
    m = std::max(m, std::fabs(double(w[i])));
  return m;
}

float scaleFromMax(double m, double f, unsigned bits, bool f16) {
  float s = static_cast<float>(f * m / qmax(bits));
  return f16 ? roundF16(s) : s;
}

float scaleFor(const float *w, uint64_t n, double f, unsigned bits, bool f16) {
  return scaleFromMax(groupMaxAbs(w, n), f, bits, f16);
}

double groupError(const float *w, uint64_t n, float s, unsigned bits) {
  double err = 0.0;
  for (uint64_t i = 0; i < n; ++i) {
    double e = double(w[i]) - decode(encode(w[i], s, bits), s, bits);
    err += e * e;
  }
  return err;
}

double searchF(const float *w, uint64_t n, unsigned bits, bool f16) {
  double bestF = 1.0, bestErr = 0.0;
  bool first = true;
  for (int i = 50; i <= 100; ++i) {
    double f = i / 100.0;
    double err = groupError(w, n, scaleFor(w, n, f, bits, f16), bits);
    if (first || err <= bestErr) {
      bestErr = err;
      bestF = f;
      first = false;
    }
  }
  return bestF;
}

void quantizeRow(const float *w, uint64_t K, const QuantSpec &spec,
                 const float *fixedF, uint8_t *codes, float *scales) {
  const unsigned bits = spec.bits;
  std::memset(codes, 0, rowBytes(K, bits));
  const uint64_t G = groupLen(K, spec.groupSize);
  const uint64_t ng = groupsPerRow(K, spec.groupSize);
  const unsigned perByte = 8 / bits;
  for (uint64_t g = 0; g < ng; ++g) {
    const uint64_t k0 = g * G, n = std::min(G, K - k0);
    double f = fixedF ? double(fixedF[g])
               : spec.f == FMode::Search ? searchF(w + k0, n, bits, spec.f16Scales)
                                         : 1.0;
    float s = scaleFor(w + k0, n, f, bits, spec.f16Scales);
    scales[g] = s;
    for (uint64_t k = k0; k < k0 + n; ++k) {
      uint8_t c = encode(w[k], s, bits);
      codes[k / perByte] |=
          static_cast<uint8_t>(c << ((k % perByte) * bits));
    }
  }
}

bool quantizeMatrix(const float *w, uint64_t N, uint64_t K,
                    const QuantSpec &spec, const float *fixedF,
                    uint64_t fixedFCount, std::vector<uint8_t> &codes,
                    std::vector<float> &scales) {
  const uint64_t ng = groupsPerRow(K, spec.groupSize);
  if (fixedF && fixedFCount != N && fixedFCount != N * ng)
    return false;
  const uint64_t rb = rowBytes(K, spec.bits);
  codes.assign(N * rb, 0);
  scales.assign(N * ng, 0.0f);
  // Rows are independent: split them over threads (same bytes either way).
  auto rows = [&](uint64_t r0, uint64_t r1) {
    std::vector<float> rowF(ng);
    for (uint64_t r = r0; r < r1; ++r) {
      const float *f = nullptr;
      if (fixedF && fixedFCount == N) {
        std::fill(rowF.begin(), rowF.end(), fixedF[r]);
        f = rowF.data();
      } else if (fixedF) {
        f = fixedF + r * ng;
      }
      quantizeRow(w + r * K, K, spec, f, codes.data() + r * rb,
                  scales.data() + r * ng);
    }
  };
  uint64_t work = N * K * (spec.f == FMode::Search && !fixedF ? 51 : 1);
  unsigned nt = std::max(1u, std::thread::hardware_concurrency());
  if (work < (1u << 20) || nt == 1 || N < 2) {
    rows(0, N);
    return true;
  }
  nt = unsigned(std::min<uint64_t>(nt, N));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < nt; ++t)
    pool.emplace_back(rows, N * t / nt, N * (t + 1) / nt);
  for (std::thread &t : pool)
    t.join();
  return true;
}

double dequantAt(const uint8_t *rowCodes, const float *rowScales, uint64_t k,
                 uint64_t K, const QuantSpec &spec) {
  const unsigned perByte = 8 / spec.bits;
  uint8_t c = static_cast<uint8_t>(
      (rowCodes[k / perByte] >> ((k % perByte) * spec.bits)) &
      ((1u << spec.bits) - 1));
  return decode(c, rowScales[k / groupLen(K, spec.groupSize)], spec.bits);
}

double relSqError(const float *w, uint64_t N, uint64_t K, const QuantSpec &spec,
                  const uint8_t *codes, const float *scales) {
  const uint64_t rb = rowBytes(K, spec.bits), ng = groupsPerRow(K, spec.groupSize);
  double err = 0.0, ref = 0.0;
  for (uint64_t r = 0; r < N; ++r)
    for (uint64_t k = 0; k < K; ++k) {
      double x = double(w[r * K + k]);
      double e = x - dequantAt(codes + r * rb, scales + r * ng, k, K, spec);
      err += e * e;
      ref += x * x;
    }
  return ref > 0.0 ? err / ref : 0.0;
}

bool parseFMode(const std::string &s, FMode &out) {
  if (s == "maxabs") out = FMode::MaxAbs;
  else if (s == "search") out = FMode::Search;
  else return false;
  return true;
}

const char *fModeName(FMode f) {
  return f == FMode::Search ? "search" : "maxabs";
}

} // namespace quant
} // namespace mote
