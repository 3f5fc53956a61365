// RUN: sparse-attn-opt %s --split-input-file --canonicalize | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-linalg | FileCheck %s --check-prefix=LINALG

// A block_mask whose result holds more elements than the folding limit
// (2^32 and 2^62 here, counted with overflow checks) is left for the
// runtime instead of materializing its lists. (Dims that multiply past
// 2^63 are rejected by the verifier: huge-shapes-invalid.mlir.)
// CHECK-LABEL: func.func @past_folding_limit(
// CHECK: sparse_attn.block_mask
// LINALG-LABEL: func.func @past_folding_limit(
// LINALG-NOT: = sparse_attn.block_mask
func.func @past_folding_limit() -> (tensor<2147483648x2x1xi32>, tensor<2147483648x2x1x1xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 128, kv_len = 128}
      : tensor<2147483648x2x1xi32>, tensor<2147483648x2x1x1xi32>
  return %num, %idx : tensor<2147483648x2x1xi32>, tensor<2147483648x2x1x1xi32>
}

// -----

// CHECK-LABEL: func.func @near_int64_limit(
// CHECK: sparse_attn.block_mask
func.func @near_int64_limit() -> (tensor<2147483648x2147483648x1xi32>, tensor<2147483648x2147483648x1x1xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 128, kv_len = 128}
      : tensor<2147483648x2147483648x1xi32>, tensor<2147483648x2147483648x1x1xi32>
  return %num, %idx : tensor<2147483648x2147483648x1xi32>, tensor<2147483648x2147483648x1x1xi32>
}

// -----

// Near the limit on the other side: a small static block_mask still folds.
// CHECK-LABEL: func.func @small_folds(
// CHECK-NOT: sparse_attn.block_mask
// CHECK: arith.constant dense<1> : tensor<2x2x1xi32>
func.func @small_folds() -> (tensor<2x2x1xi32>, tensor<2x2x1x1xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 128, kv_len = 128}
      : tensor<2x2x1xi32>, tensor<2x2x1x1xi32>
  return %num, %idx : tensor<2x2x1xi32>, tensor<2x2x1x1xi32>
}
