// RUN: not mote-opt %S/Inputs/quant-model.mlir -mote-quantize="group=48" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy=w3" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not mote-opt %S/Inputs/quant-model.mlir -mote-quantize="embed=3" 2>&1 | FileCheck %s --check-prefix=EMBED
// RUN: not mote-opt %S/Inputs/quant-model.mlir -mote-quantize="f=mse" 2>&1 | FileCheck %s --check-prefix=FMODE
// RUN: not mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy-file=%S/Inputs/quant-policy-norm.json" 2>&1 | FileCheck %s --check-prefix=NORM
// RUN: not mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy-file=%S/Inputs/quant-policy-missing.json" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy-file=%S/Inputs/no-such-policy.json" 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: not mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy-file=%S/Inputs/quant-policy-norm-f16.json" 2>&1 | FileCheck %s --check-prefix=NORM16
// RUN: mote-opt %s -split-input-file -verify-diagnostics

// GROUP: error: mote-quantize: group 48: unsupported group size (32, 64, 128 or 0 = whole row)
// BITS: error: mote-quantize: policy 'w3': unsupported width (w2, w4, w8, f16 or f32)
// EMBED: error: mote-quantize: embed 3: unsupported bits (2, 4, 8, 16 = f16 or 0 = f32)
// FMODE: error: mote-quantize: f 'mse': must be maxabs or search
// NORM: quant-policy-norm.json: field 'layers.0.attn_norm': w4 is not a width this weight's ops can take
// NORM16: quant-policy-norm-f16.json: field 'layers.0.attn_norm': f16 is not a width this weight's ops can take
// MISSING: quant-policy-missing.json: field 'layers.9.wq': no mote.param of that name
// NOFILE: no-such-policy.json: cannot read the weights policy

// The dialect's own checks of mote.quant (what a hand-written or rewritten
// IR may carry).

// expected-error@+1 {{'mote.quant': bits must be 2, 4, 8 or 16}}
mote.param @a {mote.quant = {bits = 3 : i64, f = "maxabs", group_size = 32 : i64}} : tensor<8x32xf32>

// -----

// expected-error@+1 {{'mote.quant': group_size must be 32, 64, 128 or 0 (whole row)}}
mote.param @a {mote.quant = {bits = 2 : i64, f = "maxabs", group_size = 16 : i64}} : tensor<8x32xf32>

// -----

// expected-error@+1 {{'mote.quant': only rank-2 params can be quantized}}
mote.param @n {mote.quant = {bits = 4 : i64, f = "maxabs", group_size = 32 : i64}} : tensor<32xf32>

// -----

// expected-error@+1 {{'mote.quant': f must be "maxabs" or "search"}}
mote.param @a {mote.quant = {bits = 4 : i64, f = "mse", group_size = 0 : i64}} : tensor<8x32xf32>

// -----

// expected-error@+1 {{'mote.quant': unknown field 'zero'}}
mote.param @a {mote.quant = {bits = 4 : i64, f = "maxabs", group_size = 0 : i64, zero = 1 : i64}} : tensor<8x32xf32>

// -----

// f16 storage (bits 16) has no grid: nothing but bits.
// expected-error@+1 {{'mote.quant': bits 16 (f16 storage) takes no other field}}
mote.param @a {mote.quant = {bits = 16 : i64, group_size = 32 : i64}} : tensor<8x32xf32>

// -----

// expected-error@+1 {{'mote.quant' is only allowed on mote.param}}
mote.kv_cache @kv {mote.quant = {bits = 8 : i64, f = "maxabs", group_size = 0 : i64}} : tensor<64x8xf32>
