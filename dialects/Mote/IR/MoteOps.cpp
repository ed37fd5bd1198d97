// Verifiers of the `mote` ops: one clear message per rule of docs/dialect.md.
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mote;

#define GET_OP_CLASSES
#include "dialects/Mote/IR/MoteOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared checks
//===----------------------------------------------------------------------===//

static RankedTensorType tensorOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

// Checks that `v` has rank `rank`; names it `what` in the message.
static LogicalResult checkRank(Operation *op, Value v, StringRef what,
                               int64_t rank) {
  if (tensorOf(v).getRank() != rank)
    return op->emitOpError() << what << " must have rank " << rank << ", got "
                             << v.getType();
  return success();
}

// Activations (what the arena holds) are f32 tensors of rank 2 today.
static LogicalResult checkActivation(Operation *op, Value v, StringRef what) {
  if (failed(checkRank(op, v, what, 2)))
    return failure();
  if (!tensorOf(v).getElementType().isF32())
    return op->emitOpError() << what << " must have element type f32, got "
                             << v.getType();
  return success();
}

// Token ids and positions: rank 1, i32, `length` rows (when length >= 0).
static LogicalResult checkIndexVector(Operation *op, Value v, StringRef what,
                                      int64_t length) {
  RankedTensorType t = tensorOf(v);
  if (t.getRank() != 1 || !t.getElementType().isSignlessInteger(32))
    return op->emitOpError() << what << " must be a rank-1 i32 tensor, got "
                             << v.getType();
  if (length >= 0 && t.getDimSize(0) != length)
    return op->emitOpError() << what << " must have " << length
                             << " rows (one per token), got "
                             << t.getDimSize(0);
  return success();
}

static LogicalResult checkPositive(Operation *op, StringRef what, double v) {
  if (!(v > 0.0))
    return op->emitOpError() << what << " must be > 0, got " << v;
  return success();
}

static LogicalResult checkStaticType(Operation *op, Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  if (!t || !t.hasStaticShape())
    return op->emitOpError() << "type must be a statically shaped tensor, got "
                             << type;
  return success();
}

//===----------------------------------------------------------------------===//
// Symbols
//===----------------------------------------------------------------------===//

// Shared by linear and logits: x (T, K) times a weight (N, K), with an
// activation result.
static LogicalResult checkMatmulOperands(Operation *op, Value x, Value weight,
                                         Value result) {
  if (failed(checkActivation(op, x, "x")) ||
      failed(checkRank(op, weight, "weight", 2)) ||
      failed(checkActivation(op, result, "result")))
    return failure();
  int64_t k = tensorOf(x).getDimSize(1);
  if (tensorOf(weight).getDimSize(1) != k)
    return op->emitOpError() << "weight must have " << k
                             << " columns (the columns of x), got "
                             << weight.getType();
  return success();
}

LogicalResult ParamOp::verify() {
  if (failed(checkStaticType(*this, getType())))
    return failure();
  Type elt = cast<RankedTensorType>(getType()).getElementType();
  if (!elt.isF32() && !elt.isF16() && !elt.isBF16())
    return emitOpError() << "element type must be f32, f16 or bf16, got "
                         << elt;
  return success();
}

LogicalResult KVCacheOp::verify() {
  if (failed(checkStaticType(*this, getType())))
    return failure();
  auto t = cast<RankedTensorType>(getType());
  if (t.getRank() != 2)
    return emitOpError() << "type must have rank 2 (context x width), got "
                         << getType();
  // i8: the 8-bit KV cache (motec --kv-dtype q8, docs/quantization.md): int8
  // codes, one f32 scale per (row, KV head) kept beside them by the target.
  if (!t.getElementType().isF32() && !t.getElementType().isSignlessInteger(8))
    return emitOpError() << "element type must be f32 or i8 (8-bit KV cache), got "
                         << t.getElementType();
  return success();
}

LogicalResult WeightOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto param = symbols.lookupNearestSymbolFrom<ParamOp>(*this, getParamAttr());
  if (!param)
    return emitOpError() << "'" << getParam()
                         << "' does not name a mote.param";
  if (param.getType() != getResult().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " does not match the type " << param.getType()
                         << " of mote.param @" << getParam();
  return success();
}

LogicalResult KVAppendOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto cache =
      symbols.lookupNearestSymbolFrom<KVCacheOp>(*this, getCacheAttr());
  if (!cache)
    return emitOpError() << "'" << getCache()
                         << "' does not name a mote.kv_cache";
  // A graph may address a prefix of the cache's rows (mote-bucketize's
  // context buckets, docs/buckets.md): same width and element type, at
  // most the cache's rows.
  auto ct = dyn_cast<RankedTensorType>(cache.getType());
  auto rt = dyn_cast<RankedTensorType>(getResult().getType());
  bool prefix = ct && rt && ct.getRank() == 2 && rt.getRank() == 2 &&
                ct.getElementType() == rt.getElementType() &&
                ct.getDimSize(1) == rt.getDimSize(1) &&
                rt.getDimSize(0) >= 1 && rt.getDimSize(0) <= ct.getDimSize(0);
  if (cache.getType() != getResult().getType() && !prefix)
    return emitOpError() << "result type " << getResult().getType()
                         << " does not match the type " << cache.getType()
                         << " of mote.kv_cache @" << getCache()
                         << " (nor is it a prefix of its rows)";
  return success();
}

//===----------------------------------------------------------------------===//
// Graph ops
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (failed(checkRank(*this, getTable(), "table", 2)) ||
      failed(checkIndexVector(*this, getTokens(), "tokens", -1)) ||
      failed(checkActivation(*this, getResult(), "result")))
    return failure();
  int64_t t = tensorOf(getTokens()).getDimSize(0);
  int64_t d = tensorOf(getTable()).getDimSize(1);
  ArrayRef<int64_t> r = tensorOf(getResult()).getShape();
  if (r[0] != t || r[1] != d)
    return emitOpError() << "result shape must be (tokens=" << t
                         << ", table columns=" << d << "), got "
                         << getResult().getType();
  return success();
}

LogicalResult RMSNormOp::verify() {
  if (failed(checkActivation(*this, getX(), "x")) ||
      failed(checkRank(*this, getWeight(), "weight", 1)))
    return failure();
  int64_t d = tensorOf(getX()).getDimSize(1);
  if (tensorOf(getWeight()).getDimSize(0) != d)
    return emitOpError() << "weight length must equal the " << d
                         << " columns of x, got " << getWeight().getType();
  if (failed(checkPositive(*this, "eps", getEps().convertToDouble())))
    return failure();
  if (getResult().getType() != getX().getType())
    return emitOpError() << "result type must equal the type of x";
  return success();
}

// mote.linear and mote.lora_linear's base: x (T, K) . weight (N, K)^T
// (+ bias (N)) -> (T, N).
template <typename LinearLike>
static LogicalResult verifyLinearLike(LinearLike op) {
  if (failed(checkMatmulOperands(op, op.getX(), op.getWeight(), op.getResult())))
    return failure();
  ArrayRef<int64_t> x = tensorOf(op.getX()).getShape();
  ArrayRef<int64_t> w = tensorOf(op.getWeight()).getShape();
  if (Value bias = op.getBias()) {
    RankedTensorType b = tensorOf(bias);
    if (b.getRank() != 1 || b.getDimSize(0) != w[0])
      return op.emitOpError() << "bias must be a rank-1 tensor of length " << w[0]
                              << " (the rows of weight), got " << bias.getType();
  }
  ArrayRef<int64_t> r = tensorOf(op.getResult()).getShape();
  if (r[0] != x[0] || r[1] != w[0])
    return op.emitOpError() << "result shape must be (" << x[0] << ", " << w[0]
                            << "), got " << op.getResult().getType();
  return success();
}

LogicalResult LinearOp::verify() { return verifyLinearLike(*this); }

// LoRA (docs/lora.md): the base is exactly mote.linear; the site names
// the run-time adapter slot, whose K and N must be the linear's.
LogicalResult LoraLinearOp::verify() { return verifyLinearLike(*this); }

LogicalResult LoraLinearOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto site = symbols.lookupNearestSymbolFrom<LoraSiteOp>(*this, getSiteAttr());
  if (!site)
    return emitOpError() << "'" << getSite() << "' does not name a mote.lora_site";
  ArrayRef<int64_t> w = tensorOf(getWeight()).getShape();
  if (site.getInFeatures() != w[1] || site.getOutFeatures() != w[0])
    return emitOpError() << "site @" << getSite() << " is " << site.getOutFeatures()
                         << "x" << site.getInFeatures() << " but the weight is "
                         << w[0] << "x" << w[1];
  return success();
}

LogicalResult LoraSiteOp::verify() {
  if (getInFeatures() <= 0 || getOutFeatures() <= 0)
    return emitOpError() << "in_features and out_features must be positive";
  if (getMaxRank() < 1 || getMaxRank() > kLoraRankLimit)
    return emitOpError() << "max_rank " << getMaxRank() << " must be in 1.."
                         << kLoraRankLimit;
  return success();
}

// `scaling` (linear | llama3) and the attributes each one takes, nothing else.
static LogicalResult verifyRopeScaling(RopeOp op) {
  std::optional<StringRef> kind = op.getScaling();
  bool anyParam = op.getFactor() || op.getLowFreqFactor() || op.getHighFreqFactor() ||
                  op.getOriginalMaxPositions();
  if (!kind) {
    if (anyParam)
      return op.emitOpError() << "scaling parameters need a 'scaling' kind";
    return success();
  }
  if (*kind != "linear" && *kind != "llama3")
    return op.emitOpError() << "scaling must be \"linear\" or \"llama3\", got \"" << *kind
                            << "\"";
  std::optional<APFloat> f = op.getFactor();
  if (!f || !(f->convertToDouble() >= 1.0) || !(f->convertToDouble() < 1e6))
    return op.emitOpError() << "scaling \"" << *kind << "\" needs a factor in [1, 1e6)";
  if (*kind == "linear") {
    if (op.getLowFreqFactor() || op.getHighFreqFactor() || op.getOriginalMaxPositions())
      return op.emitOpError() << "scaling \"linear\" takes only a factor";
    return success();
  }
  std::optional<APFloat> lo = op.getLowFreqFactor(), hi = op.getHighFreqFactor();
  std::optional<uint64_t> orig = op.getOriginalMaxPositions();
  if (!lo || !hi || !orig)
    return op.emitOpError() << "scaling \"llama3\" needs low_freq_factor, high_freq_factor "
                               "and original_max_positions";
  double l = lo->convertToDouble(), h = hi->convertToDouble();
  if (!(l > 0) || !(h > l) || !(h < 1e6) || *orig == 0 || *orig > (1u << 24))
    return op.emitOpError() << "scaling \"llama3\" needs 0 < low_freq_factor < "
                               "high_freq_factor < 1e6 and original_max_positions in 1..2^24";
  return success();
}

LogicalResult RopeOp::verify() {
  if (failed(checkActivation(*this, getX(), "x")))
    return failure();
  ArrayRef<int64_t> x = tensorOf(getX()).getShape();
  if (failed(checkIndexVector(*this, getPositions(), "positions", x[0])))
    return failure();
  int64_t hd = getHeadDim();
  if (hd <= 0 || hd % 2 != 0 || x[1] % hd != 0)
    return emitOpError() << "head_dim must be positive, even and divide the "
                         << x[1] << " columns of x, got " << hd;
  if (getStyle() != "interleaved" && getStyle() != "half")
    return emitOpError() << "style must be \"interleaved\" or \"half\", got \""
                         << getStyle() << "\"";
  if (failed(checkPositive(*this, "theta", getTheta().convertToDouble())))
    return failure();
  if (getResult().getType() != getX().getType())
    return emitOpError() << "result type must equal the type of x";
  return verifyRopeScaling(*this);
}

LogicalResult KVAppendOp::verify() {
  if (failed(checkActivation(*this, getSrc(), "src")))
    return failure();
  ArrayRef<int64_t> s = tensorOf(getSrc()).getShape();
  if (failed(checkIndexVector(*this, getPositions(), "positions", s[0])) ||
      failed(checkRank(*this, getResult(), "result (the cache)", 2)))
    return failure();
  if (tensorOf(getResult()).getDimSize(1) != s[1])
    return emitOpError() << "src must have as many columns as the cache ("
                         << tensorOf(getResult()).getDimSize(1) << "), got "
                         << getSrc().getType();
  return success();
}

LogicalResult AttentionOp::verify() {
  if (failed(checkActivation(*this, getQ(), "q")) ||
      failed(checkRank(*this, getKCache(), "k_cache", 2)))
    return failure();
  ArrayRef<int64_t> q = tensorOf(getQ()).getShape();
  if (failed(checkIndexVector(*this, getPositions(), "positions", q[0])))
    return failure();
  if (getKCache().getType() != getVCache().getType())
    return emitOpError() << "k_cache and v_cache must have the same type, got "
                         << getKCache().getType() << " and "
                         << getVCache().getType();
  int64_t nh = getNumHeads(), nkv = getNumKvHeads(), hd = getHeadDim();
  if (nh <= 0 || nkv <= 0 || hd <= 0)
    return emitOpError() << "num_heads, num_kv_heads and head_dim must be > 0";
  if (nh % nkv != 0)
    return emitOpError() << "num_heads (" << nh
                         << ") must be a multiple of num_kv_heads (" << nkv
                         << ")";
  if (q[1] != nh * hd)
    return emitOpError() << "q must have num_heads*head_dim = " << nh * hd
                         << " columns, got " << q[1];
  int64_t w = tensorOf(getKCache()).getDimSize(1);
  if (w != nkv * hd)
    return emitOpError() << "caches must have num_kv_heads*head_dim = "
                         << nkv * hd << " columns, got " << w;
  if (failed(checkPositive(*this, "scale", getScale().convertToDouble())))
    return failure();
  if (getResult().getType() != getQ().getType())
    return emitOpError() << "result type must equal the type of q";
  return success();
}

LogicalResult SwiGLUOp::verify() {
  return checkActivation(*this, getResult(), "result");
}

LogicalResult AddOp::verify() {
  return checkActivation(*this, getResult(), "result");
}

LogicalResult LogitsOp::verify() {
  if (failed(checkMatmulOperands(*this, getX(), getWeight(), getResult())))
    return failure();
  ArrayRef<int64_t> x = tensorOf(getX()).getShape();
  ArrayRef<int64_t> w = tensorOf(getWeight()).getShape();
  int64_t rows = getAllRows() ? x[0] : 1;
  ArrayRef<int64_t> r = tensorOf(getResult()).getShape();
  if (r[0] != rows || r[1] != w[0])
    return emitOpError() << "result shape must be (" << rows << ", " << w[0]
                         << ") with all_rows = "
                         << (getAllRows() ? "true" : "false") << ", got "
                         << getResult().getType();
  return success();
}

LogicalResult LastRowOp::verify() {
  RankedTensorType x = tensorOf(getX()), r = tensorOf(getResult());
  Type elt = x.getElementType();
  bool act = x.getRank() == 2 && elt.isF32();
  bool pos = x.getRank() == 1 && elt.isSignlessInteger(32);
  if (!act && !pos)
    return emitOpError() << "x must be a rank-2 f32 activation or rank-1 i32 "
                            "positions, got "
                         << getX().getType();
  SmallVector<int64_t> shape(x.getShape());
  shape[0] = 1;
  if (r.getShape() != ArrayRef<int64_t>(shape) || r.getElementType() != elt)
    return emitOpError() << "result must be x's type with one row ("
                         << RankedTensorType::get(shape, elt) << "), got "
                         << getResult().getType();
  return success();
}
