// RUN: mote-opt %s | mote-opt | FileCheck %s
// RUN: mote-opt %s --mlir-print-op-generic | mote-opt | FileCheck %s

// Tests that every mote op parses, verifies and prints back unchanged.

// CHECK-LABEL: module
// CHECK: mote.param @tok_embeddings : tensor<32x16xf32>
mote.param @tok_embeddings : tensor<32x16xf32>
// CHECK: mote.param @layers.0.attn_norm : tensor<16xf32>
mote.param @layers.0.attn_norm : tensor<16xf32>
// CHECK: mote.param @layers.0.wq : tensor<16x16xf32>
mote.param @layers.0.wq : tensor<16x16xf32>
// CHECK: mote.param @layers.0.wk : tensor<8x16xf32>
mote.param @layers.0.wk : tensor<8x16xf32>
// CHECK: mote.param @layers.0.bk : tensor<8xf32>
mote.param @layers.0.bk : tensor<8xf32>
// CHECK: mote.param @half : tensor<8x16xf16>
mote.param @half : tensor<8x16xf16>
// CHECK: mote.kv_cache @kv.k.0 : tensor<64x8xf32>
mote.kv_cache @kv.k.0 : tensor<64x8xf32>
// CHECK: mote.kv_cache @kv.v.0 : tensor<64x8xf32>
mote.kv_cache @kv.v.0 : tensor<64x8xf32>

// CHECK-LABEL: func.func @all_ops
// CHECK-SAME: (%[[TOK:.*]]: tensor<4xi32>, %[[POS:.*]]: tensor<4xi32>)
func.func @all_ops(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32> {
  // CHECK: %[[TABLE:.*]] = mote.weight @tok_embeddings : tensor<32x16xf32>
  %table = mote.weight @tok_embeddings : tensor<32x16xf32>
  // CHECK-NEXT: %[[X:.*]] = mote.embedding %[[TABLE]][%[[TOK]]] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %x = mote.embedding %table[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %nw = mote.weight @layers.0.attn_norm : tensor<16xf32>
  // CHECK: %[[N:.*]] = mote.rms_norm %[[X]], %{{.*}} {eps = 9.99999974E-6 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
  %n = mote.rms_norm %x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
  %wq = mote.weight @layers.0.wq : tensor<16x16xf32>
  %wk = mote.weight @layers.0.wk : tensor<8x16xf32>
  %bk = mote.weight @layers.0.bk : tensor<8xf32>
  // CHECK: %[[Q:.*]] = mote.linear %[[N]], %{{.*}} : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
  %q = mote.linear %n, %wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
  // CHECK: %[[K:.*]] = mote.linear %[[N]], %{{.*}} bias %{{.*}} : tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32> -> tensor<4x8xf32>
  %k = mote.linear %n, %wk bias %bk : tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32> -> tensor<4x8xf32>
  // CHECK: %[[QR:.*]] = mote.rope %[[Q]], %[[POS]] {head_dim = 4 : i64, style = "interleaved", theta = 1.000000e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %qr = mote.rope %q, %pos {head_dim = 4 : i64, style = "interleaved", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  // CHECK: %[[KR:.*]] = mote.rope %[[K]], %[[POS]] {head_dim = 4 : i64, style = "half", theta = 1.000000e+06 : f32}
  %kr = mote.rope %k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+06 : f32} : tensor<4x8xf32>, tensor<4xi32> -> tensor<4x8xf32>
  // Tests that a rope's optional scaling round-trips (llama3 and linear).
  // CHECK: mote.rope %[[K]], %[[POS]] {factor = 3.200000e+01 : f32, head_dim = 4 : i64, high_freq_factor = 4.000000e+00 : f32, low_freq_factor = 1.000000e+00 : f32, original_max_positions = 8192 : i64, scaling = "llama3", style = "half", theta = 5.000000e+05 : f32}
  %kl3 = mote.rope %k, %pos {head_dim = 4 : i64, style = "half", theta = 5.0e+05 : f32, scaling = "llama3", factor = 32.0 : f32, low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32, original_max_positions = 8192 : i64} : tensor<4x8xf32>, tensor<4xi32> -> tensor<4x8xf32>
  // CHECK: mote.rope %[[K]], %[[POS]] {factor = 2.000000e+00 : f32, head_dim = 4 : i64, scaling = "linear", style = "half", theta = 1.000000e+04 : f32}
  %klin = mote.rope %k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32, scaling = "linear", factor = 2.0 : f32} : tensor<4x8xf32>, tensor<4xi32> -> tensor<4x8xf32>
  // CHECK: %[[KC:.*]] = mote.kv_append @kv.k.0[%[[POS]]] = %[[KR]] : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
  %kc = mote.kv_append @kv.k.0[%pos] = %kr : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
  // CHECK: %[[VC:.*]] = mote.kv_append @kv.v.0[%[[POS]]] = %[[K]]
  %vc = mote.kv_append @kv.v.0[%pos] = %k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
  // CHECK: %[[O:.*]] = mote.attention %[[QR]], %[[KC]], %[[VC]], %[[POS]] {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 5.000000e-01 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %o = mote.attention %qr, %kc, %vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
  // CHECK: %[[S:.*]] = mote.swiglu %[[O]], %[[QR]] : tensor<4x16xf32>
  %s = mote.swiglu %o, %qr : tensor<4x16xf32>
  // CHECK: %[[A:.*]] = mote.add %[[X]], %[[S]] : tensor<4x16xf32>
  %a = mote.add %x, %s : tensor<4x16xf32>
  // CHECK: %[[L:.*]] = mote.logits %[[A]], %[[TABLE]] {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  %l = mote.logits %a, %table {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  // CHECK: mote.logits %[[A]], %[[TABLE]] {all_rows = true} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<4x32xf32>
  %all = mote.logits %a, %table {all_rows = true} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<4x32xf32>
  // CHECK: mote.weight @half : tensor<8x16xf16>
  %h = mote.weight @half : tensor<8x16xf16>
  // CHECK: return %[[L]] : tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}

// Tests mote.last_row on an activation and on positions (round trip).
// CHECK-LABEL: func.func @last_row
func.func @last_row(%x: tensor<4x16xf32>, %pos: tensor<4xi32>) -> (tensor<1x16xf32>, tensor<1xi32>) {
  // CHECK: mote.last_row %{{.*}} : tensor<4x16xf32> -> tensor<1x16xf32>
  %x1 = mote.last_row %x : tensor<4x16xf32> -> tensor<1x16xf32>
  // CHECK: mote.last_row %{{.*}} : tensor<4xi32> -> tensor<1xi32>
  %p1 = mote.last_row %pos : tensor<4xi32> -> tensor<1xi32>
  return %x1, %p1 : tensor<1x16xf32>, tensor<1xi32>
}
