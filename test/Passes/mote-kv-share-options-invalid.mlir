// RUN: mote-opt %s -mote-kv-share="split=1:1 boundary=1" -verify-diagnostics
// RUN: not mote-opt %s -mote-kv-share=split=1:10 2>&1 | FileCheck %s --check-prefix=EMPTY1
// RUN: not mote-opt %s -mote-kv-share=boundary=2 2>&1 | FileCheck %s --check-prefix=EMPTY2
// RUN: not mote-opt %s -mote-kv-share=boundary=0 2>&1 | FileCheck %s --check-prefix=EMPTY1B
// RUN: not mote-opt %s -mote-kv-share=split=5 2>&1 | FileCheck %s --check-prefix=BADSPLIT
// RUN: not mote-opt %s -mote-kv-share 2>&1 | FileCheck %s --check-prefix=NONE

// Tests mote-kv-share's option checks on a 2-layer graph: both options at
// once; a split or boundary that leaves a block empty; a malformed split; no
// option at all.
// EMPTY1: error: mote-kv-share: split 1:10 gives boundary=0 for 2 layers, leaving block 1 empty
// EMPTY2: error: mote-kv-share: boundary=2 for 2 layers, leaving block 2 empty
// EMPTY1B: error: mote-kv-share: boundary=0 for 2 layers, leaving block 1 empty
// BADSPLIT: error: mote-kv-share: split '5' is not A:B with positive integers
// NONE: error: mote-kv-share: needs split=A:B or boundary=N

module {
  mote.param @tok_embeddings : tensor<32x16xf32>
  mote.param @layers.0.wq : tensor<16x16xf32>
  mote.param @layers.0.wk : tensor<8x16xf32>
  mote.param @layers.0.wv : tensor<8x16xf32>
  mote.param @layers.0.wo : tensor<16x16xf32>
  mote.param @layers.1.wq : tensor<16x16xf32>
  mote.param @layers.1.wk : tensor<8x16xf32>
  mote.param @layers.1.wv : tensor<8x16xf32>
  mote.param @layers.1.wo : tensor<16x16xf32>
  mote.kv_cache @kv.k.0 : tensor<64x8xf32>
  mote.kv_cache @kv.v.0 : tensor<64x8xf32>
  mote.kv_cache @kv.k.1 : tensor<64x8xf32>
  mote.kv_cache @kv.v.1 : tensor<64x8xf32>

  // expected-error@+1 {{mote-kv-share: give either split or boundary, not both}}
  func.func @prefill(%tok: tensor<2xi32>, %pos: tensor<2xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "prefill", mote.max_tokens = 2 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l0wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %l0wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %l0wv = mote.weight @layers.0.wv : tensor<8x16xf32>
    %l0q = mote.linear %x, %l0wq : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
    %l0k = mote.linear %x, %l0wk : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %l0v = mote.linear %x, %l0wv : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %l0qr = mote.rope %l0q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x16xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l0kr = mote.rope %l0k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x8xf32>, tensor<2xi32> -> tensor<2x8xf32>
    %l0kc = mote.kv_append @kv.k.0[%pos] = %l0kr : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %l0vc = mote.kv_append @kv.v.0[%pos] = %l0v : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %l0a = mote.attention %l0qr, %l0kc, %l0vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<2x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l0wo = mote.weight @layers.0.wo : tensor<16x16xf32>
    %l0o = mote.linear %l0a, %l0wo : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
    %l0x = mote.add %x, %l0o : tensor<2x16xf32>
    %l1wq = mote.weight @layers.1.wq : tensor<16x16xf32>
    %l1wk = mote.weight @layers.1.wk : tensor<8x16xf32>
    %l1wv = mote.weight @layers.1.wv : tensor<8x16xf32>
    %l1q = mote.linear %l0x, %l1wq : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
    %l1k = mote.linear %l0x, %l1wk : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %l1v = mote.linear %l0x, %l1wv : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %l1qr = mote.rope %l1q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x16xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l1kr = mote.rope %l1k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x8xf32>, tensor<2xi32> -> tensor<2x8xf32>
    %l1kc = mote.kv_append @kv.k.1[%pos] = %l1kr : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %l1vc = mote.kv_append @kv.v.1[%pos] = %l1v : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %l1a = mote.attention %l1qr, %l1kc, %l1vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<2x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l1wo = mote.weight @layers.1.wo : tensor<16x16xf32>
    %l1o = mote.linear %l1a, %l1wo : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
    %l1x = mote.add %l0x, %l1o : tensor<2x16xf32>
    %l = mote.logits %l1x, %emb {all_rows = false} : tensor<2x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }
}
