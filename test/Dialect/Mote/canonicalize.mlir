// RUN: mote-opt %s -canonicalize | FileCheck %s

mote.param @emb : tensor<32x16xf32>
mote.kv_cache @kv : tensor<64x16xf32>

// Tests that canonicalize drops unused pure ops (and unused attention, which
// only reads the cache) but keeps a kv_append whose result is unused: it
// writes the persistent cache.
// CHECK-LABEL: func.func @effects
// CHECK-NEXT: mote.weight
// CHECK-NEXT: mote.embedding
// CHECK-NEXT: mote.kv_append
// CHECK-NOT: mote.add
// CHECK-NOT: mote.attention
// CHECK-NEXT: return
func.func @effects(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<4x16xf32> {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %c = mote.kv_append @kv[%pos] = %x : tensor<4x16xf32>, tensor<4xi32> -> tensor<64x16xf32>
  %dead = mote.add %x, %x : tensor<4x16xf32>
  %o = mote.attention %x, %c, %c, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return %x : tensor<4x16xf32>
}
