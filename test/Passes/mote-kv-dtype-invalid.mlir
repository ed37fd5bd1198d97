// RUN: mote-opt %s -split-input-file -verify-diagnostics

// Tests that the dialect rejects an i8 kv_append result that does not match
// an f32 cache and an attention whose k and v caches differ in element type
// (mote-kv-dtype retypes caches and appends together).

mote.kv_cache @kv : tensor<64x8xf32>
func.func @f(%k: tensor<1x8xf32>, %pos: tensor<1xi32>) {
  // expected-error@+1 {{result type 'tensor<64x8xi8>' does not match the type 'tensor<64x8xf32>' of mote.kv_cache @kv}}
  %kc = mote.kv_append @kv[%pos] = %k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xi8>
  return
}

// -----

mote.kv_cache @k8 : tensor<64x8xi8>
mote.kv_cache @v32 : tensor<64x8xf32>
func.func @g(%q: tensor<1x16xf32>, %k: tensor<1x8xf32>, %pos: tensor<1xi32>) {
  %kc = mote.kv_append @k8[%pos] = %k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xi8>
  %vc = mote.kv_append @v32[%pos] = %k : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
  // expected-error@+1 {{k_cache and v_cache must have the same type}}
  %o = mote.attention %q, %kc, %vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<1x16xf32>, tensor<64x8xi8>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
  return
}
