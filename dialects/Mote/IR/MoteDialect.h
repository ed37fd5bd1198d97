// The `mote` dialect class (generated from MoteDialect.td).
#ifndef MOTE_DIALECT_MOTE_IR_MOTEDIALECT_H
#define MOTE_DIALECT_MOTE_IR_MOTEDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/Mote/IR/MoteDialect.h.inc"

namespace mote {
// Discardable attributes that passes write (see docs/dialect.md).
inline constexpr const char kOffsetAttr[] = "mote.offset";
inline constexpr const char kArenaSizeAttr[] = "mote.arena_size";
inline constexpr const char kKernelAttr[] = "mote.kernel";
inline constexpr const char kTargetAttr[] = "mote.target";
inline constexpr const char kGraphKindAttr[] = "mote.graph_kind";
inline constexpr const char kMaxTokensAttr[] = "mote.max_tokens";
inline constexpr const char kContextAttr[] = "mote.context";
// Unit: a static-shape clone made by mote-bucketize (docs/buckets.md).
inline constexpr const char kBucketAttr[] = "mote.bucket";
inline constexpr const char kModelAttr[] = "mote.model";
// On a rank-2 `mote.param`: store it quantized (docs/quantization.md),
// {bits = 2|4|8, group_size = 0|32|64|128, f = "maxabs"|"search"}.
inline constexpr const char kQuantAttr[] = "mote.quant";
// LoRA (docs/lora.md): the largest adapter rank a mote.lora_site may
// declare (mote-lora-fuse max-rank, the runtime's bound too).
inline constexpr int64_t kLoraRankLimit = 256;
} // namespace mote

#endif // MOTE_DIALECT_MOTE_IR_MOTEDIALECT_H
