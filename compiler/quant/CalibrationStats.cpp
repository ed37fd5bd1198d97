// Calibration statistics files: see CalibrationStats.h.
#include "compiler/quant/CalibrationStats.h"

#include "compiler/import/Safetensors.h"

#include <cmath>
#include <cstring>

namespace mote {

Status loadCalibrationStats(const std::string &path, CalibrationStats &out) {
  out.path = path;
  out.tensors.clear();
  return readSafetensors(path, out.tensors);
}

std::string hessianName(const std::string &param) { return param + ".hessian"; }

Status calibrationHessian(const CalibrationStats &stats, const std::string &param,
                          uint64_t K, std::vector<double> &H) {
  const std::string name = hessianName(param);
  const std::string where = stats.path + ": " + name + ": ";
  auto it = stats.tensors.find(name);
  if (it == stats.tensors.end())
    return Status::Error(where + "missing (calibrated rounding needs H = X^T X / n, "
                                 "[" + std::to_string(K) + ", " + std::to_string(K) +
                         "], for every quantized linear weight)");
  const TensorRef &t = it->second;
  if (t.dtype != DType::F32)
    return Status::Error(where + "dtype " + dtypeName(t.dtype) + ", expected f32");
  if (t.shape.size() != 2 || t.shape[0] != K || t.shape[1] != K) {
    std::string s = "[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      s += (i ? ", " : "") + std::to_string(t.shape[i]);
    return Status::Error(where + "shape " + s + "], expected [" + std::to_string(K) +
                         ", " + std::to_string(K) + "] (the weight's input width)");
  }
  std::vector<float> a(K * K);
  std::memcpy(a.data(), t.data, K * K * 4); // bytes checked by the reader
  H.assign(K * K, 0.0);
  for (uint64_t i = 0; i < K; ++i)
    for (uint64_t j = 0; j < K; ++j) {
      const float v = a[i * K + j];
      if (!std::isfinite(v))
        return Status::Error(where + "element [" + std::to_string(i) + ", " +
                             std::to_string(j) + "] is not finite");
      H[i * K + j] = 0.5 * (double(v) + double(a[j * K + i]));
    }
  for (uint64_t i = 0; i < K; ++i)
    if (H[i * K + i] < 0.0)
      return Status::Error(where + "diagonal element " + std::to_string(i) +
                           " is negative (not a second-moment matrix)");
  return Status::Ok();
}

} // namespace mote
