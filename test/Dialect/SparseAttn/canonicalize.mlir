// Mask simplification and block_mask folding.
// RUN: sparse-attn-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @flatten_nested_intersect
// CHECK: mask = #sparse_attn.intersect<[#sparse_attn.document, #sparse_attn.sink_window<sink = 4, window = 64>]>
func.func @flatten_nested_intersect(%q: tensor<1x4x64x8xf32>, %k: tensor<1x4x64x8xf32>, %s: tensor<1x64xi32>)
    -> (tensor<1x4x64x8xf32>, tensor<1x4x64xf32>) {
  %o, %l = sparse_attn.attention %q, %k, %k segment_ids(%s, %s : tensor<1x64xi32>, tensor<1x64xi32>)
      {mask = #sparse_attn.intersect<[#sparse_attn.document, #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sink_window<sink = 4, window = 64>]>]>}
      : tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32> -> tensor<1x4x64x8xf32>, tensor<1x4x64xf32>
  return %o, %l : tensor<1x4x64x8xf32>, tensor<1x4x64xf32>
}

// -----

// CHECK-LABEL: func.func @flatten_nested_union
// CHECK: mask = #sparse_attn.union<[#sparse_attn.sink_window<sink = 4, window = 0>, #sparse_attn.sliding_window<left = 8, right = 8>, #sparse_attn.causal]>
func.func @flatten_nested_union(%q: tensor<1x4x64x8xf32>, %k: tensor<1x4x64x8xf32>)
    -> (tensor<1x4x64x8xf32>, tensor<1x4x64xf32>) {
  %o, %l = sparse_attn.attention %q, %k, %k
      {mask = #sparse_attn.union<[#sparse_attn.sink_window<sink = 4, window = 0>, #sparse_attn.union<[#sparse_attn.sliding_window<left = 8, right = 8>, #sparse_attn.union<[#sparse_attn.causal]>]>, #sparse_attn.causal]>}
      : tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32> -> tensor<1x4x64x8xf32>, tensor<1x4x64xf32>
  return %o, %l : tensor<1x4x64x8xf32>, tensor<1x4x64xf32>
}

// -----

// A one-element combinator is its element, at any depth.
// CHECK-LABEL: func.func @singleton_combinator
// CHECK: {mask = #sparse_attn.causal}
func.func @singleton_combinator(%q: tensor<1x4x64x8xf32>, %k: tensor<1x4x64x8xf32>)
    -> (tensor<1x4x64x8xf32>, tensor<1x4x64xf32>) {
  %o, %l = sparse_attn.attention %q, %k, %k {mask = #sparse_attn.union<[#sparse_attn.intersect<[#sparse_attn.causal]>]>}
      : tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32>, tensor<1x4x64x8xf32> -> tensor<1x4x64x8xf32>, tensor<1x4x64xf32>
  return %o, %l : tensor<1x4x64x8xf32>, tensor<1x4x64xf32>
}

// -----

// CHECK-LABEL: func.func @causal_sliding_window
// CHECK: {mask = #sparse_attn.sliding_window<left = 256, right = 0>}
func.func @causal_sliding_window(%q: tensor<1x4x1024x8xf32>, %k: tensor<1x4x1024x8xf32>)
    -> (tensor<1x4x1024x8xf32>, tensor<1x4x1024xf32>) {
  %o, %l = sparse_attn.attention %q, %k, %k {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 256, right = 17>]>}
      : tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32> -> tensor<1x4x1024x8xf32>, tensor<1x4x1024xf32>
  return %o, %l : tensor<1x4x1024x8xf32>, tensor<1x4x1024xf32>
}

// -----

// The window-then-causal order, and two windows meeting in the tighter one.
// CHECK-LABEL: func.func @sliding_windows_meet
// CHECK: mask = #sparse_attn.intersect<[#sparse_attn.sliding_window<left = 64, right = 0>, #sparse_attn.document]>
// CHECK: {mask = #sparse_attn.sliding_window<left = 32, right = 4>}
func.func @sliding_windows_meet(%q: tensor<1x4x1024x8xf32>, %k: tensor<1x4x1024x8xf32>, %s: tensor<1x1024xi32>)
    -> (tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32>) {
  %o, %l = sparse_attn.attention %q, %k, %k segment_ids(%s, %s : tensor<1x1024xi32>, tensor<1x1024xi32>)
      {mask = #sparse_attn.intersect<[#sparse_attn.sliding_window<left = 64, right = 64>, #sparse_attn.document, #sparse_attn.causal]>}
      : tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32> -> tensor<1x4x1024x8xf32>, tensor<1x4x1024xf32>
  %o2, %l2 = sparse_attn.attention %q, %k, %k {mask = #sparse_attn.intersect<[#sparse_attn.sliding_window<left = 32, right = 16>, #sparse_attn.sliding_window<left = 128, right = 4>]>}
      : tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32> -> tensor<1x4x1024x8xf32>, tensor<1x4x1024xf32>
  return %o, %o2 : tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32>
}

// -----

// A sink window is already causal; duplicates go.
// CHECK-LABEL: func.func @causal_sink_window
// CHECK: {mask = #sparse_attn.sink_window<sink = 4, window = 128>}
func.func @causal_sink_window(%q: tensor<1x4x1024x8xf32>, %k: tensor<1x4x1024x8xf32>)
    -> (tensor<1x4x1024x8xf32>, tensor<1x4x1024xf32>) {
  %o, %l = sparse_attn.attention %q, %k, %k {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sink_window<sink = 4, window = 128>, #sparse_attn.causal]>}
      : tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32>, tensor<1x4x1024x8xf32> -> tensor<1x4x1024x8xf32>, tensor<1x4x1024xf32>
  return %o, %l : tensor<1x4x1024x8xf32>, tensor<1x4x1024xf32>
}

// -----

// A union of windows is not one window: left alone.
// CHECK-LABEL: func.func @union_untouched
// CHECK: mask = #sparse_attn.union<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 4, right = 4>]>
func.func @union_untouched(%qp: tensor<1x4x16x8xf32>, %kp: tensor<1x4x16x8xf32>) -> tensor<1x4x16x16xf32> {
  %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.union<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 4, right = 4>]>, block = [64, 64], q_len = 1024, kv_len = 1024}
      : tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32> -> tensor<1x4x16x16xf32>
  return %s : tensor<1x4x16x16xf32>
}

// -----

// Every masked op is simplified.
// CHECK-LABEL: func.func @every_masked_op
// CHECK: sparse_attn.block_sparse_attention {{.*}}mask = #sparse_attn.sliding_window<left = 100, right = 0>
// CHECK: sparse_attn.block_scores {{.*}}mask = #sparse_attn.causal
// CHECK: sparse_attn.lightning_indexer {{.*}}mask = #sparse_attn.sliding_window<left = 7, right = 0>
func.func @every_masked_op(%q: tensor<1x4x256x8xf32>, %n: tensor<1x1x2xi32>, %i: tensor<1x1x2x2xi32>,
                           %qp: tensor<1x4x2x8xf32>, %qi: tensor<1x2x256x8xf32>, %ki: tensor<1x256x8xf32>, %w: tensor<1x256x2xf32>)
    -> (tensor<1x4x256x8xf32>, tensor<1x4x2x2xf32>, tensor<1x256x8xi32>) {
  %o, %l = sparse_attn.block_sparse_attention %q, %q, %q, %n, %i {block = [128, 128], mask = #sparse_attn.intersect<[#sparse_attn.sliding_window<left = 100, right = 100>, #sparse_attn.causal]>}
      : tensor<1x4x256x8xf32>, tensor<1x4x256x8xf32>, tensor<1x4x256x8xf32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32> -> tensor<1x4x256x8xf32>, tensor<1x4x256xf32>
  %s = sparse_attn.block_scores %qp, %qp {mask = #sparse_attn.intersect<[#sparse_attn.causal]>, block = [128, 128], q_len = 256, kv_len = 256}
      : tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32> -> tensor<1x4x2x2xf32>
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 8, mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 7, right = 3>]>}
      : tensor<1x2x256x8xf32>, tensor<1x256x8xf32>, tensor<1x256x2xf32> -> tensor<1x256x8xi32>
  return %o, %s, %t : tensor<1x4x256x8xf32>, tensor<1x4x2x2xf32>, tensor<1x256x8xi32>
}

// -----

// CHECK-LABEL: func.func @fold_causal
// CHECK-DAG: %[[NUM:.*]] = arith.constant dense<{{\[\[\[}}1, 2, 3, 4]]]> : tensor<1x1x4xi32>
// CHECK-DAG: %[[IDX:.*]] = arith.constant dense<{{\[\[\[\[}}0, -1, -1, -1], [0, 1, -1, -1], [0, 1, 2, -1], [0, 1, 2, 3]]]]> : tensor<1x1x4x4xi32>
// CHECK-NOT: sparse_attn.block_mask
// CHECK: return %[[NUM]], %[[IDX]]
func.func @fold_causal() -> (tensor<1x1x4xi32>, tensor<1x1x4x4xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512}
      : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  return %num, %idx : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
}

// -----

// With four results the lists split as create_block_mask splits them: the
// diagonal blocks are partial, the blocks below them full; the last block
// (keys 384..499, partial in size) is full when every existing pair is.
// CHECK-LABEL: func.func @fold_causal_full
// CHECK-DAG: %[[NUM:.*]] = arith.constant dense<1> : tensor<1x1x4xi32>
// CHECK-DAG: %[[IDX:.*]] = arith.constant dense<{{\[\[\[\[}}0], [1], [2], [3]]]]> : tensor<1x1x4x1xi32>
// CHECK-DAG: %[[FNUM:.*]] = arith.constant dense<{{\[\[\[}}0, 1, 2, 3]]]> : tensor<1x1x4xi32>
// CHECK-DAG: %[[FIDX:.*]] = arith.constant dense<{{\[\[\[\[}}-1, -1, -1], [0, -1, -1], [0, 1, -1], [0, 1, 2]]]]> : tensor<1x1x4x3xi32>
// CHECK-DAG: %[[DNUM:.*]] = arith.constant dense<0> : tensor<1x1x4xi32>
// CHECK-DAG: %[[DFNUM:.*]] = arith.constant dense<4> : tensor<1x1x4xi32>
// CHECK-NOT: sparse_attn.block_mask
// CHECK: return %[[NUM]], %[[IDX]], %[[FNUM]], %[[FIDX]], %[[DNUM]], %[[DFNUM]]
func.func @fold_causal_full() -> (tensor<1x1x4xi32>, tensor<1x1x4x1xi32>, tensor<1x1x4xi32>, tensor<1x1x4x3xi32>, tensor<1x1x4xi32>, tensor<1x1x4xi32>) {
  %num, %idx, %fnum, %fidx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512}
      : tensor<1x1x4xi32>, tensor<1x1x4x1xi32>, tensor<1x1x4xi32>, tensor<1x1x4x3xi32>
  %dnum, %didx, %dfnum, %dfidx = sparse_attn.block_mask {block = [128, 128], q_len = 500, kv_len = 500}
      : tensor<1x1x4xi32>, tensor<1x1x4x1xi32>, tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  return %num, %idx, %fnum, %fidx, %dnum, %dfnum : tensor<1x1x4xi32>, tensor<1x1x4x1xi32>, tensor<1x1x4xi32>, tensor<1x1x4x3xi32>, tensor<1x1x4xi32>, tensor<1x1x4xi32>
}

// -----

// Bottom-right alignment with partial last blocks: 130 queries end at the
// last of 150 keys, so query 0 sits at position 20.
// CHECK-LABEL: func.func @fold_causal_partial_blocks
// CHECK-DAG: arith.constant dense<{{\[\[\[}}2, 3, 3]]]> : tensor<1x1x3xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}0, 1, -1], [0, 1, 2], [0, 1, 2]]]]> : tensor<1x1x3x3xi32>
func.func @fold_causal_partial_blocks() -> (tensor<1x1x3xi32>, tensor<1x1x3x3xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [64, 64], q_len = 130, kv_len = 150}
      : tensor<1x1x3xi32>, tensor<1x1x3x3xi32>
  return %num, %idx : tensor<1x1x3xi32>, tensor<1x1x3x3xi32>
}

// -----

// Decode: one query at the last position sees every block. Queries before
// the keys (Sq > Skv) see none.
// CHECK-LABEL: func.func @fold_decode_and_overhang
// CHECK-DAG: arith.constant dense<3> : tensor<1x1x1xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}0, 1, 2]]]]> : tensor<1x1x1x3xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[}}0, 1]]]> : tensor<1x1x2xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}-1], [0]]]]> : tensor<1x1x2x1xi32>
func.func @fold_decode_and_overhang() -> (tensor<1x1x1xi32>, tensor<1x1x1x3xi32>, tensor<1x1x2xi32>, tensor<1x1x2x1xi32>) {
  %n0, %i0 = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [16, 16], q_len = 1, kv_len = 40}
      : tensor<1x1x1xi32>, tensor<1x1x1x3xi32>
  %n1, %i1 = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [16, 16], q_len = 32, kv_len = 8}
      : tensor<1x1x2xi32>, tensor<1x1x2x1xi32>
  return %n0, %i0, %n1, %i1 : tensor<1x1x1xi32>, tensor<1x1x1x3xi32>, tensor<1x1x2xi32>, tensor<1x1x2x1xi32>
}

// -----

// Sliding window, repeated for every (batch, head) of the result type.
// CHECK-LABEL: func.func @fold_sliding_window_broadcast
// CHECK-DAG: arith.constant dense<{{\[\[\[}}2, 3, 3, 2], [2, 3, 3, 2]]]> : tensor<1x2x4xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}0, 1, -1], [0, 1, 2], [1, 2, 3], [2, 3, -1]], {{\[\[}}0, 1, -1], [0, 1, 2], [1, 2, 3], [2, 3, -1]]]]> : tensor<1x2x4x3xi32>
func.func @fold_sliding_window_broadcast() -> (tensor<1x2x4xi32>, tensor<1x2x4x3xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.sliding_window<left = 16, right = 16>, block = [32, 32], q_len = 128, kv_len = 128}
      : tensor<1x2x4xi32>, tensor<1x2x4x3xi32>
  return %num, %idx : tensor<1x2x4xi32>, tensor<1x2x4x3xi32>
}

// -----

// Attention sinks plus a local window of 8 over 16-token blocks: block 0
// always; the first queries of a block still reach into the previous one.
// CHECK-LABEL: func.func @fold_sink_window
// CHECK-DAG: arith.constant dense<{{\[\[\[}}1, 2, 3, 3]]]> : tensor<1x1x4xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}0, -1, -1], [0, 1, -1], [0, 1, 2], [0, 2, 3]]]]> : tensor<1x1x4x3xi32>
func.func @fold_sink_window() -> (tensor<1x1x4xi32>, tensor<1x1x4x3xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.sink_window<sink = 2, window = 8>, block = [16, 16], q_len = 64, kv_len = 64}
      : tensor<1x1x4xi32>, tensor<1x1x4x3xi32>
  return %num, %idx : tensor<1x1x4xi32>, tensor<1x1x4x3xi32>
}

// -----

// 2D neighborhood on an 8x8 grid, 3x3 window, one block per grid row: each
// row of queries sees the neighboring rows, shifted at the borders.
// CHECK-LABEL: func.func @fold_neighborhood_2d
// CHECK-DAG: arith.constant dense<3> : tensor<1x1x8xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}0, 1, 2], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6], [5, 6, 7], [5, 6, 7]]]]> : tensor<1x1x8x3xi32>
func.func @fold_neighborhood_2d() -> (tensor<1x1x8xi32>, tensor<1x1x8x3xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.neighborhood<grid = [8, 8], window = [3, 3]>, block = [8, 8], q_len = 64, kv_len = 64}
      : tensor<1x1x8xi32>, tensor<1x1x8x3xi32>
  return %num, %idx : tensor<1x1x8xi32>, tensor<1x1x8x3xi32>
}

// -----

// Dilation 2 along a 1D grid of 16, window 3: token x sees its dilation
// group (x mod 2) only; causal along it sees the 3 group members up to x.
// CHECK-LABEL: func.func @fold_neighborhood_dilated_causal
// CHECK-DAG: arith.constant dense<{{\[\[\[}}1, 2, 2, 2]]]> : tensor<1x1x4xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}0, -1], [0, 1], [1, 2], [2, 3]]]]> : tensor<1x1x4x2xi32>
func.func @fold_neighborhood_dilated_causal() -> (tensor<1x1x4xi32>, tensor<1x1x4x2xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.neighborhood<grid = [16], window = [3], dilation = [2], causal = [true]>, block = [4, 4], q_len = 16, kv_len = 16}
      : tensor<1x1x4xi32>, tensor<1x1x4x2xi32>
  return %num, %idx : tensor<1x1x4xi32>, tensor<1x1x4x2xi32>
}

// -----

// Union and intersection of structural masks fold too; no mask means dense.
// CHECK-LABEL: func.func @fold_combinators
// CHECK-DAG: arith.constant dense<{{\[\[\[}}1, 2, 2, 2]]]> : tensor<1x1x4xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}0, -1], [0, 1], [0, 2], [0, 3]]]]> : tensor<1x1x4x2xi32>
// CHECK-DAG: arith.constant dense<2> : tensor<1x1x2xi32>
// CHECK-DAG: arith.constant dense<{{\[\[\[\[}}0, 1], [0, 1]]]]> : tensor<1x1x2x2xi32>
func.func @fold_combinators() -> (tensor<1x1x4xi32>, tensor<1x1x4x2xi32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>) {
  %n0, %i0 = sparse_attn.block_mask {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.union<[#sparse_attn.sliding_window<left = 0, right = 0>, #sparse_attn.sliding_window<left = 1000, right = 1000>]>, #sparse_attn.union<[#sparse_attn.sink_window<sink = 1, window = 0>, #sparse_attn.sliding_window<left = 0, right = 0>]>]>, block = [16, 16], q_len = 64, kv_len = 64}
      : tensor<1x1x4xi32>, tensor<1x1x4x2xi32>
  %n1, %i1 = sparse_attn.block_mask {block = [64, 64], q_len = 100, kv_len = 100}
      : tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
  return %n0, %i0, %n1, %i1 : tensor<1x1x4xi32>, tensor<1x1x4x2xi32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
}

// -----

// Document masks and dynamic shapes are runtime work: no fold.
// CHECK-LABEL: func.func @no_fold
// CHECK: sparse_attn.block_mask segment_ids
// CHECK: sparse_attn.block_mask {block = [16, 16], kv_len = 64 : i64, mask = #sparse_attn.causal, q_len = 64 : i64} : tensor<?x1x4xi32>
func.func @no_fold(%s: tensor<2x64xi32>) -> (tensor<2x1x4x4xi32>, tensor<?x1x4x4xi32>) {
  %n0, %i0 = sparse_attn.block_mask segment_ids(%s, %s : tensor<2x64xi32>, tensor<2x64xi32>) {mask = #sparse_attn.document, block = [16, 16]}
      : tensor<2x1x4xi32>, tensor<2x1x4x4xi32>
  %n1, %i1 = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [16, 16], q_len = 64, kv_len = 64}
      : tensor<?x1x4xi32>, tensor<?x1x4x4xi32>
  return %i0, %i1 : tensor<2x1x4x4xi32>, tensor<?x1x4x4xi32>
}

// -----

// Lists too large to analyze at compile time stay runtime work, and the
// verifier does not stall on them: 2^31 - 1 single-key blocks, and a
// dilated 40000 x 40000 neighborhood with windows of 20000 x 20000.
// CHECK-LABEL: func.func @no_fold_huge
// CHECK: sparse_attn.block_mask {block = [1, 1]
// CHECK: sparse_attn.block_mask {block = [1, 1048576]
func.func @no_fold_huge() -> (tensor<1x1x1x4xi32>, tensor<1x1x1x2000xi32>) {
  %n0, %i0 = sparse_attn.block_mask {block = [1, 1], q_len = 1, kv_len = 2147483647}
      : tensor<1x1x1xi32>, tensor<1x1x1x4xi32>
  %n1, %i1 = sparse_attn.block_mask {mask = #sparse_attn.neighborhood<grid = [40000, 40000], window = [20000, 20000], dilation = [2, 2]>, block = [1, 1048576], q_len = 1, kv_len = 1600000000}
      : tensor<1x1x1xi32>, tensor<1x1x1x2000xi32>
  return %i0, %i1 : tensor<1x1x1x4xi32>, tensor<1x1x1x2000xi32>
}
