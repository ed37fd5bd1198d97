// RUN: mote-opt %s -mote-lora-fuse="targets=q,k" -verify-diagnostics
// RUN: not mote-opt %s -mote-lora-fuse="max-rank=300 targets=q" 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not mote-opt %s -mote-lora-fuse="max-rank=0 targets=q" 2>&1 | FileCheck %s --check-prefix=RANK0
// RUN: not mote-opt %s -mote-lora-fuse="targets=q,foo" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not mote-opt %s -mote-lora-fuse="targets=q,q" 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not mote-opt %s -mote-lora-fuse="max-rank=x" 2>&1 | FileCheck %s --check-prefix=BADOPT

// Tests mote-lora-fuse's rejections: a target module the model does not
// have (no @layers.<i>.wk linear here), a max-rank above the maximum (256)
// or below 1, an unknown module name, a module given twice, and a malformed
// option value.
// RANK: error: mote-lora-fuse: max-rank 300: rank above the maximum (must be in 1..256)
// RANK0: error: mote-lora-fuse: max-rank 0: rank above the maximum (must be in 1..256)
// UNKNOWN: error: mote-lora-fuse: targets 'q,foo': unknown module 'foo' (q, k, v, o, gate, up, down)
// TWICE: error: mote-lora-fuse: targets 'q,q': module 'q' given twice
// BADOPT: max-rank

// expected-error@+1 {{mote-lora-fuse: targets 'q,k': module 'k' (@layers.<i>.wk) is not a linear of this model}}
module {
  mote.param @tok_embeddings : tensor<32x16xf32>
  mote.param @layers.0.wq : tensor<16x16xf32>

  func.func @decode(%tok: tensor<1xi32>, %pos: tensor<1xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "decode", mote.max_tokens = 1 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %q = mote.linear %x, %wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l = mote.logits %q, %emb {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }
}
