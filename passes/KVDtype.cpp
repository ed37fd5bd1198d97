//===- KVDtype.cpp - mote-kv-dtype: the element type of the KV caches ----===//
// `dtype=q8` makes every mote.kv_cache an i8 tensor (the 8-bit KV cache:
// int8 codes, one f32 scale per cache row and KV head, kept beside the codes
// by the target; docs/quantization.md) and retypes every mote.kv_append
// result to its cache's type, so the attentions that read them see i8
// caches. `dtype=f32` makes them f32 again. Activations stay f32: the
// runtime quantizes a row when it appends it.
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/MotePasses.h"

namespace mote {
#define GEN_PASS_DEF_MOTEKVDTYPEPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

struct KVDtypePass : public mote::impl::MoteKVDtypePassBase<KVDtypePass> {
  using MoteKVDtypePassBase::MoteKVDtypePassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Builder b(module.getContext());
    Type elt;
    if (dtype == "q8") {
      elt = b.getIntegerType(8);
    } else if (dtype == "f32") {
      elt = b.getF32Type();
    } else {
      module.emitError() << "mote-kv-dtype: dtype '" << dtype
                         << "' is not supported (f32 or q8)";
      return signalPassFailure();
    }
    for (KVCacheOp cache : module.getOps<KVCacheOp>()) {
      auto t = cast<RankedTensorType>(cache.getType());
      cache.setType(RankedTensorType::get(t.getShape(), elt));
    }
    SymbolTableCollection symbols;
    WalkResult walk = module.walk([&](KVAppendOp op) {
      auto cache = symbols.lookupNearestSymbolFrom<KVCacheOp>(op, op.getCacheAttr());
      if (!cache) {
        op.emitOpError() << "'" << op.getCache() << "' does not name a mote.kv_cache";
        return WalkResult::interrupt();
      }
      op.getResult().setType(cast<RankedTensorType>(cache.getType()));
      // Whatever reads the cache value must take the new type: attention
      // only (checked by its verifier, which needs k and v to agree).
      for (Operation *user : op.getResult().getUsers())
        if (!isa<AttentionOp>(user)) {
          user->emitOpError() << "reads KV cache @" << op.getCache()
                              << "; mote-kv-dtype can only retype caches that "
                                 "attention reads";
          return WalkResult::interrupt();
        }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();
  }
};

} // namespace
