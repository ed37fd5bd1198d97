// Serializes planned, lowered `mote` functions into the manifest's static
// schedules (mote.bundle.Graph): values, steps and their attributes.
//
// The walk is by op name and documented attribute name (docs/dialect.md), so
// it only depends on the dialect's textual contract. Anything it does not
// know is rejected with an error naming the op: a bundle never carries a
// step the runtime would have to guess about.
#include "compiler/bundle/BundleWriter.h"

#include "mote_bundle.pb.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

namespace mote {
namespace {

namespace pb = ::mote::bundle;

// Debug name of a location: the innermost NameLoc, else file:line:col.
std::string locName(mlir::Location loc) {
  if (auto n = mlir::dyn_cast<mlir::NameLoc>(loc))
    return n.getName().str();
  if (auto f = mlir::dyn_cast<mlir::FusedLoc>(loc)) {
    for (mlir::Location l : f.getLocations()) {
      std::string s = locName(l);
      if (!s.empty())
        return s;
    }
    return "";
  }
  if (auto c = mlir::dyn_cast<mlir::CallSiteLoc>(loc))
    return locName(c.getCallee());
  if (auto fl = mlir::dyn_cast<mlir::FileLineColLoc>(loc))
    return (fl.getFilename().str() + ":" + std::to_string(fl.getLine()) + ":" +
            std::to_string(fl.getColumn()));
  return "";
}

// "'mote.linear' (layers.3.attn.q)": how errors name an op.
std::string opName(mlir::Operation *op) {
  std::string s = "'" + op->getName().getStringRef().str() + "'";
  std::string l = locName(op->getLoc());
  if (!l.empty())
    s += " (" + l + ")";
  return s;
}

// First attribute of the given kind: the dialect's ops carry one symbol
// reference / one type attribute, whatever ODS calls it.
template <typename AttrT> AttrT firstAttrOf(mlir::Operation *op) {
  for (mlir::NamedAttribute na : op->getAttrs())
    if (auto a = mlir::dyn_cast<AttrT>(na.getValue()))
      return a;
  return {};
}

bool dtypeOf(mlir::Type elt, pb::DType &out) {
  if (elt.isF32()) out = pb::F32;
  else if (elt.isF16()) out = pb::F16;
  else if (elt.isBF16()) out = pb::BF16;
  else if (elt.isInteger(32)) out = pb::I32;
  else if (elt.isSignlessInteger(8)) out = pb::Q8; // the 8-bit KV cache
  else return false;
  return true;
}

// Shape and dtype of a static tensor type into a Value / Tensor.
template <typename Msg>
Status fillShape(mlir::Type t, Msg &msg, const std::string &what) {
  auto rt = mlir::dyn_cast<mlir::RankedTensorType>(t);
  pb::DType dt;
  if (!rt || !rt.hasStaticShape() || !dtypeOf(rt.getElementType(), dt)) {
    std::string ts;
    llvm::raw_string_ostream os(ts);
    t.print(os);
    return Status::Error(what + ": type " + ts +
                         " is not a static f32/f16/bf16/i32 tensor");
  }
  msg.set_dtype(dt);
  for (int64_t d : rt.getShape())
    msg.add_shape(static_cast<uint64_t>(d));
  return Status::Ok();
}

std::optional<int64_t> intAttr(mlir::Operation *op, llvm::StringRef name) {
  // BoolAttr first: it is an i1 IntegerAttr, whose getInt() of true is -1.
  if (auto b = op->getAttrOfType<mlir::BoolAttr>(name))
    return b.getValue() ? 1 : 0;
  if (auto a = op->getAttrOfType<mlir::IntegerAttr>(name))
    return a.getInt();
  return std::nullopt;
}

std::optional<double> floatAttr(mlir::Operation *op, llvm::StringRef name) {
  if (auto a = op->getAttrOfType<mlir::FloatAttr>(name))
    return a.getValueAsDouble();
  return std::nullopt;
}

// Module-wide symbol -> manifest index tables.
struct Symbols {
  llvm::StringMap<uint32_t> tensor; // param symbol -> Manifest.tensors index
  llvm::StringMap<uint32_t> kv;     // kv_cache symbol -> Manifest.kv_caches
  llvm::StringMap<mlir::Operation *> params;
  llvm::StringMap<uint32_t> lora;   // lora_site symbol -> Manifest.lora_sites
};

class GraphWriter {
public:
  GraphWriter(Symbols &syms, pb::Manifest &m, std::vector<std::string> &refd)
      : syms_(syms), manifest_(m), referenced_(refd) {}
  Status run(mlir::func::FuncOp fn, pb::Graph &g);

private:
  Status valueFor(mlir::Value v, uint32_t &idx);
  Status defineArena(mlir::Value v, std::optional<int64_t> off,
                     const std::string &what);
  Status defineWeight(mlir::Operation *op);
  Status kvValue(mlir::Operation *op, uint32_t &idx);
  Status step(mlir::Operation *op);
  Status stepAttrs(mlir::Operation *op, pb::OpKind kind, pb::Step &s);
  Status tensorIndex(llvm::StringRef sym, mlir::Operation *user, uint32_t &idx);

  Symbols &syms_;
  pb::Manifest &manifest_;
  std::vector<std::string> &referenced_;
  pb::Graph *g_ = nullptr;
  llvm::DenseMap<mlir::Value, uint32_t> index_;
  llvm::DenseMap<uint32_t, uint32_t> kvValue_; // kv index -> value index
};

// Manifest tensors are created on first reference, in the order of use, so
// params no graph reads never reach the bundle.
Status GraphWriter::tensorIndex(llvm::StringRef sym, mlir::Operation *user,
                                uint32_t &idx) {
  auto it = syms_.tensor.find(sym);
  if (it != syms_.tensor.end()) {
    idx = it->second;
    return Status::Ok();
  }
  auto p = syms_.params.find(sym);
  if (p == syms_.params.end())
    return Status::Error(opName(user) + ": @" + sym.str() +
                         " does not name a mote.param");
  auto ty = firstAttrOf<mlir::TypeAttr>(p->second);
  if (!ty)
    return Status::Error("'mote.param' @" + sym.str() + ": no type");
  pb::Tensor *t = manifest_.add_tensors();
  t->set_name(sym.str());
  Status st = fillShape(ty.getValue(), *t, "@" + sym.str());
  if (!st.ok())
    return st;
  idx = static_cast<uint32_t>(manifest_.tensors_size() - 1);
  syms_.tensor[sym] = idx;
  referenced_.push_back(sym.str());
  return Status::Ok();
}

Status GraphWriter::defineArena(mlir::Value v, std::optional<int64_t> off,
                                const std::string &what) {
  if (!off || *off < 0)
    return Status::Error(what + ": no mote.offset (run mote-plan-memory)");
  pb::Value *pv = g_->add_values();
  pv->set_kind(pb::ARENA);
  pv->set_offset(static_cast<uint64_t>(*off));
  Status st = fillShape(v.getType(), *pv, what);
  if (!st.ok())
    return st;
  index_[v] = static_cast<uint32_t>(g_->values_size() - 1);
  return Status::Ok();
}

Status GraphWriter::defineWeight(mlir::Operation *op) {
  auto sym = firstAttrOf<mlir::FlatSymbolRefAttr>(op);
  if (!sym)
    return Status::Error(opName(op) + ": no symbol");
  uint32_t ti;
  Status st = tensorIndex(sym.getValue(), op, ti);
  if (!st.ok())
    return st;
  pb::Value *pv = g_->add_values();
  pv->set_kind(pb::WEIGHT);
  pv->set_ref(ti);
  st = fillShape(op->getResult(0).getType(), *pv, opName(op));
  if (!st.ok())
    return st;
  index_[op->getResult(0)] = static_cast<uint32_t>(g_->values_size() - 1);
  return Status::Ok();
}

// One KV value per cache and graph: operand 0 and the result of its
// KV_APPEND steps, and what attention reads.
Status GraphWriter::kvValue(mlir::Operation *op, uint32_t &idx) {
  auto sym = firstAttrOf<mlir::FlatSymbolRefAttr>(op);
  auto it = sym ? syms_.kv.find(sym.getValue()) : syms_.kv.end();
  if (it == syms_.kv.end())
    return Status::Error(opName(op) + ": symbol does not name a mote.kv_cache");
  auto found = kvValue_.find(it->second);
  if (found != kvValue_.end()) {
    idx = found->second;
    return Status::Ok();
  }
  pb::Value *pv = g_->add_values();
  pv->set_kind(pb::KV);
  pv->set_ref(it->second);
  Status st = fillShape(op->getResult(0).getType(), *pv, opName(op));
  if (!st.ok())
    return st;
  idx = static_cast<uint32_t>(g_->values_size() - 1);
  kvValue_[it->second] = idx;
  return Status::Ok();
}

Status GraphWriter::valueFor(mlir::Value v, uint32_t &idx) {
  auto it = index_.find(v);
  if (it == index_.end())
    return Status::Error("value used before it is defined");
  idx = it->second;
  return Status::Ok();
}

const llvm::StringMap<pb::OpKind> &opKinds() {
  static const llvm::StringMap<pb::OpKind> kinds = {
      {"mote.embedding", pb::EMBEDDING}, {"mote.rms_norm", pb::RMS_NORM},
      {"mote.linear", pb::LINEAR},       {"mote.rope", pb::ROPE},
      {"mote.kv_append", pb::KV_APPEND}, {"mote.attention", pb::ATTENTION},
      {"mote.swiglu", pb::SWIGLU},       {"mote.add", pb::ADD},
      {"mote.logits", pb::LOGITS},       {"mote.last_row", pb::LAST_ROW},
      {"mote.lora_linear", pb::LORA_LINEAR}};
  return kinds;
}

// i/f attributes in the order mote_bundle.proto documents per OpKind.
Status GraphWriter::stepAttrs(mlir::Operation *op, pb::OpKind kind,
                              pb::Step &s) {
  auto needI = [&](const char *n) -> bool {
    auto v = intAttr(op, n);
    if (v)
      s.add_i(*v);
    return v.has_value();
  };
  auto needF = [&](const char *n) -> bool {
    auto v = floatAttr(op, n);
    if (v)
      s.add_f(static_cast<float>(*v));
    return v.has_value();
  };
  bool ok = true;
  const char *missing = "";
  auto need = [&](bool got, const char *n) {
    if (!got && ok) { ok = false; missing = n; }
  };
  switch (kind) {
  case pb::RMS_NORM:
    need(needF("eps"), "eps");
    break;
  case pb::ROPE: {
    need(needI("head_dim"), "head_dim");
    auto style = op->getAttrOfType<mlir::StringAttr>("style");
    if (!style || (style.getValue() != "interleaved" && style.getValue() != "half"))
      return Status::Error(opName(op) + ": style must be \"interleaved\" or \"half\"");
    s.add_i(style.getValue() == "half" ? 1 : 0);
    need(needF("theta"), "theta");
    // Scaling (verified by the dialect): i = {.., kind, original_max_positions},
    // f = {.., factor, low_freq_factor, high_freq_factor}; 0 where unused.
    if (auto sc = op->getAttrOfType<mlir::StringAttr>("scaling")) {
      s.add_i(sc.getValue() == "linear" ? 1 : 2);
      s.add_i(intAttr(op, "original_max_positions").value_or(0));
      s.add_f(static_cast<float>(floatAttr(op, "factor").value_or(1.0)));
      s.add_f(static_cast<float>(floatAttr(op, "low_freq_factor").value_or(0.0)));
      s.add_f(static_cast<float>(floatAttr(op, "high_freq_factor").value_or(0.0)));
    }
    break;
  }
  case pb::ATTENTION:
    need(needI("num_heads"), "num_heads");
    need(needI("num_kv_heads"), "num_kv_heads");
    need(needI("head_dim"), "head_dim");
    need(needF("scale"), "scale");
    break;
  case pb::LOGITS:
    s.add_i(intAttr(op, "all_rows").value_or(0));
    break;
  case pb::LORA_LINEAR: { // i[0]: the site's index in Manifest.lora_sites
    auto site = op->getAttrOfType<mlir::FlatSymbolRefAttr>("site");
    auto it = site ? syms_.lora.find(site.getValue()) : syms_.lora.end();
    if (it == syms_.lora.end())
      return Status::Error(opName(op) + ": site does not name a mote.lora_site");
    s.add_i(it->second);
    break;
  }
  default:
    break;
  }
  if (!ok)
    return Status::Error(opName(op) + ": missing attribute '" + missing + "'");
  return Status::Ok();
}

Status GraphWriter::step(mlir::Operation *op) {
  auto kindIt = opKinds().find(op->getName().getStringRef());
  if (kindIt == opKinds().end())
    return Status::Error(opName(op) + ": op cannot be serialized to a bundle "
                         "step (not in the CPU schedule's op set)");
  pb::OpKind kind = kindIt->second;
  if (op->getNumResults() != 1)
    return Status::Error(opName(op) + ": expected exactly one result");
  pb::Step s;
  s.set_op(kind);
  uint32_t idx;
  if (kind == pb::KV_APPEND) {
    // [cache, src, positions]: positions is the i32 operand, src the other.
    Status st = kvValue(op, idx);
    if (!st.ok() || op->getNumOperands() != 2)
      return st.ok() ? Status::Error(opName(op) + ": expected 2 operands") : st;
    mlir::Value a = op->getOperand(0), b = op->getOperand(1);
    auto isI32 = [](mlir::Value v) {
      auto t = mlir::dyn_cast<mlir::RankedTensorType>(v.getType());
      return t && t.getElementType().isInteger(32);
    };
    if (isI32(a))
      std::swap(a, b);
    s.add_operands(idx);
    for (mlir::Value v : {a, b}) {
      uint32_t o;
      if (!valueFor(v, o).ok())
        return Status::Error(opName(op) + ": operand defined by nothing serializable");
      s.add_operands(o);
    }
    s.add_results(idx);
    index_[op->getResult(0)] = idx;
  } else {
    for (mlir::Value v : op->getOperands()) {
      uint32_t o;
      if (!valueFor(v, o).ok())
        return Status::Error(opName(op) + ": operand defined by nothing serializable");
      s.add_operands(o);
    }
    Status st = defineArena(op->getResult(0), intAttr(op, "mote.offset"), opName(op));
    if (!st.ok())
      return st;
    s.add_results(index_[op->getResult(0)]);
  }
  Status st = stepAttrs(op, kind, s);
  if (!st.ok())
    return st;
  if (auto k = op->getAttrOfType<mlir::StringAttr>("mote.kernel"))
    s.set_kernel(k.getValue().str());
  else
    return Status::Error(opName(op) + ": no mote.kernel (run mote-lower-cpu)");
  s.set_loc(locName(op->getLoc()));
  *g_->add_steps() = std::move(s);
  return Status::Ok();
}

uint32_t u32Attr(mlir::Operation *op, llvm::StringRef n, uint32_t dflt) {
  auto v = intAttr(op, n);
  return v ? static_cast<uint32_t>(*v) : dflt;
}

Status GraphWriter::run(mlir::func::FuncOp fn, pb::Graph &g) {
  g_ = &g;
  std::string fname = "@" + fn.getSymName().str();
  g.set_name(fn.getSymName().str());
  auto kind = fn->getAttrOfType<mlir::StringAttr>("mote.graph_kind");
  g.set_kind(kind ? kind.getValue().str() : fn.getSymName().str());
  auto target = fn->getAttrOfType<mlir::StringAttr>("mote.target");
  g.set_target(target ? target.getValue().str() : "cpu");
  g.set_max_tokens(u32Attr(fn, "mote.max_tokens", 0));
  g.set_context(u32Attr(fn, "mote.context", 0));
  if (fn->hasAttr("mote.bucket")) // mote-bucketize's static clones
    g.set_bucket(true);
  auto arena = intAttr(fn, "mote.arena_size");
  if (!arena)
    return Status::Error(fname + ": no mote.arena_size (run mote-plan-memory)");
  g.set_arena_bytes(static_cast<uint64_t>(*arena));
  if (fn.getNumArguments() != 2)
    return Status::Error(fname + ": expected (tokens, positions) arguments");
  for (unsigned i = 0; i < 2; ++i) {
    auto off = fn.getArgAttrOfType<mlir::IntegerAttr>(i, "mote.offset");
    Status st = defineArena(fn.getArgument(i),
                            off ? std::optional<int64_t>(off.getInt()) : std::nullopt,
                            fname + ": argument " + std::to_string(i));
    if (!st.ok())
      return st;
  }
  g.set_input_tokens(0);
  g.set_input_positions(1);
  bool returned = false;
  for (mlir::Operation &op : fn.getBody().front()) {
    Status st;
    llvm::StringRef name = op.getName().getStringRef();
    if (name == "mote.weight") {
      st = defineWeight(&op);
    } else if (auto ret = mlir::dyn_cast<mlir::func::ReturnOp>(op)) {
      uint32_t idx;
      if (ret.getNumOperands() != 1 || !valueFor(ret.getOperand(0), idx).ok())
        return Status::Error(fname + ": must return exactly the logits");
      g.set_output_logits(idx);
      returned = true;
    } else {
      st = step(&op);
    }
    if (!st.ok())
      return Status::Error(fname + ": " + st.message);
  }
  if (!returned)
    return Status::Error(fname + ": no return");
  return Status::Ok();
}

} // namespace

Status serializeSchedule(mlir::ModuleOp module, bundle::Manifest &manifest,
                         std::vector<std::string> &referenced) {
  Symbols syms;
  for (mlir::Operation &op : *module.getBody()) {
    llvm::StringRef name = op.getName().getStringRef();
    auto symName = op.getAttrOfType<mlir::StringAttr>(
        mlir::SymbolTable::getSymbolAttrName());
    if (name == "mote.param" && symName) {
      syms.params[symName.getValue()] = &op;
    } else if (name == "mote.lora_site" && symName) {
      pb::LoraSite *ls = manifest.add_lora_sites();
      ls->set_name(symName.getValue().str());
      ls->set_in_features(uint32_t(intAttr(&op, "in_features").value_or(0)));
      ls->set_out_features(uint32_t(intAttr(&op, "out_features").value_or(0)));
      ls->set_max_rank(uint32_t(intAttr(&op, "max_rank").value_or(0)));
      syms.lora[symName.getValue()] = uint32_t(manifest.lora_sites_size() - 1);
    } else if (name == "mote.kv_cache" && symName) {
      auto ty = firstAttrOf<mlir::TypeAttr>(&op);
      auto rt = ty ? mlir::dyn_cast<mlir::RankedTensorType>(ty.getValue())
                   : mlir::RankedTensorType();
      bool q8 = rt && rt.getElementType().isSignlessInteger(8);
      if (!rt || rt.getRank() != 2 || !rt.hasStaticShape() ||
          !(rt.getElementType().isF32() || q8))
        return Status::Error("'mote.kv_cache' @" + symName.getValue().str() +
                             ": expected a static tensor<CxWxf32> or tensor<CxWxi8>");
      pb::KVCache *kv = manifest.add_kv_caches();
      kv->set_name(symName.getValue().str());
      kv->set_width(static_cast<uint32_t>(rt.getDimSize(1)));
      kv->set_dtype(q8 ? pb::Q8 : pb::F32);
      if (q8) { // one f32 scale per cache row and KV head
        uint32_t hd = manifest.model().head_dim();
        if (hd == 0 || rt.getDimSize(1) % hd != 0)
          return Status::Error("'mote.kv_cache' @" + symName.getValue().str() +
                               ": 8-bit cache width is not a multiple of head_dim " +
                               std::to_string(hd));
        kv->set_group_size(hd);
        kv->set_scale_dtype(pb::F32);
        kv->set_layout("i8-rows+f32-row-head-scales");
      }
      syms.kv[symName.getValue()] = manifest.kv_caches_size() - 1;
    }
  }
  for (mlir::Operation &op : *module.getBody()) {
    auto fn = mlir::dyn_cast<mlir::func::FuncOp>(op);
    if (!fn)
      continue;
    if (fn.isExternal())
      return Status::Error("@" + fn.getSymName().str() + ": has no body");
    GraphWriter w(syms, manifest, referenced);
    Status st = w.run(fn, *manifest.add_graphs());
    if (!st.ok())
      return st;
  }
  if (manifest.graphs_size() == 0)
    return Status::Error("module: no graph (func.func) to serialize");
  return Status::Ok();
}

} // namespace mote
