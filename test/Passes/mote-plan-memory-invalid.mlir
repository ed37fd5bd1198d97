// RUN: mote-opt %s -split-input-file -mote-plan-memory -verify-diagnostics

// Tests that only static f32/i32 tensors are placed in the arena.
// expected-error@+1 {{mote-plan-memory places only static f32/i32 tensors, got 'tensor<4xf16>'}}
func.func @f(%a: tensor<4xf16>) {
  return
}

// -----

func.func private @external() -> tensor<4x16xf32>

// Tests that results of ops from other dialects are not placed silently.
func.func @f() -> tensor<4x16xf32> {
  // expected-error@+1 {{mote-plan-memory places only single-result mote ops}}
  %x = func.call @external() : () -> tensor<4x16xf32>
  return %x : tensor<4x16xf32>
}
