// RUN: mote-opt %s -split-input-file -mote-verify | FileCheck %s

mote.param @emb : tensor<32x16xf32>
mote.kv_cache @kv : tensor<64x16xf32>

// Tests that a well-formed decode graph passes unchanged, logits with one
// row included, and that a cache with more rows than mote.context is fine.
// CHECK-LABEL: func.func @decode
// CHECK-NEXT: mote.weight
// CHECK-NEXT: mote.embedding
// CHECK-NEXT: mote.kv_append
// CHECK-NEXT: mote.logits
// CHECK-NEXT: return
func.func @decode(%tok: tensor<1xi32>, %pos: tensor<1xi32>) -> tensor<1x32xf32>
    attributes {mote.graph_kind = "decode", mote.max_tokens = 1 : i64, mote.context = 32 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
  %c = mote.kv_append @kv[%pos] = %x : tensor<1x16xf32>, tensor<1xi32> -> tensor<64x16xf32>
  %l = mote.logits %x, %t {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}

// -----

// Tests that functions without mote.graph_kind are not graphs and are left alone.
// CHECK-LABEL: func.func @helper
func.func @helper(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  return %a : tensor<2x3xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>
mote.param @w : tensor<16x16xf32>

// Tests that values derived from mote.last_row have one row in a T = 4
// graph (KV-shared prefill, mote-prune-shared-prefill) and verify.
// CHECK-LABEL: func.func @pruned
// CHECK: mote.last_row
// CHECK: mote.linear {{.*}} -> tensor<1x16xf32>
func.func @pruned(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
    attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %w = mote.weight @w : tensor<16x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %x1 = mote.last_row %x : tensor<4x16xf32> -> tensor<1x16xf32>
  %p1 = mote.last_row %pos : tensor<4xi32> -> tensor<1xi32>
  %y = mote.linear %x1, %w : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
  %r = mote.rope %y, %p1 {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
  %l = mote.logits %r, %t {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}
