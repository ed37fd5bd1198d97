// A one-layer model (prefill T = 4, decode, score; context 64) for the
// mote-bucketize tests. Prefill ends like a KV-shared one after
// mote-prune-shared-prefill: a mote.last_row, then one-row ops.
module {
  mote.param @tok_embeddings : tensor<32x16xf32>
  mote.param @layers.0.wq : tensor<16x16xf32>
  mote.param @layers.0.wk : tensor<8x16xf32>
  mote.param @layers.0.wv : tensor<8x16xf32>
  mote.param @layers.0.wo : tensor<16x16xf32>
  mote.param @norm : tensor<16xf32>
  mote.kv_cache @kv.k.0 : tensor<64x8xf32>
  mote.kv_cache @kv.v.0 : tensor<64x8xf32>

  func.func @prefill(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %wv = mote.weight @layers.0.wv : tensor<8x16xf32>
    %q = mote.linear %x, %wq : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %k = mote.linear %x, %wk : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
    %v = mote.linear %x, %wv : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
    %qr = mote.rope %q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %kr = mote.rope %k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x8xf32>, tensor<4xi32> -> tensor<4x8xf32>
    %kc = mote.kv_append @kv.k.0[%pos] = %kr : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %vc = mote.kv_append @kv.v.0[%pos] = %v : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
    %a = mote.attention %qr, %kc, %vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %wo = mote.weight @layers.0.wo : tensor<16x16xf32>
    %o = mote.linear %a, %wo : tensor<4x16xf32>, tensor<16x16xf32> -> tensor<4x16xf32>
    %h = mote.add %x, %o : tensor<4x16xf32>
    %last = mote.last_row %h : tensor<4x16xf32> -> tensor<1x16xf32>
    %nw = mote.weight @norm : tensor<16xf32>
    %n = mote.rms_norm %last, %nw {eps = 1.0e-05 : f32} : tensor<1x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
    %l = mote.logits %n, %emb {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }

  func.func @decode(%tok: tensor<1xi32>, %pos: tensor<1xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "decode", mote.max_tokens = 1 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %wv = mote.weight @layers.0.wv : tensor<8x16xf32>
    %wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %q = mote.linear %x, %wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %k = mote.linear %x, %wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %v = mote.linear %x, %wv : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %kc = mote.kv_append @kv.k.0[%pos] = %k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %vc = mote.kv_append @kv.v.0[%pos] = %v : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %a = mote.attention %q, %kc, %vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l = mote.logits %a, %emb {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }

  func.func @score(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<4x32xf32>
      attributes {mote.graph_kind = "score", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %l = mote.logits %x, %emb {all_rows = true} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<4x32xf32>
    return %l : tensor<4x32xf32>
  }
}
