// RUN: mote-opt %s -split-input-file -mote-verify -verify-diagnostics

mote.param @emb : tensor<32x16xf32>

// Tests that a graph must say how many tokens a call runs.
// expected-error@+1 {{graph function needs a positive 'mote.max_tokens' attribute (tokens per call)}}
func.func @g(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
    attributes {mote.graph_kind = "prefill", mote.context = 64 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %l = mote.logits %x, %t {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>

// Tests that a graph must say how many KV rows it addresses.
// expected-error@+1 {{graph function needs a positive 'mote.context' attribute}}
func.func @g(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
    attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 0 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %l = mote.logits %x, %t {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>

// Tests that the arguments are (tokens, positions) with T = mote.max_tokens rows.
// expected-error@+1 {{graph function must take (tokens, positions) as two 'tensor<8xi32>' arguments (T = mote.max_tokens), got 2 argument(s)}}
func.func @g(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
    attributes {mote.graph_kind = "prefill", mote.max_tokens = 8 : i64, mote.context = 64 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %l = mote.logits %x, %t {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>

// Tests that a graph returns the output of mote.logits, nothing else.
// expected-error@+1 {{graph function must return exactly one value, produced by mote.logits}}
func.func @g(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<4x16xf32>
    attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return %x : tensor<4x16xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>
mote.kv_cache @kv : tensor<32x16xf32>

// Tests that every KV cache a graph writes has at least mote.context rows.
func.func @g(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
    attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  // expected-error@+1 {{KV cache @kv has 32 rows, fewer than the graph's mote.context (64)}}
  %c = mote.kv_append @kv[%pos] = %x : tensor<4x16xf32>, tensor<4xi32> -> tensor<32x16xf32>
  %l = mote.logits %x, %t {all_rows = false} : tensor<4x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>
mote.kv_cache @kv : tensor<64x16xf32>

// Tests that a kv_append cannot take a value derived from mote.last_row: it
// would write one row of the T rows the call appends.
func.func @g(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
    attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %x1 = mote.last_row %x : tensor<4x16xf32> -> tensor<1x16xf32>
  %p1 = mote.last_row %pos : tensor<4xi32> -> tensor<1xi32>
  // expected-error@+1 {{operand derived from mote.last_row (one row) where 4 rows (mote.max_tokens of the graph) are needed}}
  %c = mote.kv_append @kv[%p1] = %x1 : tensor<1x16xf32>, tensor<1xi32> -> tensor<64x16xf32>
  %l = mote.logits %x1, %t {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}

// -----

mote.param @emb : tensor<32x16xf32>

// Tests that mote.last_row takes a T-row value, not one already pruned.
func.func @g(%tok: tensor<4xi32>, %pos: tensor<4xi32>) -> tensor<1x32xf32>
    attributes {mote.graph_kind = "prefill", mote.max_tokens = 4 : i64, mote.context = 64 : i64} {
  %t = mote.weight @emb : tensor<32x16xf32>
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  %x1 = mote.last_row %x : tensor<4x16xf32> -> tensor<1x16xf32>
  // expected-error@+1 {{operand derived from mote.last_row (one row) where 4 rows}}
  %x2 = mote.last_row %x1 : tensor<1x16xf32> -> tensor<1x16xf32>
  %l = mote.logits %x2, %t {all_rows = false} : tensor<1x16xf32>, tensor<32x16xf32> -> tensor<1x32xf32>
  return %l : tensor<1x32xf32>
}
