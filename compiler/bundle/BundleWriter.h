// Writes a model.mote bundle (runtime/include/mote/bundle_format.h,
// docs/bundle-format.md) from a planned, lowered module and the imported
// model's memory-mapped weights.
#ifndef MOTE_COMPILER_BUNDLE_BUNDLEWRITER_H
#define MOTE_COMPILER_BUNDLE_BUNDLEWRITER_H

#include "compiler/ModelSpec.h"

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mote {
struct CalibrationStats; // compiler/quant/CalibrationStats.h
namespace bundle {
class Manifest;
class Graph;
} // namespace bundle

// What CompileOptions in the manifest records.
struct BundleOptions {
  std::string commandLine;
  std::string weights = "f32";
  uint32_t context = 0;
  uint32_t prefillTokens = 0;
  std::string targets = "cpu";
  // Quantized tensors' scale dtype: "auto" (f16 for 2/4-bit, f32 for 8-bit),
  // "f16" or "f32" (docs/quantization.md).
  std::string scaleDtype = "auto";
  // Calibrated rounding of the quantized linear weights (docs/quantization.md):
  // a calib-stats safetensors file and "awq" | "gptq" ("nearest": none).
  std::string calibration;
  std::string rounding = "nearest";
  // Stats already loaded (and rewritten by --awq-scale, compiler/quant/
  // AwqScale.h): used instead of reading `calibration` again when set.
  const CalibrationStats *calibrationStats = nullptr;
  std::string kvDtype = "f32";  // recorded in CompileOptions.kv_dtype
  // CompileOptions.activations: "int8" | "f32" | "" (not recorded: f32).
  std::string activations;
};

// Figures for the compile report.
struct GraphSummary {
  std::string name, kind;
  uint32_t maxTokens = 0, context = 0;
  uint64_t steps = 0, values = 0, arenaBytes = 0;
};
// One stored tensor for the compile report (bits = 32 for f32).
struct TensorSummary {
  std::string name;
  unsigned bits = 32;
  uint64_t groupSize = 0;
  std::string f;             // quantized: "maxabs" | "search" | "qat"
  uint64_t numel = 0;
  uint64_t bytes = 0;        // codes + scales
  double relErr = 0;         // sum (W - What)^2 / sum W^2
  double relErrMaxAbs = 0;   // the same with f = 1 (beside a searched/QAT f)
  // Calibrated tensors: sum e H e^T / sum w H w^T on the calibration H, of
  // the stored codes and of the weight-only search (-1: not calibrated).
  double relOutErr = -1, relOutErrSearch = -1;
};
struct BundleReport {
  std::vector<TensorSummary> tensorList;
  uint64_t tensors = 0;
  uint64_t weightBytes = 0;      // bytes of tensor data in the weights section
  uint64_t kvBytesPerToken = 0;  // all layers, K and V
  uint64_t fileBytes = 0;
  std::vector<GraphSummary> graphs;
};

// Called while the weights are written: bytes done, bytes total.
using ProgressFn = std::function<void(uint64_t, uint64_t)>;

// Writes `outPath` atomically (temp file, fsync, rename). Only the params the
// module's functions reference are stored; F16/BF16 become F32 while
// streaming. On error nothing is left at `outPath` or in the temp file.
Status writeBundle(mlir::ModuleOp module, const ImportedModel &model,
                   const BundleOptions &options, const std::string &outPath,
                   BundleReport &report, const ProgressFn &progress = {});

// Maps the module's params and KV caches to manifest indices and serializes
// every function as a static schedule (BundleWriterGraphs.cpp). Fills
// manifest tensors (name/dtype/shape only), kv_caches and graphs.
// `referenced` receives, per manifest tensor, the param's symbol name.
Status serializeSchedule(mlir::ModuleOp module, bundle::Manifest &manifest,
                         std::vector<std::string> &referenced);

} // namespace mote

#endif // MOTE_COMPILER_BUNDLE_BUNDLEWRITER_H
