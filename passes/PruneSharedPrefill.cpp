//===- PruneSharedPrefill.cpp - mote-prune-shared-prefill ----------------===//
// With KV sharing, the layers that read an earlier layer's cache (block 2)
// write no KV: in a prefill graph whose logits keep only the last row, their
// outputs at earlier rows feed nothing. This pass inserts mote.last_row on
// the residual stream entering the first shared layer and on the positions,
// and re-types every op from there to the logits to one row.
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "passes/MotePasses.h"
#include "llvm/ADT/DenseSet.h"

namespace mote {
#define GEN_PASS_DEF_MOTEPRUNESHAREDPREFILLPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

// The first attention that reads a KV cache an earlier attention already
// read (a shared layer), or null.
static AttentionOp firstSharedAttention(func::FuncOp fn) {
  llvm::DenseSet<Value> seen;
  AttentionOp found;
  fn.walk([&](AttentionOp a) {
    if (found)
      return;
    if (seen.contains(a.getKCache()))
      found = a;
    seen.insert(a.getKCache());
  });
  return found;
}

// The residual stream entering the layer of `attn`: the add (or embedding)
// result that q is computed from (q = rope(linear(rms_norm(x)))).
static Value residualInto(AttentionOp attn) {
  Value v = attn.getQ();
  for (int depth = 0; depth < 8; ++depth) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return {};
    if (isa<AddOp, EmbeddingOp>(def))
      return v;
    if (auto n = dyn_cast<RMSNormOp>(def))
      v = n.getX();
    else if (auto r = dyn_cast<RopeOp>(def))
      v = r.getX();
    else if (auto l = dyn_cast<LinearOp>(def))
      v = l.getX();
    else
      return {};
  }
  return {};
}

static RankedTensorType oneRow(Type t) {
  auto r = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape(r.getShape());
  shape[0] = 1;
  return RankedTensorType::get(shape, r.getElementType());
}

static LogicalResult pruneGraph(func::FuncOp fn) {
  auto tokens = fn->getAttrOfType<IntegerAttr>(kMaxTokensAttr);
  if (!tokens || tokens.getInt() <= 1 || !fn.getBody().hasOneBlock() ||
      fn.getNumArguments() != 2)
    return success(); // decode (T = 1) or not a graph: nothing to do
  Block &body = fn.getBody().front();
  auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
  LogitsOp logits = ret && ret.getNumOperands() == 1
                        ? ret.getOperand(0).getDefiningOp<LogitsOp>()
                        : LogitsOp();
  if (!logits || logits.getAllRows())
    return success(); // the score graph needs every row
  AttentionOp first = firstSharedAttention(fn);
  bool pruned = false;
  fn.walk([&](LastRowOp) { pruned = true; });
  if (!first || pruned)
    return success(); // no shared layer, or already pruned
  Value x = residualInto(first);
  if (!x || !x.getDefiningOp() ||
      cast<RankedTensorType>(x.getType()).getDimSize(0) != tokens.getInt())
    return first.emitOpError()
           << "mote-prune-shared-prefill: cannot find the residual stream "
              "(rms_norm -> linear -> rope -> q) entering the first shared layer";
  Operation *start = x.getDefiningOp();
  // Block 2 must write no KV: one row of a kv_append would lose the others.
  for (Operation *op = start->getNextNode(); op; op = op->getNextNode())
    if (isa<KVAppendOp>(op))
      return op->emitOpError() << "mote-prune-shared-prefill: a kv_append "
                                  "follows the first shared layer's input";
  OpBuilder b(fn.getContext());
  b.setInsertionPointAfter(start);
  Value pos = fn.getArgument(1);
  auto x1 = LastRowOp::create(b, x.getLoc(), oneRow(x.getType()), x);
  auto p1 = LastRowOp::create(b, pos.getLoc(), oneRow(pos.getType()), pos);
  x.replaceAllUsesExcept(x1.getResult(), x1.getOperation());
  pos.replaceUsesWithIf(p1.getResult(), [&](OpOperand &use) {
    Operation *user = use.getOwner();
    return user != p1.getOperation() && p1->isBeforeInBlock(user);
  });
  // Re-type everything downstream of the two last_rows to one row.
  llvm::DenseSet<Value> oneRowValues{x1.getResult(), p1.getResult()};
  for (Operation *op = p1->getNextNode(); op && op != body.getTerminator();
       op = op->getNextNode()) {
    if (!llvm::any_of(op->getOperands(),
                      [&](Value v) { return oneRowValues.contains(v); }))
      continue;
    for (Value r : op->getResults()) {
      if (!isa<LogitsOp>(op))
        r.setType(oneRow(r.getType()));
      oneRowValues.insert(r);
    }
  }
  if (!oneRowValues.contains(logits.getX()))
    return logits.emitOpError()
           << "mote-prune-shared-prefill: logits do not depend on the pruned rows";
  return success();
}

struct PruneSharedPrefillPass
    : mote::impl::MotePruneSharedPrefillPassBase<PruneSharedPrefillPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (!fn.isExternal() && fn->hasAttr(kGraphKindAttr) &&
          failed(pruneGraph(fn)))
        return signalPassFailure();
  }
};

} // namespace
