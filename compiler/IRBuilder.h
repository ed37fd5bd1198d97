// Builds the `mote` module of an imported model: one mote.param per tensor,
// one mote.kv_cache per layer and K/V, and the @prefill and @decode graphs
// (docs/dialect.md).
#ifndef MOTE_COMPILER_IRBUILDER_H
#define MOTE_COMPILER_IRBUILDER_H

#include "compiler/ModelSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <cstdint>

namespace mote {

struct GraphOptions {
  uint32_t context = 0;        // KV rows (C); 0 = min(max_seq_len, 2048)
  uint32_t prefillTokens = 64; // T of @prefill, capped at context
  bool scoreGraph = false;     // also emit @score: T rows, logits for all rows
};

// The context a GraphOptions resolves to for this spec.
uint32_t resolvedContext(const ModelSpec &spec, const GraphOptions &opts);

// Checks what the builder cannot express yet (KV sharing, odd head dims).
Status checkBuildable(const ModelSpec &spec, const GraphOptions &opts);

// The context must have the mote and func dialects loaded (or registered).
// Call checkBuildable first; the result verifies.
mlir::OwningOpRef<mlir::ModuleOp> buildModule(mlir::MLIRContext &ctx,
                                              const ImportedModel &model,
                                              const GraphOptions &opts);

} // namespace mote

#endif // MOTE_COMPILER_IRBUILDER_H
