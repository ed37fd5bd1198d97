// RUN: mote-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of docs/dialect.md.

// Tests that a param has a static shape.
// expected-error@+1 {{type must be a statically shaped tensor}}
mote.param @p : tensor<?x4xf32>

// -----

// Tests that a param's element type is f32, f16 or bf16.
// expected-error@+1 {{element type must be f32, f16 or bf16, got 'i32'}}
mote.param @p : tensor<4xi32>

// -----

// Tests that a kv_cache has rank 2.
// expected-error@+1 {{type must have rank 2 (context x width)}}
mote.kv_cache @c : tensor<64xf32>

// -----

// Tests that a kv_cache holds f32 or i8: f16 is no KV dtype (yet).
// expected-error@+1 {{element type must be f32 or i8 (8-bit KV cache), got 'f16'}}
mote.kv_cache @c : tensor<64x8xf16>

// -----

// Tests that the 8-bit KV cache is signless i8 (not si8/ui8, not i4).
// expected-error@+1 {{element type must be f32 or i8 (8-bit KV cache), got 'ui8'}}
mote.kv_cache @c : tensor<64x8xui8>

// -----

// expected-error@+1 {{element type must be f32 or i8 (8-bit KV cache), got 'i4'}}
mote.kv_cache @c : tensor<64x8xi4>

// -----

// Tests that mote.weight names a mote.param, not another symbol.
mote.kv_cache @c : tensor<64x8xf32>
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{'c' does not name a mote.param}}
  %r = mote.weight @c : tensor<64x8xf32>
  return
}

// -----

// Tests that mote.weight's type equals its param's.
mote.param @p : tensor<4x8xf32>
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result type 'tensor<8x4xf32>' does not match the type 'tensor<4x8xf32>' of mote.param @p}}
  %r = mote.weight @p : tensor<8x4xf32>
  return
}

// -----

// Tests that operands have static shapes.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{must be statically shaped tensor}}
  %y = mote.add %a, %a : tensor<?x8xf32>
  return
}

// -----

// Tests that the embedding table has rank 2.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{table must have rank 2}}
  %x = mote.embedding %v[%tok] : tensor<32xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that embedding tokens are rank-1 i32.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{tokens must be a rank-1 i32 tensor}}
  %x = mote.embedding %t[%m] : tensor<32x16xf32>, tensor<4x16xf32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that the embedding result is (tokens, table columns).
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result shape must be (tokens=4, table columns=16)}}
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x8xf32>
  return
}

// -----

// Tests that activations are f32.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result must have element type f32}}
  %x = mote.embedding %t[%tok] : tensor<32x16xf32>, tensor<4xi32> -> tensor<4x16xf16>
  return
}

// -----

// Tests that the rms_norm weight has one entry per column of x.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{weight length must equal the 16 columns of x}}
  %y = mote.rms_norm %m, %e {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<8xf32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that rms_norm eps is positive.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{eps must be > 0}}
  %y = mote.rms_norm %m, %d {eps = 0.0 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that the rms_norm result has the type of x.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result type must equal the type of x}}
  %y = mote.rms_norm %m, %d {eps = 1.0e-05 : f32} : tensor<4x16xf32>, tensor<16xf32> -> tensor<1x16xf32>
  return
}

// -----

// Tests that the linear weight has the columns of x.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{weight must have 16 columns (the columns of x)}}
  %y = mote.linear %m, %w8 : tensor<4x16xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  return
}

// -----

// Tests that the linear bias has one entry per weight row.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{bias must be a rank-1 tensor of length 8}}
  %y = mote.linear %m, %w bias %d : tensor<4x16xf32>, tensor<8x16xf32>, tensor<16xf32> -> tensor<4x8xf32>
  return
}

// -----

// Tests that the linear result is (T, N).
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result shape must be (4, 8)}}
  %y = mote.linear %m, %w : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that rope positions have one row per token.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{positions must have 4 rows (one per token), got 2}}
  %y = mote.rope %m, %p2 {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<2xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that rope head_dim is even.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{head_dim must be positive, even and divide the 16 columns of x, got 3}}
  %y = mote.rope %m, %tok {head_dim = 3 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that rope head_dim divides the columns.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{head_dim must be positive, even and divide the 16 columns of x, got 6}}
  %y = mote.rope %m, %tok {head_dim = 6 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that rope style is interleaved or half.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{style must be "interleaved" or "half", got "neox"}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "neox", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that rope theta is positive.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{theta must be > 0}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "half", theta = -1.0 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that rope scaling is linear or llama3.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{scaling must be "linear" or "llama3", got "yarn"}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32, scaling = "yarn", factor = 4.0 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that a scaling needs a factor of at least 1.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{scaling "linear" needs a factor in [1, 1e6)}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32, scaling = "linear", factor = 0.5 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that linear scaling takes only a factor.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{scaling "linear" takes only a factor}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32, scaling = "linear", factor = 2.0 : f32, low_freq_factor = 1.0 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that llama3 scaling has all its parameters.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{scaling "llama3" needs low_freq_factor, high_freq_factor and original_max_positions}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32, scaling = "llama3", factor = 8.0 : f32, low_freq_factor = 1.0 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that llama3 scaling has low < high.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{scaling "llama3" needs 0 < low_freq_factor < high_freq_factor < 1e6 and original_max_positions in 1..2^24}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32, scaling = "llama3", factor = 8.0 : f32, low_freq_factor = 4.0 : f32, high_freq_factor = 1.0 : f32, original_max_positions = 64 : i64} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that scaling parameters need a kind.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{scaling parameters need a 'scaling' kind}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32, factor = 8.0 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that the rope result has the type of x.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result type must equal the type of x}}
  %y = mote.rope %m, %tok {head_dim = 4 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<4x16xf32>, tensor<4xi32> -> tensor<4x8xf32>
  return
}

// -----

// Tests that kv_append names a mote.kv_cache.
mote.param @c : tensor<64x8xf32>
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{'c' does not name a mote.kv_cache}}
  %c = mote.kv_append @c[%tok] = %k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x8xf32>
  return
}

// -----

// Tests that the kv_append result has the cache's type, or a prefix of its
// rows (mote-bucketize): more rows than the cache are rejected.
mote.kv_cache @c : tensor<64x8xf32>
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result type 'tensor<128x8xf32>' does not match the type 'tensor<64x8xf32>' of mote.kv_cache @c (nor is it a prefix of its rows)}}
  %c = mote.kv_append @c[%tok] = %k : tensor<4x8xf32>, tensor<4xi32> -> tensor<128x8xf32>
  return
}

// -----

// Tests that a prefix view of the cache must keep its width.
mote.kv_cache @c : tensor<64x8xf32>
func.func @f(%tok: tensor<4xi32>, %k: tensor<4x4xf32>) {
  // expected-error@+1 {{result type 'tensor<32x4xf32>' does not match the type 'tensor<64x8xf32>' of mote.kv_cache @c (nor is it a prefix of its rows)}}
  %c = mote.kv_append @c[%tok] = %k : tensor<4x4xf32>, tensor<4xi32> -> tensor<32x4xf32>
  return
}

// -----

// Tests that kv_append src has the cache's columns.
mote.kv_cache @c : tensor<64x16xf32>
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{src must have as many columns as the cache (16)}}
  %c = mote.kv_append @c[%tok] = %k : tensor<4x8xf32>, tensor<4xi32> -> tensor<64x16xf32>
  return
}

// -----

// Tests that kv_append positions have one row per src row.
mote.kv_cache @c : tensor<64x8xf32>
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{positions must have 4 rows (one per token), got 2}}
  %c = mote.kv_append @c[%p2] = %k : tensor<4x8xf32>, tensor<2xi32> -> tensor<64x8xf32>
  return
}

// -----

// Tests that attention caches have the same type.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{k_cache and v_cache must have the same type}}
  %o = mote.attention %m, %kc, %kc2, %tok {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<32x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that attention head counts are positive.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{num_heads, num_kv_heads and head_dim must be > 0}}
  %o = mote.attention %m, %kc, %kc, %tok {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 0 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that num_heads is a multiple of num_kv_heads.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{num_heads (4) must be a multiple of num_kv_heads (3)}}
  %o = mote.attention %m, %kc, %kc, %tok {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 3 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that q has num_heads*head_dim columns.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{q must have num_heads*head_dim = 8 columns, got 16}}
  %o = mote.attention %m, %kc, %kc, %tok {head_dim = 2 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that the caches have num_kv_heads*head_dim columns.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{caches must have num_kv_heads*head_dim = 4 columns, got 8}}
  %o = mote.attention %m, %kc, %kc, %tok {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 1 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that attention positions have one row per query row.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{positions must have 4 rows (one per token), got 2}}
  %o = mote.attention %m, %kc, %kc, %p2 {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<2xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that the attention scale is positive.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{scale must be > 0}}
  %o = mote.attention %m, %kc, %kc, %tok {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.0 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<4x16xf32>
  return
}

// -----

// Tests that the attention result has the type of q.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result type must equal the type of q}}
  %o = mote.attention %m, %kc, %kc, %tok {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<4x16xf32>, tensor<64x8xf32>, tensor<64x8xf32>, tensor<4xi32> -> tensor<2x16xf32>
  return
}

// -----

// Tests that swiglu operands and result have one type.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{requires the same type for all operands and results}}
  %y = "mote.swiglu"(%m, %m) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that swiglu works on rank-2 activations.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result must have rank 2}}
  %y = mote.swiglu %d, %d : tensor<16xf32>
  return
}

// -----

// Tests that add works on f32 activations.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result must have element type f32}}
  %y = mote.add %m2, %m2 : tensor<4x16xi32>
  return
}

// -----

// Tests that the logits weight has the columns of x.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{weight must have 16 columns (the columns of x)}}
  %l = mote.logits %m, %w8 {all_rows = true} : tensor<4x16xf32>, tensor<8x8xf32> -> tensor<4x8xf32>
  return
}

// -----

// Tests that logits without all_rows has one row.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result shape must be (1, 8) with all_rows = false}}
  %l = mote.logits %m, %w {all_rows = false} : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<4x8xf32>
  return
}

// -----

// Tests that logits with all_rows has one row per token.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{result shape must be (4, 8) with all_rows = true}}
  %l = mote.logits %m, %w {all_rows = true} : tensor<4x16xf32>, tensor<8x16xf32> -> tensor<1x8xf32>
  return
}

// -----

// Tests that mote.offset is a non-negative i64.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{'mote.offset' must be a non-negative i64 integer}}
  %y = mote.add %m, %m {mote.offset = "zero"} : tensor<4x16xf32>
  return
}

// -----

// Tests that mote.kernel is a string.
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{'mote.kernel' must be a string}}
  %y = mote.add %m, %m {mote.kernel = 3 : i64} : tensor<4x16xf32>
  return
}

// -----

// Tests that unknown mote. attributes are rejected (typos).
func.func @f(%tok: tensor<4xi32>, %p2: tensor<2xi32>, %m: tensor<4x16xf32>, %m2: tensor<4x16xi32>, %v: tensor<32xf32>, %t: tensor<32x16xf32>, %d: tensor<16xf32>, %w: tensor<8x16xf32>, %w8: tensor<8x8xf32>, %k: tensor<4x8xf32>, %kc: tensor<64x8xf32>, %kc2: tensor<32x8xf32>, %a: tensor<?x8xf32>, %e: tensor<8xf32>) {
  // expected-error@+1 {{unknown mote attribute 'mote.ofset'}}
  %y = mote.add %m, %m {mote.ofset = 0 : i64} : tensor<4x16xf32>
  return
}

// -----

// Tests that mote.last_row keeps one row.
func.func @f(%m: tensor<4x16xf32>) {
  // expected-error@+1 {{result must be x's type with one row ('tensor<1x16xf32>')}}
  %y = mote.last_row %m : tensor<4x16xf32> -> tensor<2x16xf32>
  return
}

// -----

// Tests that mote.last_row keeps the columns and element type.
func.func @f(%m: tensor<4x16xf32>) {
  // expected-error@+1 {{result must be x's type with one row}}
  %y = mote.last_row %m : tensor<4x16xf32> -> tensor<1x8xf32>
  return
}

// -----

// Tests that mote.last_row takes f32 activations or i32 positions only.
func.func @f(%m: tensor<4xf32>) {
  // expected-error@+1 {{x must be a rank-2 f32 activation or rank-1 i32 positions}}
  %y = mote.last_row %m : tensor<4xf32> -> tensor<1xf32>
  return
}
