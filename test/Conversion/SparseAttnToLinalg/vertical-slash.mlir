// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg --canonicalize --cse | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" | FileCheck %s --check-prefix=PTX

// vertical_slash: the last min(last_q, Sq) = 16 queries' causal softmax
// (scores, max, exp, sum, normalize), the column and diagonal sums with the
// forced ones +inf, two top-k selections (select_topk's scalar scans), the
// crossed blocks, then a row scan per query block writing both lists.
// The PTX pipeline compiles it (the general path: no kernel yet).
// PTX-LABEL: llvm.func @vertical_slash(
// PTX: gpu.launch_func @vertical_slash_kernel
// CHECK-LABEL: func.func @vertical_slash
// CHECK: tensor.extract_slice %arg0[0, 0, 48, 0] [1, 2, 16, 16] [1, 1, 1, 1]
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %arg1 : tensor<1x2x16x16xf32>, tensor<1x1x64x16xf32>)
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.divf
// The column sums: sink = 2 forced.
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x1x64xf32>)
// CHECK: arith.cmpi slt, %{{.*}}, %c2
// CHECK: arith.select %{{.*}}, %cst{{.*}}, %{{.*}} : f32
// The diagonal sums read P at p - d.
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x1x64xf32>)
// CHECK: tensor.extract
// CHECK-NOT: sparse_attn.
// CHECK: scf.forall
// CHECK: return
func.func @vertical_slash(%q: tensor<1x2x64x16xf32>, %k: tensor<1x1x64x16xf32>)
    -> (tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x8xi32>) {
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %k {last_q = 16, vertical = 8, slash = 3, sink = 2, local = 1, block = [16, 16]}
      : tensor<1x2x64x16xf32>, tensor<1x1x64x16xf32> -> tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x8xi32>
  return %n, %i, %cn, %ci : tensor<1x2x4xi32>, tensor<1x2x4x4xi32>, tensor<1x2x4xi32>, tensor<1x2x4x8xi32>
}

// columns(...): the pair is allowed when its block is listed or its key is
// one of the query block's columns (membership [1, 2, 4, 64] over keys).
// CHECK-LABEL: func.func @columns
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x4x64xi1>)
// CHECK: linalg.generic
// CHECK: %[[BLOCK:.*]] = tensor.extract %{{.*}} : tensor<1x2x4x4xi1>
// CHECK: %[[COLUMN:.*]] = tensor.extract %{{.*}} : tensor<1x2x4x64xi1>
// CHECK: arith.ori %[[BLOCK]], %[[COLUMN]] : i1
func.func @columns(%q: tensor<1x2x64x16xf32>, %k: tensor<1x1x64x16xf32>, %n: tensor<1x2x4xi32>, %i: tensor<1x2x4x4xi32>,
                   %cn: tensor<1x2x4xi32>, %ci: tensor<1x2x4x8xi32>) -> (tensor<1x2x64x16xf32>, tensor<1x2x64xf32>) {
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %k, %n, %i columns(%cn, %ci : tensor<1x2x4xi32>, tensor<1x2x4x8xi32>) {block = [16, 16], mask = #sparse_attn.causal}
      : tensor<1x2x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x1x64x16xf32>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32> -> tensor<1x2x64x16xf32>, tensor<1x2x64xf32>
  return %o, %l : tensor<1x2x64x16xf32>, tensor<1x2x64xf32>
}
