// RUN: mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy=w2 group=32" | FileCheck %s --check-prefix=W2
// RUN: mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy=w8 group=0 f=search embed=8" | FileCheck %s --check-prefix=W8
// RUN: mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy=w4 embed=0" | FileCheck %s --check-prefix=NOEMB
// RUN: mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy=w2 policy-file=%S/Inputs/quant-policy.json" | FileCheck %s --check-prefix=FILE
// RUN: mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy=w4 group=64" -mote-plan-memory -mote-lower-cpu | FileCheck %s --check-prefix=LOWER
// RUN: mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy=w2 group=128" -mote-plan-memory -mote-lower-cpu | FileCheck %s --check-prefix=LOWER2
// RUN: mote-opt %S/Inputs/quant-model.mlir -mote-quantize="policy=f16 embed=16" -mote-plan-memory -mote-lower-cpu | FileCheck %s --check-prefix=F16

// Tests the default policy: linear weights at the policy's bits, the tied
// embedding/classifier table at 4 bits, norms, biases and unused params f32.
// W2: mote.param @tok_embeddings {mote.quant = {bits = 4 : i64, f = "maxabs", group_size = 32 : i64}}
// W2-NEXT: mote.param @layers.0.attn_norm :
// W2-NEXT: mote.param @layers.0.wq {mote.quant = {bits = 2 : i64, f = "maxabs", group_size = 32 : i64}}
// W2-NEXT: mote.param @layers.0.bq :
// W2-NEXT: mote.param @layers.0.w2 :
// W2-NEXT: mote.param @unused :

// Tests group 0 (whole row), f=search and embed=8.
// W8: mote.param @tok_embeddings {mote.quant = {bits = 8 : i64, f = "search", group_size = 0 : i64}}
// W8: mote.param @layers.0.wq {mote.quant = {bits = 8 : i64, f = "search", group_size = 0 : i64}}

// Tests that embed=0 keeps the table f32.
// NOEMB: mote.param @tok_embeddings :
// NOEMB: mote.param @layers.0.wq {mote.quant = {bits = 4 : i64

// Tests per-param overrides from a policy file.
// FILE: mote.param @tok_embeddings :
// FILE: mote.param @layers.0.wq {mote.quant = {bits = 8 : i64, f = "maxabs", group_size = 32 : i64}}

// Tests that mote-lower-cpu names the quantized kernels (bits in the name).
// LOWER: mote.embedding {{.*}}mote.kernel = "embedding_q4_f32"
// LOWER: mote.rms_norm {{.*}}mote.kernel = "rms_norm_f32"
// LOWER: mote.linear {{.*}}mote.kernel = "linear_q4_f32"
// LOWER: mote.logits {{.*}}mote.kernel = "logits_q4_f32"
// LOWER2: mote.linear {{.*}}mote.kernel = "linear_q2_f32"
// LOWER2: mote.logits {{.*}}mote.kernel = "logits_q4_f32"

// Tests f16 storage: bits 16 and nothing else; norms and biases stay f32;
// the kernels read half weights ("_f16_f32": f16 W, f32 activations).
// F16: mote.param @tok_embeddings {mote.quant = {bits = 16 : i64}}
// F16-NEXT: mote.param @layers.0.attn_norm :
// F16-NEXT: mote.param @layers.0.wq {mote.quant = {bits = 16 : i64}}
// F16-NEXT: mote.param @layers.0.bq :
// F16: mote.embedding {{.*}}mote.kernel = "embedding_f16_f32"
// F16: mote.rms_norm {{.*}}mote.kernel = "rms_norm_f32"
// F16: mote.linear {{.*}}mote.kernel = "linear_f16_f32"
// F16: mote.logits {{.*}}mote.kernel = "logits_f16_f32"
