// Weight quantization to Mote's packed storage (docs/quantization.md): 2-bit
// and 4-bit on Apple's balanced grid, 8-bit symmetric, per group of G input
// weights (or the whole row), codes "rowmajor-lsb" plus f32 group scales.
// Pure functions, no MLIR; the bundle writer calls them one tensor at a time.
#ifndef MOTE_COMPILER_QUANT_QUANTIZE_H
#define MOTE_COMPILER_QUANT_QUANTIZE_H

#include <cstdint>
#include <string>
#include <vector>

namespace mote {
namespace quant {

enum class FMode { MaxAbs, Search };

struct QuantSpec {
  unsigned bits = 4;       // 2, 4 or 8
  uint64_t groupSize = 0;  // input weights per scale; 0 = whole row
  FMode f = FMode::MaxAbs;
  bool f16Scales = false;  // scales stored as IEEE half (rounded before coding)
};

// IEEE half conversions: round to nearest even (overflow -> inf), and exact
// widening. roundF16(x) = f16ToF32(f32ToF16(x)).
uint16_t f32ToF16(float x);
float f16ToF32(uint16_t h);
float roundF16(float x);

// Largest level magnitude: 1.5 (2-bit), 7.5 (4-bit), 127 (8-bit).
double qmax(unsigned bits);
// Bytes of one packed row: ceil(K/32)*32*bits/8.
uint64_t rowBytes(uint64_t K, unsigned bits);
// Effective group size (K when groupSize is 0) and groups per row.
uint64_t groupLen(uint64_t K, uint64_t groupSize);
uint64_t groupsPerRow(uint64_t K, uint64_t groupSize);
// Bytes of codes and of scales for an (N, K) matrix.
uint64_t codeBytes(uint64_t N, uint64_t K, unsigned bits);
uint64_t scaleBytes(uint64_t N, uint64_t K, uint64_t groupSize,
                    unsigned scaleElemBytes = 4);

// Code of w for scale s (s > 0): 2-bit c = clamp(rint(w/s + 0.5), -1, 2) + 1,
// 4-bit c = clamp(rint(w/s + 0.5), -7, 8) + 7, 8-bit clamp(rint(w/s), -127,
// 127) as int8 bits. rint is round-half-even. s == 0 gives the zero code
// (level 0: c = 1, 7 or 0).
uint8_t encode(float w, float s, unsigned bits);
// The same for a double w (GPTQ's updated weights); encode(w) ==
// encodeDouble(double(w)).
uint8_t encodeDouble(double w, float s, unsigned bits);
// Value of code c for scale s, in double: s*(c-1.5), s*(c-7.5), s*int8(c).
double decode(uint8_t c, float s, unsigned bits);

// Scale of one group for clipping factor f: float(f * max|w| / qmax), then
// rounded to f16 when f16 is set (the codes are computed against it).
float scaleFor(const float *w, uint64_t n, double f, unsigned bits,
               bool f16 = false);
// Its two halves: max|w| in double, and the scale for that maximum.
double groupMaxAbs(const float *w, uint64_t n);
float scaleFromMax(double m, double f, unsigned bits, bool f16 = false);
// Squared error sum_k (w - decode(encode(w, s), s))^2, summed in order.
double groupError(const float *w, uint64_t n, float s, unsigned bits);
// The searched f: 0.50, 0.51, ..., 1.00 minimising groupError; ties go to
// the larger f.
double searchF(const float *w, uint64_t n, unsigned bits, bool f16 = false);

// Quantizes one row w[K] into codes[rowBytes(K, bits)] and
// scales[groupsPerRow(K, G)]. fixedF (nullable, one per group) overrides the
// mode: QAT checkpoints carry their own f.
void quantizeRow(const float *w, uint64_t K, const QuantSpec &spec,
                 const float *fixedF, uint8_t *codes, float *scales);

// Whole matrix, row-major (N, K). fixedF: nullptr, N values (one per row) or
// N*groupsPerRow values. Returns false (and leaves outputs alone) when
// fixedFCount is neither 0, N nor N*groups.
bool quantizeMatrix(const float *w, uint64_t N, uint64_t K,
                    const QuantSpec &spec, const float *fixedF,
                    uint64_t fixedFCount, std::vector<uint8_t> &codes,
                    std::vector<float> &scales);

// Weight k of a packed row, dequantized (tests and tools).
double dequantAt(const uint8_t *rowCodes, const float *rowScales, uint64_t k,
                 uint64_t K, const QuantSpec &spec);

// sum (W - What)^2 / sum W^2 over an (N, K) matrix and its packed form
// (0 when W is all zeros): the weight error the compile report shows.
double relSqError(const float *w, uint64_t N, uint64_t K, const QuantSpec &spec,
                  const uint8_t *codes, const float *scales);

// Parses "maxabs" / "search".
bool parseFMode(const std::string &s, FMode &out);
const char *fModeName(FMode f);

} // namespace quant
} // namespace mote

#endif // MOTE_COMPILER_QUANT_QUANTIZE_H
