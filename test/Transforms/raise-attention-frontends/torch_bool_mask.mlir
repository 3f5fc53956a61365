// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32}
// CHECK: mask_mod {
// CHECK: {{^ *}}} : tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x2x128x64xf32>, tensor<1x2x128xf32>
// CHECK-NOT: math.exp
//
// PyTorch SDPA math decomposition with a boolean attn_mask [1,1,L,S]: convert_boolean_attn_mask -> where(!mask, -inf, 0.0) added to scores.
// GENERATED (not hand-written): torch-src/math_bool_mask.torch.mlir (torch dialect, written to mirror the FX-imported ATen graph; see NOTES.md)
// lowered with torch-mlir-opt built from llvm/torch-mlir @4411053cd (2026-01-20, last commit on LLVM-22-compatible API; includes DecomposeAtenScaledDotProductAttentionOp from c96e9222) against MLIR 22.1.8
//   --torchdynamo-export-to-torch-backend-pipeline --torch-backend-to-linalg-on-tensors-backend-pipeline
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> ()>
#map2 = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
module {
  func.func @torch_bool_mask(%arg0: tensor<1x2x128x64xf32>, %arg1: tensor<1x2x128x64xf32>, %arg2: tensor<1x2x128x64xf32>, %arg3: tensor<1x1x128x128xi1>) -> tensor<1x2x128x64xf32> {
    %cst = arith.constant dense<0xFF800000> : tensor<f32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %c0_i64 = arith.constant 0 : i64
    %cst_1 = arith.constant 0xFF800000 : f32
    %true = arith.constant true
    %cst_2 = arith.constant 0xFFF0000000000000 : f64
    %cst_3 = arith.constant 0.35355339059327379 : f64
    %false = arith.constant false
    %cst_4 = arith.constant dense<0.000000e+00> : tensor<f32>
    %0 = tensor.empty() : tensor<1x1x128x128xi1>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg3 : tensor<1x1x128x128xi1>) outs(%0 : tensor<1x1x128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      %33 = arith.cmpi eq, %in, %false : i1
      linalg.yield %33 : i1
    } -> tensor<1x1x128x128xi1>
    %2 = tensor.empty() : tensor<1x1x128x128xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map1, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1, %cst, %cst_4 : tensor<1x1x128x128xi1>, tensor<f32>, tensor<f32>) outs(%2 : tensor<1x1x128x128xf32>) {
    ^bb0(%in: i1, %in_10: f32, %in_11: f32, %out: f32):
      %33 = arith.select %in, %in_10, %in_11 : f32
      linalg.yield %33 : f32
    } -> tensor<1x1x128x128xf32>
    %4 = tensor.empty() : tensor<1x2x128x64xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : tensor<1x2x128x64xf32>) outs(%4 : tensor<1x2x128x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      %33 = arith.truncf %cst_3 : f64 to f32
      %34 = arith.mulf %in, %33 : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x128x64xf32>
    %6 = tensor.empty() : tensor<1x2x64x128xf32>
    %transposed = linalg.transpose ins(%arg1 : tensor<1x2x128x64xf32>) outs(%6 : tensor<1x2x64x128xf32>) permutation = [0, 1, 3, 2] 
    %7 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%transposed : tensor<1x2x64x128xf32>) outs(%6 : tensor<1x2x64x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %33 = arith.truncf %cst_3 : f64 to f32
      %34 = arith.mulf %in, %33 : f32
      linalg.yield %34 : f32
    } -> tensor<1x2x64x128xf32>
    %collapsed = tensor.collapse_shape %5 [[0, 1], [2], [3]] : tensor<1x2x128x64xf32> into tensor<2x128x64xf32>
    %collapsed_5 = tensor.collapse_shape %7 [[0, 1], [2], [3]] : tensor<1x2x64x128xf32> into tensor<2x64x128xf32>
    %8 = tensor.empty() : tensor<2x128x128xf32>
    %9 = linalg.fill ins(%cst_0 : f32) outs(%8 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
    %10 = linalg.batch_matmul ins(%collapsed, %collapsed_5 : tensor<2x128x64xf32>, tensor<2x64x128xf32>) outs(%9 : tensor<2x128x128xf32>) -> tensor<2x128x128xf32>
    %expanded = tensor.expand_shape %10 [[0, 1], [2], [3]] output_shape [1, 2, 128, 128] : tensor<2x128x128xf32> into tensor<1x2x128x128xf32>
    %11 = tensor.empty() : tensor<1x2x128x128xf32>
    %12 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded, %3 : tensor<1x2x128x128xf32>, tensor<1x1x128x128xf32>) outs(%11 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_10: f32, %out: f32):
      %33 = arith.addf %in, %in_10 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x128x128xf32>
    %13 = tensor.empty() : tensor<1x2x128xi64>
    %14 = linalg.fill ins(%c0_i64 : i64) outs(%13 : tensor<1x2x128xi64>) -> tensor<1x2x128xi64>
    %15 = tensor.empty() : tensor<1x2x128xf32>
    %16 = linalg.fill ins(%cst_1 : f32) outs(%15 : tensor<1x2x128xf32>) -> tensor<1x2x128xf32>
    %17:2 = linalg.generic {indexing_maps = [#map, #map3, #map3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%12 : tensor<1x2x128x128xf32>) outs(%16, %14 : tensor<1x2x128xf32>, tensor<1x2x128xi64>) {
    ^bb0(%in: f32, %out: f32, %out_10: i64):
      %33 = linalg.index 3 : index
      %34 = arith.index_cast %33 : index to i64
      %35 = arith.maximumf %in, %out : f32
      %36 = arith.cmpf ogt, %in, %out : f32
      %37 = arith.select %36, %34, %out_10 : i64
      linalg.yield %35, %37 : f32, i64
    } -> (tensor<1x2x128xf32>, tensor<1x2x128xi64>)
    %expanded_6 = tensor.expand_shape %17#0 [[0], [1], [2, 3]] output_shape [1, 2, 128, 1] : tensor<1x2x128xf32> into tensor<1x2x128x1xf32>
    %18 = linalg.generic {indexing_maps = [#map, #map4, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%12, %expanded_6 : tensor<1x2x128x128xf32>, tensor<1x2x128x1xf32>) outs(%11 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_10: f32, %out: f32):
      %33 = arith.subf %in, %in_10 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x128x128xf32>
    %19 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%18 : tensor<1x2x128x128xf32>) outs(%11 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %33 = math.exp %in : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x128x128xf32>
    %20 = tensor.empty() : tensor<1x2x128x1xf32>
    %21 = linalg.fill ins(%cst_0 : f32) outs(%20 : tensor<1x2x128x1xf32>) -> tensor<1x2x128x1xf32>
    %22 = linalg.generic {indexing_maps = [#map, #map4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%19 : tensor<1x2x128x128xf32>) outs(%21 : tensor<1x2x128x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %33 = arith.addf %in, %out : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x128x1xf32>
    %23 = linalg.generic {indexing_maps = [#map, #map4, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%19, %22 : tensor<1x2x128x128xf32>, tensor<1x2x128x1xf32>) outs(%11 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: f32, %in_10: f32, %out: f32):
      %33 = arith.divf %in, %in_10 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x128x128xf32>
    %24 = tensor.empty() : tensor<1x2x128x128xi1>
    %25 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%12 : tensor<1x2x128x128xf32>) outs(%24 : tensor<1x2x128x128xi1>) {
    ^bb0(%in: f32, %out: i1):
      %33 = arith.extf %in : f32 to f64
      %34 = arith.cmpf oeq, %33, %cst_2 : f64
      linalg.yield %34 : i1
    } -> tensor<1x2x128x128xi1>
    %26 = tensor.empty() : tensor<1x2x128x1xi1>
    %27 = linalg.fill ins(%true : i1) outs(%26 : tensor<1x2x128x1xi1>) -> tensor<1x2x128x1xi1>
    %28 = linalg.generic {indexing_maps = [#map, #map4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%25 : tensor<1x2x128x128xi1>) outs(%27 : tensor<1x2x128x1xi1>) {
    ^bb0(%in: i1, %out: i1):
      %33 = arith.andi %in, %out : i1
      linalg.yield %33 : i1
    } -> tensor<1x2x128x1xi1>
    %29 = linalg.generic {indexing_maps = [#map4, #map1, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%28, %cst_4, %23 : tensor<1x2x128x1xi1>, tensor<f32>, tensor<1x2x128x128xf32>) outs(%11 : tensor<1x2x128x128xf32>) {
    ^bb0(%in: i1, %in_10: f32, %in_11: f32, %out: f32):
      %33 = arith.select %in, %in_10, %in_11 : f32
      linalg.yield %33 : f32
    } -> tensor<1x2x128x128xf32>
    %collapsed_7 = tensor.collapse_shape %29 [[0, 1], [2], [3]] : tensor<1x2x128x128xf32> into tensor<2x128x128xf32>
    %collapsed_8 = tensor.collapse_shape %arg2 [[0, 1], [2], [3]] : tensor<1x2x128x64xf32> into tensor<2x128x64xf32>
    %30 = tensor.empty() : tensor<2x128x64xf32>
    %31 = linalg.fill ins(%cst_0 : f32) outs(%30 : tensor<2x128x64xf32>) -> tensor<2x128x64xf32>
    %32 = linalg.batch_matmul ins(%collapsed_7, %collapsed_8 : tensor<2x128x128xf32>, tensor<2x128x64xf32>) outs(%31 : tensor<2x128x64xf32>) -> tensor<2x128x64xf32>
    %expanded_9 = tensor.expand_shape %32 [[0, 1], [2], [3]] output_shape [1, 2, 128, 64] : tensor<2x128x64xf32> into tensor<1x2x128x64xf32>
    return %expanded_9 : tensor<1x2x128x64xf32>
  }
}
