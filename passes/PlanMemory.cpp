//===- PlanMemory.cpp - mote-plan-memory: static arena offsets -----------===//
// One arena per function; every activation gets a fixed byte offset so the
// runtime allocates nothing per token. Values whose live ranges overlap never
// share bytes; `greedy` places the largest values first into the best-fitting
// gap left by values that are dead at the time (TFLite's arena planner idea).
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/MotePasses.h"
#include "llvm/ADT/STLExtras.h"

namespace mote {
#define GEN_PASS_DEF_MOTEPLANMEMORYPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

constexpr int64_t kAlignment = 64;

int64_t alignUp(int64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

// One arena value: its size in bytes and its live range in op indices
// (arguments are defined at 0, the i-th op of the body at i + 1).
struct Buffer {
  Value value;
  int64_t size = 0;
  int64_t first = 0;
  int64_t last = 0;
  int64_t offset = -1;
  bool overlapsInTime(const Buffer &other) const {
    return first <= other.last && other.first <= last;
  }
};

// Bytes of an activation; only static f32/i32 tensors live in the arena.
FailureOr<int64_t> byteSize(Operation *owner, Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.hasStaticShape() ||
      !(type.getElementType().isF32() ||
        type.getElementType().isSignlessInteger(32)))
    return owner->emitOpError()
           << "mote-plan-memory places only static f32/i32 tensors, got "
           << v.getType();
  return type.getNumElements() * 4;
}

// Ops whose results are not arena bytes: weights (the bundle) and the cache.
bool resultInArena(Operation *op) { return !isa<WeightOp, KVAppendOp>(op); }

// Collects the arena values of `func` with their live ranges.
FailureOr<SmallVector<Buffer>> collectBuffers(func::FuncOp func) {
  if (!func.getBody().hasOneBlock())
    return func.emitOpError() << "mote-plan-memory needs a single-block body";
  Block &body = func.getBody().front();
  DenseMap<Operation *, int64_t> index;
  for (auto [i, op] : llvm::enumerate(body))
    index[&op] = static_cast<int64_t>(i) + 1;
  SmallVector<Buffer> buffers;
  auto add = [&](Operation *owner, Value v, int64_t def) -> LogicalResult {
    FailureOr<int64_t> size = byteSize(owner, v);
    if (failed(size))
      return failure();
    Buffer b{v, *size, def, def};
    for (Operation *user : v.getUsers())
      b.last = std::max(b.last, index.lookup(body.findAncestorOpInBlock(*user)));
    buffers.push_back(b);
    return success();
  };
  for (BlockArgument arg : body.getArguments())
    if (failed(add(func, arg, 0)))
      return failure();
  for (Operation &op : body) {
    if (op.getNumRegions() != 0)
      return op.emitOpError() << "mote-plan-memory does not handle nested regions";
    if (op.getNumResults() == 0 || !resultInArena(&op))
      continue;
    if (!isa<MoteDialect>(op.getDialect()) || op.getNumResults() != 1)
      return op.emitOpError()
             << "mote-plan-memory places only single-result mote ops";
    if (failed(add(&op, op.getResult(0), index[&op])))
      return failure();
  }
  return buffers;
}

// No reuse: each value after the previous one, in definition order.
void planNaive(MutableArrayRef<Buffer> buffers) {
  int64_t end = 0;
  for (Buffer &b : buffers) {
    b.offset = end;
    end = alignUp(end + b.size);
  }
}

// Largest first; each goes into the smallest gap between values that are
// live at the same time, or after the last of them.
void planGreedy(MutableArrayRef<Buffer> buffers) {
  SmallVector<Buffer *> order;
  for (Buffer &b : buffers)
    order.push_back(&b);
  llvm::stable_sort(order, [](const Buffer *a, const Buffer *b) {
    return a->size != b->size ? a->size > b->size : a->first < b->first;
  });
  SmallVector<Buffer *> placed;
  for (Buffer *b : order) {
    SmallVector<Buffer *> live;
    for (Buffer *p : placed)
      if (p->overlapsInTime(*b))
        live.push_back(p);
    llvm::sort(live, [](const Buffer *x, const Buffer *y) {
      return x->offset < y->offset;
    });
    int64_t cursor = 0, best = -1, bestGap = INT64_MAX;
    for (Buffer *p : live) {
      int64_t gap = p->offset - cursor;
      if (gap >= b->size && gap < bestGap) {
        best = cursor;
        bestGap = gap;
      }
      cursor = std::max(cursor, alignUp(p->offset + p->size));
    }
    b->offset = best >= 0 ? best : cursor;
    placed.push_back(b);
  }
}

struct MotePlanMemoryPass
    : mote::impl::MotePlanMemoryPassBase<MotePlanMemoryPass> {
  using MotePlanMemoryPassBase::MotePlanMemoryPassBase;
  void runOnOperation() override;
  LogicalResult planFunc(func::FuncOp func);
};

LogicalResult MotePlanMemoryPass::planFunc(func::FuncOp func) {
  FailureOr<SmallVector<Buffer>> buffers = collectBuffers(func);
  if (failed(buffers))
    return failure();
  if (strategy == "naive")
    planNaive(*buffers);
  else
    planGreedy(*buffers);
  Builder b(func.getContext());
  int64_t arena = 0;
  for (const Buffer &buf : *buffers) {
    arena = std::max(arena, alignUp(buf.offset + buf.size));
    IntegerAttr offset = b.getI64IntegerAttr(buf.offset);
    if (auto arg = dyn_cast<BlockArgument>(buf.value))
      func.setArgAttr(arg.getArgNumber(), kOffsetAttr, offset);
    else
      buf.value.getDefiningOp()->setAttr(kOffsetAttr, offset);
  }
  func->setAttr(kArenaSizeAttr, b.getI64IntegerAttr(arena));
  return success();
}

} // namespace

void MotePlanMemoryPass::runOnOperation() {
  if (strategy != "greedy" && strategy != "naive") {
    getOperation().emitError() << "mote-plan-memory: unknown strategy '"
                               << strategy << "' (use 'greedy' or 'naive')";
    return signalPassFailure();
  }
  for (auto func : getOperation().getOps<func::FuncOp>())
    if (!func.isExternal() && failed(planFunc(func)))
      return signalPassFailure();
}
