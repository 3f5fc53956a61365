// RUN: sparse-attn-opt %s --sparse-attn-raise-attention | FileCheck %s
// CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal, scale = 1.250000e-01 : f32}
// CHECK-SAME: : tensor<1x4x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x4x128x64xf32>, tensor<1x4x128xf32>
// CHECK-NOT: math.exp
//
// PyTorch SDPA math decomposition with enable_gqa (Hq=4, Hkv=2) and is_causal=True: K and V repeat_interleave'd along heads (unsqueeze/expand/clone/view).
// GENERATED (not hand-written): torch-src/math_gqa_causal.torch.mlir (torch dialect, written to mirror the FX-imported ATen graph; see NOTES.md)
// lowered with torch-mlir-opt built from llvm/torch-mlir @4411053cd (2026-01-20, last commit on LLVM-22-compatible API; includes DecomposeAtenScaledDotProductAttentionOp from c96e9222) against MLIR 22.1.8
//   --torchdynamo-export-to-torch-backend-pipeline --torch-backend-to-linalg-on-tensors-backend-pipeline
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> ()>
#map3 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
#map4 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
#map5 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#map6 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map7 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#map8 = affine_map<(d0, d1, d2, d3) -> ()>
module {
  func.func @torch_gqa(%arg0: tensor<1x4x128x64xf32>, %arg1: tensor<1x2x128x64xf32>, %arg2: tensor<1x2x128x64xf32>) -> tensor<1x4x128x64xf32> {
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
    %0 = tensor.empty() : tensor<1x4x128x64xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : tensor<1x4x128x64xf32>) outs(%0 : tensor<1x4x128x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      %37 = arith.truncf %cst_3 : f64 to f32
      %38 = arith.mulf %in, %37 : f32
      linalg.yield %38 : f32
    } -> tensor<1x4x128x64xf32>
    %2 = tensor.empty() : tensor<128x128xi1>
    %3 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel"]} ins(%cst : tensor<128x128xi1>) outs(%2 : tensor<128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      %37 = linalg.index 0 : index
      %38 = arith.index_cast %37 : index to i64
      %39 = linalg.index 1 : index
      %40 = arith.index_cast %39 : index to i64
      %41 = arith.cmpi sle, %40, %38 : i64
      %42 = arith.select %41, %in, %false : i1
      linalg.yield %42 : i1
    } -> tensor<128x128xi1>
    %4 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel", "parallel"]} ins(%3 : tensor<128x128xi1>) outs(%2 : tensor<128x128xi1>) {
    ^bb0(%in: i1, %out: i1):
      %37 = arith.cmpi eq, %in, %false : i1
      linalg.yield %37 : i1
    } -> tensor<128x128xi1>
    %5 = tensor.empty() : tensor<128x128xf32>
    %6 = linalg.generic {indexing_maps = [#map1, #map2, #map2, #map1], iterator_types = ["parallel", "parallel"]} ins(%4, %cst_4, %cst_5 : tensor<128x128xi1>, tensor<f32>, tensor<f32>) outs(%5 : tensor<128x128xf32>) {
    ^bb0(%in: i1, %in_12: f32, %in_13: f32, %out: f32):
      %37 = arith.select %in, %in_12, %in_13 : f32
      linalg.yield %37 : f32
    } -> tensor<128x128xf32>
    %7 = tensor.empty() : tensor<1x2x2x128x64xf32>
    %8 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%arg1 : tensor<1x2x128x64xf32>) outs(%7 : tensor<1x2x2x128x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x2x128x64xf32>
    %collapsed = tensor.collapse_shape %8 [[0], [1, 2], [3], [4]] : tensor<1x2x2x128x64xf32> into tensor<1x4x128x64xf32>
    %9 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%arg2 : tensor<1x2x128x64xf32>) outs(%7 : tensor<1x2x2x128x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<1x2x2x128x64xf32>
    %10 = tensor.empty() : tensor<1x4x64x128xf32>
    %transposed = linalg.transpose ins(%collapsed : tensor<1x4x128x64xf32>) outs(%10 : tensor<1x4x64x128xf32>) permutation = [0, 1, 3, 2] 
    %11 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%transposed : tensor<1x4x64x128xf32>) outs(%10 : tensor<1x4x64x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %37 = arith.truncf %cst_3 : f64 to f32
      %38 = arith.mulf %in, %37 : f32
      linalg.yield %38 : f32
    } -> tensor<1x4x64x128xf32>
    %collapsed_6 = tensor.collapse_shape %1 [[0, 1], [2], [3]] : tensor<1x4x128x64xf32> into tensor<4x128x64xf32>
    %collapsed_7 = tensor.collapse_shape %11 [[0, 1], [2], [3]] : tensor<1x4x64x128xf32> into tensor<4x64x128xf32>
    %12 = tensor.empty() : tensor<4x128x128xf32>
    %13 = linalg.fill ins(%cst_0 : f32) outs(%12 : tensor<4x128x128xf32>) -> tensor<4x128x128xf32>
    %14 = linalg.batch_matmul ins(%collapsed_6, %collapsed_7 : tensor<4x128x64xf32>, tensor<4x64x128xf32>) outs(%13 : tensor<4x128x128xf32>) -> tensor<4x128x128xf32>
    %expanded = tensor.expand_shape %14 [[0, 1], [2], [3]] output_shape [1, 4, 128, 128] : tensor<4x128x128xf32> into tensor<1x4x128x128xf32>
    %15 = tensor.empty() : tensor<1x4x128x128xf32>
    %16 = linalg.generic {indexing_maps = [#map, #map5, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded, %6 : tensor<1x4x128x128xf32>, tensor<128x128xf32>) outs(%15 : tensor<1x4x128x128xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %37 = arith.addf %in, %in_12 : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x128x128xf32>
    %17 = tensor.empty() : tensor<1x4x128xi64>
    %18 = linalg.fill ins(%c0_i64 : i64) outs(%17 : tensor<1x4x128xi64>) -> tensor<1x4x128xi64>
    %19 = tensor.empty() : tensor<1x4x128xf32>
    %20 = linalg.fill ins(%cst_1 : f32) outs(%19 : tensor<1x4x128xf32>) -> tensor<1x4x128xf32>
    %21:2 = linalg.generic {indexing_maps = [#map, #map6, #map6], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%16 : tensor<1x4x128x128xf32>) outs(%20, %18 : tensor<1x4x128xf32>, tensor<1x4x128xi64>) {
    ^bb0(%in: f32, %out: f32, %out_12: i64):
      %37 = linalg.index 3 : index
      %38 = arith.index_cast %37 : index to i64
      %39 = arith.maximumf %in, %out : f32
      %40 = arith.cmpf ogt, %in, %out : f32
      %41 = arith.select %40, %38, %out_12 : i64
      linalg.yield %39, %41 : f32, i64
    } -> (tensor<1x4x128xf32>, tensor<1x4x128xi64>)
    %expanded_8 = tensor.expand_shape %21#0 [[0], [1], [2, 3]] output_shape [1, 4, 128, 1] : tensor<1x4x128xf32> into tensor<1x4x128x1xf32>
    %22 = linalg.generic {indexing_maps = [#map, #map7, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%16, %expanded_8 : tensor<1x4x128x128xf32>, tensor<1x4x128x1xf32>) outs(%15 : tensor<1x4x128x128xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %37 = arith.subf %in, %in_12 : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x128x128xf32>
    %23 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%22 : tensor<1x4x128x128xf32>) outs(%15 : tensor<1x4x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %37 = math.exp %in : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x128x128xf32>
    %24 = tensor.empty() : tensor<1x4x128x1xf32>
    %25 = linalg.fill ins(%cst_0 : f32) outs(%24 : tensor<1x4x128x1xf32>) -> tensor<1x4x128x1xf32>
    %26 = linalg.generic {indexing_maps = [#map, #map7], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%23 : tensor<1x4x128x128xf32>) outs(%25 : tensor<1x4x128x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %37 = arith.addf %in, %out : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x128x1xf32>
    %27 = linalg.generic {indexing_maps = [#map, #map7, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%23, %26 : tensor<1x4x128x128xf32>, tensor<1x4x128x1xf32>) outs(%15 : tensor<1x4x128x128xf32>) {
    ^bb0(%in: f32, %in_12: f32, %out: f32):
      %37 = arith.divf %in, %in_12 : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x128x128xf32>
    %28 = tensor.empty() : tensor<1x4x128x128xi1>
    %29 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%16 : tensor<1x4x128x128xf32>) outs(%28 : tensor<1x4x128x128xi1>) {
    ^bb0(%in: f32, %out: i1):
      %37 = arith.extf %in : f32 to f64
      %38 = arith.cmpf oeq, %37, %cst_2 : f64
      linalg.yield %38 : i1
    } -> tensor<1x4x128x128xi1>
    %30 = tensor.empty() : tensor<1x4x128x1xi1>
    %31 = linalg.fill ins(%true : i1) outs(%30 : tensor<1x4x128x1xi1>) -> tensor<1x4x128x1xi1>
    %32 = linalg.generic {indexing_maps = [#map, #map7], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%29 : tensor<1x4x128x128xi1>) outs(%31 : tensor<1x4x128x1xi1>) {
    ^bb0(%in: i1, %out: i1):
      %37 = arith.andi %in, %out : i1
      linalg.yield %37 : i1
    } -> tensor<1x4x128x1xi1>
    %33 = linalg.generic {indexing_maps = [#map7, #map8, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%32, %cst_5, %27 : tensor<1x4x128x1xi1>, tensor<f32>, tensor<1x4x128x128xf32>) outs(%15 : tensor<1x4x128x128xf32>) {
    ^bb0(%in: i1, %in_12: f32, %in_13: f32, %out: f32):
      %37 = arith.select %in, %in_12, %in_13 : f32
      linalg.yield %37 : f32
    } -> tensor<1x4x128x128xf32>
    %collapsed_9 = tensor.collapse_shape %33 [[0, 1], [2], [3]] : tensor<1x4x128x128xf32> into tensor<4x128x128xf32>
    %collapsed_10 = tensor.collapse_shape %9 [[0, 1, 2], [3], [4]] : tensor<1x2x2x128x64xf32> into tensor<4x128x64xf32>
    %34 = tensor.empty() : tensor<4x128x64xf32>
    %35 = linalg.fill ins(%cst_0 : f32) outs(%34 : tensor<4x128x64xf32>) -> tensor<4x128x64xf32>
    %36 = linalg.batch_matmul ins(%collapsed_9, %collapsed_10 : tensor<4x128x128xf32>, tensor<4x128x64xf32>) outs(%35 : tensor<4x128x64xf32>) -> tensor<4x128x64xf32>
    %expanded_11 = tensor.expand_shape %36 [[0, 1], [2], [3]] output_shape [1, 4, 128, 64] : tensor<4x128x64xf32> into tensor<1x4x128x64xf32>
    return %expanded_11 : tensor<1x4x128x64xf32>
  }
}
