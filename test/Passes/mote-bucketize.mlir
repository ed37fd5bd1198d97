// RUN: mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=1,8 context=16,32" | FileCheck %s
// RUN: mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=1,8 context=16,32" -mote-cpu-pipeline | FileCheck %s --check-prefix=PIPE

// Tests that mote-bucketize keeps the original graphs and adds one clone per
// (token bucket, context bucket) of prefill and one per context bucket of
// decode, named prefill_t<T>_c<C> / decode_c<C>, with mote.bucket,
// mote.max_tokens = T and mote.context = C; activations get T rows, the
// kv_append results (cache views) C rows, values after mote.last_row and the
// logits keep 1 row (a T = 1 clone drops its mote.last_row: one row is the
// last). The score graph is not cloned. After the CPU pipeline
// every clone has its own arena (mote.arena_size).

// CHECK-LABEL: func.func @prefill(%{{.*}}: tensor<4xi32>, %{{.*}}: tensor<4xi32>) -> tensor<1x32xf32>
// CHECK: mote.kv_append {{.*}} -> tensor<64x8xf32>
// CHECK-LABEL: func.func @decode(
// CHECK-LABEL: func.func @score(
// CHECK-LABEL: func.func @prefill_t1_c16(%{{.*}}: tensor<1xi32>, %{{.*}}: tensor<1xi32>) -> tensor<1x32xf32>
// CHECK-SAME: mote.bucket, mote.context = 16 : i64, mote.graph_kind = "prefill", mote.max_tokens = 1 : i64
// CHECK: mote.kv_append @kv.k.0[%{{.*}}] = %{{.*}} : tensor<1x8xf32>, tensor<1xi32> -> tensor<16x8xf32>
// CHECK-NOT: mote.last_row
// CHECK-LABEL: func.func @prefill_t1_c32(
// CHECK-SAME: mote.context = 32 : i64
// CHECK-LABEL: func.func @prefill_t8_c16(%{{.*}}: tensor<8xi32>, %{{.*}}: tensor<8xi32>) -> tensor<1x32xf32>
// CHECK-SAME: mote.bucket, mote.context = 16 : i64, mote.graph_kind = "prefill", mote.max_tokens = 8 : i64
// CHECK: mote.embedding {{.*}} -> tensor<8x16xf32>
// CHECK: mote.linear {{.*}} : tensor<8x16xf32>, tensor<8x16xf32> -> tensor<8x8xf32>
// CHECK: mote.kv_append @kv.k.0[%{{.*}}] = %{{.*}} : tensor<8x8xf32>, tensor<8xi32> -> tensor<16x8xf32>
// CHECK: mote.attention {{.*}} : tensor<8x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8xi32> -> tensor<8x16xf32>
// CHECK: mote.last_row %{{.*}} : tensor<8x16xf32> -> tensor<1x16xf32>
// CHECK: mote.rms_norm {{.*}} -> tensor<1x16xf32>
// CHECK: mote.logits {{.*}} -> tensor<1x32xf32>
// CHECK-LABEL: func.func @prefill_t8_c32(
// CHECK: mote.attention {{.*}} : tensor<8x16xf32>, tensor<32x8xf32>, tensor<32x8xf32>, tensor<8xi32> -> tensor<8x16xf32>
// CHECK-LABEL: func.func @decode_c16(%{{.*}}: tensor<1xi32>, %{{.*}}: tensor<1xi32>) -> tensor<1x32xf32>
// CHECK-SAME: mote.bucket, mote.context = 16 : i64, mote.graph_kind = "decode", mote.max_tokens = 1 : i64
// CHECK: mote.kv_append {{.*}} -> tensor<16x8xf32>
// CHECK-LABEL: func.func @decode_c32(
// CHECK: mote.kv_append {{.*}} -> tensor<32x8xf32>
// CHECK-NOT: func.func @score_
// CHECK-NOT: func.func

// PIPE-LABEL: func.func @prefill_t8_c16(
// PIPE-SAME: mote.arena_size =
// PIPE-LABEL: func.func @decode_c32(
// PIPE-SAME: mote.arena_size =
