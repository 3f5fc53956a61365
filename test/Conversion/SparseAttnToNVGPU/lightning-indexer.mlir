// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90" -o %t.sm90.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90.mlir sm_90 | FileCheck %s --check-prefix=PTXAS

// lightning_indexer in one kernel (issue 15), DeepSeek V3.2's shape: 64
// index heads x 128 dims, topk 2048. Four queries a block (a warp each):
// their heads (4 x 64 rows of 136 bf16, 69632 bytes), three cp.async stages
// of 64-key tiles (52224), four candidate buffers of 3072 keys and indices
// (98304) and four 256-bin histograms (4096): 224256 bytes. Per 16 keys and
// 16 dims, one ldmatrix of keys and four of heads feed 8 mma.sync (heads as
// columns); the scores join the buffer by ballot; a radix select compacts
// it. On sm_80 (163 KB, two stages) two queries a block.
// CHECK-LABEL: func.func @dsa(
// CHECK: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) dynamic_shared_memory_size %c224256_i32
// CHECK: vector.load {{.*}} vector<8xbf16>
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.device_async_create_group
// CHECK: scf.for
// CHECK: nvgpu.device_async_wait {{.*}}numGroups = 1 : i32
// CHECK: gpu.barrier
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.ldmatrix
// CHECK-COUNT-8: nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK: gpu.shuffle xor
// CHECK: nvvm.vote.sync ballot
// CHECK: memref.atomic_rmw addi
// CHECK: gpu.shuffle up
// CHECK: arith.cmpi ugt
// CHECK: gpu.terminator
// SM80-LABEL: func.func @dsa(
// SM80: threads({{.*}}) in ({{.*}} = %c64{{.*}}) dynamic_shared_memory_size %c120832_i32
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}
func.func @dsa(%qi: tensor<1x64x?x128xbf16>, %ki: tensor<1x?x128xbf16>, %w: tensor<1x?x64xf32>) -> tensor<1x?x2048xi32> {
  %ti = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 2048, mask = #sparse_attn.causal}
      : tensor<1x64x?x128xbf16>, tensor<1x?x128xbf16>, tensor<1x?x64xf32> -> tensor<1x?x2048xi32>
  return %ti : tensor<1x?x2048xi32>
}

// -----

// Heads and dims that are not multiples of 16 are zero-padded (20 -> 32
// heads, 24 -> 32 dims, loaded 8 at a time): 32768 bytes.
// CHECK-LABEL: func.func @padded(
// CHECK: dynamic_shared_memory_size %c32768_i32
// CHECK: vector.load {{.*}} vector<8xf16>
// SM80-LABEL: func.func @padded(
// SM80: gpu.launch
func.func @padded(%qi: tensor<2x20x45x24xf16>, %ki: tensor<2x90x24xf16>, %w: tensor<2x45x20xf16>) -> tensor<2x45x30xi32> {
  %ti = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 30}
      : tensor<2x20x45x24xf16>, tensor<2x90x24xf16>, tensor<2x45x20xf16> -> tensor<2x45x30xi32>
  return %ti : tensor<2x45x30xi32>
}

// -----

// f32 inputs (no 16-bit tensor-core product) and a topk whose candidates
// do not fit shared memory stay on the general path.
// CHECK-LABEL: func.func @f32_inputs(
// CHECK: sparse_attn.lightning_indexer
// CHECK-LABEL: func.func @huge_topk(
// CHECK: sparse_attn.lightning_indexer
func.func @f32_inputs(%qi: tensor<1x4x64x32xf32>, %ki: tensor<1x64x32xf32>, %w: tensor<1x64x4xf32>) -> tensor<1x64x8xi32> {
  %ti = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 8}
      : tensor<1x4x64x32xf32>, tensor<1x64x32xf32>, tensor<1x64x4xf32> -> tensor<1x64x8xi32>
  return %ti : tensor<1x64x8xi32>
}
func.func @huge_topk(%qi: tensor<1x4x?x32xbf16>, %ki: tensor<1x?x32xbf16>, %w: tensor<1x?x4xf32>) -> tensor<1x?x20000xi32> {
  %ti = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 20000}
      : tensor<1x4x?x32xbf16>, tensor<1x?x32xbf16>, tensor<1x?x4xf32> -> tensor<1x?x20000xi32>
  return %ti : tensor<1x?x20000xi32>
}
