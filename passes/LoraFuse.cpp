//===- LoraFuse.cpp - mote-lora-fuse: run-time LoRA adapter sites --------===//
// Each targeted mote.linear becomes mote.lora_linear naming a mote.lora_site
// (K, N, max_rank); the adapter's A, B and scale are bound per session at
// run time, never constants. docs/lora.md, docs/passes/mote-lora-fuse.md.
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "passes/MotePasses.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

namespace mote {
#define GEN_PASS_DEF_MOTELORAFUSEPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

// PEFT module name (as the trainer and PEFT's target_modules say, without
// "_proj") -> the weight's suffix in Mote's canonical names.
const llvm::StringMap<StringRef> &moduleWeights() {
  static const llvm::StringMap<StringRef> m = {
      {"q", "wq"}, {"k", "wk"},    {"v", "wv"},  {"o", "wo"},
      {"gate", "w1"}, {"up", "w3"}, {"down", "w2"}};
  return m;
}

// "layers.<i>.<suffix>" -> suffix (empty when the name is not that form).
StringRef layerWeightSuffix(StringRef name) {
  if (!name.consume_front("layers."))
    return {};
  auto [idx, rest] = name.split('.');
  unsigned i;
  if (idx.getAsInteger(10, i) || rest.contains('.'))
    return {};
  return rest;
}

struct MoteLoraFusePass : mote::impl::MoteLoraFusePassBase<MoteLoraFusePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (maxRank < 1 || maxRank > kLoraRankLimit)
      return fail(module, "mote-lora-fuse: max-rank " + std::to_string(maxRank) +
                              ": rank above the maximum (must be in 1.." +
                              std::to_string(kLoraRankLimit) + ")");
    // Targeted weight suffixes, in the order given (for the messages).
    llvm::SmallVector<std::pair<std::string, StringRef>> wanted;
    llvm::StringSet<> suffixes;
    SmallVector<StringRef> parts;
    StringRef(targets).split(parts, ',');
    for (StringRef t : parts) {
      t = t.trim();
      auto it = moduleWeights().find(t);
      if (it == moduleWeights().end())
        return fail(module, "mote-lora-fuse: targets '" + targets + "': unknown module '" +
                                t.str() + "' (q, k, v, o, gate, up, down)");
      if (!suffixes.insert(it->second).second)
        return fail(module, "mote-lora-fuse: targets '" + targets + "': module '" +
                                t.str() + "' given twice");
      wanted.push_back({t.str(), it->second});
    }

    // Sites by weight symbol, created in first-use order at the module's end
    // of the symbol block (after params and caches).
    llvm::StringMap<LoraSiteOp> sites;
    llvm::StringSet<> matched;
    SmallVector<LinearOp> linears;
    module.walk([&](LinearOp lin) { linears.push_back(lin); });
    Operation *firstFunc = nullptr;
    for (Operation &op : *module.getBody())
      if (isa<func::FuncOp>(op)) {
        firstFunc = &op;
        break;
      }
    for (LinearOp lin : linears) {
      auto w = lin.getWeight().getDefiningOp<WeightOp>();
      if (!w)
        continue;
      StringRef sym = w.getParam();
      StringRef suffix = layerWeightSuffix(sym);
      if (suffix.empty() || !suffixes.contains(suffix))
        continue;
      matched.insert(suffix);
      auto wt = cast<RankedTensorType>(lin.getWeight().getType());
      std::string siteName = "lora." + sym.str();
      LoraSiteOp &site = sites[sym];
      if (!site) {
        OpBuilder b(module.getContext());
        if (firstFunc)
          b.setInsertionPoint(firstFunc);
        else
          b.setInsertionPointToEnd(module.getBody());
        site = LoraSiteOp::create(b, NameLoc::get(b.getStringAttr(siteName)), siteName,
                                  wt.getDimSize(1), wt.getDimSize(0), maxRank);
      }
      OpBuilder b(lin);
      auto fused = LoraLinearOp::create(b, lin.getLoc(), lin.getResult().getType(),
                                        lin.getX(), lin.getWeight(), lin.getBias(),
                                        FlatSymbolRefAttr::get(b.getStringAttr(siteName)));
      // Discardable attributes (offsets, kernels) carry over.
      for (NamedAttribute a : lin->getDiscardableAttrs())
        fused->setAttr(a.getName(), a.getValue());
      lin.getResult().replaceAllUsesWith(fused.getResult());
      lin.erase();
    }
    for (auto &[module_, suffix] : wanted)
      if (!matched.contains(suffix))
        return fail(module, "mote-lora-fuse: targets '" + targets + "': module '" +
                                module_ + "' (@layers.<i>." + suffix.str() +
                                ") is not a linear of this model");
  }

  void fail(Operation *op, const std::string &msg) {
    op->emitError() << msg;
    signalPassFailure();
  }
};

} // namespace
