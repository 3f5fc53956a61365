// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32}
// CHECK-SAME: : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, tensor<1x2x128xf32>
// CHECK-NOT: math.exp
//
// SYNTHESIZED (hand-written, not emitted by any frontend): the "already raised" shape a
// pipeline reaches after IREE-style raising (GlobalOptimization RaiseSpecialOps: RaiseSoftmax
// -> linalg.softmax, FuseBatchMatmulTranspose -> transposed-B batch matmul, here spelled with
// the upstream LLVM-22 `indexing_maps` form of linalg.batch_matmul). No frontend studied here
// (torch-mlir TorchToLinalg, stablehlo-legalize-to-linalg) emits linalg.softmax itself.
#mapQ = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#mapK = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#mapS = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @raised_linalg_softmax(%q: tensor<2x128x64xf32>, %k: tensor<2x128x64xf32>, %v: tensor<2x128x64xf32>) -> tensor<2x128x64xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 1.250000e-01 : f32
  %e0 = tensor.empty() : tensor<2x128x128xf32>
  %z0 = linalg.fill ins(%cst : f32) outs(%e0 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
  %s = linalg.batch_matmul indexing_maps = [#mapQ, #mapK, #mapS]
         ins(%q, %k : tensor<2x128x64xf32>, tensor<2x128x64xf32>)
         outs(%z0 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
  %ss = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
         ins(%s : tensor<2x128x128xf32>) outs(%e0 : tensor<2x128x128xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %scale : f32
    linalg.yield %m : f32
  } -> tensor<2x128x128xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<2x128x128xf32>) outs(%e0 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
  %e1 = tensor.empty() : tensor<2x128x64xf32>
  %z1 = linalg.fill ins(%cst : f32) outs(%e1 : tensor<2x128x64xf32>) -> tensor<2x128x64xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<2x128x128xf32>, tensor<2x128x64xf32>)
         outs(%z1 : tensor<2x128x64xf32>) -> tensor<2x128x64xf32>
  return %o : tensor<2x128x64xf32>
}
