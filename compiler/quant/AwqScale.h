// AWQ per-channel weight scaling of a whole model (motec --awq-scale,
// docs/quantization.md "AWQ scaling"): per layer and per group of linears
// that read one input x, s = awqScaleSearch(...) (Calibrate.h) is chosen on
// the calibration H, the linears become W diag(s) and 1/s is folded into the
// op that produces x, so that the model computes the same function in exact
// arithmetic:
//
//   wq, wk, wv (one s)   x = attn_norm(h): attn_norm weight / s
//   w1, w3 (one s)       x = ffn_norm(h):  ffn_norm weight / s
//   wo                   x = attention output: wv rows (and bv) / s; with
//                        GQA s is one value per (KV head, dim), chosen from
//                        the statistic pooled over the KV head's query heads
//   w2                   x = silu(w1 h) * (w3 h): w3 rows / s
//
// wo is left alone in a layer that has no wv of its own (a KV-shared layer)
// and in the layer whose K/V the shared layers read (their wo would see V/s).
// The calibration stats are rewritten in memory to match: every scaled
// linear's H becomes diag(1/s) H diag(1/s) (the second moment of x / s).
// The channel statistic is "<param>.absmean" (mean |x_k|, calib-stats writes
// it) when the stats file has it, else sqrt(H_kk) (RMS, older stats files).
#ifndef MOTE_COMPILER_QUANT_AWQSCALE_H
#define MOTE_COMPILER_QUANT_AWQSCALE_H

#include "compiler/ModelSpec.h"
#include "compiler/quant/CalibrationStats.h"
#include "compiler/quant/Quantize.h"

#include <memory>
#include <string>
#include <vector>

namespace mote {

struct AwqScaleGroup {
  std::string site;                 // e.g. "layers.0.attention_input"
  std::vector<std::string> linears; // the scaled linears
  std::string foldedInto;           // the tensor(s) that take 1/s
  double alpha = 0.0;               // 0: left unscaled
  double err0 = 0.0, err = 0.0;     // search loss without / with scaling
  std::vector<double> s;            // the scale per input channel (all 1: unscaled)
};

struct AwqScaleResult {
  std::string statistic; // "absmean" or "rms"
  std::vector<AwqScaleGroup> groups;
  std::vector<std::string> changed; // every tensor rewritten (f32 norms included)
  // Owns the data of the rewritten tensors (model weights and stats H).
  std::vector<std::shared_ptr<std::vector<float>>> buffers;
};

// Rewrites `model`'s weights and `stats`' H in place (their TensorRefs then
// point into out.buffers, which must outlive both). `spec`: the quantization
// the search measures (bits, group size, scale dtype). One-line errors
// naming the stats file and the tensor for a missing or malformed H or
// absmean.
// forceAlpha >= 0 (tests): every group takes that alpha, no search.
Status applyAwqScale(ImportedModel &model, CalibrationStats &stats,
                     const quant::QuantSpec &spec, AwqScaleResult &out,
                     double forceAlpha = -1.0);

} // namespace mote

#endif // MOTE_COMPILER_QUANT_AWQSCALE_H
