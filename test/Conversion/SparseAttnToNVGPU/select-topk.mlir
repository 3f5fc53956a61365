// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS

// select_topk on the GPU (issue 15): a warp per row (grid: query blocks,
// heads, batch), the row's ordered keys and marks in 8 bytes of shared
// memory per block (checked against the chip's before the launch); sink
// and local by ballots; for k up to 16 (NSA's 13) k rounds of a warp argmax
// (a max then a min over the warp, 10 shuffles), each marking one block;
// the ascending list by a last ballot pass, -1 up to the capacity.
// CHECK-LABEL: func.func @nsa(
// CHECK: arith.muli %{{.*}}, %c8
// CHECK: cf.assert %{{.*}}, "sparse_attn.select_topk at {{.*}}: rows of more than 29056 blocks do not fit the kernel's shared memory"
// CHECK: gpu.launch {{.*}} threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c32
// CHECK: arith.bitcast {{.*}} : f32 to i32
// CHECK: nvvm.vote.sync ballot
// CHECK: scf.for {{.*}} iter_args
// CHECK-COUNT-10: gpu.shuffle xor
// CHECK-NOT: gpu.shuffle
// CHECK: nvvm.bar.warp.sync
// CHECK: arith.constant -1 : i32
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}
func.func @nsa(%s: tensor<?x4x?x?xf32>) -> (tensor<?x4x?xi32>, tensor<?x4x?x16xi32>) {
  %num, %idx = sparse_attn.select_topk %s {k = 13, sink = 1, local = 2}
      : tensor<?x4x?x?xf32> -> tensor<?x4x?xi32>, tensor<?x4x?x16xi32>
  return %num, %idx : tensor<?x4x?xi32>, tensor<?x4x?x16xi32>
}

// Larger k (64): the k-th largest key by 32 counting passes (warp sums by
// shuffles), the keys above it, then the lowest-index ties.
// CHECK-LABEL: func.func @wide_k(
// CHECK: gpu.launch
// CHECK-COUNT-32: gpu.shuffle xor
// CHECK: arith.cmpi ugt
func.func @wide_k(%s: tensor<1x2x16x4096xf32>) -> (tensor<1x2x16xi32>, tensor<1x2x16x67xi32>) {
  %num, %idx = sparse_attn.select_topk %s {k = 64, sink = 1, local = 2}
      : tensor<1x2x16x4096xf32> -> tensor<1x2x16xi32>, tensor<1x2x16x67xi32>
  return %num, %idx : tensor<1x2x16xi32>, tensor<1x2x16x67xi32>
}

// select_threshold: the same warp per row; the row's maximum (a warp max of
// the keys, 5 shuffles) and total weight (ex2 per block, a warp sum of 5
// shuffles), the forced blocks' weight (5 more), then up to max_blocks
// argmax rounds (10 shuffles each) while the taken weight is below
// mass * total.
// CHECK-LABEL: func.func @threshold(
// CHECK: cf.assert %{{.*}}, "sparse_attn.select_threshold at {{.*}}: rows of more than 29056 blocks do not fit the kernel's shared memory"
// CHECK: gpu.launch
// CHECK-COUNT-5: gpu.shuffle xor {{.*}} : i32
// CHECK: ex2.approx
// CHECK-COUNT-5: gpu.shuffle xor {{.*}} : f32
// CHECK: nvvm.vote.sync ballot
// CHECK: arith.constant 0.899999976 : f32
// CHECK: scf.for
// CHECK: arith.cmpf oge
// CHECK-COUNT-10: gpu.shuffle xor {{.*}} : i32
func.func @threshold(%s: tensor<?x4x?x?xf32>) -> (tensor<?x4x?xi32>, tensor<?x4x?x19xi32>) {
  %num, %idx = sparse_attn.select_threshold %s {mass = 0.9 : f32, max_blocks = 16, sink = 1, local = 2}
      : tensor<?x4x?x?xf32> -> tensor<?x4x?xi32>, tensor<?x4x?x19xi32>
  return %num, %idx : tensor<?x4x?xi32>, tensor<?x4x?x19xi32>
}
