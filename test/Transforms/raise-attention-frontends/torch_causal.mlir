// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal, scale = 1.250000e-01 : f32}
// CHECK-SAME: : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, tensor<1x2x128xf32>
// CHECK-NOT: math.exp
//
// PyTorch SDPA math decomposition (_scaled_dot_product_attention_math, is_causal=True): Q and K^T each scaled by sqrt(1/sqrt(D)), mask = where(!tril(ones), -inf, 0) added to scores, _safe_softmax, P*V. The same file results if the flash_for_cpu output fix-up (permute/clone/permute) is present: it folds away.
// GENERATED (not hand-written): torch-src/math_causal.torch.mlir (torch dialect, written to mirror the FX-imported ATen graph; see NOTES.md)
// lowered with torch-mlir-opt built from llvm/torch-mlir @4411053cd (2026-01-20, last commit on LLVM-22-compatible API; includes DecomposeAtenScaledDotProductAttentionOp from c96e9222) against MLIR 22.1.8
//   --torchdynamo-export-to-torch-backend-pipeline --torch-backend-to-linalg-on-tensors-backend-pipeline
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> ()>
#map3 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map5 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#map6 = affine_map<(d0, d1, d2, d3) -> ()>
module {
  func.func @torch_causal(%arg0: tensor<1x2x128x64xf32>, %arg1: tensor<1x2x128x64xf32>, %arg2: tensor<1x2x128x64xf32>) -> tensor<1x2x128x64xf32> {
    %cst = arith.constant dense<true> : tensor<128x128xi1>
    %c0_i64 = arith.constant 0 : i64
    %false = arith.constant false
    %cst_0 = arith.constant 0.000000e+00 : f32
    %cst_1 = arith.constant 0xFF800000 : f32
    %true = arith.constant true
    %cst_2 = arith.constant 0xFFF0000000000000 : f64
    %cst_3 = arith.constant 0.35355339059327379 : f64
    %cst_4 = arith.constant dense<0xFF800000> : tensor<f32>
    %cst_5 = arith.constant dense<0.000000e+00> : tensor<f32>
    %0 = tensor.empty() : tensor<1x2x128x64xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : tensor<1x2x128x64xf32>) outs(%0 : tensor<1x2x128x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      %34 = arith.truncf %cst_3 : f64 to f32
      %35 = arith.mulf %in, %34 : f32
      linalg.yield %35 : f32
    } -> tensor<1x2x128x64xf32>
    %2 = tensor.empty() : tensor<128x128xi1>
    %3 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel"]} ins(%cst : tensor<128x128xi1>) outs(%2 : tensor<128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      %34 = linalg.index 0 : index
      %35 = arith.index_cast %34 : index to i64
      %36 = linalg.index 1 : index
      %37 = arith.index_cast %36 : index to i64
      %38 = arith.cmpi sle, %37, %35 : i64
      %39 = arith.select %38, %in, %false : i1
      linalg.yield %39 : i1
    } -> tensor<128x128xi1>
    %4 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel"]} ins(%3 : tensor<128x128xi1>) outs(%2 : tensor<128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      %34 = arith.cmpi eq, %in, %false : i1
      linalg.yield %34 : i1
    } -> tensor<128x128xi1>
    %5 = tensor.empty() : tensor<128x128xf32>
    %6 = linalg.generic {indexing_maps = [#map1, #map2, #map2, #map1], iterator_types = ["parallel", "parallel"]} ins(%4, %cst_4, %cst_5 : tensor<128x128xi1>, tensor<f32>, tensor<f32>) outs(%5 : tensor<128x128xf32>) {
    ^bb0(%in: i1, %in_11: f32, %in_12: f32, %out: f32):
      %34 = arith.select %in, %in_11, %in_12 : f32
      linalg.yield %34 : f32
    } -> tensor<128x128xf32>
    %7 = tensor.empty() : tensor<1x2x64x128xf32>
    %transposed = linalg.transpose ins(%arg1 : tensor<1x2x128x64xf32>) outs(%7 : tensor<1x2x64x128xf32>) permutation = [0, 1, 3, 2] 
    %8 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%transposed : tensor<1x2x64x128xf32>) outs(%7 : tensor<1x2x64x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %34 = arith.truncf %cst_3 : f64 to f32
      %35 = arith.mulf %in, %34 : f32
      linalg.yield %35 : f32
    } -> tensor<1x2x64x128xf32>
    %collapsed = tensor.collapse_shape %1 [[0, 1], [2], [3]] : tensor<1x2x128x64xf32> into tensor<2x128x64xf32>
    %collapsed_6 = tensor.collapse_shape %8 [[0, 1], [2], [3]] : tensor<1x2x64x128xf32> into tensor<2x64x128xf32>
    %9 = tensor.empty() : tensor<2x128x128xf32>
    %10 = linalg.fill ins(%cst_0 : f32) outs(%9 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
    %11 = linalg.batch_matmul ins(%collapsed, %collapsed_6 : tensor<2x128x64xf32>, tensor<2x64x128xf32>) outs(%10 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
    %expanded = tensor.expand_shape %11 [[0, 1], [2], [3]] output_shape [1, 2, 128, 128] : tensor<2x128x128xf32> into tensor<1x2x128x128xf32>
    %12 = tensor.empty() : tensor<1x2x128x128xf32>
    %13 = linalg.generic {indexing_maps = [#map, #map3, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded, %6 : tensor<1x2x128x128xf32>, tensor<128x128xf32>) outs(%12 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %34 = arith.addf %in, %in_11 : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x128x128xf32>
    %14 = tensor.empty() : tensor<1x2x128xi64>
    %15 = linalg.fill ins(%c0_i64 : i64) outs(%14 : tensor<1x2x128xi64>) -> tensor<1x2x128xi64>
    %16 = tensor.empty() : tensor<1x2x128xf32>
    %17 = linalg.fill ins(%cst_1 : f32) outs(%16 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %18:2 = linalg.generic {indexing_maps = [#map, #map4, #map4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%13 : tensor<1x2x128x128xf32>) outs(%17, %15 : tensor<1x2x128xf32>, tensor<1x2x128xi64>) {
    ^bb0(%in: f32, %out: f32, %out_11: i64):
      %34 = linalg.index 3 : index
      %35 = arith.index_cast %34 : index to i64
      %36 = arith.maximumf %in, %out : f32
      %37 = arith.cmpf ogt, %in, %out : f32
      %38 = arith.select %37, %35, %out_11 : i64
      linalg.yield %36, %38 : f32, i64
    } -> (tensor<1x2x128xf32>, tensor<1x2x128xi64>)
    %expanded_7 = tensor.expand_shape %18#0 [[0], [1], [2, 3]] output_shape [1, 2, 128, 1] : tensor<1x2x128xf32> into tensor<1x2x128x1xf32>
    %19 = linalg.generic {indexing_maps = [#map, #map5, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%13, %expanded_7 : tensor<1x2x128x128xf32>, tensor<1x2x128x1xf32>) outs(%12 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %34 = arith.subf %in, %in_11 : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x128x128xf32>
    %20 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%19 : tensor<1x2x128x128xf32>) outs(%12 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %34 = math.exp %in : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x128x128xf32>
    %21 = tensor.empty() : tensor<1x2x128x1xf32>
    %22 = linalg.fill ins(%cst_0 : f32) outs(%21 : tensor<1x2x128x1xf32>) -> tensor<1x2x128x1xf32>
    %23 = linalg.generic {indexing_maps = [#map, #map5], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%20 : tensor<1x2x128x128xf32>) outs(%22 : tensor<1x2x128x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %34 = arith.addf %in, %out : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x128x1xf32>
    %24 = linalg.generic {indexing_maps = [#map, #map5, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%20, %23 : tensor<1x2x128x128xf32>, tensor<1x2x128x1xf32>) outs(%12 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %34 = arith.divf %in, %in_11 : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x128x128xf32>
    %25 = tensor.empty() : tensor<1x2x128x128xi1>
    %26 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%13 : tensor<1x2x128x128xf32>) outs(%25 : tensor<1x2x128x128xi1>) {
    ^bb0(%in: f32, %out: i1):
      %34 = arith.extf %in : f32 to f64
      %35 = arith.cmpf oeq, %34, %cst_2 : f64
      linalg.yield %35 : i1
    } -> tensor<1x2x128x128xi1>
    %27 = tensor.empty() : tensor<1x2x128x1xi1>
    %28 = linalg.fill ins(%true : i1) outs(%27 : tensor<1x2x128x1xi1>) -> tensor<1x2x128x1xi1>
    %29 = linalg.generic {indexing_maps = [#map, #map5], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%26 : tensor<1x2x128x128xi1>) outs(%28 : tensor<1x2x128x1xi1>) {
    ^bb0(%in: i1, %out: i1):
      %34 = arith.andi %in, %out : i1
      linalg.yield %34 : i1
    } -> tensor<1x2x128x1xi1>
    %30 = linalg.generic {indexing_maps = [#map5, #map6, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%29, %cst_5, %24 : tensor<1x2x128x1xi1>, tensor<f32>, tensor<1x2x128x128xf32>) outs(%12 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: i1, %in_11: f32, %in_12: f32, %out: f32):
      %34 = arith.select %in, %in_11, %in_12 : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x128x128xf32>
    %collapsed_8 = tensor.collapse_shape %30 [[0, 1], [2], [3]] : tensor<1x2x128x128xf32> into tensor<2x128x128xf32>
    %collapsed_9 = tensor.collapse_shape %arg2 [[0, 1], [2], [3]] : tensor<1x2x128x64xf32> into tensor<2x128x64xf32>
    %31 = tensor.empty() : tensor<2x128x64xf32>
    %32 = linalg.fill ins(%cst_0 : f32) outs(%31 : tensor<2x128x64xf32>) -> tensor<2x128x64xf32>
    %33 = linalg.batch_matmul ins(%collapsed_8, %collapsed_9 : tensor<2x128x128xf32>, tensor<2x128x64xf32>) outs(%32 : tensor<2x128x64xf32>) -> tensor<2x128x64xf32>
    %expanded_10 = tensor.expand_shape %33 [[0, 1], [2], [3]] output_shape [1, 2, 128, 64] : tensor<2x128x64xf32> into tensor<1x2x128x64xf32>
    return %expanded_10 : tensor<1x2x128x64xf32>
  }
}
