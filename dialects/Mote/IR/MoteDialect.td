//===- MoteDialect.td - the mote dialect definition -------*- tablegen -*-===//
// Transformer concepts at tensor level with static shapes (docs/dialect.md).
#ifndef MOTE_DIALECT_TD
#define MOTE_DIALECT_TD

include "mlir/IR/OpBase.td"

def Mote_Dialect : Dialect {
  let name = "mote";
  let cppNamespace = "::mote";
  let summary = "Transformer ops for the Mote ahead-of-time compiler";
  let description = [{
    One op per transformer concept that a pass needs to see (embedding,
    RMSNorm, linear, RoPE, KV-cache append, attention, SwiGLU, residual add,
    logits). Weights (`mote.param`) and KV caches (`mote.kv_cache`) are
    module-level symbols; their data never enters the IR.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
  // `mote.offset`, `mote.kernel`, ... are checked when present.
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
}

// Base class of every mote op.
class Mote_Op<string mnemonic, list<Trait> traits = []>
    : Op<Mote_Dialect, mnemonic, traits>;

#endif // MOTE_DIALECT_TD
