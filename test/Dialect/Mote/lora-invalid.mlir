// RUN: mote-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of mote.lora_site / mote.lora_linear.

// Tests that a site's max_rank is in 1..256.
// expected-error@+1 {{max_rank 300 must be in 1..256}}
mote.lora_site @s {in_features = 16 : i64, max_rank = 300 : i64, out_features = 8 : i64}

// -----

// Tests that a site has positive K and N.
// expected-error@+1 {{in_features and out_features must be positive}}
mote.lora_site @s {in_features = 0 : i64, max_rank = 4 : i64, out_features = 8 : i64}

// -----

// Tests that lora_linear's site names a mote.lora_site.
mote.param @w : tensor<8x16xf32>
func.func @f(%x: tensor<2x16xf32>) {
  %w = mote.weight @w : tensor<8x16xf32>
  // expected-error@+1 {{'w' does not name a mote.lora_site}}
  %y = mote.lora_linear %x, %w site @w : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
  return
}

// -----

// Tests that the site's K and N are the weight's.
mote.param @w : tensor<8x16xf32>
mote.lora_site @s {in_features = 16 : i64, max_rank = 4 : i64, out_features = 4 : i64}
func.func @f(%x: tensor<2x16xf32>) {
  %w = mote.weight @w : tensor<8x16xf32>
  // expected-error@+1 {{site @s is 4x16 but the weight is 8x16}}
  %y = mote.lora_linear %x, %w site @s : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
  return
}

// -----

// Tests that lora_linear checks shapes as mote.linear does.
mote.param @w : tensor<8x16xf32>
mote.lora_site @s {in_features = 16 : i64, max_rank = 4 : i64, out_features = 8 : i64}
func.func @f(%x: tensor<2x16xf32>) {
  %w = mote.weight @w : tensor<8x16xf32>
  // expected-error@+1 {{result shape must be (2, 8)}}
  %y = mote.lora_linear %x, %w site @s : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x4xf32>
  return
}
