// RUN: sparse-attn-opt %s --sparse-attn-fuse-selection | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-fuse-selection --remarks-filter=sparse-attn-fuse-selection \
// RUN:   --remark-format=emitRemark -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK
// RUN: sparse-attn-opt %s --sparse-attn-fuse-selection 2>&1 | FileCheck %s --check-prefix=QUIET

// Remarks only when asked for.
// QUIET-NOT: remark

// NSA: one selection per GQA group, top-k with sink and local blocks.
// CHECK-LABEL: func.func @nsa
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x512x64xbf16>, %[[K:.*]]: tensor<1x2x512x64xbf16>, %[[V:.*]]: tensor<1x2x512x64xbf16>)
// CHECK: %[[QP:.*]] = sparse_attn.pool mean %[[Q]]
// CHECK: %[[KP:.*]] = sparse_attn.pool mean %[[K]]
// CHECK-NOT: block_scores
// CHECK-NOT: select_topk
// CHECK: %[[O:.*]], %[[L:.*]] = sparse_attn.fused_block_sparse_attention %[[Q]], %[[K]], %[[V]], %[[QP]], %[[KP]]
// CHECK-SAME: block = [64, 64], k = 3 : i64, list_heads = 2 : i64, local = 2 : i64, mask = #sparse_attn.causal, score_mask = #sparse_attn.causal, sink = 1 : i64
// CHECK-SAME: -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
// CHECK: return %[[O]], %[[L]]
// REMARK: fuse-selection.mlir:{{[0-9]+}}:14: remark: [Passed] FuseSelection | Category:sparse-attn-fuse-selection | Remark="block_scores -> select_topk -> block_sparse_attention fused into sparse_attn.fused_block_sparse_attention"
func.func @nsa(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>, %v: tensor<1x2x512x64xbf16>)
    -> (tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>) {
  %qp = sparse_attn.pool mean %q {block = 64} : tensor<1x8x512x64xbf16> -> tensor<1x8x8x64xf32>
  %kp = sparse_attn.pool mean %k {block = 64} : tensor<1x2x512x64xbf16> -> tensor<1x2x8x64xf32>
  %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 512, kv_len = 512}
      : tensor<1x8x8x64xf32>, tensor<1x2x8x64xf32> -> tensor<1x2x8x8xf32>
  %n, %i = sparse_attn.select_topk %s {k = 3, sink = 1, local = 2}
      : tensor<1x2x8x8xf32> -> tensor<1x2x8xi32>, tensor<1x2x8x8xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x8xi32>, tensor<1x2x8x8xi32>
     -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  return %o, %lse : tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
}

// MoBA: per-query scores (block_q = 1), threshold selection, per-head lists.
// CHECK-LABEL: func.func @moba_threshold
// CHECK: sparse_attn.fused_block_sparse_attention
// CHECK-SAME: block = [1, 128], list_heads = 4 : i64, local = 1 : i64, mask = #sparse_attn.causal, mass = 0.899999976 : f32, max_blocks = 2 : i64, score_mask = #sparse_attn.causal, score_scale = 5.000000e-01 : f32
// CHECK-NOT: select_threshold
// REMARK: Remark="block_scores -> select_threshold -> block_sparse_attention fused into sparse_attn.fused_block_sparse_attention"
func.func @moba_threshold(%q: tensor<1x4x512x64xbf16>, %k: tensor<1x4x512x64xbf16>, %v: tensor<1x4x512x64xbf16>)
    -> (tensor<1x4x512x64xbf16>, tensor<1x4x512xf32>) {
  %kp = sparse_attn.pool mean %k {block = 128} : tensor<1x4x512x64xbf16> -> tensor<1x4x4x64xf32>
  %s = sparse_attn.block_scores %q, %kp {mask = #sparse_attn.causal, block = [1, 128], q_len = 512, kv_len = 512, scale = 0.5 : f32}
      : tensor<1x4x512x64xbf16>, tensor<1x4x4x64xf32> -> tensor<1x4x512x4xf32>
  %n, %i = sparse_attn.select_threshold %s {mass = 0.9 : f32, max_blocks = 2, local = 1}
      : tensor<1x4x512x4xf32> -> tensor<1x4x512xi32>, tensor<1x4x512x3xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [1, 128], mask = #sparse_attn.causal}
      : tensor<1x4x512x64xbf16>, tensor<1x4x512x64xbf16>, tensor<1x4x512x64xbf16>, tensor<1x4x512xi32>, tensor<1x4x512x3xi32>
     -> tensor<1x4x512x64xbf16>, tensor<1x4x512xf32>
  return %o, %lse : tensor<1x4x512x64xbf16>, tensor<1x4x512xf32>
}

// DSA: the lightning indexer's token lists.
// CHECK-LABEL: func.func @dsa
// CHECK-NOT: lightning_indexer
// CHECK: sparse_attn.fused_token_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {index_mask = #sparse_attn.causal, scale = 1.250000e-01 : f32, topk = 64 : i64}
// REMARK: remark: [Passed] FuseSelection | Category:sparse-attn-fuse-selection | Remark="lightning_indexer -> token_sparse_attention fused into sparse_attn.fused_token_sparse_attention"
func.func @dsa(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x1x256x64xbf16>, %v: tensor<1x1x256x64xbf16>,
               %qi: tensor<1x2x256x32xbf16>, %ki: tensor<1x256x32xbf16>, %w: tensor<1x256x2xf32>)
    -> (tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>) {
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 64, mask = #sparse_attn.causal}
      : tensor<1x2x256x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x2xf32> -> tensor<1x256x64xi32>
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %t {scale = 0.125 : f32}
      : tensor<1x4x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x256x64xi32>
     -> tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
  return %o, %lse : tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
}

// No fusion: the lists are also returned.
// CHECK-LABEL: func.func @lists_returned
// CHECK: sparse_attn.block_scores
// CHECK: sparse_attn.select_topk
// CHECK: sparse_attn.block_sparse_attention
// REMARK: remark: [Missed] FuseSelection | Category:sparse-attn-fuse-selection | Remark="block_scores -> select_topk -> block_sparse_attention not fused: the block lists have another user"
func.func @lists_returned(%q: tensor<1x2x256x64xf32>, %k: tensor<1x2x256x64xf32>, %v: tensor<1x2x256x64xf32>,
                          %qp: tensor<1x2x4x64xf32>, %kp: tensor<1x2x4x64xf32>)
    -> (tensor<1x2x256x64xf32>, tensor<1x2x4x4xi32>) {
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64], q_len = 256, kv_len = 256}
      : tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32> -> tensor<1x2x4x4xf32>
  %n, %i = sparse_attn.select_topk %s {k = 2}
      : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [64, 64]}
      : tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
     -> tensor<1x2x256x64xf32>, tensor<1x2x256xf32>
  return %o, %i : tensor<1x2x256x64xf32>, tensor<1x2x4x4xi32>
}

// No fusion: the scores are also returned.
// CHECK-LABEL: func.func @scores_returned
// CHECK: sparse_attn.block_sparse_attention
// REMARK: Remark="block_scores -> select_topk -> block_sparse_attention not fused: the block scores have another user"
func.func @scores_returned(%q: tensor<1x2x256x64xf32>, %k: tensor<1x2x256x64xf32>, %v: tensor<1x2x256x64xf32>,
                           %qp: tensor<1x2x4x64xf32>, %kp: tensor<1x2x4x64xf32>)
    -> (tensor<1x2x256x64xf32>, tensor<1x2x4x4xf32>) {
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64], q_len = 256, kv_len = 256}
      : tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32> -> tensor<1x2x4x4xf32>
  %n, %i = sparse_attn.select_topk %s {k = 2}
      : tensor<1x2x4x4xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [64, 64]}
      : tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32>
     -> tensor<1x2x256x64xf32>, tensor<1x2x256xf32>
  return %o, %s : tensor<1x2x256x64xf32>, tensor<1x2x4x4xf32>
}

// No fusion: the scores' blocks are not the attention's.
// CHECK-LABEL: func.func @blocks_differ
// CHECK: sparse_attn.block_sparse_attention
// REMARK: Remark="block_scores -> select_topk -> block_sparse_attention not fused: block_scores and the attention use different blocks"
func.func @blocks_differ(%q: tensor<1x2x256x64xf32>, %k: tensor<1x2x256x64xf32>, %v: tensor<1x2x256x64xf32>,
                         %qp: tensor<1x2x2x64xf32>, %kp: tensor<1x2x2x64xf32>)
    -> (tensor<1x2x256x64xf32>, tensor<1x2x256xf32>) {
  %s = sparse_attn.block_scores %qp, %kp {block = [128, 128], q_len = 256, kv_len = 256}
      : tensor<1x2x2x64xf32>, tensor<1x2x2x64xf32> -> tensor<1x2x2x2xf32>
  %n, %i = sparse_attn.select_topk %s {k = 1}
      : tensor<1x2x2x2xf32> -> tensor<1x2x2xi32>, tensor<1x2x2x1xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [128, 64]}
      : tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x2xi32>, tensor<1x2x2x1xi32>
     -> tensor<1x2x256x64xf32>, tensor<1x2x256xf32>
  return %o, %lse : tensor<1x2x256x64xf32>, tensor<1x2x256xf32>
}

// No fusion: the indexer's lists are also returned.
// CHECK-LABEL: func.func @token_lists_returned
// CHECK: sparse_attn.lightning_indexer
// CHECK: sparse_attn.token_sparse_attention
// REMARK: Remark="lightning_indexer -> token_sparse_attention not fused: the token lists have another user"
func.func @token_lists_returned(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x1x256x64xbf16>, %v: tensor<1x1x256x64xbf16>,
               %qi: tensor<1x2x256x32xbf16>, %ki: tensor<1x256x32xbf16>, %w: tensor<1x256x2xf32>)
    -> (tensor<1x4x256x64xbf16>, tensor<1x256x64xi32>) {
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 64, mask = #sparse_attn.causal}
      : tensor<1x2x256x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x2xf32> -> tensor<1x256x64xi32>
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %t
      : tensor<1x4x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x256x64xi32>
     -> tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
  return %o, %t : tensor<1x4x256x64xbf16>, tensor<1x256x64xi32>
}

// Lists from block_mask are no selection chain: no remark.
// CHECK-LABEL: func.func @block_mask_lists
// CHECK: sparse_attn.block_sparse_attention
func.func @block_mask_lists(%q: tensor<1x2x256x64xf32>, %k: tensor<1x2x256x64xf32>, %v: tensor<1x2x256x64xf32>)
    -> (tensor<1x2x256x64xf32>, tensor<1x2x256xf32>) {
  %n, %i = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [64, 64], q_len = 256, kv_len = 256}
      : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
     -> tensor<1x2x256x64xf32>, tensor<1x2x256xf32>
  return %o, %lse : tensor<1x2x256x64xf32>, tensor<1x2x256xf32>
}
// REMARK-NOT: remark
