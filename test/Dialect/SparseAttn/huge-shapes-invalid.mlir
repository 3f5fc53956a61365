// RUN: sparse-attn-opt %s --split-input-file --verify-diagnostics

// Tensors whose static dims multiply past 2^63 - 1 are rejected by every op
// (their strides would overflow the lowerings' index arithmetic; upstream
// memref folding crashed on them in the CPU pipeline).
func.func @select_topk_rows_overflow(%s: tensor<1x2x4611686018427387904x8xf32>) {
  // expected-error @+1 {{'sparse_attn.select_topk' op expects tensors of at most 2^63 - 1 elements, got 'tensor<1x2x4611686018427387904x8xf32>'}}
  %n, %i = sparse_attn.select_topk %s {k = 2, sink = 1, local = 1}
      : tensor<1x2x4611686018427387904x8xf32> -> tensor<1x2x4611686018427387904xi32>, tensor<1x2x4611686018427387904x4xi32>
  return
}

// -----

// Dynamic dims do not count; the static ones still must fit.
func.func @pool_static_dims_overflow(%x: tensor<?x4294967296x4294967296x64xbf16>) {
  // expected-error @+1 {{'sparse_attn.pool' op expects tensors of at most 2^63 - 1 elements}}
  %p = sparse_attn.pool mean %x {block = 64} : tensor<?x4294967296x4294967296x64xbf16> -> tensor<?x4294967296x67108864x64xf32>
  return
}

// -----

// Just below the limit: 2^62 elements verify.
func.func @near_limit(%x: tensor<1x1x4611686018427387904x1xbf16>) -> tensor<1x1x72057594037927936x1xf32> {
  %p = sparse_attn.pool max %x {block = 64} : tensor<1x1x4611686018427387904x1xbf16> -> tensor<1x1x72057594037927936x1xf32>
  return %p : tensor<1x1x72057594037927936x1xf32>
}

// -----

// block_mask results whose dims multiply past 2^63 (3037000500^2) or wrap
// to 0 in 64 bits (2^32 * 2^32): canonicalize and the linalg conversion
// aborted on them before the element count was checked.
func.func @block_mask_product_overflows() {
  // expected-error @+1 {{'sparse_attn.block_mask' op expects tensors of at most 2^63 - 1 elements, got 'tensor<3037000500x3037000500x1xi32>'}}
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 128, kv_len = 128}
      : tensor<3037000500x3037000500x1xi32>, tensor<3037000500x3037000500x1x1xi32>
  return
}

// -----

func.func @block_mask_product_wraps_to_zero() {
  // expected-error @+1 {{'sparse_attn.block_mask' op expects tensors of at most 2^63 - 1 elements, got 'tensor<4294967296x4294967296x1xi32>'}}
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 128, kv_len = 128}
      : tensor<4294967296x4294967296x1xi32>, tensor<4294967296x4294967296x1x1xi32>
  return
}
