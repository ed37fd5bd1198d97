// The `mote` ops (generated from MoteOps.td; verifiers in MoteOps.cpp).
#ifndef MOTE_DIALECT_MOTE_IR_MOTEOPS_H
#define MOTE_DIALECT_MOTE_IR_MOTEOPS_H

#include "dialects/Mote/IR/MoteDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialects/Mote/IR/MoteOps.h.inc"

#endif // MOTE_DIALECT_MOTE_IR_MOTEOPS_H
