// Passes over the mote dialect and the CPU pipeline (see docs/passes/).
#ifndef MOTE_PASSES_MOTEPASSES_H
#define MOTE_PASSES_MOTEPASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include <memory>

namespace mote {

#define GEN_PASS_DECL
#include "passes/MotePasses.h.inc"

/// mote-verify, canonicalize, mote-plan-memory, mote-lower-cpu.
void buildCpuPipeline(mlir::OpPassManager &pm);

/// Registers every mote pass and the `mote-cpu-pipeline` pipeline.
void registerMotePasses();

} // namespace mote

#endif // MOTE_PASSES_MOTEPASSES_H
