// Calibrated rounding (docs/quantization.md, "Calibrated rounding"): the
// codes and group scales of a weight W (N, K) chosen to minimise the OUTPUT
// error of its linear on calibration inputs, sum_n e_n H e_n^T with
// e = W - What and H = X^T X / n (K x K, the inputs' second moment), instead
// of the weight error ||W - What||^2. Same grids, same storage as
// Quantize.h: the runtime and the bundle format do not change.
//
// - Awq ("activation-aware" clipping): per group, f in 0.50..1.00 (as the
//   weight-only search) chosen by coordinate descent on the row's full
//   output error, started from the better (on H) of the weight-only searched
//   f and the f minimising the diagonal criterion sum_k H_kk e_k^2. A row
//   never ends worse on H than the weight-only search. (Only the clipping is
//   searched: AWQ's per-channel weight scaling would need rescaled norms.)
// - Gptq: Awq's scales kept fixed; columns quantized in order k = 0..K-1,
//   each rounding error pushed onto the not-yet-quantized columns through
//   the upper Cholesky factor U of (H + lambda I)^-1, lambda = damp *
//   mean(diag H) (GPTQ, Frantar et al. 2022, without act-order or lazy
//   batches). Per row, whichever of Gptq and Awq has the lower output error
//   on H is stored, so Gptq <= Awq <= weight-only search on H.
//
// Pure functions, no MLIR, no I/O (stats files: CalibrationStats.h).
#ifndef MOTE_COMPILER_QUANT_CALIBRATE_H
#define MOTE_COMPILER_QUANT_CALIBRATE_H

#include "compiler/quant/Quantize.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mote {
namespace quant {

enum class Rounding { Nearest, Awq, Gptq };

// "nearest" / "awq" / "gptq".
bool parseRounding(const std::string &s, Rounding &out);
const char *roundingName(Rounding r);

// GPTQ's default damping: 1% of the mean diagonal of H.
constexpr double kGptqDamp = 0.01;

// e^T H e for one row (H row-major K x K).
double quadForm(const double *e, uint64_t K, const double *H);

// sum over rows of e_n^T H e_n, e = W - What, for an (N, K) matrix and its
// packed codes/scales.
double outputError(const float *w, uint64_t N, uint64_t K, const double *H,
                   const QuantSpec &spec, const uint8_t *codes,
                   const float *scales);

// sum over rows of w_n^T H w_n (the output energy; 0 when H or W is 0).
double outputEnergy(const float *w, uint64_t N, uint64_t K, const double *H);

// U, upper triangular, row-major K x K, with U^T U = (H + lambda I)^-1,
// lambda = damp * mean(diag H) (1 when that mean is 0). False when the
// damped H is not positive definite (or not finite).
bool gptqFactor(const double *H, uint64_t K, double damp, std::vector<double> &U);

// GPTQ rounding of one row w[K] with the group scales given: codes into
// codes[rowBytes(K, bits)] (zeroed first).
void gptqRow(const float *w, uint64_t K, const double *U, const QuantSpec &spec,
             const float *scales, uint8_t *codes);

// Awq clipping for one row: scales[groupsPerRow] and codes[rowBytes].
void awqRow(const float *w, uint64_t K, const double *H, const QuantSpec &spec,
            uint8_t *codes, float *scales);

// Whole (N, K) matrix with rounding Awq or Gptq (Nearest: quantizeMatrix
// with spec.f). H: K x K row-major, symmetric. Returns false with `err` set
// when H (damped) is not positive definite.
bool quantizeMatrixCalibrated(const float *w, uint64_t N, uint64_t K,
                              const QuantSpec &spec, Rounding rounding,
                              const double *H, std::vector<uint8_t> &codes,
                              std::vector<float> &scales, std::string &err,
                              double damp = kGptqDamp);

} // namespace quant
} // namespace mote

#endif // MOTE_COMPILER_QUANT_CALIBRATE_H
