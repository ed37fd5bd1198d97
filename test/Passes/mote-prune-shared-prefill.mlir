// RUN: mote-opt %s -mote-prune-shared-prefill | FileCheck %s
// RUN: mote-opt %s -mote-prune-shared-prefill -mote-cpu-pipeline | FileCheck %s --check-prefix=PIPE
// RUN: mote-opt %s -mote-prune-shared-prefill -mote-prune-shared-prefill | FileCheck %s --check-prefix=TWICE

// Tests that mote-prune-shared-prefill runs the shared layer (layer 2 reads
// layer 1's KV cache: it has no kv_append) of the prefill graph on the last
// row only: mote.last_row on the residual stream entering layer 2 and on the
// positions, every op after it has leading dim 1, the logits take one row.
// Layers 0 and 1 (which write KV) keep T = 4 rows. The decode graph (T = 1)
// and the score graph (all_rows = true, needs every row) are unchanged.

// CHECK-LABEL: func.func @prefill
// CHECK-COUNT-4: mote.kv_append {{.*}} : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
// CHECK: %[[L1X:[0-9]+]] = mote.add %{{.*}} : tensor<4x16xf32>
// CHECK-NEXT: %[[X1:.*]] = mote.last_row %[[L1X]] : tensor<4x16xf32> -> tensor<1x16xf32>
// CHECK-NEXT: %[[P1:.*]] = mote.last_row %arg1 : tensor<4xi32> -> tensor<1xi32>
// CHECK-NEXT: mote.rms_norm %[[X1]], %{{.*}} -> tensor<1x16xf32>
// CHECK: mote.linear {{.*}} -> tensor<1x16xf32>
// CHECK-NEXT: %[[QR:.*]] = mote.rope %{{.*}}, %[[P1]] {{.*}} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
// CHECK-NEXT: %[[A:.*]] = mote.attention %[[QR]], %{{.*}}, %{{.*}}, %[[P1]] {{.*}} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
// CHECK-NEXT: mote.add %[[X1]], %[[A]] : tensor<1x16xf32>
// CHECK-NEXT: mote.rms_norm {{.*}} -> tensor<1x16xf32>
// CHECK-NEXT: mote.logits {{.*}} {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
// CHECK-LABEL: func.func @score
// CHECK-NOT: mote.last_row
// CHECK: mote.logits {{.*}} {all_rows = true} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<4x32xf32>
// CHECK-LABEL: func.func @decode
// CHECK-NOT: mote.last_row
// CHECK: return

// The pruned graph verifies, plans and lowers: last_row kernels by dtype.
// PIPE-LABEL: func.func @prefill
// PIPE: mote.last_row {{.*}}mote.kernel = "last_row_f32"
// PIPE: mote.last_row {{.*}}mote.kernel = "last_row_i32"
// PIPE-LABEL: func.func @score
// PIPE-NOT: mote.last_row

// A second run finds nothing left to do (still one pair of last_rows).
// TWICE-LABEL: func.func @prefill
// TWICE-COUNT-2: mote.last_row
// TWICE-NOT: mote.last_row
// TWICE-LABEL: func.func @score

module attributes {mote.model = {arch = "llama", n_layers = 3 : i64, num_kv_shared_layers = 1 : i64}} {
  mote.param @tok_embeddings : tensor<32x16xf32>
  mote.param @norm : tensor<16xf32>
  mote.param @layers.0.wq : tensor<16x16xf32>
  mote.param @layers.1.wq : tensor<16x16xf32>
  mote.param @layers.2.wq : tensor<16x16xf32>
  mote.param @layers.0.wk : tensor<8x16xf32>
  mote.param @layers.1.wk : tensor<8x16xf32>
  mote.kv_cache @kv.k.0 : tensor<64x8xf32>
  mote.kv_cache @kv.v.0 : tensor<64x8xf32>
  mote.kv_cache @kv.k.1 : tensor<64x8xf32>
  mote.kv_cache @kv.v.1 : tensor<64x8xf32>

  func.func @prefill(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %nw = mote.weight @norm : tensor<16xf32>
    %l0n = mote.rms_norm %x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %l0wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %l0q = mote.linear %l0n, %l0wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %l0qr = mote.rope %l0q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l0wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %l0k = mote.linear %l0n, %l0wk : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
    %l0kc = mote.kv_append @kv.k.0[%pos] = %l0k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %l0vc = mote.kv_append @kv.v.0[%pos] = %l0k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %l0a = mote.attention %l0qr, %l0kc, %l0vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l0x = mote.add %x, %l0a : tensor<4x16xf32>
    %l1n = mote.rms_norm %l0x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %l1wq = mote.weight @layers.1.wq : tensor<16x16xf32>
    %l1q = mote.linear %l1n, %l1wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %l1qr = mote.rope %l1q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l1wk = mote.weight @layers.1.wk : tensor<8x16xf32>
    %l1k = mote.linear %l1n, %l1wk : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
    %l1kc = mote.kv_append @kv.k.1[%pos] = %l1k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %l1vc = mote.kv_append @kv.v.1[%pos] = %l1k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %l1a = mote.attention %l1qr, %l1kc, %l1vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l1x = mote.add %l0x, %l1a : tensor<4x16xf32>
    %l2n = mote.rms_norm %l1x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %l2wq = mote.weight @layers.2.wq : tensor<16x16xf32>
    %l2q = mote.linear %l2n, %l2wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %l2qr = mote.rope %l2q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l2a = mote.attention %l2qr, %l1kc, %l1vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l2x = mote.add %l1x, %l2a : tensor<4x16xf32>
    %f = mote.rms_norm %l2x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %l = mote.logits %f, %emb {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }

  func.func @score(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<4x32xf32>
      attributes {mote.graph_kind = "score", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %nw = mote.weight @norm : tensor<16xf32>
    %l0n = mote.rms_norm %x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %l0wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %l0q = mote.linear %l0n, %l0wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %l0qr = mote.rope %l0q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l0wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %l0k = mote.linear %l0n, %l0wk : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
    %l0kc = mote.kv_append @kv.k.0[%pos] = %l0k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %l0vc = mote.kv_append @kv.v.0[%pos] = %l0k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %l0a = mote.attention %l0qr, %l0kc, %l0vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l0x = mote.add %x, %l0a : tensor<4x16xf32>
    %l1n = mote.rms_norm %l0x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %l1wq = mote.weight @layers.1.wq : tensor<16x16xf32>
    %l1q = mote.linear %l1n, %l1wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %l1qr = mote.rope %l1q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l1wk = mote.weight @layers.1.wk : tensor<8x16xf32>
    %l1k = mote.linear %l1n, %l1wk : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
    %l1kc = mote.kv_append @kv.k.1[%pos] = %l1k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %l1vc = mote.kv_append @kv.v.1[%pos] = %l1k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %l1a = mote.attention %l1qr, %l1kc, %l1vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l1x = mote.add %l0x, %l1a : tensor<4x16xf32>
    %l2n = mote.rms_norm %l1x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %l2wq = mote.weight @layers.2.wq : tensor<16x16xf32>
    %l2q = mote.linear %l2n, %l2wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %l2qr = mote.rope %l2q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l2a = mote.attention %l2qr, %l1kc, %l1vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l2x = mote.add %l1x, %l2a : tensor<4x16xf32>
    %f = mote.rms_norm %l2x, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %l = mote.logits %f, %emb {all_rows = true} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<4x32xf32>
    return %l : tensor<4x32xf32>
  }

  func.func @decode(%tok: tensor<1xi32>, %pos: tensor<1xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "decode", mote.max_tokens = 1 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %nw = mote.weight @norm : tensor<16xf32>
    %l0n = mote.rms_norm %x, %nw {eps = 1.0e-05 : f32} : tensor<1x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
    %l0wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %l0q = mote.linear %l0n, %l0wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l0qr = mote.rope %l0q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l0wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %l0k = mote.linear %l0n, %l0wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l0kc = mote.kv_append @kv.k.0[%pos] = %l0k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l0vc = mote.kv_append @kv.v.0[%pos] = %l0k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l0a = mote.attention %l0qr, %l0kc, %l0vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l0x = mote.add %x, %l0a : tensor<1x16xf32>
    %l1n = mote.rms_norm %l0x, %nw {eps = 1.0e-05 : f32} : tensor<1x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
    %l1wq = mote.weight @layers.1.wq : tensor<16x16xf32>
    %l1q = mote.linear %l1n, %l1wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l1qr = mote.rope %l1q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l1wk = mote.weight @layers.1.wk : tensor<8x16xf32>
    %l1k = mote.linear %l1n, %l1wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l1kc = mote.kv_append @kv.k.1[%pos] = %l1k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l1vc = mote.kv_append @kv.v.1[%pos] = %l1k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l1a = mote.attention %l1qr, %l1kc, %l1vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l1x = mote.add %l0x, %l1a : tensor<1x16xf32>
    %l2n = mote.rms_norm %l1x, %nw {eps = 1.0e-05 : f32} : tensor<1x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
    %l2wq = mote.weight @layers.2.wq : tensor<16x16xf32>
    %l2q = mote.linear %l2n, %l2wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l2qr = mote.rope %l2q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l2a = mote.attention %l2qr, %l1kc, %l1vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l2x = mote.add %l1x, %l2a : tensor<1x16xf32>
    %f = mote.rms_norm %l2x, %nw {eps = 1.0e-05 : f32} : tensor<1x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
    %l = mote.logits %f, %emb {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }
}
