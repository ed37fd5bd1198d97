// RUN: not mote-opt %s -mote-plan-memory=strategy=clever 2>&1 | FileCheck %s

// Tests that an unknown strategy is rejected with the valid choices.
// CHECK: mote-plan-memory: unknown strategy 'clever' (use 'greedy' or 'naive')
func.func @f(%a: tensor<4xi32>) {
  return
}
