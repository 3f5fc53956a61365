// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS

// block_scores on tensor cores (issue 15): NSA's pooled shape, 16 query
// heads summed into each of 4 kv heads' scores. A block of 128 threads per
// 64 x 64 tile, result head and batch; the group's 16 heads are summed while
// the query tile loads (f32, 4-wide); causal pairs are classified by
// block_mask's tile tests into shared flags; the product is 3xTF32
// (three m16n8k8 tf32 mma.sync for each of 8 column tiles per step of 8); the -inf of
// empty pairs and the scale apply before the tile is staged and written.
// Shared memory: two 64 x 132 f32 tiles (67584 bytes), the 64 x 64 flags,
// four warps' flags of the tile and the tile's non-finite flag. A tile with
// an inf or NaN operand multiplies the group's heads one by one (the sum of
// all products, as the definition's sum of dots meets infinities), others
// the summed rows once.
// CHECK-LABEL: func.func @nsa(
// CHECK: %[[BYTES:.*]] = arith.constant 71700 : i32
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}} = %c4{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) dynamic_shared_memory_size %[[BYTES]]
// CHECK-COUNT-16: vector.load {{.*}} : memref<1x64x?x128xf32, {{.*}} vector<4xf32>
// CHECK-NOT: vector.load
// CHECK: vector.load {{.*}} : memref<1x4x?x128xf32, {{.*}} vector<4xf32>
// CHECK: vector.reduction <or>
// CHECK: nvvm.vote.sync ballot
// CHECK: gpu.barrier
// CHECK: scf.for {{.*}} iter_args
// CHECK: gpu.barrier
// CHECK: vector.load {{.*}} : memref<1x64x?x128xf32, {{.*}} vector<4xf32>
// CHECK: gpu.barrier
// CHECK-COUNT-24: nvvm.mma.sync {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<tf32>, multiplicandBPtxType = #nvvm.mma_type<tf32>, shape = #nvvm.shape<m = 16, n = 8, k = 8>}
// CHECK: } else {
// CHECK-COUNT-24: nvvm.mma.sync {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<tf32>, multiplicandBPtxType = #nvvm.mma_type<tf32>, shape = #nvvm.shape<m = 16, n = 8, k = 8>}
// CHECK-NOT: nvvm.mma.sync
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: gpu.terminator
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}
func.func @nsa(%qp: tensor<1x64x?x128xf32>, %kp: tensor<1x4x?x128xf32>) -> tensor<1x4x?x?xf32> {
  %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 8192, kv_len = 8192}
      : tensor<1x64x?x128xf32>, tensor<1x4x?x128xf32> -> tensor<1x4x?x?xf32>
  return %s : tensor<1x4x?x?xf32>
}

// -----

// MoBA: bf16 queries (block_q = 1, one head each) against f32 pooled keys.
// The queries are exact in tf32 (8-byte loads of 4 bf16, no sum): two
// products per step (their remainder is zero).
// CHECK-LABEL: func.func @moba(
// CHECK: gpu.launch
// CHECK: vector.load {{.*}} vector<8xbf16>
// CHECK: arith.extf {{.*}} vector<8xbf16> to vector<8xf32>
// CHECK: scf.for {{.*}} iter_args
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: scf.yield
func.func @moba(%q: tensor<1x16x4096x128xbf16>, %kp: tensor<1x16x8x128xf32>) -> tensor<1x16x4096x8xf32> {
  %s = sparse_attn.block_scores %q, %kp {mask = #sparse_attn.causal, block = [1, 512], q_len = 4096, kv_len = 4096}
      : tensor<1x16x4096x128xbf16>, tensor<1x16x8x128xf32> -> tensor<1x16x4096x8xf32>
  return %s : tensor<1x16x4096x8xf32>
}

// -----

// No mask: no flags, no classification; a head dim of 18 loads 2-wide and
// is zero-padded to 24 in shared memory (the staged 64 x 65 output tile is
// the larger use of it).
// CHECK-LABEL: func.func @unmasked(
// CHECK: arith.constant 16644 : i32
// CHECK-NOT: nvvm.vote.sync
// CHECK: vector.load {{.*}} vector<2xf32>
// CHECK: nvvm.mma.sync
// CHECK-NOT: 0xFF800000
// CHECK: gpu.terminator
func.func @unmasked(%qp: tensor<1x4x40x18xf32>, %kp: tensor<1x1x70x18xf32>) -> tensor<1x1x40x70xf32> {
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64]}
      : tensor<1x4x40x18xf32>, tensor<1x1x70x18xf32> -> tensor<1x1x40x70xf32>
  return %s : tensor<1x1x40x70xf32>
}

// -----

// A head dim past 256 stays on the general path.
// CHECK-LABEL: func.func @wide(
// CHECK: sparse_attn.block_scores
func.func @wide(%qp: tensor<1x2x4x288xf32>, %kp: tensor<1x2x4x288xf32>) -> tensor<1x2x4x4xf32> {
  %s = sparse_attn.block_scores %qp, %kp {block = [64, 64]}
      : tensor<1x2x4x288xf32>, tensor<1x2x4x288xf32> -> tensor<1x2x4x4xf32>
  return %s : tensor<1x2x4x4xf32>
}
