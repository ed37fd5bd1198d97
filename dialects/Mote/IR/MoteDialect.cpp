// The `mote` dialect: registration and checks of its discardable attributes.
#include "dialects/Mote/IR/MoteDialect.h"
#include "dialects/Mote/IR/MoteOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace mote;

#include "dialects/Mote/IR/MoteDialect.cpp.inc"

void MoteDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/Mote/IR/MoteOps.cpp.inc"
      >();
}

// `mote.quant` = {bits, group_size, f} on a rank-2 mote.param.
static LogicalResult verifyQuantAttr(Operation *op, Attribute value) {
  auto dict = dyn_cast<DictionaryAttr>(value);
  if (!dict)
    return op->emitError() << "'" << kQuantAttr << "' must be a dictionary";
  auto param = dyn_cast<ParamOp>(op);
  if (!param)
    return op->emitError() << "'" << kQuantAttr
                           << "' is only allowed on mote.param";
  auto type = dyn_cast<RankedTensorType>(param.getType());
  if (!type || type.getRank() != 2)
    return op->emitError() << "'" << kQuantAttr
                           << "': only rank-2 params can be quantized";
  auto intField = [&](StringRef name, int64_t &out) {
    auto a = dyn_cast_or_null<IntegerAttr>(dict.get(name));
    if (!a)
      return false;
    out = a.getInt();
    return true;
  };
  int64_t bits = 0, group = 0;
  if (intField("bits", bits) && bits == 16) { // IEEE half storage (--weights f16)
    if (dict.size() != 1)
      return op->emitError() << "'" << kQuantAttr
                             << "': bits 16 (f16 storage) takes no other field";
    return success();
  }
  if (!intField("bits", bits) || (bits != 2 && bits != 4 && bits != 8))
    return op->emitError() << "'" << kQuantAttr
                           << "': bits must be 2, 4, 8 or 16";
  if (!intField("group_size", group) ||
      (group != 0 && group != 32 && group != 64 && group != 128))
    return op->emitError() << "'" << kQuantAttr
                           << "': group_size must be 32, 64, 128 or 0 (whole row)";
  auto f = dyn_cast_or_null<StringAttr>(dict.get("f"));
  if (!f || (f.getValue() != "maxabs" && f.getValue() != "search"))
    return op->emitError() << "'" << kQuantAttr
                           << "': f must be \"maxabs\" or \"search\"";
  for (NamedAttribute field : dict)
    if (field.getName() != "bits" && field.getName() != "group_size" &&
        field.getName() != "f")
      return op->emitError() << "'" << kQuantAttr << "': unknown field '"
                             << field.getName().strref() << "'";
  return success();
}

// Passes and the bundle writer read these attributes; a wrong kind here would
// only surface much later as a confusing cast failure, so reject it early.
static LogicalResult verifyMoteAttr(Operation *op, NamedAttribute attr) {
  StringRef name = attr.getName().strref();
  Attribute value = attr.getValue();
  auto isI64 = [&] {
    auto i = dyn_cast<IntegerAttr>(value);
    return i && i.getType().isInteger(64);
  };
  if (name == kOffsetAttr || name == kArenaSizeAttr || name == kMaxTokensAttr ||
      name == kContextAttr) {
    if (!isI64() || cast<IntegerAttr>(value).getInt() < 0)
      return op->emitError() << "'" << name
                             << "' must be a non-negative i64 integer";
    return success();
  }
  if (name == kKernelAttr || name == kTargetAttr || name == kGraphKindAttr) {
    if (!isa<StringAttr>(value))
      return op->emitError() << "'" << name << "' must be a string";
    return success();
  }
  if (name == kQuantAttr)
    return verifyQuantAttr(op, value);
  if (name == kBucketAttr) {
    if (!isa<UnitAttr>(value))
      return op->emitError() << "'" << name << "' must be a unit attribute";
    return success();
  }
  if (name == kModelAttr) {
    if (!isa<DictionaryAttr>(value))
      return op->emitError() << "'" << name << "' must be a dictionary";
    return success();
  }
  return op->emitError() << "unknown mote attribute '" << name << "'";
}

LogicalResult MoteDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  return verifyMoteAttr(op, attr);
}

LogicalResult MoteDialect::verifyRegionArgAttribute(Operation *op,
                                                    unsigned regionIndex,
                                                    unsigned argIndex,
                                                    NamedAttribute attr) {
  if (attr.getName().strref() != kOffsetAttr)
    return op->emitError() << "'" << attr.getName().strref()
                           << "' is not a mote argument attribute";
  return verifyMoteAttr(op, attr);
}
