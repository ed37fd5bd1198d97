//===- MotePasses.td - passes over the mote dialect -------*- tablegen -*-===//
// Flags are `mote-<verb>[-<noun>]`; each pass has one .cpp in passes/ and one
// page in docs/passes/.
#ifndef MOTE_PASSES_TD
#define MOTE_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Checks
//===----------------------------------------------------------------------===//

def MoteVerifyPass : Pass<"mote-verify", "mlir::ModuleOp"> {
  let summary = "Check graph-level invariants that single ops cannot see";
  let description = [{
    Op verifiers see one op; the runtime needs whole graphs it can trust.
    For every `func.func` carrying `mote.graph_kind` this pass checks that:
    `mote.max_tokens` (T) and `mote.context` (C) are positive i64; the
    arguments are exactly `(tensor<Txi32> tokens, tensor<Txi32> positions)`;
    the function returns one value, produced by `mote.logits`; every
    `mote.kv_cache` the graph appends to has at least C rows; and every
    activation has T rows (a `mote.logits` with `all_rows = false` has 1).
    The IR is not changed.

    ```mlir
    // Rejected: the result has 4 rows but mote.max_tokens = 8.
    %x = mote.embedding %t[%tok] : tensor<512x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

def MotePlanMemoryPass : Pass<"mote-plan-memory", "mlir::ModuleOp"> {
  let summary = "Give every activation a static offset in one arena per graph";
  let description = [{
    The runtime allocates nothing per token: each function gets one arena and
    every activation (function arguments and the results of all ops except
    `mote.weight` and `mote.kv_append`) a fixed, 64-byte aligned byte offset
    in it. Values whose live ranges overlap never share bytes; with
    `strategy=greedy` dead values' bytes are reused (largest value first,
    best-fitting gap, as TFLite's arena planner does). `strategy=naive` gives
    every value its own bytes (for debugging).

    Before:
    ```mlir
    func.func @g(%tok: tensor<1xi32>, %pos: tensor<1xi32>) -> tensor<1x8xf32> {
      %x = mote.embedding %t[%tok] : ...
    ```
    After:
    ```mlir
    func.func @g(%tok: tensor<1xi32> {mote.offset = 0 : i64},
                 %pos: tensor<1xi32> {mote.offset = 64 : i64}) -> tensor<1x8xf32>
        attributes {mote.arena_size = 192 : i64} {
      %x = mote.embedding %t[%tok] {mote.offset = 128 : i64} : ...
    ```
  }];
  let options = [
    Option<"strategy", "strategy", "std::string", /*default=*/"\"greedy\"",
           "Offset assignment: 'greedy' (reuse dead bytes) or 'naive' (no reuse)">
  ];
}

//===----------------------------------------------------------------------===//
// Targets
//===----------------------------------------------------------------------===//

def MoteLowerCpuPass : Pass<"mote-lower-cpu", "mlir::ModuleOp"> {
  let summary = "Pick the runtime's CPU kernel for every compute op";
  let description = [{
    The CPU target is a schedule of calls into the runtime's kernels
    (runtime/kernels/kernels.h). This pass names the kernel of each compute
    op in `mote.kernel` and marks the function `mote.target = "cpu"`. It
    rejects ops it has no kernel for (today: any non-f32 weight or cache)
    and functions that `mote-plan-memory` has not planned, because the
    bundle writer needs both offsets and kernels.

    Before: `%y = mote.linear %x, %w {mote.offset = 0 : i64} : ...`
    After: `%y = mote.linear %x, %w {mote.kernel = "linear_f32", mote.offset = 0 : i64} : ...`
  }];
}

#endif // MOTE_PASSES_TD
