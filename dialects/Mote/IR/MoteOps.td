//===- MoteOps.td - mote dialect operations ---------------*- tablegen -*-===//
// Every op: summary, an IR example, traits, assemblyFormat and a C++ verifier
// (MoteOps.cpp) whose messages name the rule that failed.
#ifndef MOTE_OPS_TD
#define MOTE_OPS_TD

include "MoteDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Shapes are static everywhere; ranks and element types are checked by the
// verifiers so that the messages say which rule of docs/dialect.md failed.
defvar Mote_Tensor = AnyStaticShapeTensor;

//===----------------------------------------------------------------------===//
// Module-level symbols
//===----------------------------------------------------------------------===//

def Mote_ParamOp : Mote_Op<"param", [Symbol]> {
  let summary = "a weight of the external weight store";
  let description = [{
    Declares a weight by name and type. The data lives in the weight store
    (and later the bundle), never in the IR. Element type f32, f16 or bf16;
    the shape is static.

    ```mlir
    mote.param @layers.0.attn.wq : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type);
  let assemblyFormat = "$sym_name attr-dict `:` $type";
  let hasVerifier = 1;
}

def Mote_KVCacheOp : Mote_Op<"kv_cache", [Symbol]> {
  let summary = "persistent KV-cache state of one layer (K or V)";
  let description = [{
    Declares a cache of `C` rows (context) by `W` columns
    (`n_kv_heads * head_dim`), f32. The runtime owns the storage; graphs
    write it with `mote.kv_append`.

    ```mlir
    mote.kv_cache @kv.k.0 : tensor<512x32xf32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type);
  let assemblyFormat = "$sym_name attr-dict `:` $type";
  let hasVerifier = 1;
}

def Mote_LoraSiteOp : Mote_Op<"lora_site", [Symbol]> {
  let summary = "a LoRA adapter site: run-time A (r x K), B (N x r) and scale";
  let description = [{
    Declares where an adapter may attach (docs/lora.md): a linear of
    `in_features` K inputs and `out_features` N outputs whose adapter has a
    rank r <= `max_rank`, chosen at run time. The adapter's A, B and scale
    are bound per session; no data lives in the IR or the bundle.
    Written by `mote-lora-fuse`.

    ```mlir
    mote.lora_site @lora.layers.0.wq {in_features = 64 : i64, max_rank = 32 : i64, out_features = 64 : i64}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, I64Attr:$in_features,
                       I64Attr:$out_features, I64Attr:$max_rank);
  let assemblyFormat = "$sym_name attr-dict";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Ops inside graphs
//===----------------------------------------------------------------------===//

def Mote_WeightOp : Mote_Op<"weight",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "the value of a `mote.param`";
  let description = [{
    Reads the weight named by `param`; the result type is the param's type.

    ```mlir
    %w = mote.weight @layers.0.attn.wq : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = "$param attr-dict `:` type($result)";
}

def Mote_EmbeddingOp : Mote_Op<"embedding", [Pure]> {
  let summary = "row lookup: result[t] = table[tokens[t]]";
  let description = [{
    ```mlir
    %x = mote.embedding %table[%tokens] : tensor<512x64xf32>, tensor<8xi32> -> tensor<8x64xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$table, Mote_Tensor:$tokens);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = [{
    $table `[` $tokens `]` attr-dict `:` type($table) `,` type($tokens)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mote_RMSNormOp : Mote_Op<"rms_norm", [Pure]> {
  let summary = "RMSNorm over the last dimension, scaled by a weight";
  let description = [{
    `y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w`.

    ```mlir
    %y = mote.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<8x64xf32>, tensor<64xf32> -> tensor<8x64xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$x, Mote_Tensor:$weight, F32Attr:$eps);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = [{
    $x `,` $weight attr-dict `:` type($x) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mote_LinearOp : Mote_Op<"linear", [Pure]> {
  let summary = "y = x * transpose(w) (+ bias)";
  let description = [{
    `x` is (T, K), `w` is (N, K) (PyTorch's layout), the optional bias is (N).

    ```mlir
    %y = mote.linear %x, %w : tensor<8x64xf32>, tensor<32x64xf32> -> tensor<8x32xf32>
    %z = mote.linear %x, %w bias %b : tensor<8x64xf32>, tensor<32x64xf32>, tensor<32xf32> -> tensor<8x32xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$x, Mote_Tensor:$weight,
                       Optional<Mote_Tensor>:$bias);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = [{
    $x `,` $weight (`bias` $bias^)? attr-dict `:` type($x) `,` type($weight)
    (`,` type($bias)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mote_LoraLinearOp : Mote_Op<"lora_linear",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "y = x * transpose(w) (+ bias) + s * (x * A^T) * B^T, A/B/s bound at run time";
  let description = [{
    `mote.linear` with a LoRA adapter site (`mote.lora_site`): the base part
    is exactly the linear; when a session binds an adapter with an entry for
    `site`, its rank-r A (r, K), B (N, r) and scale s add s * B (A x) per
    row. With no adapter bound the result is the linear's.

    ```mlir
    %y = mote.lora_linear %x, %w site @lora.layers.0.wq : tensor<8x64xf32>, tensor<64x64xf32> -> tensor<8x64xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$x, Mote_Tensor:$weight,
                       Optional<Mote_Tensor>:$bias, FlatSymbolRefAttr:$site);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = [{
    $x `,` $weight (`bias` $bias^)? `site` $site attr-dict `:` type($x) `,`
    type($weight) (`,` type($bias)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mote_RopeOp : Mote_Op<"rope", [Pure]> {
  let summary = "rotary position embedding, per head";
  let description = [{
    Rotates each `head_dim` slice of row `t` by angles `positions[t] *
    freq_i`, freq_i = theta^(-2i/head_dim). `style` is `"interleaved"` (pairs
    (2i, 2i+1), llama2.c) or `"half"` (pairs (i, i + head_dim/2), Hugging
    Face). Optional `scaling` rescales the frequencies as Hugging Face's
    `rope_scaling` does: `"linear"` divides every freq_i by `factor`;
    `"llama3"` keeps the high frequencies (wavelength below
    `original_max_positions / high_freq_factor`), divides the low ones (above
    `original_max_positions / low_freq_factor`) by `factor` and blends in
    between.

    ```mlir
    %y = mote.rope %x, %pos {head_dim = 8 : i64, style = "interleaved", theta = 1.0e+04 : f32} : tensor<8x64xf32>, tensor<8xi32> -> tensor<8x64xf32>
    %z = mote.rope %x, %pos {head_dim = 8 : i64, style = "half", theta = 5.0e+05 : f32, scaling = "llama3", factor = 3.2e+01 : f32, low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32, original_max_positions = 8192 : i64} : tensor<8x64xf32>, tensor<8xi32> -> tensor<8x64xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$x, Mote_Tensor:$positions,
                       I64Attr:$head_dim, StrAttr:$style, F32Attr:$theta,
                       OptionalAttr<StrAttr>:$scaling,
                       OptionalAttr<F32Attr>:$factor,
                       OptionalAttr<F32Attr>:$low_freq_factor,
                       OptionalAttr<F32Attr>:$high_freq_factor,
                       OptionalAttr<I64Attr>:$original_max_positions);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = [{
    $x `,` $positions attr-dict `:` type($x) `,` type($positions) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def Mote_KVAppendOp : Mote_Op<"kv_append",
    [MemoryEffects<[MemWrite]>,
     DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "write rows into a KV cache; the result is the whole cache";
  let description = [{
    Writes row `t` of `src` into row `positions[t]` of the cache named by
    `cache`. The result stands for the whole cache after the write, so the
    attention that reads it is ordered after the write.

    ```mlir
    %kc = mote.kv_append @kv.k.0[%pos] = %k : tensor<8x32xf32>, tensor<8xi32> -> tensor<512x32xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$cache, Mote_Tensor:$positions,
                       Mote_Tensor:$src);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = [{
    $cache `[` $positions `]` `=` $src attr-dict `:` type($src) `,`
    type($positions) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mote_AttentionOp : Mote_Op<"attention", [MemoryEffects<[MemRead]>]> {
  let summary = "causal multi-head (grouped-query) attention over a KV cache";
  let description = [{
    Row `t` of `q` attends to cache rows `0..positions[t]` of `k_cache` and
    `v_cache` (values of `mote.kv_append`). Query head `h` uses KV head
    `h / (num_heads / num_kv_heads)`; scores are multiplied by `scale`.

    ```mlir
    %o = mote.attention %q, %kc, %vc, %pos {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 0.353553385 : f32} : tensor<8x64xf32>, tensor<512x32xf32>, tensor<512x32xf32>, tensor<8xi32> -> tensor<8x64xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$q, Mote_Tensor:$k_cache,
                       Mote_Tensor:$v_cache, Mote_Tensor:$positions,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       I64Attr:$head_dim, F32Attr:$scale);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = [{
    $q `,` $k_cache `,` $v_cache `,` $positions attr-dict `:` type($q) `,`
    type($k_cache) `,` type($v_cache) `,` type($positions) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mote_SwiGLUOp : Mote_Op<"swiglu", [Pure, SameOperandsAndResultType]> {
  let summary = "silu(gate) * up, elementwise";
  let description = [{
    ```mlir
    %y = mote.swiglu %gate, %up : tensor<8x172xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$gate, Mote_Tensor:$up);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Mote_AddOp : Mote_Op<"add", [Pure, Commutative, SameOperandsAndResultType]> {
  let summary = "elementwise sum (the residual connection)";
  let description = [{
    ```mlir
    %y = mote.add %a, %b : tensor<8x64xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$lhs, Mote_Tensor:$rhs);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Mote_LogitsOp : Mote_Op<"logits", [Pure]> {
  let summary = "classifier: rows of x times transpose(w)";
  let description = [{
    `w` is (V, D). With `all_rows = true` every row of `x` is projected
    (result (T, V)); with `all_rows = false` only the last active row is
    (result (1, V)), which is all that generation needs.

    ```mlir
    %l = mote.logits %x, %w {all_rows = false} : tensor<8x64xf32>, tensor<512x64xf32> -> tensor<1x512xf32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$x, Mote_Tensor:$weight, BoolAttr:$all_rows);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = [{
    $x `,` $weight attr-dict `:` type($x) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mote_LastRowOp : Mote_Op<"last_row", [Pure]> {
  let summary = "the last active row of a (T, D) activation or (T) positions";
  let description = [{
    Selects row `n-1` of the `n <= T` rows a call runs (docs/decisions.md
    section 1: the CPU runtime runs `n` active rows of a `T`-row graph). `x` is
    a rank-2 f32 activation (T, D) -> (1, D), or rank-1 i32 positions
    (T) -> (1). Ops that consume the result run on one row.

    ```mlir
    %x1 = mote.last_row %x : tensor<8x64xf32> -> tensor<1x64xf32>
    %p1 = mote.last_row %pos : tensor<8xi32> -> tensor<1xi32>
    ```
  }];
  let arguments = (ins Mote_Tensor:$x);
  let results = (outs Mote_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

#endif // MOTE_OPS_TD
