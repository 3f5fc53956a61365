// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal, scale = 1.250000e-01 : f32}
// CHECK-SAME: : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, tensor<1x2x128xf32>
// CHECK-NOT: math.exp
//
// Same as stablehlo_causal but with enable-primitive-ops=true.
// GENERATED (not hand-written) from stablehlo-src/jaxnn_causal.stablehlo.mlir with:
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
    %cst_1 = arith.constant dense<true> : tensor<i1>
    %cst_2 = arith.constant dense<false> : tensor<i1>
    %cst_3 = arith.constant dense<0> : tensor<i32>
    %cst_4 = arith.constant dense<0xFF800000> : tensor<f32>
    %cst_5 = arith.constant dense<1.250000e-01> : tensor<f32>
    %cst_6 = arith.constant dense<-2.38197633E+38> : tensor<f32>
    %0 = tensor.empty() : tensor<1x2x128x128xf32>
    %1 = linalg.fill ins(%cst_0 : f32) outs(%0 : tensor<1x2x128x128xf32>) -> tensor<1x2x128x128xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<1x128x2x64xf32>, tensor<1x128x2x64xf32>) outs(%1 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_33: f32, %out: f32):
      %15 = arith.mulf %in, %in_33 : f32
      %16 = arith.addf %out, %15 : f32
      linalg.yield %16 : f32
    } -> tensor<1x2x128x128xf32>
    %broadcasted = linalg.broadcast ins(%cst_5 : tensor<f32>) outs(%0 : tensor<1x2x128x128xf32>) dimensions = [0, 1, 2, 3] 
    %mapped = linalg.map { arith.mulf } ins(%2, %broadcasted : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %3 = tensor.empty() : tensor<1x2x128x128xi1>
    %broadcasted_7 = linalg.broadcast ins(%cst_1 : tensor<i1>) outs(%3 : tensor<1x2x128x128xi1>) dimensions = [0, 1, 2, 3] 
    %4 = tensor.empty() : tensor<128x128xi1>
    %broadcasted_8 = linalg.broadcast ins(%cst_1 : tensor<i1>) outs(%4 : tensor<128x128xi1>) dimensions = [0, 1] 
    %5 = tensor.empty() : tensor<128x128xi32>
    %mapped_9 = linalg.map outs(%5 : tensor<128x128xi32>)
      (%init: i32) {
        %15 = linalg.index 0 : index
        %16 = arith.index_cast %15 : index to i64
        %17 = arith.trunci %16 : i64 to i32
        linalg.yield %17 : i32
      }
    %broadcasted_10 = linalg.broadcast ins(%cst_3 : tensor<i32>) outs(%5 : tensor<128x128xi32>) dimensions = [0, 1] 
    %mapped_11 = linalg.map { arith.addi {overflowFlags = #arith.overflow<none>} } ins(%mapped_9, %broadcasted_10 : tensor<128x128xi32>, tensor<128x128xi32>) outs(%5 : tensor<128x128xi32>)
    %mapped_12 = linalg.map outs(%5 : tensor<128x128xi32>)
      (%init: i32) {
        %15 = linalg.index 1 : index
        %16 = arith.index_cast %15 : index to i64
        %17 = arith.trunci %16 : i64 to i32
        linalg.yield %17 : i32
      }
    %mapped_13 = linalg.map { arith.cmpi {predicate = 5 : i64} } ins(%mapped_11, %mapped_12 : tensor<128x128xi32>, tensor<128x128xi32>) outs(%4 : tensor<128x128xi1>)
    %broadcasted_14 = linalg.broadcast ins(%cst_2 : tensor<i1>) outs(%4 : tensor<128x128xi1>) dimensions = [0, 1] 
    %mapped_15 = linalg.map { arith.select } ins(%mapped_13, %broadcasted_8, %broadcasted_14 : tensor<128x128xi1>, tensor<128x128xi1>, tensor<128x128xi1>) outs(%4 : tensor<128x128xi1>)
    %6 = tensor.empty() : tensor<1x1x128x128xi1>
    %broadcasted_16 = linalg.broadcast ins(%mapped_15 : tensor<128x128xi1>) outs(%6 : tensor<1x1x128x128xi1>) dimensions = [0, 1] 
    %collapsed = tensor.collapse_shape %broadcasted_16 [[0], [1, 2], [3]] : tensor<1x1x128x128xi1> into tensor<1x128x128xi1>
    %broadcasted_17 = linalg.broadcast ins(%collapsed : tensor<1x128x128xi1>) outs(%3 : tensor<1x2x128x128xi1>) dimensions = [1] 
    %mapped_18 = linalg.map { arith.andi } ins(%broadcasted_7, %broadcasted_17 : tensor<1x2x128x128xi1>, tensor<1x2x128x128xi1>) outs(%3 : tensor<1x2x128x128xi1>)
    %broadcasted_19 = linalg.broadcast ins(%cst_6 : tensor<f32>) outs(%0 : tensor<1x2x128x128xf32>) dimensions = [0, 1, 2, 3] 
    %mapped_20 = linalg.map { arith.select } ins(%mapped_18, %mapped, %broadcasted_19 : tensor<1x2x128x128xi1>, tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %7 = tensor.empty() : tensor<1x2x128xf32>
    %8 = linalg.fill ins(%cst : f32) outs(%7 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %reduced = linalg.reduce { arith.maximumf } ins(%mapped_20 : tensor<1x2x128x128xf32>) outs(%8 : tensor<1x2x128xf32>) dimensions = [3] 
    %broadcasted_21 = linalg.broadcast ins(%cst_4 : tensor<f32>) outs(%7 : tensor<1x2x128xf32>) dimensions = [0, 1, 2] 
    %mapped_22 = linalg.map { arith.maximumf } ins(%broadcasted_21, %reduced : tensor<1x2x128xf32>, tensor<1x2x128xf32>) outs(%7 : tensor<1x2x128xf32>)
    %9 = tensor.empty() : tensor<1x2x128x1xf32>
    %broadcasted_23 = linalg.broadcast ins(%mapped_22 : tensor<1x2x128xf32>) outs(%9 : tensor<1x2x128x1xf32>) dimensions = [3] 
    %collapsed_24 = tensor.collapse_shape %broadcasted_23 [[0], [1], [2, 3]] : tensor<1x2x128x1xf32> into tensor<1x2x128xf32>
    %broadcasted_25 = linalg.broadcast ins(%collapsed_24 : tensor<1x2x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) dimensions = [3] 
    %mapped_26 = linalg.map { arith.subf } ins(%mapped_20, %broadcasted_25 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %mapped_27 = linalg.map { math.exp } ins(%mapped_26 : tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %10 = linalg.fill ins(%cst_0 : f32) outs(%7 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %reduced_28 = linalg.reduce { arith.addf } ins(%mapped_27 : tensor<1x2x128x128xf32>) outs(%10 : tensor<1x2x128xf32>) dimensions = [3] 
    %broadcasted_29 = linalg.broadcast ins(%reduced_28 : tensor<1x2x128xf32>) outs(%9 : tensor<1x2x128x1xf32>) dimensions = [3] 
    %collapsed_30 = tensor.collapse_shape %broadcasted_29 [[0], [1], [2, 3]] : tensor<1x2x128x1xf32> into tensor<1x2x128xf32>
    %broadcasted_31 = linalg.broadcast ins(%collapsed_30 : tensor<1x2x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) dimensions = [3] 
    %mapped_32 = linalg.map { arith.divf } ins(%mapped_27, %broadcasted_31 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>)
    %11 = tensor.empty() : tensor<1x2x64x128xf32>
    %12 = linalg.fill ins(%cst_0 : f32) outs(%11 : tensor<1x2x64x128xf32>) -> tensor<1x2x64x128xf32>
    %13 = linalg.generic {indexing_maps = [#map3, #map4, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg2, %mapped_32 : tensor<1x128x2x64xf32>, tensor<1x2x128x128xf32>) outs(%12 : tensor<1x2x64x128xf32>) {
    ^bb0(%in: f32, %in_33: f32, %out: f32):
      %15 = arith.mulf %in, %in_33 : f32
      %16 = arith.addf %out, %15 : f32
      linalg.yield %16 : f32
    } -> tensor<1x2x64x128xf32>
    %14 = tensor.empty() : tensor<1x128x2x64xf32>
    %transposed = linalg.transpose ins(%13 : tensor<1x2x64x128xf32>) outs(%14 : tensor<1x128x2x64xf32>) permutation = [0, 3, 1, 2] 
    return %transposed : tensor<1x128x2x64xf32>
  }
}

