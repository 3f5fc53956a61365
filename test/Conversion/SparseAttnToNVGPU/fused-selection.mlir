// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a in-kernel-selection=true" \
// RUN:   --remarks-filter=convert-sparse-attn-to-nvgpu --remark-format=emitRemark 2>&1 | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a nvgpu-options={in-kernel-selection=true}" -o %t.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80 nvgpu-options={in-kernel-selection=true}" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS
// By default every fused op runs as its chain's kernels (faster at the
// shapes measured: docs/performance.md), with a remark.
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a" --remarks-filter=convert-sparse-attn-to-nvgpu \
// RUN:   --remark-format=emitRemark 2>&1 | FileCheck %s --check-prefix=DEFAULT
// DEFAULT: remark: [Missed] FusedKernel | Category:convert-sparse-attn-to-nvgpu | Remark="sparse_attn.fused_block_sparse_attention runs as its chain: in-kernel-selection=false (the chain's kernels were faster at the shapes measured)"
// MoBA's row kernel does not depend on the option.
// DEFAULT: remark: [Passed] FusedKernel | Category:convert-sparse-attn-to-nvgpu | Remark="sparse_attn.fused_block_sparse_attention runs as block_scores and its selection in one kernel (no scores in global memory), then the attention"
// DEFAULT-LABEL: func.func @nsa(
// DEFAULT-COUNT-3: gpu.launch
// DEFAULT-NOT: gpu.launch
// DEFAULT-LABEL: func.func @threshold(
// DEFAULT-LABEL: func.func @moba(
// DEFAULT-NOT: sparse_attn.block_scores
// DEFAULT: gpu.launch {{.*}} dynamic_shared_memory_size %c2192_i32
// DEFAULT-LABEL: func.func @moba_threshold(
// DEFAULT-NOT: sparse_attn.block_scores
// DEFAULT: gpu.launch {{.*}} dynamic_shared_memory_size %c2192_i32
// DEFAULT-LABEL: func.func @dsa(

// Chains the kernels cannot fuse run as their chains, with a remark.
// CHECK-DAG: remark: [Passed] FusedKernel | Category:convert-sparse-attn-to-nvgpu | Remark="sparse_attn.fused_block_sparse_attention runs as block_scores and its selection in one kernel (no scores in global memory), then the attention"
// CHECK-DAG: remark: [Passed] FusedKernel | Category:convert-sparse-attn-to-nvgpu | Remark="sparse_attn.fused_token_sparse_attention runs as one kernel: each block selects its queries' token lists in shared memory, then attends over them"
// CHECK-DAG: remark: [Missed] FusedKernel | Category:convert-sparse-attn-to-nvgpu | Remark="sparse_attn.fused_token_sparse_attention runs as its chain: more than one kv head (each head's block would select the query's list again)"

// NSA's GQA-shared top-k: one launch of the attention kernel, no list in
// global memory. Shared memory: the tiles, then the count and list (6
// entries), the keys and marks of the 8 kv blocks and the summed pooled
// row (64 f32): the kernel's tile bytes + 4 + 24 + 64 + 256. A block per
// query tile and 4 query heads of a kv head (grid y = 8 / 4), which it
// computes in turn over one selection.
// CHECK-LABEL: func.func @nsa(
// CHECK-NOT: {{= sparse_attn\.}}
// CHECK: cf.assert %{{.*}}, "sparse_attn.fused_block_sparse_attention at {{.*}}: query_pooled does not have ceil(Sq / block_q) rows"
// CHECK: %[[SMEM:.*]] = arith.index_cast %c42332 : index to i32
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}} = %c2, {{.*}}) threads({{.*}}) in ({{.*}} = %c128, {{.*}}) dynamic_shared_memory_size %[[SMEM]]
// CHECK-NOT: gpu.launch
// The summed pooled row (the group's 4 heads), the score mask's occupied
// blocks marked by warp 0 (causal's row interval decides each block in
// closed form: no pair scan, no ballot), a barrier, the dots (16-byte loads
// of the pooled keys, a vector sum), a barrier, warp 0's selection and list.
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c4{{.*}} step %c1
// CHECK: memref.load %{{.*}} : memref<1x8x8x64xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-NOT: nvvm.vote.sync
// CHECK: gpu.barrier
// CHECK: vector.load %{{.*}} : memref<1x2x8x64xf32, strided<[?, ?, ?, 1], offset: ?>>, vector<4xf32>
// CHECK: vector.reduction <add>
// CHECK: gpu.barrier
// CHECK: gpu.shuffle xor
// CHECK: gpu.barrier
// The heads in turn, each after a barrier.
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c4{{.*}} step %c1{{.*}} {
// CHECK-NEXT: gpu.barrier
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}
func.func @nsa(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>, %v: tensor<1x2x512x64xbf16>,
               %qp: tensor<1x8x8x64xf32>, %kp: tensor<1x2x8x64xf32>)
    -> (tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>) {
  %o, %lse = sparse_attn.fused_block_sparse_attention %q, %k, %v, %qp, %kp
      {block = [64, 64], mask = #sparse_attn.causal, score_mask = #sparse_attn.causal, list_heads = 2, k = 3, sink = 1, local = 2}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x8x8x64xf32>, tensor<1x2x8x64xf32>
     -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  return %o, %lse : tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
}

// Threshold selection per query head, no score mask: a block per query
// tile and head (grid y = 8); the threshold's exponentials in the selection.
// CHECK-LABEL: func.func @threshold(
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}} = %c8{{.*}}, {{.*}})
// CHECK: vector.reduction <add>
// CHECK: ex2.approx
// CHECK: arith.cmpf oge
func.func @threshold(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>, %v: tensor<1x2x512x64xbf16>,
                     %qp: tensor<1x8x8x64xf32>, %kp: tensor<1x2x8x64xf32>)
    -> (tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>) {
  %o, %lse = sparse_attn.fused_block_sparse_attention %q, %k, %v, %qp, %kp
      {block = [64, 64], mask = #sparse_attn.causal, list_heads = 8, mass = 0.9 : f32, max_blocks = 4}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x8x8x64xf32>, tensor<1x2x8x64xf32>
     -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  return %o, %lse : tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
}

// MoBA's per-query lists (block_q = 1): block_scores and the selection in
// one launch (FusedRowSelection.cpp: four warps a block, the head's 4 pooled
// keys in shared memory as 4 x 65 f32, then per warp its row's query (64
// f32), keys and marks (4 + 4 i32): 1040 + 4 * 288 bytes; a lane per kv
// block computes its dot, the warp selects and writes the row's list), then
// the grouped attention's launches (grouping, the kernel, the combine).
// CHECK-LABEL: func.func @moba(
// CHECK-NOT: sparse_attn.block_scores
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}}) dynamic_shared_memory_size %c2192_i32
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c64{{.*}} step %c1{{.*}} iter_args
// CHECK: arith.mulf
// CHECK: nvvm.vote.sync ballot
// CHECK: gpu.terminator
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c512{{.*}})
// CHECK-NOT: sparse_attn.block_scores
// CHECK-LABEL: func.func @moba_threshold(
func.func @moba(%q: tensor<1x2x512x64xbf16>, %kp: tensor<1x2x4x64xf32>)
    -> (tensor<1x2x512x64xbf16>, tensor<1x2x512xf32>) {
  %o, %lse = sparse_attn.fused_block_sparse_attention %q, %q, %q, %q, %kp
      {block = [1, 128], mask = #sparse_attn.causal, score_mask = #sparse_attn.causal, list_heads = 2, k = 1, local = 1}
      : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x4x64xf32>
     -> tensor<1x2x512x64xbf16>, tensor<1x2x512xf32>
  return %o, %lse : tensor<1x2x512x64xbf16>, tensor<1x2x512xf32>
}

// The threshold rule in the same kernel (RowSelection's mass walk).
// CHECK-NOT: sparse_attn.block_scores
// CHECK: gpu.launch {{.*}} dynamic_shared_memory_size %c2192_i32
// CHECK: nvvm.vote.sync ballot
func.func @moba_threshold(%q: tensor<1x2x512x64xbf16>, %kp: tensor<1x2x4x64xf32>)
    -> (tensor<1x2x512x64xbf16>, tensor<1x2x512xf32>) {
  %o, %lse = sparse_attn.fused_block_sparse_attention %q, %q, %q, %q, %kp
      {block = [1, 128], mask = #sparse_attn.causal, score_mask = #sparse_attn.causal, list_heads = 2, mass = 0.9 : f32, max_blocks = 3, local = 1}
      : tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x4x64xf32>
     -> tensor<1x2x512x64xbf16>, tensor<1x2x512xf32>
  return %o, %lse : tensor<1x2x512x64xbf16>, tensor<1x2x512xf32>
}

// DSA: one launch, a block per 4 queries (ceil(250 / 4)), a warp each for
// the indexer's body, then the 4 queries in turn over their lists in
// shared memory: no token_indices buffer. Shared memory: the indexer's
// transient part (4 x 16 index heads x (32 + 8) x 2 bytes, 3 key stages
// of 64 x 40 x 2, 4 x 128 candidate keys, 4 x 256 bins: 26624) in the
// place of the tiles (1024 + 8192 + 2 x (16384 + 16384) = 74752), then 8
// header bytes, the 4 counts (at 74768, 16-aligned) and the 4 x 128
// candidate indices: 76832.
// CHECK-LABEL: func.func @dsa(
// CHECK-NOT: memref.alloc(){{.*}}xi32
// CHECK: %[[BLOCKS:.*]] = arith.ceildivsi %c250, %c4
// CHECK: %[[SMEM:.*]] = arith.index_cast %c76832 : index to i32
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[BLOCKS]], {{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) dynamic_shared_memory_size %[[SMEM]]
// CHECK: nvvm.mma.sync
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: } {sparse_attn.mma_kernel = {{{.*}}mma = "wgmma"
// CHECK-NOT: gpu.launch
// CHECK-LABEL: func.func @dsa_gqa(
// CHECK-COUNT-2: gpu.launch
func.func @dsa(%q: tensor<1x4x250x64xbf16>, %k: tensor<1x1x256x64xbf16>, %v: tensor<1x1x256x64xbf16>,
               %qi: tensor<1x2x250x32xbf16>, %ki: tensor<1x256x32xbf16>, %w: tensor<1x250x2xf32>)
    -> (tensor<1x4x250x64xbf16>, tensor<1x4x250xf32>) {
  %o, %lse = sparse_attn.fused_token_sparse_attention %q, %k, %v, %qi, %ki, %w {topk = 64, index_mask = #sparse_attn.causal}
      : tensor<1x4x250x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x2x250x32xbf16>, tensor<1x256x32xbf16>, tensor<1x250x2xf32>
     -> tensor<1x4x250x64xbf16>, tensor<1x4x250xf32>
  return %o, %lse : tensor<1x4x250x64xbf16>, tensor<1x4x250xf32>
}

// Two kv heads: each head's block would select again; the chain's kernels.
func.func @dsa_gqa(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>,
                   %qi: tensor<1x2x256x32xbf16>, %ki: tensor<1x256x32xbf16>, %w: tensor<1x256x2xf32>)
    -> (tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>) {
  %o, %lse = sparse_attn.fused_token_sparse_attention %q, %k, %v, %qi, %ki, %w {topk = 64, index_mask = #sparse_attn.causal}
      : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x2xf32>
     -> tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
  return %o, %lse : tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
}
