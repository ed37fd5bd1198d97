// RUN: mote-opt %s -split-input-file -mote-plan-memory | FileCheck %s
// RUN: mote-opt %s -split-input-file -mote-plan-memory=strategy=naive | FileCheck %s --check-prefix=NAIVE

// Offsets below were worked out by hand from the live ranges (op index of the
// definition .. op index of the last use; arguments start at 0):
//   %tok [0,2] 16 B, %pos [0,0] 16 B, %x [2,3] 256 B, %y [3,4] 256 B,
//   %z [4,5] 256 B, %l [5,6] 128 B (returned, so live until the return).

mote.param @emb : tensor<32x16xf32>

// Tests that greedy planning keeps values that are live together apart
// (%x/%y, %y/%z, %z/%l, %tok/%x) and reuses the bytes of dead values
// (%z takes %x's bytes, %pos is dead before %x is born).
// CHECK-LABEL: func.func @chain
// CHECK-SAME: %{{.*}}: tensor<4xi32> {mote.offset = 256 : i64}
// CHECK-SAME: %{{.*}}: tensor<4xi32> {mote.offset = 0 : i64}
// CHECK-SAME: mote.arena_size = 512 : i64
// CHECK: mote.weight @emb
// CHECK-NOT: mote.offset
// CHECK-SAME: tensor<32x16xf32>
// CHECK-NEXT: mote.embedding {{.*}} {mote.offset = 0 : i64}
// CHECK-NEXT: mote.add {{.*}} {mote.offset = 256 : i64}
// CHECK-NEXT: mote.add {{.*}} {mote.offset = 0 : i64}
// CHECK-NEXT: mote.logits {{.*}}mote.offset = 256 : i64
// NAIVE-LABEL: func.func @chain
// NAIVE-SAME: {mote.offset = 0 : i64}
// NAIVE-SAME: {mote.offset = 64 : i64}
// NAIVE-SAME: mote.arena_size = 1024 : i64
// NAIVE: mote.embedding {{.*}} {mote.offset = 128 : i64}
// NAIVE-NEXT: mote.add {{.*}} {mote.offset = 384 : i64}
// NAIVE-NEXT: mote.add {{.*}} {mote.offset = 640 : i64}
// NAIVE-NEXT: mote.logits {{.*}}mote.offset = 896 : i64
func.func @chain(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32> {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %y = mote.add %x, %x : tensor<4x16xf32>
  %z = mote.add %y, %y : tensor<4x16xf32>
  %l = mote.logits %z, %t {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>
mote.kv_cache @kv : tensor<8x16xf32>

// Tests that a long-lived residual keeps its bytes while short-lived values
// around it reuse each other's, and that kv_append results get no offset.
// Live ranges: %tok [0,2] %pos [0,4] %r [2,6] %a [3,5] %b [5,6] %s [6,7];
// 256 B each except the arguments (16 B). %s reuses %a's bytes (the gap
// between %r and %b); %tok reuses them too, before %a is born.
// CHECK-LABEL: func.func @residual
// CHECK-SAME: %{{.*}}: tensor<4xi32> {mote.offset = 256 : i64}
// CHECK-SAME: %{{.*}}: tensor<4xi32> {mote.offset = 512 : i64}
// CHECK-SAME: mote.arena_size = 768 : i64
// CHECK: %[[R:.*]] = mote.embedding {{.*}} {mote.offset = 0 : i64}
// CHECK-NEXT: mote.add {{.*}} {mote.offset = 256 : i64}
// CHECK-NEXT: mote.kv_append
// CHECK-NOT: mote.offset
// CHECK-SAME: -> tensor<8x16xf32>
// CHECK-NEXT: mote.add {{.*}} {mote.offset = 512 : i64}
// CHECK-NEXT: mote.add %[[R]], {{.*}} {mote.offset = 256 : i64}
func.func @residual(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<4x16xf32> {
  %t = mote.weight @emb : tensor<32x16xf32>
  %r = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %a = mote.add %r, %r : tensor<4x16xf32>
  %c = mote.kv_append @kv[%pos] = %a : tensor<4x16xf32>, tensor<4xi32> -> tensor<8x16xf32>
  %b = mote.add %a, %a : tensor<4x16xf32>
  %s = mote.add %r, %b : tensor<4x16xf32>
  return %s : tensor<4x16xf32>
}
