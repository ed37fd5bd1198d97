// RUN: mote-opt %s | mote-opt | FileCheck %s

// Tests that mote.lora_site and mote.lora_linear (with and without bias)
// print and parse back unchanged.
// CHECK: mote.lora_site @lora.layers.0.wq {in_features = 16 : i64, max_rank = 4 : i64, out_features = 8 : i64}
// CHECK: mote.lora_linear %{{.*}}, %{{.*}} site @lora.layers.0.wq : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
// CHECK: mote.lora_linear %{{.*}}, %{{.*}} bias %{{.*}} site @lora.layers.0.wq : tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32> -> tensor<2x8xf32>
module {
  mote.param @w : tensor<8x16xf32>
  mote.param @b : tensor<8xf32>
  mote.lora_site @lora.layers.0.wq {in_features = 16 : i64, max_rank = 4 : i64, out_features = 8 : i64}
  func.func @f(%x: tensor<2x16xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
    %w = mote.weight @w : tensor<8x16xf32>
    %b = mote.weight @b : tensor<8xf32>
    %y = mote.lora_linear %x, %w site @lora.layers.0.wq : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %z = mote.lora_linear %x, %w bias %b site @lora.layers.0.wq : tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32> -> tensor<2x8xf32>
    return %y, %z : tensor<2x8xf32>, tensor<2x8xf32>
  }
}
