// Registration of the mote passes and of the `mote-cpu-pipeline` pipeline.
#include "passes/MotePasses.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace mote {
namespace {
#define GEN_PASS_REGISTRATION
#include "passes/MotePasses.h.inc"
} // namespace

void buildCpuPipeline(mlir::OpPassManager &pm) {
  pm.addPass(createMoteVerifyPass());
  // Drops ops whose results feed nothing, so they get no arena bytes.
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(createMotePlanMemoryPass());
  pm.addPass(createMoteLowerCpuPass());
}

void registerMotePasses() {
  registerMoteIndividualPasses();
  mlir::PassPipelineRegistration<>(
      "mote-cpu-pipeline",
      "Verify, canonicalize, plan memory and pick CPU kernels for mote graphs",
      buildCpuPipeline);
}

} // namespace mote
