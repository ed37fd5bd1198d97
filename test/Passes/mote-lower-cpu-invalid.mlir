// RUN: mote-opt %s -split-input-file -mote-lower-cpu -verify-diagnostics

mote.param @emb : tensor<32x16xf32>

// Tests that a function must be memory-planned before kernels are picked.
// expected-error@+1 {{was not memory-planned (no 'mote.arena_size'); run -mote-plan-memory before -mote-lower-cpu}}
func.func @unplanned(%tok: tensor<1xi32>) -> tensor<1x16xf32> {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
  return %x : tensor<1x16xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>

// Tests that every arena op of a planned function carries its offset.
func.func @partly(%tok: tensor<1xi32> {mote.offset = 0 : i64}) -> tensor<1x16xf32>
    attributes {mote.arena_size = 128 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  // expected-error@+1 {{has no 'mote.offset'; run -mote-plan-memory before -mote-lower-cpu}}
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
  return %x : tensor<1x16xf32>
}

// -----

mote.param @w16 : tensor<8x16xf16>

// Tests that a weight type without a CPU kernel (f16 today) is rejected.
func.func @half(%x: tensor<1x16xf32> {mote.offset = 0 : i64}) -> tensor<1x8xf32>
    attributes {mote.arena_size = 128 : i64} {
  %w = mote.weight @w16 : tensor<8x16xf16>
  // expected-error@+1 {{has no CPU kernel for element type 'f16' (the CPU target has f32 kernels only today)}}
  %y = mote.linear %x, %w {mote.offset = 64 : i64} : tensor<1x16xf32>, tensor<8x16xf16> -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

// -----

func.func private @external(tensor<1x16xf32>) -> tensor<1x16xf32>

// Tests that ops from other dialects (other than the terminator) have no CPU kernel.
func.func @foreign(%x: tensor<1x16xf32> {mote.offset = 0 : i64}) -> tensor<1x16xf32>
    attributes {mote.arena_size = 128 : i64} {
  // expected-error@+1 {{has no CPU kernel}}
  %y = func.call @external(%x) : (tensor<1x16xf32>) -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}
