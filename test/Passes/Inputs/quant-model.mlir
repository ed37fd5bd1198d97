// A tiny tied-embedding model graph for the mote-quantize tests.
mote.param @tok_embeddings : tensor<32x16xf32>
mote.param @layers.0.attn_norm : tensor<16xf32>
mote.param @layers.0.wq : tensor<16x16xf32>
mote.param @layers.0.bq : tensor<16xf32>
mote.param @layers.0.w2 : tensor<16x48xf32>
mote.param @unused : tensor<4x4xf32>

func.func @g(%tok: tensor<1xi32>, %pos: tensor<1xi32>) -> tensor<1x32xf32> {
  %t = mote.weight @tok_embeddings : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
  %nw = mote.weight @layers.0.attn_norm : tensor<16xf32>
  %h = mote.rms_norm %x, %nw {eps = 1.0e-05 : f32} : tensor<1x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
  %wq = mote.weight @layers.0.wq : tensor<16x16xf32>
  %bq = mote.weight @layers.0.bq : tensor<16xf32>
  %q = mote.linear %h, %wq bias %bq : tensor<1x16xf32>, tensor<16x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
  %l = mote.logits %q, %t {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}
