// RUN: not mote-opt %s -mote-kv-dtype=dtype=f16 2>&1 | FileCheck %s --check-prefix=F16
// RUN: not mote-opt %s -mote-kv-dtype=dtype=q4 2>&1 | FileCheck %s --check-prefix=Q4
// RUN: mote-opt %s -mote-kv-dtype=dtype=q8 -verify-diagnostics

// Tests that mote-kv-dtype takes only f32 and q8 (f16 and 4-bit KV caches
// have no kernels), and that it refuses a cache value read by an op other
// than attention (that op would get an i8 operand it has no rule for).
// F16: error: mote-kv-dtype: dtype 'f16' is not supported (f32 or q8)
// Q4: error: mote-kv-dtype: dtype 'q4' is not supported (f32 or q8)

mote.kv_cache @kv : tensor<64x8xf32>
func.func @f(%k: tensor<1x8xf32>, %pos: tensor<1xi32>) -> tensor<64x8xf32> {
  %kc = mote.kv_append @kv[%pos] = %k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
  // expected-error@+1 {{reads KV cache @kv; mote-kv-dtype can only retype caches that attention reads}}
  %y = mote.add %kc, %kc : tensor<64x8xf32>
  return %y : tensor<64x8xf32>
}
