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
// Weights
//===----------------------------------------------------------------------===//

def MoteQuantizePass : Pass<"mote-quantize", "mlir::ModuleOp"> {
  let summary = "Choose each weight's stored width (2/4/8-bit or f32)";
  let description = [{
    Marks rank-2 params with the discardable attribute
    `mote.quant = {bits, group_size, f}`; the bundle writer stores them
    packed (docs/quantization.md) and `mote-lower-cpu` picks the quantized
    kernels. Default policy: every linear weight at `policy` bits, the
    embedding table and the classifier (tied or not) at `embed` bits (4,
    as Apple's on-device model), norms and biases stay f32. `policy-file`
    overrides single params: `{"layers.0.wq": "w8", "norm": "f32"}`; a name
    that is no param, or a width an op cannot take (a rank-1 norm weight)
    is rejected naming the file and the field.

    Before: `mote.param @layers.0.wq : tensor<64x64xf32>`
    After:
    `mote.param @layers.0.wq {mote.quant = {bits = 2 : i64, f = "maxabs", group_size = 32 : i64}} : tensor<64x64xf32>`
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"w4\"",
           "Width of linear weights: w2, w4, w8 or f32">,
    Option<"group", "group", "int64_t", /*default=*/"32",
           "Input weights per scale: 32, 64, 128 or 0 (whole row)">,
    Option<"f", "f", "std::string", /*default=*/"\"maxabs\"",
           "Clipping factor: maxabs (f = 1) or search (per group, min squared error)">,
    Option<"embed", "embed", "int64_t", /*default=*/"4",
           "Bits of the embedding table and classifier: 2, 4, 8 or 0 (f32)">,
    Option<"policyFile", "policy-file", "std::string", /*default=*/"\"\"",
           "JSON file of per-param widths overriding the policy">
  ];
}

//===----------------------------------------------------------------------===//
// KV sharing
//===----------------------------------------------------------------------===//

def MoteKVSharePass : Pass<"mote-kv-share", "mlir::ModuleOp"> {
  let summary = "Block-2 layers attend over the last block-1 layer's KV cache";
  let description = [{
    Apple's 2025 on-device split: the layers (each `mote.attention` of a
    graph, in program order, is one layer) form block 1 and block 2; every
    block-2 layer's attention reads the `mote.kv_append` results of the last
    block-1 layer. The block-2 layers' own K/V linears, K ropes and
    kv_appends are erased, and so are the `mote.kv_cache` and `mote.param`
    symbols nothing references any more. `split=A:B` puts
    round(L * A / (A + B)) layers in block 1; `boundary=N` makes layer N the
    first shared one. Rejected: both options or neither, a block left empty,
    a shared layer whose heads, head_dim or KV width differ from the source
    layer's. On a model trained without sharing this changes the model.

    Before (layer 1): `%kc1 = mote.kv_append @kv.k.1[%pos] = %k1 ...`,
    `mote.attention %q1, %kc1, %vc1, %pos`.
    After: `mote.attention %q1, %kc0, %vc0, %pos`; no `@kv.k.1`, no `@layers.1.wk`.
  }];
  let options = [
    Option<"split", "split", "std::string", /*default=*/"\"\"",
           "Block 1 : block 2 layer ratio, e.g. 5:3 (rounded)">,
    Option<"boundary", "boundary", "int64_t", /*default=*/"-1",
           "Index of the first shared layer">
  ];
}

def MotePruneSharedPrefillPass
    : Pass<"mote-prune-shared-prefill", "mlir::ModuleOp"> {
  let summary = "Run KV-shared (block-2) layers of prefill on the last row only";
  let description = [{
    In a graph with `mote.max_tokens` > 1 whose `mote.logits` has
    `all_rows = false`, the layers that read an earlier layer's KV cache
    (block 2 of mote-kv-share, or a natively KV-shared model) write no KV,
    so their rows other than the last active one feed nothing. Inserts
    `mote.last_row` on the residual stream entering the first shared layer
    and on the positions; every op from there to the logits gets leading
    dim 1. Decode (T = 1), the score graph (`all_rows = true`) and graphs
    without shared layers are left alone.
  }];
}

//===----------------------------------------------------------------------===//
// KV cache element type
//===----------------------------------------------------------------------===//

def MoteKVDtypePass : Pass<"mote-kv-dtype", "mlir::ModuleOp"> {
  let summary = "Set the element type of every KV cache (f32 or the 8-bit q8)";
  let description = [{
    `dtype=q8` retypes every `mote.kv_cache` to i8 and every `mote.kv_append`
    result to its cache's type, so the attentions reading them take i8
    caches. The CPU target stores int8 codes with one f32 scale per cache row
    and KV head (symmetric, round to nearest even, scale = max|x|/127) and
    quantizes each row as `kv_append` writes it (docs/quantization.md).
    `dtype=f32` makes them f32 again. Rejected: any other dtype, and a cache
    value read by an op other than `mote.attention`.

    Before: `mote.kv_cache @kv.k.0 : tensor<512x32xf32>`,
    `%kc = mote.kv_append @kv.k.0[%pos] = %k : ... -> tensor<512x32xf32>`.
    After: `mote.kv_cache @kv.k.0 : tensor<512x32xi8>`, `... -> tensor<512x32xi8>`.
  }];
  let options = [
    Option<"dtype", "dtype", "std::string", /*default=*/"\"q8\"",
           "KV cache element type: f32 or q8 (int8 codes + row/head scales)">
  ];
}

//===----------------------------------------------------------------------===//
// LoRA adapters
//===----------------------------------------------------------------------===//

def MoteLoraFusePass : Pass<"mote-lora-fuse", "mlir::ModuleOp"> {
  let summary = "Give the targeted linears run-time LoRA adapter sites";
  let description = [{
    Every `mote.linear` whose weight is `@layers.<i>.<w>` for a targeted
    module (q = wq, k = wk, v = wv, o = wo, gate = w1, up = w3, down = w2)
    becomes `mote.lora_linear ... site @lora.layers.<i>.<w>`, and one
    `mote.lora_site` per weight records its K, N and `max-rank`. The
    adapter (A, B, scale, rank r <= max-rank) is a run-time input bound per
    session, so one compiled base serves every adapter (docs/lora.md).
    Rejected: max-rank outside 1..256, an unknown target name, and a target
    that matches no linear of the module.

    Before: `%q = mote.linear %h, %wq : ...`
    After: `%q = mote.lora_linear %h, %wq site @lora.layers.0.wq : ...` and
    `mote.lora_site @lora.layers.0.wq {in_features = 64 : i64, max_rank = 32 : i64, out_features = 64 : i64}`
  }];
  let options = [
    Option<"maxRank", "max-rank", "int64_t", /*default=*/"32",
           "Largest adapter rank the sites accept (1..256)">,
    Option<"targets", "targets", "std::string",
           /*default=*/"\"q,k,v,o,gate,up,down\"",
           "Comma-separated modules: q, k, v, o, gate, up, down">
  ];
}

//===----------------------------------------------------------------------===//
// Static shapes
//===----------------------------------------------------------------------===//

def MoteBucketizePass : Pass<"mote-bucketize", "mlir::ModuleOp"> {
  let summary = "Clone graphs into static-shape (token, context) bucket variants";
  let description = [{
    For an NPU that runs only static graphs (docs/buckets.md). Every
    `prefill` graph is cloned once per token bucket T and context bucket C
    into `@prefill_t<T>_c<C>`, every `decode` graph (T = 1) once per C into
    `@decode_c<C>`; the clones carry `mote.bucket`, `mote.max_tokens = T`
    and `mote.context = C`, every activation gets T rows (one-row values
    after `mote.last_row` and last-row logits keep 1) and every
    `mote.kv_append` result C rows: a prefix view of the one cache symbol,
    so a session upgrades to a larger C without copying. The original
    graphs stay (the CPU can run them with any active row count). Each
    clone gets its own arena from `mote-plan-memory`. Rejected: an empty
    list, a zero, an unsorted or repeated bucket, a context bucket above
    the graph's `mote.context`, a token bucket above the smallest context
    bucket, a bucket graph name already taken.

    Before: `func.func @prefill(%tok: tensor<64xi32>, ...)` with context 1024.
    After (prefill=8 context=256), in addition:
    `func.func @prefill_t8_c256(%tok: tensor<8xi32>, ...) attributes {mote.bucket, mote.max_tokens = 8, mote.context = 256, ...}`
  }];
  let options = [
    ListOption<"prefill", "prefill", "int64_t",
               "Token buckets T of the prefill clones, increasing">,
    ListOption<"context", "context", "int64_t",
               "Context buckets C (KV rows a clone addresses), increasing">
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
