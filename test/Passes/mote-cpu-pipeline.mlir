// RUN: mote-opt %s -mote-cpu-pipeline | FileCheck %s
// RUN: mote-opt %s -mote-cpu-pipeline | %python %S/Inputs/check_arena.py

// Tests that a one-layer Llama graph (dim 16, 4 heads, 2 KV heads,
// head_dim 4, FFN 32, vocab 32, context 64, 4 tokens per call) goes through
// the whole CPU pipeline: verified, dead ops dropped, every activation
// planned (check_arena.py independently re-derives live ranges and checks
// that no two live values share bytes) and every compute op given a kernel.

module attributes {mote.model = {arch = "llama", dim = 16 : i64, n_layers = 1 : i64}} {
  mote.param @tok_embeddings : tensor<32x16xf32>
  mote.param @layers.0.attn_norm : tensor<16xf32>
  mote.param @layers.0.wq : tensor<16x16xf32>
  mote.param @layers.0.wk : tensor<8x16xf32>
  mote.param @layers.0.wv : tensor<8x16xf32>
  mote.param @layers.0.wo : tensor<16x16xf32>
  mote.param @layers.0.ffn_norm : tensor<16xf32>
  mote.param @layers.0.w1 : tensor<32x16xf32>
  mote.param @layers.0.w2 : tensor<16x32xf32>
  mote.param @layers.0.w3 : tensor<32x16xf32>
  mote.param @norm : tensor<16xf32>
  mote.param @output : tensor<32x16xf32>
  mote.kv_cache @kv.k.0 : tensor<64x8xf32>
  mote.kv_cache @kv.v.0 : tensor<64x8xf32>

  // CHECK-LABEL: func.func @prefill
  // CHECK-SAME: {mote.offset = {{[0-9]+}} : i64}
  // CHECK-SAME: {mote.offset = {{[0-9]+}} : i64}
  // CHECK-SAME: mote.arena_size = {{[0-9]+}} : i64
  // CHECK-SAME: mote.target = "cpu"
  // CHECK: mote.embedding {{.*}}mote.kernel = "embedding_f32"
  // CHECK: mote.rms_norm {{.*}}mote.kernel = "rms_norm_f32"
  // CHECK: mote.linear {{.*}}mote.kernel = "linear_f32"
  // CHECK: mote.rope {{.*}}mote.kernel = "rope_f32"
  // CHECK: mote.kv_append {{.*}}{mote.kernel = "kv_append_f32"}
  // CHECK: mote.attention {{.*}}mote.kernel = "attention_f32"
  // CHECK: mote.add {{.*}}mote.kernel = "add_f32"
  // CHECK: mote.swiglu {{.*}}mote.kernel = "swiglu_f32"
  // CHECK: mote.logits {{.*}}mote.kernel = "logits_f32"
  // The unused all-rows logits below is dropped by canonicalize.
  // CHECK-NOT: mote.logits
  // CHECK: return
  func.func @prefill(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %an = mote.weight @layers.0.attn_norm : tensor<16xf32>
    %h = mote.rms_norm %x, %an {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %wv = mote.weight @layers.0.wv : tensor<8x16xf32>
    %q = mote.linear %h, %wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %k = mote.linear %h, %wk : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
    %v = mote.linear %h, %wv : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
    %qr = mote.rope %q, %pos {head_dim = 4 : i64, style = "interleaved", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %kr = mote.rope %k, %pos {head_dim = 4 : i64, style = "interleaved", theta = 1.0e+04 : f32} : tensor<4x8xf32>, tensor<4xi32> -> tensor<4x8xf32>
    %kc = mote.kv_append @kv.k.0[%pos] = %kr : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %vc = mote.kv_append @kv.v.0[%pos] = %v : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %o = mote.attention %qr, %kc, %vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %wo = mote.weight @layers.0.wo : tensor<16x16xf32>
    %ao = mote.linear %o, %wo : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %x1 = mote.add %x, %ao : tensor<4x16xf32>
    %fn = mote.weight @layers.0.ffn_norm : tensor<16xf32>
    %h2 = mote.rms_norm %x1, %fn {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %w1 = mote.weight @layers.0.w1 : tensor<32x16xf32>
    %w3 = mote.weight @layers.0.w3 : tensor<32x16xf32>
    %w2 = mote.weight @layers.0.w2 : tensor<16x32xf32>
    %g = mote.linear %h2, %w1 : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<4x32xf32>
    %u = mote.linear %h2, %w3 : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<4x32xf32>
    %s = mote.swiglu %g, %u : tensor<4x32xf32>
    %d = mote.linear %s, %w2 : tensor<4x32xf32>, tensor<16x32xf32> -> tensor<4x16xf32>
    %x2 = mote.add %x1, %d : tensor<4x16xf32>
    %nw = mote.weight @norm : tensor<16xf32>
    %xf = mote.rms_norm %x2, %nw {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
    %wout = mote.weight @output : tensor<32x16xf32>
    %unused = mote.logits %xf, %wout {all_rows = true} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<4x32xf32>
    %l = mote.logits %xf, %wout {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }
}
