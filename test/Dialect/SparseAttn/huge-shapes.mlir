// RUN: sparse-attn-opt %s --split-input-file --canonicalize | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-linalg | FileCheck %s --check-prefix=LINALG

// A block_mask whose result dims multiply past 2^63 (or wrap to 0 in 64
// bits) does not fold: its element count is computed with overflow checks
// and found past the folding limit, instead of overflowing into a small
// (or zero) count and allocating.
// CHECK-LABEL: func.func @product_overflows(
// CHECK: sparse_attn.block_mask
// LINALG-LABEL: func.func @product_overflows(
// LINALG-NOT: = sparse_attn.block_mask
func.func @product_overflows() -> (tensor<3037000500x3037000500x1xi32>, tensor<3037000500x3037000500x1x1xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 128, kv_len = 128}
      : tensor<3037000500x3037000500x1xi32>, tensor<3037000500x3037000500x1x1xi32>
  return %num, %idx : tensor<3037000500x3037000500x1xi32>, tensor<3037000500x3037000500x1x1xi32>
}

// -----

// CHECK-LABEL: func.func @product_wraps_to_zero(
// CHECK: sparse_attn.block_mask
func.func @product_wraps_to_zero() -> (tensor<4294967296x4294967296x1xi32>, tensor<4294967296x4294967296x1x1xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 128, kv_len = 128}
      : tensor<4294967296x4294967296x1xi32>, tensor<4294967296x4294967296x1x1xi32>
  return %num, %idx : tensor<4294967296x4294967296x1xi32>, tensor<4294967296x4294967296x1x1xi32>
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
