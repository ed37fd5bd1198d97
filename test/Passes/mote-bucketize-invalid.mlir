// RUN: mote-opt %s -mote-bucketize="prefill=1,8 context=16,128" -verify-diagnostics
// RUN: not mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="context=16" 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=1,8" 2>&1 | FileCheck %s --check-prefix=EMPTYC
// RUN: not mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=0,8 context=16" 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=8,1 context=16" 2>&1 | FileCheck %s --check-prefix=UNSORTED
// RUN: not mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=1,8,8 context=16" 2>&1 | FileCheck %s --check-prefix=DUP
// RUN: not mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=1 context=32,16" 2>&1 | FileCheck %s --check-prefix=UNSORTEDC
// RUN: not mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=1,32 context=16,64" 2>&1 | FileCheck %s --check-prefix=TBIG
// RUN: not mote-opt %S/Inputs/bucket-model.mlir -mote-bucketize="prefill=1 context=16" -mote-bucketize="prefill=1 context=16" 2>&1 | FileCheck %s --check-prefix=TWICE

// Tests mote-bucketize's rejections: a context bucket above the graph's
// mote.context (the KV cache's rows; -verify-diagnostics below); empty,
// zero, unsorted and repeated bucket lists; a token bucket above the
// smallest context bucket; a clone name already taken (running it twice).
// EMPTY: error: mote-bucketize: prefill bucket list is empty
// EMPTYC: error: mote-bucketize: context bucket list is empty
// ZERO: error: mote-bucketize: prefill bucket 0 must be positive
// UNSORTED: error: mote-bucketize: prefill buckets must be strictly increasing (no duplicates), got 8 then 1
// DUP: error: mote-bucketize: prefill buckets must be strictly increasing (no duplicates), got 8 then 8
// UNSORTEDC: error: mote-bucketize: context buckets must be strictly increasing (no duplicates), got 32 then 16
// TBIG: error: mote-bucketize: prefill bucket 32 exceeds the smallest context bucket 16 (a chunk must fit every context)
// TWICE: error: 'func.func' op mote-bucketize: symbol @prefill_t1_c16 already exists

module {
  mote.param @tok_embeddings : tensor<32x16xf32>
  mote.kv_cache @kv.k.0 : tensor<64x16xf32>
  // expected-error@+1 {{mote-bucketize: context bucket 128 exceeds the graph's mote.context 64 (the KV cache's rows)}}
  func.func @prefill(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
      attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
    %emb = mote.weight @tok_embeddings : tensor<32x16xf32>
    %x = mote.embedding %emb[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
    %kc = mote.kv_append @kv.k.0[%pos] = %x : tensor<4x16xf32>, tensor<4xi32> -> tensor<64x16xf32>
    %l = mote.logits %x, %emb {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
    return %l : tensor<1x32xf32>
  }
}
