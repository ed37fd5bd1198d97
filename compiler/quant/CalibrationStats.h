// Calibration statistics files for calibrated rounding (Calibrate.h,
// docs/quantization.md "Calibrated rounding"): a safetensors file, written
// by `python3 -m mote_ref calib-stats`, with one F32 tensor
// "<param>.hessian" of shape [K, K] per linear weight <param> (canonical
// name, e.g. "layers.0.wq"): H = X^T X / n over the n calibration tokens'
// inputs x (1 x K) to that linear.
#ifndef MOTE_COMPILER_QUANT_CALIBRATIONSTATS_H
#define MOTE_COMPILER_QUANT_CALIBRATIONSTATS_H

#include "compiler/ModelSpec.h"

#include <map>
#include <string>
#include <vector>

namespace mote {

struct CalibrationStats {
  std::string path;
  std::map<std::string, TensorRef> tensors;
};

// Maps and checks the file (header, offsets: readSafetensors).
Status loadCalibrationStats(const std::string &path, CalibrationStats &out);

// The stats tensor name of a weight's H: "<param>.hessian".
std::string hessianName(const std::string &param);

// H of `param` as a symmetric row-major K x K double matrix ((A + A^T) / 2
// of the stored A). One-line errors naming the file and the tensor: missing,
// dtype not F32, shape not [K, K], a non-finite value, a negative diagonal.
Status calibrationHessian(const CalibrationStats &stats, const std::string &param,
                          uint64_t K, std::vector<double> &H);

} // namespace mote

#endif // MOTE_COMPILER_QUANT_CALIBRATIONSTATS_H
