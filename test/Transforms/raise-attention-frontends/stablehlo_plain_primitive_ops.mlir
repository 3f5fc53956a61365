// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32}
// CHECK-SAME: : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, tensor<1x2x128xf32>
// CHECK-NOT: math.exp
//
// Same as stablehlo_plain but with enable-primitive-ops=true (linalg.map/reduce/broadcast/transpose).
// GENERATED (not hand-written) from stablehlo-src/jaxnn_plain.stablehlo.mlir with:
//   shlo-linalg-opt (StableHLO @127d2f238 stablehlo/conversions/linalg, built against MLIR 22.1.8; conversion code identical to openxla/stablehlo HEAD 3c9301c1 except convolution)
//   --stablehlo-legalize-to-linalg=enable-primitive-ops=true --canonicalize --cse
// The StableHLO input is modeled on real JAX-emitted StableHLO; see NOTES.md for what is real vs reconstructed.
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d1, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1, d4)>
#map2 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#map3 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d4, d1, d2)>
#map4 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
module {
  func.func @main(%arg0: tensor<1x128x2x64xf32>, %arg1: tensor<1x128x2x64xf32>, %arg2: tensor<1x128x2x64xf32>) -> tensor<1x128x2x64xf32> {
    %cst = arith.constant 0xFF800000 : f32
    %cst_0 = arith.constant 0.000000e+00 : f32
    %cst_1 = arith.constant dense<0xFF800000> : tensor<f32>
    %cst_2 = arith.constant dense<1.250000e-01> : tensor<f32>
    %0 = tensor.empty() : tensor<1x2x128x128xf32>
    %1 = linalg.fill ins(%cst_0 : f32) outs(%0 : tensor<1x2x128x128xf32>) -> tensor<1x2x128x128xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<1x128x2x64xf32>, tensor<1x128x2x64xf32>) outs(%1 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %11 = arith.mulf %in, %in_14 : f32
      %12 = arith.addf %out, %11 : f32
      linalg.yield %12 : f32
    } -> tensor<1x2x128x128xf32>
    %broadcasted = linalg.broadcast ins(%cst_2 : tensor<f32>) outs(%0 : tensor<1x2x128x128xf32>) dimensions = [0, 1, 2, 3] 
    %mapped = linalg.map { arith.mulf } ins(%2, %broadcasted : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %3 = tensor.empty() : tensor<1x2x128xf32>
    %4 = linalg.fill ins(%cst : f32) outs(%3 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %reduced = linalg.reduce { arith.maximumf } ins(%mapped : tensor<1x2x128x128xf32>) outs(%4 : tensor<1x2x128xf32>) dimensions = [3] 
    %broadcasted_3 = linalg.broadcast ins(%cst_1 : tensor<f32>) outs(%3 : tensor<1x2x128xf32>) dimensions = [0, 1, 2] 
    %mapped_4 = linalg.map { arith.maximumf } ins(%broadcasted_3, %reduced : tensor<1x2x128xf32>, tensor<1x2x128xf32>) outs(%3 : tensor<1x2x128xf32>)
    %5 = tensor.empty() : tensor<1x2x128x1xf32>
    %broadcasted_5 = linalg.broadcast ins(%mapped_4 : tensor<1x2x128xf32>) outs(%5 : tensor<1x2x128x1xf32>) dimensions = [3] 
    %collapsed = tensor.collapse_shape %broadcasted_5 [[0], [1], [2, 3]] : tensor<1x2x128x1xf32> into tensor<1x2x128xf32>
    %broadcasted_6 = linalg.broadcast ins(%collapsed : tensor<1x2x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) dimensions = [3] 
    %mapped_7 = linalg.map { arith.subf } ins(%mapped, %broadcasted_6 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %mapped_8 = linalg.map { math.exp } ins(%mapped_7 : tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %6 = linalg.fill ins(%cst_0 : f32) outs(%3 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %reduced_9 = linalg.reduce { arith.addf } ins(%mapped_8 : tensor<1x2x128x128xf32>) outs(%6 : tensor<1x2x128xf32>) dimensions = [3] 
    %broadcasted_10 = linalg.broadcast ins(%reduced_9 : tensor<1x2x128xf32>) outs(%5 : tensor<1x2x128x1xf32>) dimensions = [3] 
    %collapsed_11 = tensor.collapse_shape %broadcasted_10 [[0], [1], [2, 3]] : tensor<1x2x128x1xf32> into tensor<1x2x128xf32>
    %broadcasted_12 = linalg.broadcast ins(%collapsed_11 : tensor<1x2x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) dimensions = [3] 
    %mapped_13 = linalg.map { arith.divf } ins(%mapped_8, %broadcasted_12 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %7 = tensor.empty() : tensor<1x2x64x128xf32>
    %8 = linalg.fill ins(%cst_0 : f32) outs(%7 : tensor<1x2x64x128xf32>) -> tensor<1x2x64x128xf32>
    %9 = linalg.generic {indexing_maps = [#map3, #map4, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg2, %mapped_13 : tensor<1x128x2x64xf32>, tensor<1x2x128x128xf32>) outs(%8 : tensor<1x2x64x128xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %11 = arith.mulf %in, %in_14 : f32
      %12 = arith.addf %out, %11 : f32
      linalg.yield %12 : f32
    } -> tensor<1x2x64x128xf32>
    %10 = tensor.empty() : tensor<1x128x2x64xf32>
    %transposed = linalg.transpose ins(%9 : tensor<1x2x64x128xf32>) outs(%10 : tensor<1x128x2x64xf32>) permutation = [0, 3, 1, 2] 
    return %transposed : tensor<1x128x2x64xf32>
  }
}

