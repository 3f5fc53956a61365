// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90" -o %t.sm90.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90.mlir sm_90 | FileCheck %s --check-prefix=PTXAS

// pool on the GPU (issue 15): a thread block per (pooled block, head,
// batch). bf16 rows of 128 hold 16 chunks of 8 (16-byte loads); the 128
// threads take 8 row groups, whose partials meet in shared memory (8 x 128
// f32) before the mean's division.
// CHECK-LABEL: func.func @mean(
// CHECK: %[[IN:.*]] = bufferization.to_buffer %arg0 read_only : tensor<?x4x?x128xbf16> to memref<?x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: %[[BYTES:.*]] = arith.constant 4096 : i32
// CHECK: gpu.launch blocks({{.*}}) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c128{{.*}}) dynamic_shared_memory_size %[[BYTES]]
// CHECK: memref.view {{.*}} to memref<8x128xf32, #gpu.address_space<workgroup>>
// CHECK: vector.load %[[IN]]{{.*}} vector<8xbf16>
// CHECK: gpu.barrier
// CHECK: arith.divf
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}
func.func @mean(%k: tensor<?x4x?x128xbf16>) -> tensor<?x4x?x128xf32> {
  %p = sparse_attn.pool mean %k {block = 64} : tensor<?x4x?x128xbf16> -> tensor<?x4x?x128xf32>
  return %p : tensor<?x4x?x128xf32>
}

// -----

// f32 rows of 40: 10 chunks of 4; blocks of 3 rows take 3 row groups (30
// threads); max propagates NaN (arith.maximumf) and divides by nothing.
// CHECK-LABEL: func.func @max(
// CHECK: gpu.launch {{.*}} threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c30
// CHECK: vector.load {{.*}} vector<4xf32>
// CHECK: arith.maximumf
// CHECK-NOT: arith.divf
// CHECK: gpu.terminator
func.func @max(%k: tensor<1x2x?x40xf32>) -> tensor<1x2x?x40xf32> {
  %p = sparse_attn.pool max %k {block = 3} : tensor<1x2x?x40xf32> -> tensor<1x2x?x40xf32>
  return %p : tensor<1x2x?x40xf32>
}
