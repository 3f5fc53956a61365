// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}

// vertical_slash (MInference's estimator) in four launches; the tail's
// probabilities never reach global memory. Llama-3-8B's heads (32 query
// heads over 8 kv heads, D = 128), MInference's budgets.
// 1. Statistics: a block of 4 warps per (split of the 64-key tiles, query
//    head, batch): the 64 tail rows (17408 bytes) and a key tile (17408),
//    the staged tile (64 x 65 f32) and the row statistics: 51968 bytes.
//    Splits: ceil(tiles / ceil(tiles / 32)).
// CHECK-LABEL: func.func @minference(
// CHECK: %[[TILES:.*]] = arith.ceildivsi %{{.*}}, %c64
// CHECK: arith.ceildivui %[[TILES]]
// CHECK: memref.alloc(%{{.*}}) : memref<?x?x?x?xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}, {{.*}} = %c32{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) dynamic_shared_memory_size %c51968_i32
// CHECK: vector.load {{.*}} vector<8xbf16>
// CHECK: scf.for
// CHECK: nvgpu.ldmatrix
// CHECK: nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: gpu.shuffle xor
// CHECK: gpu.terminator
// 2. Sums: the splits merged per row, the probabilities staged, column
//    and diagonal sums by 64-row loops.
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}}) dynamic_shared_memory_size %c51968_i32
// CHECK: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: scf.for {{.*}} to %c64
// CHECK: gpu.terminator
// 3. Selection: 512 threads per (selection, head, batch), the histogram's
//    digit by one warp, block scans, the chosen indices and their ranks.
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c2{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c512{{.*}}) dynamic_shared_memory_size %c1096_i32
// CHECK: memref.atomic_rmw addi
// CHECK: gpu.shuffle up
// CHECK: nvvm.vote.sync ballot
// CHECK: arith.cmpi ugt
// CHECK: gpu.terminator
// 4. Lists: a warp per query block, a flag per kv block in shared memory.
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c32{{.*}})
// CHECK: nvvm.vote.sync ballot
// CHECK: gpu.terminator
// CHECK-NOT: sparse_attn.vertical_slash
// CHECK: return
func.func @minference(%q: tensor<1x32x?x128xbf16>, %k: tensor<1x8x?x128xbf16>)
    -> (tensor<1x32x?xi32>, tensor<1x32x?x?xi32>, tensor<1x32x?xi32>, tensor<1x32x?x1000xi32>) {
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %k {last_q = 64, vertical = 1000, slash = 6096, sink = 30, local = 100, block = [64, 64]}
      : tensor<1x32x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x32x?xi32>, tensor<1x32x?x?xi32>, tensor<1x32x?xi32>, tensor<1x32x?x1000xi32>
  return %n, %i, %cn, %ci : tensor<1x32x?xi32>, tensor<1x32x?x?xi32>, tensor<1x32x?xi32>, tensor<1x32x?x1000xi32>
}

// -----

// f32 inputs take CUDA-core products in the same fragment layout (a loop
// over the head dim); last_q = 100 makes two tail row tiles (rows past
// 100 are masked): 2 x 64 x 20 f32 + 64 x 20 + 64 x 65 + 2 x 128 (x 4).
// CHECK-LABEL: func.func @f32_two_row_tiles(
// CHECK: gpu.launch {{.*}} dynamic_shared_memory_size %c33024_i32
// CHECK-NOT: nvvm.mma.sync
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c16{{.*}} step %c1{{.*}} iter_args
// CHECK: arith.mulf
// CHECK: gpu.terminator
func.func @f32_two_row_tiles(%q: tensor<2x4x300x16xf32>, %k: tensor<2x2x500x16xf32>)
    -> (tensor<2x4x10xi32>, tensor<2x4x10x8xi32>, tensor<2x4x10xi32>, tensor<2x4x10x20xi32>) {
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %k {last_q = 100, vertical = 20, slash = 3, sink = 2, local = 1, block = [32, 64]}
      : tensor<2x4x300x16xf32>, tensor<2x2x500x16xf32> -> tensor<2x4x10xi32>, tensor<2x4x10x8xi32>, tensor<2x4x10xi32>, tensor<2x4x10x20xi32>
  return %n, %i, %cn, %ci : tensor<2x4x10xi32>, tensor<2x4x10x8xi32>, tensor<2x4x10xi32>, tensor<2x4x10x20xi32>
}

// -----

// Tail rows beyond shared memory (last_q = 2048 at D = 128: 32 row tiles)
// stay on the general path.
// CHECK-LABEL: func.func @long_tail(
// CHECK: sparse_attn.vertical_slash
func.func @long_tail(%q: tensor<1x2x4096x128xbf16>, %k: tensor<1x2x4096x128xbf16>)
    -> (tensor<1x2x64xi32>, tensor<1x2x64x64xi32>, tensor<1x2x64xi32>, tensor<1x2x64x100xi32>) {
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %k {last_q = 2048, vertical = 100, slash = 50, block = [64, 64]}
      : tensor<1x2x4096x128xbf16>, tensor<1x2x4096x128xbf16> -> tensor<1x2x64xi32>, tensor<1x2x64x64xi32>, tensor<1x2x64xi32>, tensor<1x2x64x100xi32>
  return %n, %i, %cn, %ci : tensor<1x2x64xi32>, tensor<1x2x64x64xi32>, tensor<1x2x64xi32>, tensor<1x2x64x100xi32>
}
