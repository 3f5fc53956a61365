// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal, scale = 1.250000e-01 : f32}
// CHECK-SAME: : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, tensor<1x2x128xf32>
// CHECK-NOT: math.exp
//
// jax.nn.dot_product_attention(is_causal=True): ones_like mask AND tril(iota>=iota) mask, select(mask, logits, -0.7*f32max), softmax.
// GENERATED (not hand-written) from stablehlo-src/jaxnn_causal.stablehlo.mlir with:
//   shlo-linalg-opt (StableHLO @127d2f238 stablehlo/conversions/linalg, built against MLIR 22.1.8; conversion code identical to openxla/stablehlo HEAD 3c9301c1 except convolution)
//   --inline --stablehlo-legalize-to-linalg --canonicalize --cse
// The StableHLO input is modeled on real JAX-emitted StableHLO; see NOTES.md for what is real vs reconstructed.
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d1, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1, d4)>
#map2 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#map3 = affine_map<(d0, d1, d2, d3) -> ()>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map5 = affine_map<(d0, d1) -> ()>
#map6 = affine_map<(d0, d1) -> (d0, d1)>
#map7 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#map8 = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
#map9 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map10 = affine_map<(d0, d1, d2) -> ()>
#map11 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map12 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#map13 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d4, d1, d2)>
#map14 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
#map15 = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>
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
    ^bb0(%in: f32, %in_7: f32, %out: f32):
      %43 = arith.mulf %in, %in_7 : f32
      %44 = arith.addf %out, %43 : f32
      linalg.yield %44 : f32
    } -> tensor<1x2x128x128xf32>
    %3 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_5 : tensor<f32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %4 = linalg.generic {indexing_maps = [#map4, #map4, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%2, %3 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_7: f32, %out: f32):
      %43 = arith.mulf %in, %in_7 : f32
      linalg.yield %43 : f32
    } -> tensor<1x2x128x128xf32>
    %5 = tensor.empty() : tensor<1x2x128x128xi1>
    %6 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_1 : tensor<i1>) outs(%5 : tensor<1x2x128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      linalg.yield %in : i1
    } -> tensor<1x2x128x128xi1>
    %7 = tensor.empty() : tensor<128x128xi1>
    %8 = linalg.generic {indexing_maps = [#map5, #map6], iterator_types = ["parallel", "parallel"]} ins(%cst_1 : tensor<i1>) outs(%7 : tensor<128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      linalg.yield %in : i1
    } -> tensor<128x128xi1>
    %9 = tensor.empty() : tensor<128x128xi32>
    %10 = linalg.generic {indexing_maps = [#map6], iterator_types = ["parallel", "parallel"]} outs(%9 : tensor<128x128xi32>) {
    ^bb0(%out: i32):
      %43 = linalg.index 0 : index
      %44 = arith.index_cast %43 : index to i32
      linalg.yield %44 : i32
    } -> tensor<128x128xi32>
    %11 = linalg.generic {indexing_maps = [#map5, #map6], iterator_types = ["parallel", "parallel"]} ins(%cst_3 : tensor<i32>) outs(%9 : tensor<128x128xi32>) {
    ^bb0(%in: i32, %out: i32):
      linalg.yield %in : i32
    } -> tensor<128x128xi32>
    %12 = linalg.generic {indexing_maps = [#map6, #map6, #map6], iterator_types = ["parallel", "parallel"]} ins(%10, %11 : tensor<128x128xi32>, tensor<128x128xi32>) outs(%9 : tensor<128x128xi32>) {
    ^bb0(%in: i32, %in_7: i32, %out: i32):
      %43 = arith.addi %in, %in_7 : i32
      linalg.yield %43 : i32
    } -> tensor<128x128xi32>
    %13 = linalg.generic {indexing_maps = [#map6], iterator_types = ["parallel", "parallel"]} outs(%9 : tensor<128x128xi32>) {
    ^bb0(%out: i32):
      %43 = linalg.index 1 : index
      %44 = arith.index_cast %43 : index to i32
      linalg.yield %44 : i32
    } -> tensor<128x128xi32>
    %14 = linalg.generic {indexing_maps = [#map6, #map6, #map6], iterator_types = ["parallel", "parallel"]} ins(%12, %13 : tensor<128x128xi32>, tensor<128x128xi32>) outs(%7 : tensor<128x128xi1>) {
    ^bb0(%in: i32, %in_7: i32, %out: i1):
      %43 = arith.cmpi sge, %in, %in_7 : i32
      linalg.yield %43 : i1
    } -> tensor<128x128xi1>
    %15 = linalg.generic {indexing_maps = [#map5, #map6], iterator_types = ["parallel", "parallel"]} ins(%cst_2 : tensor<i1>) outs(%7 : tensor<128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      linalg.yield %in : i1
    } -> tensor<128x128xi1>
    %16 = linalg.generic {indexing_maps = [#map6, #map6, #map6, #map6], iterator_types = ["parallel", "parallel"]} ins(%14, %8, %15 : tensor<128x128xi1>, tensor<128x128xi1>, tensor<128x128xi1>) outs(%7 : tensor<128x128xi1>) {
    ^bb0(%in: i1, %in_7: i1, %in_8: i1, %out: i1):
      %43 = arith.select %in, %in_7, %in_8 : i1
      linalg.yield %43 : i1
    } -> tensor<128x128xi1>
    %17 = tensor.empty() : tensor<1x1x128x128xi1>
    %18 = linalg.generic {indexing_maps = [#map7, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%16 : tensor<128x128xi1>) outs(%17 : tensor<1x1x128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      linalg.yield %in : i1
    } -> tensor<1x1x128x128xi1>
    %19 = linalg.generic {indexing_maps = [#map8, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%18 : tensor<1x1x128x128xi1>) outs(%5 : tensor<1x2x128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      linalg.yield %in : i1
    } -> tensor<1x2x128x128xi1>
    %20 = linalg.generic {indexing_maps = [#map4, #map4, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%6, %19 : tensor<1x2x128x128xi1>, tensor<1x2x128x128xi1>) outs(%5 : tensor<1x2x128x128xi1>) {
    ^bb0(%in: i1, %in_7: i1, %out: i1):
      %43 = arith.andi %in, %in_7 : i1
      linalg.yield %43 : i1
    } -> tensor<1x2x128x128xi1>
    %21 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%cst_6 : tensor<f32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %22 = linalg.generic {indexing_maps = [#map4, #map4, #map4, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%20, %4, %21 : tensor<1x2x128x128xi1>, tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: i1, %in_7: f32, %in_8: f32, %out: f32):
      %43 = arith.select %in, %in_7, %in_8 : f32
      linalg.yield %43 : f32
    } -> tensor<1x2x128x128xf32>
    %23 = tensor.empty() : tensor<1x2x128xf32>
    %24 = linalg.fill ins(%cst : f32) outs(%23 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %25 = linalg.generic {indexing_maps = [#map4, #map9], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%22 : tensor<1x2x128x128xf32>) outs(%24 : tensor<1x2x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %43 = arith.maximumf %out, %in : f32
      linalg.yield %43 : f32
    } -> tensor<1x2x128xf32>
    %26 = linalg.generic {indexing_maps = [#map10, #map11], iterator_types = ["parallel", "parallel", "parallel"]} ins(%cst_4 : tensor<f32>) outs(%23 : tensor<1x2x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128xf32>
    %27 = linalg.generic {indexing_maps = [#map11, #map11, #map11], iterator_types = ["parallel", "parallel", "parallel"]} ins(%26, %25 : tensor<1x2x128xf32>, tensor<1x2x128xf32>) outs(%23 : tensor<1x2x128xf32>) {
    ^bb0(%in: f32, %in_7: f32, %out: f32):
      %43 = arith.maximumf %in, %in_7 : f32
      linalg.yield %43 : f32
    } -> tensor<1x2x128xf32>
    %28 = tensor.empty() : tensor<1x2x128x1xf32>
    %29 = linalg.generic {indexing_maps = [#map9, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%27 : tensor<1x2x128xf32>) outs(%28 : tensor<1x2x128x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x1xf32>
    %30 = linalg.generic {indexing_maps = [#map12, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%29 : tensor<1x2x128x1xf32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %31 = linalg.generic {indexing_maps = [#map4, #map4, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%22, %30 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_7: f32, %out: f32):
      %43 = arith.subf %in, %in_7 : f32
      linalg.yield %43 : f32
    } -> tensor<1x2x128x128xf32>
    %32 = linalg.generic {indexing_maps = [#map4, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%31 : tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %43 = math.exp %in : f32
      linalg.yield %43 : f32
    } -> tensor<1x2x128x128xf32>
    %33 = linalg.fill ins(%cst_0 : f32) outs(%23 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %34 = linalg.generic {indexing_maps = [#map4, #map9], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%32 : tensor<1x2x128x128xf32>) outs(%33 : tensor<1x2x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %43 = arith.addf %out, %in : f32
      linalg.yield %43 : f32
    } -> tensor<1x2x128xf32>
    %35 = linalg.generic {indexing_maps = [#map9, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%34 : tensor<1x2x128xf32>) outs(%28 : tensor<1x2x128x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x1xf32>
    %36 = linalg.generic {indexing_maps = [#map12, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%35 : tensor<1x2x128x1xf32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x128x128xf32>
    %37 = linalg.generic {indexing_maps = [#map4, #map4, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%32, %36 : tensor<1x2x128x128xf32>, tensor<1x2x128x128xf32>) outs(%0 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_7: f32, %out: f32):
      %43 = arith.divf %in, %in_7 : f32
      linalg.yield %43 : f32
    } -> tensor<1x2x128x128xf32>
    %38 = tensor.empty() : tensor<1x2x64x128xf32>
    %39 = linalg.fill ins(%cst_0 : f32) outs(%38 : tensor<1x2x64x128xf32>) -> tensor<1x2x64x128xf32>
    %40 = linalg.generic {indexing_maps = [#map13, #map14, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg2, %37 : tensor<1x128x2x64xf32>, tensor<1x2x128x128xf32>) outs(%39 : tensor<1x2x64x128xf32>) {
    ^bb0(%in: f32, %in_7: f32, %out: f32):
      %43 = arith.mulf %in, %in_7 : f32
      %44 = arith.addf %out, %43 : f32
      linalg.yield %44 : f32
    } -> tensor<1x2x64x128xf32>
    %41 = tensor.empty() : tensor<1x128x2x64xf32>
    %42 = linalg.generic {indexing_maps = [#map15, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%40 : tensor<1x2x64x128xf32>) outs(%41 : tensor<1x128x2x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x128x2x64xf32>
    return %42 : tensor<1x128x2x64xf32>
  }
}

