// mote-opt: parse, verify, transform and print mote IR (mlir-opt for Mote).
#include "dialects/Mote/IR/MoteDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "passes/MotePasses.h"

int main(int argc, char **argv) {
  mote::registerMotePasses();
  // Generic passes the tests and the CPU pipeline use.
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();

  mlir::DialectRegistry registry;
  registry.insert<mote::MoteDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Mote optimizer driver\n", registry));
}
