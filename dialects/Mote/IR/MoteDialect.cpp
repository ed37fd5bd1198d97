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
