// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32}
// CHECK-SAME: : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, tensor<1x2x128xf32>
// CHECK-NOT: math.exp
//
// GENERATED: linalg_softmax_named.mlir with linalg.softmax decomposed by upstream MLIR 22.1.8
// (transform.structured.decompose_interface; then --canonicalize --cse). Note the max reduction uses
// arith.maxnumf with a NaN (0xFFC00000) init, unlike every frontend form (arith.maximumf, -inf init),
// and sub+exp are fused into one generic.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#map2 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map4 = affine_map<(d0, d1, d2) -> (d0, d1)>
module {
  func.func @raised_linalg_softmax(%arg0: tensor<2x128x64xf32>, %arg1: tensor<2x128x64xf32>, %arg2: tensor<2x128x64xf32>) -> tensor<2x128x64xf32> {
    %cst = arith.constant 0xFFC00000 : f32
    %cst_0 = arith.constant 0.000000e+00 : f32
    %cst_1 = arith.constant 1.250000e-01 : f32
    %0 = tensor.empty() : tensor<2x128x128xf32>
    %1 = linalg.fill ins(%cst_0 : f32) outs(%0 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
    %2 = linalg.batch_matmul indexing_maps = [#map, #map1, #map2] ins(%arg0, %arg1 : tensor<2x128x64xf32>, tensor<2x128x64xf32>) outs(%1 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
    %3 = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%2 : tensor<2x128x128xf32>) outs(%0 : tensor<2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %14 = arith.mulf %in, %cst_1 : f32
      linalg.yield %14 : f32
    } -> tensor<2x128x128xf32>
    %4 = tensor.empty() : tensor<2x128xf32>
    %5 = linalg.fill ins(%cst : f32) outs(%4 : tensor<2x128xf32>) -> tensor<2x128xf32>
    %6 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "reduction"]} ins(%3 : tensor<2x128x128xf32>) outs(%5 : tensor<2x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %14 = arith.maxnumf %in, %out : f32
      linalg.yield %14 : f32
    } -> tensor<2x128xf32>
    %7 = linalg.generic {indexing_maps = [#map3, #map4, #map3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%3, %6 : tensor<2x128x128xf32>, tensor<2x128xf32>) outs(%0 : tensor<2x128x128xf32>) {
    ^bb0(%in: f32, %in_2: f32, %out: f32):
      %14 = arith.subf %in, %in_2 : f32
      %15 = math.exp %14 : f32
      linalg.yield %15 : f32
    } -> tensor<2x128x128xf32>
    %8 = linalg.fill ins(%cst_0 : f32) outs(%4 : tensor<2x128xf32>) -> tensor<2x128xf32>
    %9 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "reduction"]} ins(%7 : tensor<2x128x128xf32>) outs(%8 : tensor<2x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %14 = arith.addf %in, %out : f32
      linalg.yield %14 : f32
    } -> tensor<2x128xf32>
    %10 = linalg.generic {indexing_maps = [#map3, #map4, #map3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%7, %9 : tensor<2x128x128xf32>, tensor<2x128xf32>) outs(%0 : tensor<2x128x128xf32>) {
    ^bb0(%in: f32, %in_2: f32, %out: f32):
      %14 = arith.divf %in, %in_2 : f32
      linalg.yield %14 : f32
    } -> tensor<2x128x128xf32>
    %11 = tensor.empty() : tensor<2x128x64xf32>
    %12 = linalg.fill ins(%cst_0 : f32) outs(%11 : tensor<2x128x64xf32>) -> tensor<2x128x64xf32>
    %13 = linalg.batch_matmul ins(%10, %arg2 : tensor<2x128x128xf32>, tensor<2x128x64xf32>) outs(%12 : tensor<2x128x64xf32>) -> tensor<2x128x64xf32>
    return %13 : tensor<2x128x64xf32>
  }
}

