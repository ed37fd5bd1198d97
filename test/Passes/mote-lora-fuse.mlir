// RUN: mote-opt %s -mote-lora-fuse="max-rank=8 targets=q,gate,down" | FileCheck %s
// RUN: mote-opt %s -mote-lora-fuse="max-rank=8 targets=q,gate,down" -mote-cpu-pipeline | FileCheck %s --check-prefix=PIPE
// RUN: mote-opt %s -mote-lora-fuse="targets=down" | FileCheck %s --check-prefix=DOWN

// Tests that mote-lora-fuse turns exactly the targeted linears (q = wq,
// gate = w1, down = w2) into mote.lora_linear naming one mote.lora_site per
// weight, shared by both graphs, with the weight's K and N and max-rank;
// untargeted linears (wk) and the classifier stay as they are; the bias
// carries over. After the CPU pipeline (which drops the unused wk linear) the fused ops get "lora_linear_f32"
// and "lora_linear_q4_f32" for a quantized weight (the base part runs the
// quantized kernel).

// CHECK: mote.param @layers.0.w2
// CHECK-NEXT: mote.lora_site @lora.layers.0.wq {in_features = 16 : i64, max_rank = 8 : i64, out_features = 16 : i64}
// CHECK-NEXT: mote.lora_site @lora.layers.0.w1 {in_features = 16 : i64, max_rank = 8 : i64, out_features = 24 : i64}
// CHECK-NEXT: mote.lora_site @lora.layers.0.w2 {in_features = 24 : i64, max_rank = 8 : i64, out_features = 16 : i64}
// CHECK-NOT: mote.lora_site
// CHECK-LABEL: func.func @prefill
// CHECK: mote.lora_linear %{{.*}}, %{{.*}} bias %{{.*}} site @lora.layers.0.wq : tensor<2x16xf32>, tensor<16x16xf32>, tensor<16xf32> -> tensor<2x16xf32>
// CHECK: mote.linear %{{.*}}, %{{.*}} : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
// CHECK: mote.lora_linear %{{.*}}, %{{.*}} site @lora.layers.0.w1 : tensor<2x16xf32>, tensor<24x16xf32> -> tensor<2x24xf32>
// CHECK: mote.lora_linear %{{.*}}, %{{.*}} site @lora.layers.0.w2 : tensor<2x24xf32>, tensor<16x24xf32> -> tensor<2x16xf32>
// CHECK: mote.logits
// CHECK-LABEL: func.func @decode
// CHECK: mote.lora_linear %{{.*}} site @lora.layers.0.wq : tensor<1x16xf32>
// CHECK: mote.linear %{{.*}} : tensor<1x16xf32>, tensor<8x16xf32>
// CHECK: mote.lora_linear %{{.*}} site @lora.layers.0.w1 : tensor<1x16xf32>
// CHECK: mote.lora_linear %{{.*}} site @lora.layers.0.w2 : tensor<1x24xf32>

// PIPE-LABEL: func.func @prefill
// PIPE: mote.lora_linear {{.*}} site @lora.layers.0.wq {mote.kernel = "lora_linear_f32", mote.offset = {{[0-9]+}} : i64}
// PIPE: mote.lora_linear {{.*}} site @lora.layers.0.w1 {mote.kernel = "lora_linear_f32", mote.offset = {{[0-9]+}} : i64}
// PIPE: mote.lora_linear {{.*}} site @lora.layers.0.w2 {mote.kernel = "lora_linear_q4_f32", mote.offset = {{[0-9]+}} : i64}
// PIPE-LABEL: func.func @decode
// PIPE: mote.lora_linear {{.*}} site @lora.layers.0.wq {mote.kernel = "lora_linear_f32"

// DOWN: mote.lora_site @lora.layers.0.w2 {in_features = 24 : i64, max_rank = 32 : i64, out_features = 16 : i64}
// DOWN-NOT: mote.lora_site
// DOWN-COUNT-2: mote.lora_linear

module {
  mote.param @tok_embeddings : tensor<32x16xf32>
  mote.param @layers.0.wq : tensor<16x16xf32>
  mote.param @layers.0.bq : tensor<16xf32>
  mote.param @layers.0.wk : tensor<8x16xf32>
  mote.param @layers.0.w1 : tensor<24x16xf32>
  mote.param @layers.0.w2 {mote.quant = {bits = 4 : i64, f = "maxabs", group_size = 32 : i64}} : tensor<16x24xf32>

  func.func @prefill(%tok: tensor<2xi32>, %pos: tensor<2xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "prefill", mote.max_tokens = 2 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %bq = mote.weight @layers.0.bq : tensor<16xf32>
    %q = mote.linear %x, %wq bias %bq : tensor<2x16xf32>, tensor<16x16xf32>, tensor<16xf32> -> tensor<2x16xf32>
    %wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %k = mote.linear %q, %wk : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %w1 = mote.weight @layers.0.w1 : tensor<24x16xf32>
    %g = mote.linear %q, %w1 : tensor<2x16xf32>, tensor<24x16xf32> -> tensor<2x24xf32>
    %w2 = mote.weight @layers.0.w2 : tensor<16x24xf32>
    %d = mote.linear %g, %w2 : tensor<2x24xf32>, tensor<16x24xf32> -> tensor<2x16xf32>
    %l = mote.logits %d, %emb {all_rows = false} : tensor<2x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }

  func.func @decode(%tok: tensor<1xi32>, %pos: tensor<1xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "decode", mote.max_tokens = 1 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
    %wq = mote.weight @layers.0.wq : tensor<16x16xf32>
    %bq = mote.weight @layers.0.bq : tensor<16xf32>
    %q = mote.linear %x, %wq bias %bq : tensor<1x16xf32>, tensor<16x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
    %wk = mote.weight @layers.0.wk : tensor<8x16xf32>
    %k = mote.linear %q, %wk : tensor<1x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
    %w1 = mote.weight @layers.0.w1 : tensor<24x16xf32>
    %g = mote.linear %q, %w1 : tensor<1x16xf32>, tensor<24x16xf32> -> tensor<1x24xf32>
    %w2 = mote.weight @layers.0.w2 : tensor<16x24xf32>
    %d = mote.linear %g, %w2 : tensor<1x24xf32>, tensor<16x24xf32> -> tensor<1x16xf32>
    %l = mote.logits %d, %emb {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }
}
