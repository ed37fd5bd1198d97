// Imported model -> `mote` module: params, KV caches and the @prefill/@decode
// graphs of a Llama-family decoder (docs/dialect.md).
#include "compiler/IRBuilder.h"

#include "dialects/Mote/IR/MoteOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>
#include <cmath>

namespace mote {

uint32_t resolvedContext(const ModelSpec &spec, const GraphOptions &opts) {
  if (opts.context)
    return opts.context;
  return std::min<uint32_t>(spec.max_seq_len ? spec.max_seq_len : 2048, 2048);
}

Status checkBuildable(const ModelSpec &s, const GraphOptions &opts) {
  std::string src = s.source_path;
  if (s.source_format == "hf-safetensors")
    src += "/config.json";
  if (s.num_kv_shared_layers >= s.n_layers)
    return Status::Error(src + ": num_kv_shared_layers: " +
                         std::to_string(s.num_kv_shared_layers) +
                         " must be less than the layer count " +
                         std::to_string(s.n_layers));
  if (s.head_dim == 0 || s.head_dim % 2 != 0)
    return Status::Error(src + ": head_dim: " + std::to_string(s.head_dim) +
                         " must be even for RoPE");
  if (s.n_kv_heads == 0 || s.n_heads % s.n_kv_heads != 0)
    return Status::Error(src + ": n_kv_heads: " + std::to_string(s.n_kv_heads) +
                         " must divide n_heads " + std::to_string(s.n_heads));
  if (opts.prefillTokens == 0)
    return Status::Error("--prefill-tokens: must be at least 1");
  if (s.max_seq_len && opts.context > s.max_seq_len)
    return Status::Error("--context: " + std::to_string(opts.context) +
                         " exceeds the model's max_seq_len " +
                         std::to_string(s.max_seq_len));
  return Status::Ok();
}

namespace {

// Builds one graph function. Shapes: T rows of activations, C cache rows.
class GraphBuilder {
public:
  GraphBuilder(mlir::OpBuilder &b, const ModelSpec &s, int64_t T, int64_t C)
      : b_(b), s_(s), T_(T), C_(C), f32_(b.getF32Type()) {}

  void build(mlir::ModuleOp module, llvm::StringRef name, bool allRows);

private:
  mlir::Location loc(const std::string &n) {
    return mlir::NameLoc::get(b_.getStringAttr(n));
  }
  mlir::RankedTensorType act(int64_t cols) {
    return mlir::RankedTensorType::get({T_, cols}, f32_);
  }
  mlir::Value weight(const std::string &sym, llvm::ArrayRef<int64_t> shape) {
    auto ty = mlir::RankedTensorType::get(shape, f32_);
    return WeightOp::create(b_, loc(sym), ty, sym).getResult();
  }
  mlir::Value rmsNorm(mlir::Value x, const std::string &w, const std::string &l);
  mlir::Value linear(mlir::Value x, const std::string &prefix,
                     const std::string &w, const std::string &bias, int64_t n,
                     int64_t k, const std::string &l);
  mlir::Value layer(unsigned i, mlir::Value x);
  mlir::Value rope(mlir::Value x, int64_t width, const std::string &l);

  mlir::OpBuilder &b_;
  const ModelSpec &s_;
  int64_t T_, C_;
  mlir::Type f32_;
  mlir::Value pos_;
  // KV sharing: the cache values of the last layer that owns its K/V; layers
  // from firstShared() on attend over them instead of appending their own.
  mlir::Value sharedK_, sharedV_;
  unsigned firstShared() const { return s_.n_layers - s_.num_kv_shared_layers; }
};

mlir::Value GraphBuilder::rmsNorm(mlir::Value x, const std::string &w,
                                  const std::string &l) {
  int64_t D = s_.dim;
  mlir::Value wv = weight(w, {D});
  return RMSNormOp::create(b_, loc(l), act(D), x, wv,
                           b_.getF32FloatAttr(s_.norm_eps))
      .getResult();
}

mlir::Value GraphBuilder::linear(mlir::Value x, const std::string &prefix,
                                 const std::string &w, const std::string &bias,
                                 int64_t n, int64_t k, const std::string &l) {
  mlir::Value wv = weight(prefix + w, {n, k});
  mlir::Value bv;
  if (!bias.empty())
    bv = weight(prefix + bias, {n});
  return LinearOp::create(b_, loc(l), act(n), x, wv, bv).getResult();
}

// One decoder layer: pre-norm attention and SwiGLU FFN, each with a residual.
// mote.rope with the spec's theta, style and (when it has one) scaling.
mlir::Value GraphBuilder::rope(mlir::Value x, int64_t width, const std::string &l) {
  const RopeScalingSpec &rs = s_.rope_scaling;
  mlir::StringAttr kind;
  mlir::FloatAttr factor, lo, hi;
  mlir::IntegerAttr orig;
  if (rs.kind != RopeScaling::None) {
    kind = b_.getStringAttr(rs.kind == RopeScaling::Linear ? "linear" : "llama3");
    factor = b_.getF32FloatAttr(rs.factor);
  }
  if (rs.kind == RopeScaling::Llama3) {
    lo = b_.getF32FloatAttr(rs.low_freq_factor);
    hi = b_.getF32FloatAttr(rs.high_freq_factor);
    orig = b_.getI64IntegerAttr(rs.original_max_positions);
  }
  auto style = b_.getStringAttr(s_.rope_style == RopeStyle::Interleaved ? "interleaved" : "half");
  return RopeOp::create(b_, loc(l), act(width), x, pos_, b_.getI64IntegerAttr(s_.head_dim),
                        style, b_.getF32FloatAttr(s_.rope_theta), kind, factor, lo, hi, orig)
      .getResult();
}

mlir::Value GraphBuilder::layer(unsigned i, mlir::Value x) {
  const std::string p = "layers." + std::to_string(i) + ".";
  const std::string L = "layers." + std::to_string(i);
  int64_t D = s_.dim, F = s_.hidden_dim, hd = s_.head_dim;
  int64_t E = int64_t(s_.n_heads) * hd, W = int64_t(s_.n_kv_heads) * hd;
  bool bias = s_.qkv_bias;

  mlir::Value h = rmsNorm(x, p + "attn_norm", L + ".attn_norm");
  // q, k and v first, then the ropes: the three linears read one input, and
  // emitted side by side the runtime runs them as one parallel region
  // (executor.c "fused linears"; with the rope of q between them the arena
  // gave k the bytes of q's pre-rope result and q ran alone).
  mlir::Value q = linear(h, p, "wq", bias ? "bq" : "", E, D, L + ".attn.q");
  mlir::Value kc = sharedK_, vc = sharedV_;
  if (i < firstShared()) {
    mlir::Value k = linear(h, p, "wk", bias ? "bk" : "", W, D, L + ".attn.k");
    mlir::Value v = linear(h, p, "wv", bias ? "bv" : "", W, D, L + ".attn.v");
    q = rope(q, E, L + ".attn.rope_q");
    k = rope(k, W, L + ".attn.rope_k");
    auto cacheTy = mlir::RankedTensorType::get({C_, W}, f32_);
    kc = KVAppendOp::create(b_, loc(L + ".attn.k_append"), cacheTy,
                            "kv.k." + std::to_string(i), pos_, k)
             .getResult();
    vc = KVAppendOp::create(b_, loc(L + ".attn.v_append"), cacheTy,
                            "kv.v." + std::to_string(i), pos_, v)
             .getResult();
    sharedK_ = kc;
    sharedV_ = vc;
  } else {
    q = rope(q, E, L + ".attn.rope_q");
  }
  mlir::Value a = AttentionOp::create(
      b_, loc(L + ".attn"), act(E), q, kc, vc, pos_,
      b_.getI64IntegerAttr(s_.n_heads), b_.getI64IntegerAttr(s_.n_kv_heads),
      b_.getI64IntegerAttr(hd), b_.getF32FloatAttr(1.0f / std::sqrt(float(hd)))).getResult();
  mlir::Value o = linear(a, p, "wo", "", D, E, L + ".attn.o");
  x = AddOp::create(b_, loc(L + ".attn.residual"), x, o).getResult();

  h = rmsNorm(x, p + "ffn_norm", L + ".ffn_norm");
  mlir::Value g = linear(h, p, "w1", "", F, D, L + ".ffn.gate");
  mlir::Value u = linear(h, p, "w3", "", F, D, L + ".ffn.up");
  mlir::Value sw = SwiGLUOp::create(b_, loc(L + ".ffn.swiglu"), g, u).getResult();
  mlir::Value d = linear(sw, p, "w2", "", D, F, L + ".ffn.down");
  return AddOp::create(b_, loc(L + ".ffn.residual"), x, d).getResult();
}

void GraphBuilder::build(mlir::ModuleOp module, llvm::StringRef name,
                         bool allRows) {
  int64_t D = s_.dim, V = s_.vocab_size;
  auto i32v = mlir::RankedTensorType::get({T_}, b_.getI32Type());
  auto logitsTy = mlir::RankedTensorType::get({allRows ? T_ : 1, V}, f32_);
  b_.setInsertionPointToEnd(module.getBody());
  auto fn = mlir::func::FuncOp::create(
      b_, loc(name.str()), name, b_.getFunctionType({i32v, i32v}, {logitsTy}));
  fn->setAttr(kGraphKindAttr, b_.getStringAttr(name));
  fn->setAttr(kMaxTokensAttr, b_.getI64IntegerAttr(T_));
  fn->setAttr(kContextAttr, b_.getI64IntegerAttr(C_));
  mlir::Block *entry = fn.addEntryBlock();
  b_.setInsertionPointToStart(entry);
  mlir::Value tokens = entry->getArgument(0);
  pos_ = entry->getArgument(1);

  mlir::Value table = weight("tok_embeddings", {V, D});
  mlir::Value x = EmbeddingOp::create(b_, loc("embedding"), act(D), table,
                                      tokens).getResult();
  for (unsigned i = 0; i < s_.n_layers; ++i)
    x = layer(i, x);
  x = rmsNorm(x, "norm", "norm");
  mlir::Value cls = weight(s_.tied_embeddings ? "tok_embeddings" : "output",
                           {V, D});
  mlir::Value logits = LogitsOp::create(b_, loc("logits"), logitsTy, x, cls,
                                        allRows).getResult();
  mlir::func::ReturnOp::create(b_, loc("return"), logits);
}

// mote.model: the spec as a dictionary, so the IR alone says what it is.
mlir::DictionaryAttr specAttr(mlir::OpBuilder &b, const ModelSpec &s) {
  auto i64 = [&](uint64_t v) { return b.getI64IntegerAttr(int64_t(v)); };
  llvm::SmallVector<mlir::NamedAttribute> a = {
      b.getNamedAttr("arch", b.getStringAttr(s.arch)),
      b.getNamedAttr("dim", i64(s.dim)),
      b.getNamedAttr("hidden_dim", i64(s.hidden_dim)),
      b.getNamedAttr("n_layers", i64(s.n_layers)),
      b.getNamedAttr("n_heads", i64(s.n_heads)),
      b.getNamedAttr("n_kv_heads", i64(s.n_kv_heads)),
      b.getNamedAttr("head_dim", i64(s.head_dim)),
      b.getNamedAttr("vocab_size", i64(s.vocab_size)),
      b.getNamedAttr("max_seq_len", i64(s.max_seq_len)),
      b.getNamedAttr("rope_theta", b.getF32FloatAttr(s.rope_theta)),
      b.getNamedAttr("norm_eps", b.getF32FloatAttr(s.norm_eps)),
      b.getNamedAttr("tied_embeddings", b.getBoolAttr(s.tied_embeddings)),
      b.getNamedAttr("rope_style",
                     b.getStringAttr(s.rope_style == RopeStyle::Interleaved
                                         ? "interleaved" : "half")),
      b.getNamedAttr("source_format", b.getStringAttr(s.source_format)),
      b.getNamedAttr("num_kv_shared_layers", i64(s.num_kv_shared_layers)),
      b.getNamedAttr("qkv_bias", b.getBoolAttr(s.qkv_bias)),
  };
  return b.getDictionaryAttr(a);
}

} // namespace

mlir::OwningOpRef<mlir::ModuleOp> buildModule(mlir::MLIRContext &ctx,
                                              const ImportedModel &model,
                                              const GraphOptions &opts) {
  const ModelSpec &s = model.spec;
  mlir::OpBuilder b(&ctx);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::NameLoc::get(b.getStringAttr("model")));
  (*module)->setAttr(kModelAttr, specAttr(b, s));
  b.setInsertionPointToEnd(module->getBody());

  // Params in the weight store's (sorted) order; the IR type is f32 because
  // that is what the graphs compute on (--weights f32).
  for (const auto &kv : model.weights.all()) {
    llvm::SmallVector<int64_t> shape(kv.second.shape.begin(), kv.second.shape.end());
    ParamOp::create(b, mlir::NameLoc::get(b.getStringAttr(kv.first)), kv.first,
                    mlir::RankedTensorType::get(shape, b.getF32Type()));
  }
  int64_t C = resolvedContext(s, opts);
  int64_t W = int64_t(s.n_kv_heads) * s.head_dim;
  auto cacheTy = mlir::RankedTensorType::get({C, W}, b.getF32Type());
  // Shared layers (the last num_kv_shared_layers) have no cache of their own.
  for (unsigned i = 0; i < s.n_layers - s.num_kv_shared_layers; ++i) {
    for (const char *kind : {"k", "v"}) {
      std::string sym = std::string("kv.") + kind + "." + std::to_string(i);
      KVCacheOp::create(b, mlir::NameLoc::get(b.getStringAttr(sym)), sym, cacheTy);
    }
  }
  int64_t T = std::min<int64_t>(opts.prefillTokens, C);
  GraphBuilder(b, s, T, C).build(*module, "prefill", /*allRows=*/false);
  GraphBuilder(b, s, 1, C).build(*module, "decode", /*allRows=*/false);
  // @score (perplexity, mote_session_score): prefill's shape, every row's
  // logits (docs/decisions.md §7). Opt-in: it adds T x vocab floats of arena.
  if (opts.scoreGraph)
    GraphBuilder(b, s, T, C).build(*module, "score", /*allRows=*/true);
  return module;
}

} // namespace mote
