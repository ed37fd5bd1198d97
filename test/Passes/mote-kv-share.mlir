// RUN: mote-opt %s -mote-kv-share=split=1:1 | FileCheck %s --check-prefix=HALF
// RUN: mote-opt %s -mote-kv-share=boundary=1 | FileCheck %s --check-prefix=B1
// RUN: mote-opt %s -mote-kv-share=split=5:3 | FileCheck %s --check-prefix=FIVE
// RUN: mote-opt %s -mote-kv-share=split=1:1 -mote-cpu-pipeline | FileCheck %s --check-prefix=PIPE

// Tests that mote-kv-share finds the layers of a 4-layer model from its
// attention ops (in program order) and makes the block-2 layers attend over
// the last block-1 layer's kv_append results: their K/V linears, K ropes and
// kv_appends are gone, and so are their caches and K/V params. The graphs
// (prefill, T = 2; decode, T = 1) get the same boundary.
// split=1:1 -> boundary 2; boundary=1; split=5:3 -> round(4 * 5/8) = 3.

// HALF: mote.model = {{.*}}num_kv_shared_layers = 2 : i64
// HALF-NOT: @layers.2.wk
// HALF-NOT: @layers.2.wv
// HALF-NOT: @layers.3.wk
// HALF-NOT: @layers.3.wv
// HALF: mote.param @layers.3.wo
// HALF-NEXT: mote.kv_cache @kv.k.0
// HALF-NEXT: mote.kv_cache @kv.v.0
// HALF-NEXT: mote.kv_cache @kv.k.1
// HALF-NEXT: mote.kv_cache @kv.v.1
// HALF-NEXT: func.func @prefill
// HALF: %[[K0:.*]] = mote.kv_append @kv.k.0
// HALF: %[[V0:.*]] = mote.kv_append @kv.v.0
// HALF: mote.attention %{{.*}}, %[[K0]], %[[V0]],
// HALF: %[[K1:.*]] = mote.kv_append @kv.k.1
// HALF: %[[V1:.*]] = mote.kv_append @kv.v.1
// HALF: mote.attention %{{.*}}, %[[K1]], %[[V1]],
// HALF-NOT: mote.kv_append
// HALF-NOT: mote.rope %{{.*}} -> tensor<2x8xf32>
// HALF: mote.attention %{{.*}}, %[[K1]], %[[V1]],
// HALF-NOT: mote.kv_append
// HALF: mote.attention %{{.*}}, %[[K1]], %[[V1]],
// HALF-NOT: mote.kv_append
// HALF: func.func @decode
// HALF: %[[DK1:.*]] = mote.kv_append @kv.k.1
// HALF: %[[DV1:.*]] = mote.kv_append @kv.v.1
// HALF: mote.attention %{{.*}}, %[[DK1]], %[[DV1]],
// HALF-NOT: mote.kv_append
// HALF: mote.attention %{{.*}}, %[[DK1]], %[[DV1]],
// HALF-NOT: mote.kv_append
// HALF: mote.attention %{{.*}}, %[[DK1]], %[[DV1]],
// HALF-NOT: mote.kv_append
// HALF: return

// B1: num_kv_shared_layers = 3 : i64
// B1-NOT: @layers.1.wk
// B1: mote.kv_cache @kv.k.0
// B1-NEXT: mote.kv_cache @kv.v.0
// B1-NEXT: func.func @prefill
// B1: %[[K0:.*]] = mote.kv_append @kv.k.0
// B1: %[[V0:.*]] = mote.kv_append @kv.v.0
// B1-NOT: mote.kv_append
// B1-COUNT-4: mote.attention %{{.*}}, %[[K0]], %[[V0]],
// B1-NOT: mote.linear %{{.*}} -> tensor<2x8xf32>
// B1: func.func @decode

// FIVE: num_kv_shared_layers = 1 : i64
// FIVE: mote.kv_cache @kv.v.2
// FIVE-NEXT: func.func @prefill
// FIVE: %[[K2:.*]] = mote.kv_append @kv.k.2
// FIVE: %[[V2:.*]] = mote.kv_append @kv.v.2
// FIVE-COUNT-2: mote.attention %{{.*}}, %[[K2]], %[[V2]],
// FIVE-NOT: mote.kv_append
// FIVE: func.func @decode

// The rewritten graphs still verify and plan; block 2 has no K/V linears.
// PIPE-LABEL: func.func @prefill
// PIPE-COUNT-2: mote.kv_append @kv.k.
// PIPE-NOT: mote.kv_append @kv.k.
// PIPE: return

module attributes {mote.model = {arch = "llama", n_layers = 4 : i64, num_kv_shared_layers = 0 : i64}} {
  mote.param @tok_embeddings : tensor<32x16xf32>
  mote.param @layers.0.wq : tensor<16x16xf32>
  mote.param @layers.0.wk : tensor<8x16xf32>
  mote.param @layers.0.wv : tensor<8x16xf32>
  mote.param @layers.0.wo : tensor<16x16xf32>
  mote.param @layers.1.wq : tensor<16x16xf32>
  mote.param @layers.1.wk : tensor<8x16xf32>
  mote.param @layers.1.wv : tensor<8x16xf32>
  mote.param @layers.1.wo : tensor<16x16xf32>
  mote.param @layers.2.wq : tensor<16x16xf32>
  mote.param @layers.2.wk : tensor<8x16xf32>
  mote.param @layers.2.wv : tensor<8x16xf32>
  mote.param @layers.2.wo : tensor<16x16xf32>
  mote.param @layers.3.wq : tensor<16x16xf32>
  mote.param @layers.3.wk : tensor<8x16xf32>
  mote.param @layers.3.wv : tensor<8x16xf32>
  mote.param @layers.3.wo : tensor<16x16xf32>
  mote.kv_cache @kv.k.0 : tensor<64x8xf32>
  mote.kv_cache @kv.v.0 : tensor<64x8xf32>
  mote.kv_cache @kv.k.1 : tensor<64x8xf32>
  mote.kv_cache @kv.v.1 : tensor<64x8xf32>
  mote.kv_cache @kv.k.2 : tensor<64x8xf32>
  mote.kv_cache @kv.v.2 : tensor<64x8xf32>
  mote.kv_cache @kv.k.3 : tensor<64x8xf32>
  mote.kv_cache @kv.v.3 : tensor<64x8xf32>

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
    %l2wq = mote.weight @layers.2.wq : tensor<16x16xf32>
    %l2wk = mote.weight @layers.2.wk : tensor<8x16xf32>
    %l2wv = mote.weight @layers.2.wv : tensor<8x16xf32>
    %l2q = mote.linear %l1x, %l2wq : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
    %l2k = mote.linear %l1x, %l2wk : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %l2v = mote.linear %l1x, %l2wv : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %l2qr = mote.rope %l2q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x16xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l2kr = mote.rope %l2k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x8xf32>, tensor<2xi32> -> tensor<2x8xf32>
    %l2kc = mote.kv_append @kv.k.2[%pos] = %l2kr : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %l2vc = mote.kv_append @kv.v.2[%pos] = %l2v : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %l2a = mote.attention %l2qr, %l2kc, %l2vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<2x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l2wo = mote.weight @layers.2.wo : tensor<16x16xf32>
    %l2o = mote.linear %l2a, %l2wo : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
    %l2x = mote.add %l1x, %l2o : tensor<2x16xf32>
    %l3wq = mote.weight @layers.3.wq : tensor<16x16xf32>
    %l3wk = mote.weight @layers.3.wk : tensor<8x16xf32>
    %l3wv = mote.weight @layers.3.wv : tensor<8x16xf32>
    %l3q = mote.linear %l2x, %l3wq : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
    %l3k = mote.linear %l2x, %l3wk : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %l3v = mote.linear %l2x, %l3wv : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %l3qr = mote.rope %l3q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x16xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l3kr = mote.rope %l3k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x8xf32>, tensor<2xi32> -> tensor<2x8xf32>
    %l3kc = mote.kv_append @kv.k.3[%pos] = %l3kr : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %l3vc = mote.kv_append @kv.v.3[%pos] = %l3v : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %l3a = mote.attention %l3qr, %l3kc, %l3vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<2x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %l3wo = mote.weight @layers.3.wo : tensor<16x16xf32>
    %l3o = mote.linear %l3a, %l3wo : tensor<2x16xf32>, tensor<16x16xf32> -> tensor<2x16xf32>
    %l3x = mote.add %l2x, %l3o : tensor<2x16xf32>
    %l = mote.logits %l3x, %emb {all_rows = false} : tensor<2x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }

  func.func @decode(%tok: tensor<1xi32>, %pos: tensor<1xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "decode", mote.max_tokens = 1 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l0wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %l0wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %l0wv = mote.weight @layers.0.wv : tensor<8x16xf32>
    %l0q = mote.linear %x, %l0wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l0k = mote.linear %x, %l0wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l0v = mote.linear %x, %l0wv : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l0qr = mote.rope %l0q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l0kr = mote.rope %l0k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    %l0kc = mote.kv_append @kv.k.0[%pos] = %l0kr : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l0vc = mote.kv_append @kv.v.0[%pos] = %l0v : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l0a = mote.attention %l0qr, %l0kc, %l0vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l0wo = mote.weight @layers.0.wo : tensor<16x16xf32>
    %l0o = mote.linear %l0a, %l0wo : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l0x = mote.add %x, %l0o : tensor<1x16xf32>
    %l1wq = mote.weight @layers.1.wq : tensor<16x16xf32>
    %l1wk = mote.weight @layers.1.wk : tensor<8x16xf32>
    %l1wv = mote.weight @layers.1.wv : tensor<8x16xf32>
    %l1q = mote.linear %l0x, %l1wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l1k = mote.linear %l0x, %l1wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l1v = mote.linear %l0x, %l1wv : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l1qr = mote.rope %l1q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l1kr = mote.rope %l1k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    %l1kc = mote.kv_append @kv.k.1[%pos] = %l1kr : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l1vc = mote.kv_append @kv.v.1[%pos] = %l1v : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l1a = mote.attention %l1qr, %l1kc, %l1vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l1wo = mote.weight @layers.1.wo : tensor<16x16xf32>
    %l1o = mote.linear %l1a, %l1wo : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l1x = mote.add %l0x, %l1o : tensor<1x16xf32>
    %l2wq = mote.weight @layers.2.wq : tensor<16x16xf32>
    %l2wk = mote.weight @layers.2.wk : tensor<8x16xf32>
    %l2wv = mote.weight @layers.2.wv : tensor<8x16xf32>
    %l2q = mote.linear %l1x, %l2wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l2k = mote.linear %l1x, %l2wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l2v = mote.linear %l1x, %l2wv : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l2qr = mote.rope %l2q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l2kr = mote.rope %l2k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    %l2kc = mote.kv_append @kv.k.2[%pos] = %l2kr : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l2vc = mote.kv_append @kv.v.2[%pos] = %l2v : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l2a = mote.attention %l2qr, %l2kc, %l2vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l2wo = mote.weight @layers.2.wo : tensor<16x16xf32>
    %l2o = mote.linear %l2a, %l2wo : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l2x = mote.add %l1x, %l2o : tensor<1x16xf32>
    %l3wq = mote.weight @layers.3.wq : tensor<16x16xf32>
    %l3wk = mote.weight @layers.3.wk : tensor<8x16xf32>
    %l3wv = mote.weight @layers.3.wv : tensor<8x16xf32>
    %l3q = mote.linear %l2x, %l3wq : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l3k = mote.linear %l2x, %l3wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l3v = mote.linear %l2x, %l3wv : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %l3qr = mote.rope %l3q, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l3kr = mote.rope %l3k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<1x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
    %l3kc = mote.kv_append @kv.k.3[%pos] = %l3kr : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l3vc = mote.kv_append @kv.v.3[%pos] = %l3v : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
    %l3a = mote.attention %l3qr, %l3kc, %l3vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %l3wo = mote.weight @layers.3.wo : tensor<16x16xf32>
    %l3o = mote.linear %l3a, %l3wo : tensor<1x16xf32>, tensor<16x16xf32> -> tensor<1x16xf32>
    %l3x = mote.add %l2x, %l3o : tensor<1x16xf32>
    %l = mote.logits %l3x, %emb {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }
}
