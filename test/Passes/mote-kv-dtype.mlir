// RUN: mote-opt %s -mote-kv-dtype=dtype=q8 | FileCheck %s
// RUN: mote-opt %s -mote-kv-dtype=dtype=q8 -mote-cpu-pipeline | FileCheck %s --check-prefix=CPU
// RUN: mote-opt %s -mote-kv-dtype=dtype=q8 -mote-kv-dtype=dtype=f32 | FileCheck %s --check-prefix=BACK
// RUN: mote-opt %s -mote-kv-dtype=dtype=q8 | mote-opt | FileCheck %s

// Tests that q8 makes every KV cache an i8 tensor and retypes the kv_append
// results (so the attentions read i8 caches), that the shared layer's
// attention (reading layer 0's cache) follows, that the CPU target picks the
// q8 kernels for both ops and nothing else changes, that dtype=f32 undoes
// it, and that the i8 module round-trips through the printer and parser.
// CHECK: mote.kv_cache @kv.k.0 : tensor<64x8xi8>
// CHECK: mote.kv_cache @kv.v.0 : tensor<64x8xi8>
// CHECK: %[[KC:.*]] = mote.kv_append @kv.k.0[%{{.*}}] = %{{.*}} : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xi8>
// CHECK: %[[VC:.*]] = mote.kv_append @kv.v.0[%{{.*}}] = %{{.*}} : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xi8>
// CHECK: mote.attention %{{.*}}, %[[KC]], %[[VC]], %{{.*}} {{.*}} : tensor<2x16xf32>, tensor<64x8xi8>, tensor<64x8xi8>, tensor<2xi32> -> tensor<2x16xf32>
// CHECK: mote.attention %{{.*}}, %[[KC]], %[[VC]], %{{.*}} {{.*}} : tensor<2x16xf32>, tensor<64x8xi8>, tensor<64x8xi8>, tensor<2xi32> -> tensor<2x16xf32>

// CPU: mote.rope {{.*}}mote.kernel = "rope_f32"
// CPU: mote.kv_append {{.*}}{mote.kernel = "kv_append_q8_f32"}
// CPU: mote.kv_append {{.*}}{mote.kernel = "kv_append_q8_f32"}
// CPU: mote.attention {{.*}}mote.kernel = "attention_q8_f32"
// CPU: mote.attention {{.*}}mote.kernel = "attention_q8_f32"
// CPU: mote.logits {{.*}}mote.kernel = "logits_f32"

// BACK: mote.kv_cache @kv.k.0 : tensor<64x8xf32>
// BACK: mote.kv_append {{.*}} -> tensor<64x8xf32>
// BACK: mote.attention {{.*}} : tensor<2x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<2xi32> -> tensor<2x16xf32>

module {
  mote.param @emb : tensor<32x16xf32>
  mote.param @wk : tensor<8x16xf32>
  mote.kv_cache @kv.k.0 : tensor<64x8xf32>
  mote.kv_cache @kv.v.0 : tensor<64x8xf32>
  func.func @prefill(%tok: tensor<2xi32>, %pos: tensor<2xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "prefill", mote.max_tokens = 2 : i64, mote.context = 64 : i64} {
    %t = mote.weight @emb : tensor<32x16xf32>
    %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %wk = mote.weight @wk : tensor<8x16xf32>
    %k = mote.linear %x, %wk : tensor<2x16xf32>, tensor<8x16xf32> -> tensor<2x8xf32>
    %kr = mote.rope %k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<2x8xf32>, tensor<2xi32> -> tensor<2x8xf32>
    %kc = mote.kv_append @kv.k.0[%pos] = %kr : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %vc = mote.kv_append @kv.v.0[%pos] = %k : tensor<2x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
    %o = mote.attention %x, %kc, %vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<2x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %a = mote.add %o, %x : tensor<2x16xf32>
    %o2 = mote.attention %a, %kc, %vc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<2x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<2xi32> -> tensor<2x16xf32>
    %a2 = mote.add %o2, %a : tensor<2x16xf32>
    %l = mote.logits %a2, %t {all_rows = false} : tensor<2x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }
}
