// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// Not raised (a known gap): the Q·Kᵀ of jnp.matmul here is one contraction over [2, 128, 64] x [1, 2, 64, 128] -> [2, 128, 1, 128] (a unit dim
// between the rows and the keys), which the matcher does not take; the function is left unchanged.
// CHECK-NOT: sparse_attn.attention
// CHECK: math.exp
//
// Hand-written jnp causal attention (jnp.matmul with unit-batch reshape, divide by sqrt(d), tril(ones f32)==0 -> where(-1e9), jax.nn.softmax).
// GENERATED (not hand-written) from stablehlo-src/jnp_handwritten_causal.stablehlo.mlir with:
//   shlo-linalg-opt (StableHLO @127d2f238 stablehlo/conversions/linalg, built against MLIR 22.1.8; conversion code identical to openxla/stablehlo HEAD 3c9301c1 except convolution)
//   --inline --stablehlo-legalize-to-linalg --canonicalize --cse
// The StableHLO input is modeled on real JAX-emitted StableHLO; see NOTES.md for what is real vs reconstructed.
#map = affine_map<() -> ()>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>
#map2 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map3 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4)>
#map4 = affine_map<(d0, d1, d2, d3, d4) -> (d2, d0, d4, d3)>
#map5 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#map6 = affine_map<(d0, d1, d2, d3) -> (d1, d2, d0, d3)>
#map7 = affine_map<(d0, d1, d2, d3) -> ()>
#map8 = affine_map<(d0, d1) -> ()>
#map9 = affine_map<(d0, d1) -> (d0, d1)>
#map10 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#map11 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map12 = affine_map<(d0, d1, d2) -> ()>
#map13 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map14 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
module {
  func.func @main(%arg0: tensor<1x2x128x64xf32>, %arg1: tensor<1x2x128x64xf32>, %arg2: tensor<1x2x128x64xf32>) -> tensor<1x2x128x64xf32> {
    %cst = arith.constant 8.000000e+00 : f32
    %cst_0 = arith.constant 0xFF800000 : f32
    %cst_1 = arith.constant 0.000000e+00 : f32
    %cst_2 = arith.constant dense<0> : tensor<i32>
    %cst_3 = arith.constant dense<0xFF800000> : tensor<f32>
    %cst_4 = arith.constant dense<-1.000000e+09> : tensor<f32>
    %cst_5 = arith.constant dense<0.000000e+00> : tensor<f32>
    %cst_6 = arith.constant dense<1.000000e+00> : tensor<f32>
    %0 = tensor.empty() : tensor<f32>
    %1 = linalg.generic {indexing_maps = [#map], iterator_types = []} outs(%0 : tensor<f32>) {
    ^bb0(%out: f32):
      linalg.yield %cst : f32
    } -> tensor<f32>
    %2 = tensor.empty() : tensor<1x2x64x128xf32>
    %3 = linalg.generic {indexing_maps = [#map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg1 : tensor<1x2x128x64xf32>) outs(%2 : tensor<1x2x64x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x64x128xf32>
    %collapsed = tensor.collapse_shape %arg0 [[0, 1], [2], [3]] : tensor<1x2x128x64xf32> into tensor<2x128x64xf32>
    %4 = tensor.empty() : tensor<2x128x1x128xf32>
    %5 = linalg.fill ins(%cst_1 : f32) outs(%4 : tensor<2x128x1x128xf32>) -> tensor<2x128x1x128xf32>
    %6 = linalg.generic {indexing_maps = [#map3, #map4, #map5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%collapsed, %3 : tensor<2x128x64xf32>, tensor<1x2x64x128xf32>) outs(%5 : tensor<2x128x1x128xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %47 = arith.mulf %in, %in_8 : f32
      %48 = arith.addf %out, %47 : f32
      linalg.yield %48 : f32
    } -> tensor<2x128x1x128xf32>
    %7 = tensor.empty() : tensor<1x2x128x128xf32>
    %8 = linalg.generic {indexing_maps = [#map6, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%6 : tensor<2x128x1x128xf32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %9 = linalg.generic {indexing_maps = [#map7, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1 : tensor<f32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %10 = linalg.generic {indexing_maps = [#map2, #map2, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%8, %9 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %47 = arith.divf %in, %in_8 : f32
      linalg.yield %47 : f32
    } -> tensor<1x2x128x128xf32>
    %11 = tensor.empty() : tensor<128x128xf32>
    %12 = linalg.generic {indexing_maps = [#map8, #map9], iterator_types = ["parallel", "parallel"]} ins(%cst_6 : tensor<f32>) outs(%11 : tensor<128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<128x128xf32>
    %13 = tensor.empty() : tensor<128x128xi32>
    %14 = linalg.generic {indexing_maps = [#map9], iterator_types = ["parallel", "parallel"]} outs(%13 : tensor<128x128xi32>) {
    ^bb0(%out: i32):
      %47 = linalg.index 0 : index
      %48 = arith.index_cast %47 : index to i32
      linalg.yield %48 : i32
    } -> tensor<128x128xi32>
    %15 = linalg.generic {indexing_maps = [#map8, #map9], iterator_types = ["parallel", "parallel"]} ins(%cst_2 : tensor<i32>) outs(%13 : tensor<128x128xi32>) {
    ^bb0(%in: i32, %out: i32):
      linalg.yield %in : i32
    } -> tensor<128x128xi32>
    %16 = linalg.generic {indexing_maps = [#map9, #map9, #map9], iterator_types = ["parallel", "parallel"]} ins(%14, %15 : tensor<128x128xi32>, tensor<128x128xi32>) outs(%13 : tensor<128x128xi32>) {
    ^bb0(%in: i32, %in_8: i32, %out: i32):
      %47 = arith.addi %in, %in_8 : i32
      linalg.yield %47 : i32
    } -> tensor<128x128xi32>
    %17 = linalg.generic {indexing_maps = [#map9], iterator_types = ["parallel", "parallel"]} outs(%13 : tensor<128x128xi32>) {
    ^bb0(%out: i32):
      %47 = linalg.index 1 : index
      %48 = arith.index_cast %47 : index to i32
      linalg.yield %48 : i32
    } -> tensor<128x128xi32>
    %18 = tensor.empty() : tensor<128x128xi1>
    %19 = linalg.generic {indexing_maps = [#map9, #map9, #map9], iterator_types = ["parallel", "parallel"]} ins(%16, %17 : tensor<128x128xi32>, tensor<128x128xi32>) outs(%18 : tensor<128x128xi1>) {
    ^bb0(%in: i32, %in_8: i32, %out: i1):
      %47 = arith.cmpi sge, %in, %in_8 : i32
      linalg.yield %47 : i1
    } -> tensor<128x128xi1>
    %20 = linalg.generic {indexing_maps = [#map8, #map9], iterator_types = ["parallel", "parallel"]} ins(%cst_5 : tensor<f32>) outs(%11 : tensor<128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<128x128xf32>
    %21 = linalg.generic {indexing_maps = [#map9, #map9, #map9, #map9], iterator_types = ["parallel", "parallel"]} ins(%19, %12, %20 : tensor<128x128xi1>, tensor<128x128xf32>, tensor<128x128xf32>) outs(%11 : tensor<128x128xf32>) {
    ^bb0(%in: i1, %in_8: f32, %in_9: f32, %out: f32):
      %47 = arith.select %in, %in_8, %in_9 : f32
      linalg.yield %47 : f32
    } -> tensor<128x128xf32>
    %22 = linalg.generic {indexing_maps = [#map9, #map9, #map9], iterator_types = ["parallel", "parallel"]} ins(%21, %20 : tensor<128x128xf32>, tensor<128x128xf32>) outs(%18 : tensor<128x128xi1>) {
    ^bb0(%in: f32, %in_8: f32, %out: i1):
      %47 = arith.cmpf oeq, %in, %in_8 : f32
      linalg.yield %47 : i1
    } -> tensor<128x128xi1>
    %23 = tensor.empty() : tensor<1x2x128x128xi1>
    %24 = linalg.generic {indexing_maps = [#map10, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%22 : tensor<128x128xi1>) outs(%23 : tensor<1x2x128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      linalg.yield %in : i1
    } -> tensor<1x2x128x128xi1>
    %25 = linalg.generic {indexing_maps = [#map7, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_4 : tensor<f32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %26 = linalg.generic {indexing_maps = [#map2, #map2, #map2, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%24, %25, %10 : tensor<1x2x128x128xi1>, tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: i1, %in_8: f32, %in_9: f32, %out: f32):
      %47 = arith.select %in, %in_8, %in_9 : f32
      linalg.yield %47 : f32
    } -> tensor<1x2x128x128xf32>
    %27 = tensor.empty() : tensor<1x2x128xf32>
    %28 = linalg.fill ins(%cst_0 : f32) outs(%27 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %29 = linalg.generic {indexing_maps = [#map2, #map11], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%26 : tensor<1x2x128x128xf32>) outs(%28 : tensor<1x2x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %47 = arith.maximumf %out, %in : f32
      linalg.yield %47 : f32
    } -> tensor<1x2x128xf32>
    %30 = linalg.generic {indexing_maps = [#map12, #map13], iterator_types = ["parallel", "parallel", "parallel"]} ins(%cst_3 : tensor<f32>) outs(%27 : tensor<1x2x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128xf32>
    %31 = linalg.generic {indexing_maps = [#map13, #map13, #map13], iterator_types = ["parallel", "parallel", "parallel"]} ins(%30, %29 : tensor<1x2x128xf32>, tensor<1x2x128xf32>) outs(%27 : tensor<1x2x128xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %47 = arith.maximumf %in, %in_8 : f32
      linalg.yield %47 : f32
    } -> tensor<1x2x128xf32>
    %32 = tensor.empty() : tensor<1x2x128x1xf32>
    %33 = linalg.generic {indexing_maps = [#map11, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%31 : tensor<1x2x128xf32>) outs(%32 : tensor<1x2x128x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x1xf32>
    %34 = linalg.generic {indexing_maps = [#map14, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%33 : tensor<1x2x128x1xf32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %35 = linalg.generic {indexing_maps = [#map2, #map2, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%26, %34 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %47 = arith.subf %in, %in_8 : f32
      linalg.yield %47 : f32
    } -> tensor<1x2x128x128xf32>
    %36 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%35 : tensor<1x2x128x128xf32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %47 = math.exp %in : f32
      linalg.yield %47 : f32
    } -> tensor<1x2x128x128xf32>
    %37 = linalg.fill ins(%cst_1 : f32) outs(%27 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %38 = linalg.generic {indexing_maps = [#map2, #map11], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%36 : tensor<1x2x128x128xf32>) outs(%37 : tensor<1x2x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %47 = arith.addf %out, %in : f32
      linalg.yield %47 : f32
    } -> tensor<1x2x128xf32>
    %39 = linalg.generic {indexing_maps = [#map11, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%38 : tensor<1x2x128xf32>) outs(%32 : tensor<1x2x128x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x1xf32>
    %40 = linalg.generic {indexing_maps = [#map14, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%39 : tensor<1x2x128x1xf32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %41 = linalg.generic {indexing_maps = [#map2, #map2, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%36, %40 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%7 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %47 = arith.divf %in, %in_8 : f32
      linalg.yield %47 : f32
    } -> tensor<1x2x128x128xf32>
    %collapsed_7 = tensor.collapse_shape %41 [[0, 1], [2], [3]] : tensor<1x2x128x128xf32> into tensor<2x128x128xf32>
    %42 = tensor.empty() : tensor<2x128x1x64xf32>
    %43 = linalg.fill ins(%cst_1 : f32) outs(%42 : tensor<2x128x1x64xf32>) -> tensor<2x128x1x64xf32>
    %44 = linalg.generic {indexing_maps = [#map3, #map4, #map5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%collapsed_7, %arg2 : tensor<2x128x128xf32>, tensor<1x2x128x64xf32>) outs(%43 : tensor<2x128x1x64xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %47 = arith.mulf %in, %in_8 : f32
      %48 = arith.addf %out, %47 : f32
      linalg.yield %48 : f32
    } -> tensor<2x128x1x64xf32>
    %45 = tensor.empty() : tensor<1x2x128x64xf32>
    %46 = linalg.generic {indexing_maps = [#map6, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%44 : tensor<2x128x1x64xf32>) outs(%45 : tensor<1x2x128x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x64xf32>
    return %46 : tensor<1x2x128x64xf32>
  }
}

