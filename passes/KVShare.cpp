//===- KVShare.cpp - mote-kv-share: block-2 layers reuse block 1's KV ----===//
// Layers are found structurally: each mote.attention of a graph, in program
// order, is one layer. Layers from the boundary on (block 2) get their K/V
// from the last block-1 layer's kv_append results; their own K/V projections,
// ropes and kv_appends are erased, and so are the kv_cache and param symbols
// that nothing references any more (the bundle then holds neither).
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "passes/MotePasses.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <string>

namespace mote {
#define GEN_PASS_DEF_MOTEKVSHAREPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

// "A:B" with A, B positive integers.
static bool parseSplit(StringRef s, int64_t &a, int64_t &b) {
  auto [l, r] = s.split(':');
  return !r.empty() && !l.getAsInteger(10, a) && !r.getAsInteger(10, b) &&
         a > 0 && b > 0;
}

// Erases `op` (a kv_append or a pure op nothing uses any more) and then every
// producer that it was the last user of. Collects the symbols it dropped.
static void eraseChain(Operation *op, llvm::StringSet<> &droppedSyms) {
  SmallVector<Operation *> work{op};
  while (!work.empty()) {
    Operation *cur = work.pop_back_val();
    if (!cur->use_empty())
      continue;
    if (!isa<KVAppendOp>(cur) && !isPure(cur))
      continue;
    if (auto w = dyn_cast<WeightOp>(cur))
      droppedSyms.insert(w.getParam());
    if (auto a = dyn_cast<KVAppendOp>(cur))
      droppedSyms.insert(a.getCache());
    llvm::SetVector<Operation *> producers;
    for (Value v : cur->getOperands())
      if (Operation *def = v.getDefiningOp())
        producers.insert(def);
    cur->erase();
    for (Operation *p : producers)
      work.push_back(p);
  }
}

struct KVSharePass : public mote::impl::MoteKVSharePassBase<KVSharePass> {
  using MoteKVSharePassBase::MoteKVSharePassBase;

  // First block-2 layer for a graph of `layers` attentions, or failure.
  FailureOr<int64_t> boundaryFor(Operation *where, int64_t layers) {
    bool haveSplit = !split.empty(), haveBoundary = boundary >= 0;
    if (haveSplit && haveBoundary)
      return where->emitError()
             << "mote-kv-share: give either split or boundary, not both";
    if (!haveSplit && !haveBoundary)
      return where->emitError()
             << "mote-kv-share: needs split=A:B or boundary=N";
    int64_t b = boundary;
    if (haveSplit) {
      int64_t x = 0, y = 0;
      if (!parseSplit(split, x, y))
        return where->emitError() << "mote-kv-share: split '" << split
                                  << "' is not A:B with positive integers";
      b = int64_t(std::lround(double(layers) * double(x) / double(x + y)));
    }
    if (b < 1 || b >= layers)
      return where->emitError()
             << "mote-kv-share: "
             << (haveSplit ? "split " + split.getValue() + " gives boundary="
                           : std::string("boundary="))
             << b << " for " << layers << " layers, leaving block "
             << (b < 1 ? 1 : 2) << " empty (both blocks need at least one layer)";
    return b;
  }

  LogicalResult shareGraph(func::FuncOp fn, llvm::StringSet<> &dropped,
                           int64_t &firstShared, int64_t &layers) {
    SmallVector<AttentionOp> attns;
    fn.walk([&](AttentionOp a) { attns.push_back(a); });
    layers = int64_t(attns.size());
    if (layers == 0)
      return fn.emitOpError() << "mote-kv-share: graph has no mote.attention "
                                 "(no layer to share)";
    FailureOr<int64_t> b = boundaryFor(fn, layers);
    if (failed(b))
      return failure();
    firstShared = *b;
    AttentionOp src = attns[*b - 1];
    auto kc = src.getKCache().getDefiningOp<KVAppendOp>();
    auto vc = src.getVCache().getDefiningOp<KVAppendOp>();
    if (!kc || !vc)
      return src.emitOpError() << "mote-kv-share: source layer " << (*b - 1)
                               << " does not read its own mote.kv_append "
                                  "results";
    for (int64_t i = *b; i < layers; ++i) {
      AttentionOp a = attns[i];
      auto mismatch = [&](StringRef what, auto mine, auto theirs) {
        return a.emitOpError()
               << "mote-kv-share: layer " << i << " cannot read layer "
               << (*b - 1) << "'s KV cache: " << what << " " << mine
               << " differs from the source layer's " << theirs;
      };
      if (a.getNumHeads() != src.getNumHeads())
        return mismatch("num_heads", a.getNumHeads(), src.getNumHeads());
      if (a.getNumKvHeads() != src.getNumKvHeads())
        return mismatch("num_kv_heads", a.getNumKvHeads(), src.getNumKvHeads());
      if (a.getHeadDim() != src.getHeadDim())
        return mismatch("head_dim", a.getHeadDim(), src.getHeadDim());
      if (a.getKCache().getType() != src.getKCache().getType() ||
          a.getVCache().getType() != src.getVCache().getType())
        return mismatch("KV cache type", a.getKCache().getType(),
                        src.getKCache().getType());
    }
    for (int64_t i = *b; i < layers; ++i) {
      AttentionOp a = attns[i];
      Operation *oldK = a.getKCache().getDefiningOp();
      Operation *oldV = a.getVCache().getDefiningOp();
      a.getKCacheMutable().assign(kc.getResult());
      a.getVCacheMutable().assign(vc.getResult());
      for (Operation *old : {oldK, oldV})
        if (old && old != kc.getOperation() && old != vc.getOperation())
          eraseChain(old, dropped);
    }
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::StringSet<> dropped;
    int64_t first = -1, layers = -1;
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal() || !fn->hasAttr(kGraphKindAttr))
        continue;
      int64_t f = 0, l = 0;
      if (failed(shareGraph(fn, dropped, f, l)))
        return signalPassFailure();
      if (first >= 0 && (f != first || l != layers)) {
        fn.emitOpError() << "mote-kv-share: graph has " << l
                         << " layers (boundary " << f << ") but an earlier "
                         << "graph has " << layers << " (boundary " << first
                         << "); graphs must share the same KV caches";
        return signalPassFailure();
      }
      first = f;
      layers = l;
    }
    // Symbols nothing refers to any more: caches of block-2 layers and their
    // K/V weights. Only those this pass made unused are erased.
    llvm::StringSet<> stillUsed;
    module.walk([&](Operation *op) {
      if (auto w = dyn_cast<WeightOp>(op))
        stillUsed.insert(w.getParam());
      else if (auto a = dyn_cast<KVAppendOp>(op))
        stillUsed.insert(a.getCache());
    });
    for (Operation &op : llvm::make_early_inc_range(*module.getBody())) {
      if (!isa<ParamOp, KVCacheOp>(op))
        continue;
      auto sym = op.getAttrOfType<StringAttr>(SymbolTable::getSymbolAttrName());
      if (sym && dropped.contains(sym.getValue()) &&
          !stillUsed.contains(sym.getValue()))
        op.erase();
    }
    // The spec says what the IR now is.
    if (first >= 0)
      if (auto spec = module->getAttrOfType<DictionaryAttr>(kModelAttr)) {
        NamedAttrList attrs(spec);
        Builder b(module.getContext());
        attrs.set("num_kv_shared_layers", b.getI64IntegerAttr(layers - first));
        module->setAttr(kModelAttr, attrs.getDictionary(module.getContext()));
      }
  }
};

} // namespace
