//===- Verify.cpp - mote-verify: graph-level invariants ------------------===//
// Checks what the runtime relies on and no single op verifier can see: the
// graph's signature, its token count T, its context C and the KV caches.
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/MotePasses.h"
#include "llvm/ADT/DenseSet.h"

namespace mote {
#define GEN_PASS_DEF_MOTEVERIFYPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

// Reads a positive i64 function attribute, or explains what is missing.
static FailureOr<int64_t> getPositiveAttr(func::FuncOp func, StringRef name,
                                          StringRef meaning) {
  auto attr = func->getAttrOfType<IntegerAttr>(name);
  if (!attr || attr.getInt() <= 0)
    return func.emitOpError() << "graph function needs a positive '" << name
                              << "' attribute (" << meaning << ")";
  return attr.getInt();
}

// Arguments (tokens, positions): tensor<Txi32> each; one logits result.
static LogicalResult verifySignature(func::FuncOp func, int64_t tokens) {
  FunctionType type = func.getFunctionType();
  Type expected = RankedTensorType::get({tokens},
                                        IntegerType::get(func.getContext(), 32));
  if (type.getNumInputs() != 2 || type.getInput(0) != expected ||
      type.getInput(1) != expected)
    return func.emitOpError()
           << "graph function must take (tokens, positions) as two "
           << expected << " arguments (T = mote.max_tokens), got "
           << type.getInputs().size() << " argument(s)";
  if (!func.getBody().hasOneBlock())
    return func.emitOpError() << "graph function must have a single block";
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  if (ret.getNumOperands() != 1 ||
      !ret.getOperand(0).getDefiningOp<LogitsOp>())
    return func.emitOpError()
           << "graph function must return exactly one value, produced by "
              "mote.logits";
  return success();
}

// Every activation has T rows; logits without all_rows have one, and so do
// mote.last_row and every value computed from one (`oneRow`, filled in
// program order). A kv_append must not take such a value: it would write one
// row of the T the call appends.
static LogicalResult verifyRows(Operation *op, int64_t tokens,
                                llvm::DenseSet<Value> &oneRow) {
  if (isa<WeightOp>(op) || !isa<MoteDialect>(op->getDialect()))
    return success();
  bool derived = isa<LastRowOp>(op);
  for (Value v : op->getOperands())
    if (oneRow.contains(v)) {
      if (isa<KVAppendOp, LastRowOp>(op))
        return op->emitOpError()
               << "operand derived from mote.last_row (one row) where "
               << tokens << " rows (mote.max_tokens of the graph) are needed";
      derived = true;
    }
  if (isa<KVAppendOp>(op))
    return success();
  int64_t expected = derived ? 1 : tokens;
  if (auto logits = dyn_cast<LogitsOp>(op); logits && !logits.getAllRows())
    expected = 1;
  if (derived)
    for (Value result : op->getResults())
      oneRow.insert(result);
  for (Value result : op->getResults()) {
    auto type = cast<RankedTensorType>(result.getType());
    if (type.getDimSize(0) != expected)
      return op->emitOpError()
             << "result must have " << expected
             << " rows ("
             << (derived ? "derived from mote.last_row"
                         : "mote.max_tokens of the graph")
             << "), got " << type;
  }
  return success();
}

// The cache must hold every position the graph may address.
static LogicalResult verifyCache(KVAppendOp op, int64_t context,
                                 SymbolTableCollection &symbols) {
  auto cache = symbols.lookupNearestSymbolFrom<KVCacheOp>(op, op.getCacheAttr());
  if (!cache)
    return success(); // the op's own verifier reports this
  int64_t rows = cast<RankedTensorType>(cache.getType()).getDimSize(0);
  if (rows < context)
    return op.emitOpError() << "KV cache @" << op.getCache() << " has " << rows
                            << " rows, fewer than the graph's mote.context ("
                            << context << ")";
  return success();
}

static LogicalResult verifyGraph(func::FuncOp func,
                                 SymbolTableCollection &symbols) {
  FailureOr<int64_t> tokens =
      getPositiveAttr(func, kMaxTokensAttr, "tokens per call");
  FailureOr<int64_t> context =
      getPositiveAttr(func, kContextAttr, "KV rows the graph addresses");
  if (failed(tokens) || failed(context) ||
      failed(verifySignature(func, *tokens)))
    return failure();
  llvm::DenseSet<Value> oneRow;
  WalkResult walk = func.walk([&](Operation *op) {
    if (failed(verifyRows(op, *tokens, oneRow)))
      return WalkResult::interrupt();
    if (auto append = dyn_cast<KVAppendOp>(op))
      if (failed(verifyCache(append, *context, symbols)))
        return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

struct MoteVerifyPass : mote::impl::MoteVerifyPassBase<MoteVerifyPass> {
  void runOnOperation() override;
};

} // namespace

void MoteVerifyPass::runOnOperation() {
  SymbolTableCollection symbols;
  bool ok = true;
  for (auto func : getOperation().getOps<func::FuncOp>())
    if (func->hasAttr(kGraphKindAttr) && failed(verifyGraph(func, symbols)))
      ok = false;
  if (!ok)
    signalPassFailure();
  markAllAnalysesPreserved();
}
