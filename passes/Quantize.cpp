//===- Quantize.cpp - mote-quantize: pick each weight's storage width ----===//
// Marks rank-2 params with `mote.quant = {bits, group_size, f}`; the bundle
// writer packs them (compiler/quant) and mote-lower-cpu picks the quantized
// kernels. The IR type stays the logical f32 tensor. docs/passes/mote-quantize.md.
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/MotePasses.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

namespace mote {
#define GEN_PASS_DEF_MOTEQUANTIZEPASS
#include "passes/MotePasses.h.inc"
} // namespace mote

using namespace mlir;
using namespace mote;

namespace {

// "w2" -> 2, "w4" -> 4, "w8" -> 8, "f16" -> 16 (IEEE half), "f32" -> 0; -1
// otherwise.
int parseWidth(StringRef s) {
  if (s == "f16") return 16;
  if (s == "w2") return 2;
  if (s == "w4") return 4;
  if (s == "w8") return 8;
  if (s == "f32") return 0;
  return -1;
}

// How a param is used: as a linear weight, as an embedding table / logits
// classifier, or by anything else (norm weights, biases).
struct Roles {
  bool linear = false, embed = false, other = false;
};

llvm::StringMap<Roles> paramRoles(ModuleOp module) {
  llvm::StringMap<Roles> roles;
  module.walk([&](WeightOp w) {
    Roles &r = roles[w.getParam()];
    for (OpOperand &use : w.getResult().getUses()) {
      Operation *user = use.getOwner();
      if (auto lin = dyn_cast<LinearOp>(user); lin && use.get() == lin.getWeight())
        r.linear = true;
      else if (auto ll = dyn_cast<LoraLinearOp>(user); ll && use.get() == ll.getWeight())
        r.linear = true; // LoRA site: the base is the same linear
      else if (auto emb = dyn_cast<EmbeddingOp>(user); emb && use.get() == emb.getTable())
        r.embed = true;
      else if (auto lg = dyn_cast<LogitsOp>(user); lg && use.get() == lg.getWeight())
        r.embed = true;
      else
        r.other = true;
    }
  });
  return roles;
}

struct MoteQuantizePass : mote::impl::MoteQuantizePassBase<MoteQuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    int bits = parseWidth(policy);
    if (bits < 0)
      return fail(module, "mote-quantize: policy '" + policy +
                              "': unsupported width (w2, w4, w8, f16 or f32)");
    if (group != 0 && group != 32 && group != 64 && group != 128)
      return fail(module, "mote-quantize: group " + std::to_string(group) +
                              ": unsupported group size (32, 64, 128 or 0 = whole row)");
    if (f != "maxabs" && f != "search")
      return fail(module, "mote-quantize: f '" + f + "': must be maxabs or search");
    if (embed != 0 && embed != 2 && embed != 4 && embed != 8 && embed != 16)
      return fail(module, "mote-quantize: embed " + std::to_string(embed) +
                              ": unsupported bits (2, 4, 8, 16 = f16 or 0 = f32)");

    llvm::StringMap<Roles> roles = paramRoles(module);
    llvm::StringMap<ParamOp> params;
    llvm::StringMap<int> width;
    for (ParamOp p : module.getOps<ParamOp>()) {
      params[p.getSymName()] = p;
      auto rt = dyn_cast<RankedTensorType>(p.getType());
      auto it = roles.find(p.getSymName());
      if (!rt || rt.getRank() != 2 || it == roles.end() || it->second.other)
        continue;
      if (it->second.embed)
        width[p.getSymName()] = embed;
      else if (it->second.linear)
        width[p.getSymName()] = bits;
    }
    if (!policyFile.empty() && failed(applyPolicyFile(module, params, roles, width)))
      return signalPassFailure();

    MLIRContext *ctx = module.getContext();
    for (auto &[name, b] : width) {
      ParamOp p = params[name];
      p->removeAttr(kQuantAttr);
      if (b == 0)
        continue;
      Builder builder(ctx);
      if (b == 16) { // IEEE half storage: no grid, no groups
        p->setAttr(kQuantAttr, builder.getDictionaryAttr({builder.getNamedAttr(
                                   "bits", builder.getI64IntegerAttr(16))}));
        continue;
      }
      p->setAttr(kQuantAttr,
                 builder.getDictionaryAttr(
                     {builder.getNamedAttr("bits", builder.getI64IntegerAttr(b)),
                      builder.getNamedAttr("f", builder.getStringAttr(f)),
                      builder.getNamedAttr("group_size",
                                           builder.getI64IntegerAttr(group))}));
    }
  }

  void fail(Operation *op, const std::string &msg) {
    op->emitError() << msg;
    signalPassFailure();
  }

  // {"layers.0.wq": "w8", "tok_embeddings": "f32", ...}
  LogicalResult applyPolicyFile(ModuleOp module, llvm::StringMap<ParamOp> &params,
                                llvm::StringMap<Roles> &roles,
                                llvm::StringMap<int> &width) {
    auto buf = llvm::MemoryBuffer::getFile(policyFile);
    if (!buf)
      return module.emitError() << policyFile << ": cannot read the weights policy";
    llvm::Expected<llvm::json::Value> json = llvm::json::parse((*buf)->getBuffer());
    if (!json) {
      std::string err = llvm::toString(json.takeError());
      return module.emitError() << policyFile << ": not valid JSON: " << err;
    }
    const llvm::json::Object *obj = json->getAsObject();
    if (!obj)
      return module.emitError()
             << policyFile << ": must be a JSON object {\"<param>\": \"w2|w4|w8|f16|f32\"}";
    // Sorted, so the first error does not depend on hash order.
    std::vector<std::string> keys;
    for (const auto &kv : *obj)
      keys.push_back(kv.first.str());
    llvm::sort(keys);
    for (const std::string &key : keys) {
      const llvm::json::Value *v = obj->get(key);
      auto s = v->getAsString();
      int b = s ? parseWidth(*s) : -1;
      auto pit = params.find(key);
      if (pit == params.end())
        return module.emitError() << policyFile << ": field '" << key
                                  << "': no mote.param of that name";
      if (b < 0)
        return pit->second.emitError()
               << policyFile << ": field '" << key
               << "': width must be \"w2\", \"w4\", \"w8\", \"f16\" or \"f32\"";
      auto rt = dyn_cast<RankedTensorType>(pit->second.getType());
      const Roles &r = roles.lookup(key);
      if (b != 0 && (!rt || rt.getRank() != 2 || r.other || (!r.linear && !r.embed)))
        return pit->second.emitError()
               << policyFile << ": field '" << key << "': " << *s
               << " is not a width this weight's ops can take (only rank-2 "
                  "linear, embedding and logits weights are quantized)";
      width[key] = b;
    }
    return success();
  }
};

} // namespace
