//===- LowerCpu.cpp - mote-lower-cpu: pick the CPU kernel per op ---------===//
// The CPU target is a schedule of runtime kernel calls; this pass names the
// kernel of each compute op (`mote.kernel`) and marks planned functions
// `mote.target = "cpu"`. The bundle writer turns both into schedule steps.
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/MotePasses.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mote {
#define GEN_PASS_DEF_MOTELOWERCPUPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

// Kernel family of a compute op; empty for ops that are not computed
// (weights only name bundle data).
StringRef kernelFamily(Operation *op) {
  return llvm::TypeSwitch<Operation *, StringRef>(op)
      .Case<EmbeddingOp>([](auto) { return "embedding"; })
      .Case<RMSNormOp>([](auto) { return "rms_norm"; })
      .Case<LinearOp>([](auto) { return "linear"; })
      .Case<LoraLinearOp>([](auto) { return "lora_linear"; })
      .Case<RopeOp>([](auto) { return "rope"; })
      .Case<KVAppendOp>([](auto) { return "kv_append"; })
      .Case<AttentionOp>([](auto) { return "attention"; })
      .Case<SwiGLUOp>([](auto) { return "swiglu"; })
      .Case<AddOp>([](auto) { return "add"; })
      .Case<LogitsOp>([](auto) { return "logits"; })
      .Case<LastRowOp>([](auto) { return "last_row"; })
      .Default([](Operation *) { return StringRef(); });
}

// The CPU kernels take f32 data (weights, caches, activations) and i32
// token ids / positions; anything else (f16, bf16, quantized) has no kernel.
// The 8-bit KV cache (mote-kv-dtype q8): an i8 cache value, the result of
// kv_append or the k/v operand of attention.
bool isQ8Cache(Operation *op, Value v) {
  if (!cast<RankedTensorType>(v.getType()).getElementType().isSignlessInteger(8))
    return false;
  if (auto a = dyn_cast<KVAppendOp>(op))
    return v == a.getResult();
  if (auto at = dyn_cast<AttentionOp>(op))
    return v == at.getKCache() || v == at.getVCache();
  return false;
}

// Whether op writes or reads an 8-bit KV cache: its kernel is then
// "kv_append_q8_f32" / "attention_q8_f32" (f32 activations).
bool readsQ8Cache(Operation *op) {
  if (auto a = dyn_cast<KVAppendOp>(op))
    return isQ8Cache(op, a.getResult());
  if (auto at = dyn_cast<AttentionOp>(op))
    return isQ8Cache(op, at.getKCache());
  return false;
}

LogicalResult checkF32(Operation *op) {
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  for (Value v : values) {
    Type elt = cast<RankedTensorType>(v.getType()).getElementType();
    if (isQ8Cache(op, v))
      continue;
    if (!elt.isF32() && !elt.isSignlessInteger(32))
      return op->emitOpError()
             << "has no CPU kernel for element type " << elt
             << " (the CPU target has f32 kernels only today)";
  }
  return success();
}

// Bits of the quantized weight operand of a linear / logits / embedding op
// (0 when its param has no `mote.quant`): the kernel is then
// "<family>_q<bits>_f32" (packed weights, f32 activations).
int64_t quantBits(Operation *op) {
  Value w;
  if (auto lin = dyn_cast<LinearOp>(op))
    w = lin.getWeight();
  else if (auto ll = dyn_cast<LoraLinearOp>(op))
    w = ll.getWeight();
  else if (auto lg = dyn_cast<LogitsOp>(op))
    w = lg.getWeight();
  else if (auto emb = dyn_cast<EmbeddingOp>(op))
    w = emb.getTable();
  auto wop = w ? w.getDefiningOp<WeightOp>() : WeightOp();
  if (!wop)
    return 0;
  Operation *param = SymbolTable::lookupNearestSymbolFrom(op, wop.getParamAttr());
  auto q = param ? param->getAttrOfType<DictionaryAttr>(kQuantAttr) : DictionaryAttr();
  auto bits = q ? dyn_cast_or_null<IntegerAttr>(q.get("bits")) : IntegerAttr();
  return bits ? bits.getInt() : 0;
}

LogicalResult lowerOp(Operation *op) {
  StringRef family = kernelFamily(op);
  if (family.empty()) {
    if (isa<WeightOp>(op) || op->hasTrait<OpTrait::IsTerminator>())
      return success();
    return op->emitOpError() << "has no CPU kernel";
  }
  if (failed(checkF32(op)))
    return failure();
  if (!isa<KVAppendOp>(op) && !op->hasAttr(kOffsetAttr))
    return op->emitOpError() << "has no 'mote.offset'; run -mote-plan-memory "
                                "before -mote-lower-cpu";
  int64_t bits = quantBits(op);
  std::string kernel = family.str();
  if (bits == 16) // f16 weights
    kernel += "_f16";
  else if (bits)
    kernel += "_q" + std::to_string(bits);
  if (readsQ8Cache(op))
    kernel += "_q8";
  // last_row copies a row of f32 activations or of i32 positions.
  std::string suffix = "_f32";
  if (auto lr = dyn_cast<LastRowOp>(op);
      lr && cast<RankedTensorType>(lr.getX().getType()).getElementType().isInteger(32))
    suffix = "_i32";
  op->setAttr(kKernelAttr, StringAttr::get(op->getContext(), kernel + suffix));
  return success();
}

LogicalResult lowerFunc(func::FuncOp func) {
  if (!func->hasAttr(kArenaSizeAttr))
    return func.emitOpError() << "was not memory-planned (no 'mote.arena_size'); "
                                 "run -mote-plan-memory before -mote-lower-cpu";
  WalkResult walk = func.getBody().walk([](Operation *op) {
    return failed(lowerOp(op)) ? WalkResult::interrupt()
                               : WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  func->setAttr(kTargetAttr, StringAttr::get(func.getContext(), "cpu"));
  return success();
}

struct MoteLowerCpuPass : mote::impl::MoteLowerCpuPassBase<MoteLowerCpuPass> {
  void runOnOperation() override {
    bool ok = true;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && failed(lowerFunc(func)))
        ok = false;
    if (!ok)
      signalPassFailure();
  }
};

} // namespace
