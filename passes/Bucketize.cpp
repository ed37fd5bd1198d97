//===- Bucketize.cpp - mote-bucketize: static (T, C) clones of graphs -----===//
// An NPU runs static graphs only. Each prefill graph is cloned per token
// bucket T and context bucket C, each decode graph per C; the clone's
// activations get T rows and its kv_append results (the cache values that
// attention reads) C rows, a prefix view of the one cache symbol. The
// runtime cuts prompts into chunks of these sizes (docs/buckets.md).
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"
#include "passes/MotePasses.h"
#include "llvm/ADT/DenseSet.h"

#include <string>

namespace mote {
#define GEN_PASS_DEF_MOTEBUCKETIZEPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

// A bucket list is non-empty, positive and strictly increasing.
static LogicalResult checkList(Operation *where, StringRef name,
                               ArrayRef<int64_t> list) {
  if (list.empty())
    return where->emitError() << "mote-bucketize: " << name
                              << " bucket list is empty";
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] <= 0)
      return where->emitError() << "mote-bucketize: " << name << " bucket "
                                << list[i] << " must be positive";
    if (i && list[i] <= list[i - 1])
      return where->emitError()
             << "mote-bucketize: " << name << " buckets must be strictly "
             << "increasing (no duplicates), got " << list[i - 1] << " then "
             << list[i];
  }
  return success();
}

static RankedTensorType withRows(Type t, int64_t rows) {
  auto rt = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape(rt.getShape());
  shape[0] = rows;
  return RankedTensorType::get(shape, rt.getElementType(), rt.getEncoding());
}

// Gives the clone T rows of activations and C rows of cache values. Values
// with one row by construction (mote.last_row and everything computed from
// it, last-row logits) keep one row.
static void retype(func::FuncOp fn, int64_t T, int64_t C) {
  Block &body = fn.getBody().front();
  for (BlockArgument a : body.getArguments())
    a.setType(withRows(a.getType(), T));
  llvm::DenseSet<Value> oneRow;
  fn.walk([&](Operation *op) {
    if (isa<WeightOp>(op) || !isa<MoteDialect>(op->getDialect()))
      return;
    if (auto append = dyn_cast<KVAppendOp>(op)) {
      append.getResult().setType(withRows(append.getResult().getType(), C));
      return;
    }
    bool one = isa<LastRowOp>(op);
    for (Value v : op->getOperands())
      one = one || oneRow.contains(v);
    if (one)
      for (Value r : op->getResults())
        oneRow.insert(r);
    if (auto logits = dyn_cast<LogitsOp>(op); logits && !logits.getAllRows())
      one = true;
    for (Value r : op->getResults())
      r.setType(withRows(r.getType(), one ? 1 : T));
  });
  // One row is the last row: a T = 1 clone needs no mote.last_row (the
  // runtime's one-row steps are those of T > 1 graphs).
  if (T == 1) {
    SmallVector<LastRowOp> lasts;
    fn.walk([&](LastRowOp op) { lasts.push_back(op); });
    for (LastRowOp op : lasts) {
      op.getResult().replaceAllUsesWith(op->getOperand(0));
      op.erase();
    }
  }
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  fn.setType(FunctionType::get(fn.getContext(), body.getArgumentTypes(),
                               ret.getOperandTypes()));
}

struct BucketizePass
    : public mote::impl::MoteBucketizePassBase<BucketizePass> {
  using MoteBucketizePassBase::MoteBucketizePassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<int64_t> Ts(prefill.begin(), prefill.end());
    SmallVector<int64_t> Cs(context.begin(), context.end());
    if (failed(checkList(module, "prefill", Ts)) ||
        failed(checkList(module, "context", Cs)))
      return signalPassFailure();
    if (Ts.back() > Cs.front()) {
      module.emitError() << "mote-bucketize: prefill bucket " << Ts.back()
                         << " exceeds the smallest context bucket "
                         << Cs.front() << " (a chunk must fit every context)";
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> graphs;
    for (auto fn : module.getOps<func::FuncOp>()) {
      auto kind = fn->getAttrOfType<StringAttr>(kGraphKindAttr);
      if (!kind || fn->hasAttr(kBucketAttr))
        continue;
      if (kind.getValue() == "prefill" || kind.getValue() == "decode")
        graphs.push_back(fn);
    }
    if (graphs.empty()) {
      module.emitError() << "mote-bucketize: no prefill or decode graph";
      return signalPassFailure();
    }
    SymbolTable symbols(module);
    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    for (func::FuncOp fn : graphs) {
      auto ctxAttr = fn->getAttrOfType<IntegerAttr>(kContextAttr);
      auto tAttr = fn->getAttrOfType<IntegerAttr>(kMaxTokensAttr);
      if (!ctxAttr || !tAttr) {
        fn.emitOpError() << "mote-bucketize: graph needs mote.max_tokens and "
                            "mote.context";
        return signalPassFailure();
      }
      if (Cs.back() > ctxAttr.getInt()) {
        fn.emitOpError() << "mote-bucketize: context bucket " << Cs.back()
                         << " exceeds the graph's mote.context "
                         << ctxAttr.getInt() << " (the KV cache's rows)";
        return signalPassFailure();
      }
      bool decode = fn->getAttrOfType<StringAttr>(kGraphKindAttr).getValue() ==
                    "decode";
      if (decode && tAttr.getInt() != 1) {
        fn.emitOpError() << "mote-bucketize: decode graph must have "
                            "mote.max_tokens = 1, got "
                         << tAttr.getInt();
        return signalPassFailure();
      }
      SmallVector<int64_t> tokens = decode ? SmallVector<int64_t>{1} : Ts;
      for (int64_t T : tokens)
        for (int64_t C : Cs) {
          std::string name = decode ? "decode_c" + std::to_string(C)
                                    : "prefill_t" + std::to_string(T) + "_c" +
                                          std::to_string(C);
          if (symbols.lookup(name)) {
            fn.emitOpError() << "mote-bucketize: symbol @" << name
                             << " already exists";
            return signalPassFailure();
          }
          func::FuncOp clone = fn.clone();
          clone.setSymName(name);
          clone->setAttr(kMaxTokensAttr, b.getI64IntegerAttr(T));
          clone->setAttr(kContextAttr, b.getI64IntegerAttr(C));
          clone->setAttr(kBucketAttr, b.getUnitAttr());
          retype(clone, T, C);
          b.insert(clone);
          symbols.insert(clone);
        }
    }
  }
};

} // namespace
