// RUN: mote-opt %s -split-input-file -mote-lower-cpu | FileCheck %s

mote.param @emb : tensor<32x16xf32>
mote.param @n : tensor<16xf32>
mote.param @wk : tensor<8x16xf32>
mote.param @bk : tensor<8xf32>
mote.kv_cache @kv : tensor<64x8xf32>

// Tests that every compute op of a planned function gets its f32 kernel, that
// weights get none, and that the function is marked for the CPU target.
// CHECK-LABEL: func.func @planned
// CHECK-SAME: mote.target = "cpu"
// CHECK-NEXT: mote.weight @emb
// CHECK-NOT: mote.kernel
// CHECK-SAME: tensor<32x16xf32>
// CHECK-NEXT: mote.embedding {{.*}}{mote.kernel = "embedding_f32", mote.offset = 0 : i64}
// CHECK: mote.rms_norm {{.*}}mote.kernel = "rms_norm_f32"
// CHECK: mote.linear {{.*}} bias {{.*}}{mote.kernel = "linear_f32", mote.offset = 128 : i64}
// CHECK-NEXT: mote.rope {{.*}}mote.kernel = "rope_f32"
// CHECK-NEXT: mote.kv_append {{.*}}{mote.kernel = "kv_append_f32"}
// CHECK-NEXT: mote.attention {{.*}}mote.kernel = "attention_f32"
// CHECK-NEXT: mote.swiglu {{.*}}{mote.kernel = "swiglu_f32", mote.offset = 64 : i64}
// CHECK-NEXT: mote.add {{.*}}{mote.kernel = "add_f32", mote.offset = 128 : i64}
// CHECK-NEXT: mote.logits {{.*}}mote.kernel = "logits_f32"
func.func @planned(%tok: tensor<1xi32> {mote.offset = 256 : i64}, %pos: tensor<1xi32> {mote.offset = 320 : i64}) -> tensor<1x32xf32>
    attributes {mote.arena_size = 384 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] {mote.offset = 0 : i64} : tensor<32x16xf32>, tensor<1xi32> -> tensor<1x16xf32>
  %nw = mote.weight @n : tensor<16xf32>
  %h = mote.rms_norm %x, %nw {eps = 1.0e-05 : f32, mote.offset = 64 : i64} : tensor<1x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
  %wk = mote.weight @wk : tensor<8x16xf32>
  %bk = mote.weight @bk : tensor<8xf32>
  %k = mote.linear %h, %wk bias %bk {mote.offset = 128 : i64} : tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %kr = mote.rope %k, %pos {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32, mote.offset = 192 : i64} : tensor<1x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
  %kc = mote.kv_append @kv[%pos] = %kr : tensor<1x8xf32>, tensor<1xi32> -> tensor<64x8xf32>
  %o = mote.attention %h, %kc, %kc, %pos {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32, mote.offset = 0 : i64} : tensor<1x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<1xi32> -> tensor<1x16xf32>
  %s = mote.swiglu %o, %h {mote.offset = 64 : i64} : tensor<1x16xf32>
  %a = mote.add %s, %x {mote.offset = 128 : i64} : tensor<1x16xf32>
  %l = mote.logits %a, %t {all_rows = false, mote.offset = 0 : i64} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}
