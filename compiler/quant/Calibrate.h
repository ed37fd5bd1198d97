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
//   searched here; AWQ's per-channel weight scaling: awqScaleSearch below.)
// - Gptq: Awq's scales kept fixed; columns quantized in order k = 0..K-1,
//   each rounding error pushed onto the not-yet-quantized columns through
//   the upper Cholesky factor U of (H + lambda I)^-1, lambda = damp *
//   mean(diag H) (GPTQ, Frantar et al. 2022, without act-order or lazy
//   batches). Per row, whichever of Gptq and Awq has the lower output error
//   on H is stored, so Gptq <= Awq <= weight-only search on H.
// - GptqAct: GPTQ with act-order, "static groups": Awq's group scales are
//   fixed first (the packed format keeps a scale per contiguous group of
//   input columns), then the columns are quantized in order of decreasing
//   H_kk (ties: lower k first) with the error fed back through the upper
//   Cholesky factor of the PERMUTED damped inverse (P H P^T + lambda I)^-1;
//   each code is stored at its original column. Per row, whichever of
//   GptqAct, Gptq and Awq has the lowest output error on H is stored, so
//   GptqAct <= Gptq <= Awq on H.
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

enum class Rounding { Nearest, Awq, Gptq, GptqAct };

// "nearest" / "awq" / "gptq" / "gptq-act".
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

// Act-order: the columns 0..K-1 sorted by decreasing H_kk (stable: equal
// diagonals keep their index order).
std::vector<uint64_t> actOrder(const double *H, uint64_t K);

// gptqFactor of P H P^T (H permuted by `perm`: Hp[i][j] = H[perm[i]][perm[j]]).
bool gptqFactorPermuted(const double *H, uint64_t K, const std::vector<uint64_t> &perm,
                        double damp, std::vector<double> &U);

// GPTQ in the column order `perm` (U from gptqFactorPermuted with the same
// perm): step j quantizes column perm[j] with the scale of ITS group
// (scales[perm[j] / G]) and stores the code at column perm[j]. With the
// identity perm this is gptqRow.
void gptqRowOrdered(const float *w, uint64_t K, const double *U,
                    const std::vector<uint64_t> &perm, const QuantSpec &spec,
                    const float *scales, uint8_t *codes);

// Awq clipping for one row: scales[groupsPerRow] and codes[rowBytes].
void awqRow(const float *w, uint64_t K, const double *H, const QuantSpec &spec,
            uint8_t *codes, float *scales);

// AWQ per-channel weight scaling (Lin et al. 2023; docs/quantization.md
// "AWQ scaling"): linears that read the same input x (K channels) take
// W <- W diag(s) while x <- x / s is folded into the op producing x. The
// candidates are s(alpha)_k = c_k^alpha / sqrt(max_k c^alpha * min_k c^alpha)
// (c the channel statistic, clamped below at 1e-5 max c; alpha = 0 gives
// s = 1), alpha = 0, step, ..., 1. A candidate's loss is the sum over the
// linears of the output error on H (the second moment of the ORIGINAL x)
// of the weight-only quantization (spec with f = search) of the f32 W diag(s)
// mapped back to x: e = (W diag(s) - Q(W diag(s))) diag(1/s). The least loss
// wins (ties: the smaller alpha).
std::vector<double> awqScaleFor(const double *stat, uint64_t K, double alpha);

struct AwqScaleChoice {
  double alpha = 0.0;
  double err = 0.0;  // loss of the chosen alpha
  double err0 = 0.0; // loss at alpha = 0 (no scaling)
  std::vector<double> s;
};
// ws[i]: (rows[i], K) row-major f32 weights.
AwqScaleChoice awqScaleSearch(const std::vector<const float *> &ws,
                              const std::vector<uint64_t> &rows, uint64_t K,
                              const double *H, const double *stat,
                              const QuantSpec &spec, double step = 0.05);

// Whole (N, K) matrix with rounding Awq, Gptq or GptqAct (Nearest: quantizeMatrix
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
