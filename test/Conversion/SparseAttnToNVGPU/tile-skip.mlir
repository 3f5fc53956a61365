// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s

// Under a sliding window (a mask with a lower edge) the D = 128 wgmma
// kernel tests each kv tile per warpgroup: the warp index is broadcast from
// lane 0 (a value ptxas knows to be warp-uniform), and the tile's math sits
// in the else branch of a test that yields the softmax state unchanged.
// CHECK-LABEL: func.func @sliding(
// CHECK: gpu.launch
// CHECK: gpu.shuffle idx
// The state: 2 row maxima, 2 sums, 64 accumulators.
// CHECK: %{{.*}}:68 = scf.if %{{.*}} -> (f32
// CHECK-NEXT: scf.yield
// CHECK-NEXT: } else {
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: block_kv = 64 : i64{{.*}}mma = "wgmma"
func.func @sliding(%q: tensor<1x2x512x128xbf16>, %k: tensor<1x2x512x128xbf16>,
                   %v: tensor<1x2x512x128xbf16>, %num: tensor<1x1x4xi32>,
                   %idx: tensor<1x1x4x4xi32>)
    -> (tensor<1x2x512x128xbf16>, tensor<1x2x512xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx
      {block = [128, 128], mask = #sparse_attn.sliding_window<left = 200, right = 0>}
      : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>,
        tensor<1x1x4xi32>, tensor<1x1x4x4xi32> -> tensor<1x2x512x128xbf16>, tensor<1x2x512xf32>
  return %o, %lse : tensor<1x2x512x128xbf16>, tensor<1x2x512xf32>
}

// -----

// A causal mask keeps the per-block test: no broadcast, no skip branch.
// CHECK-LABEL: func.func @causal(
// CHECK-NOT: gpu.shuffle idx
// CHECK-NOT: :68 = scf.if
// CHECK: mma = "wgmma"
func.func @causal(%q: tensor<1x2x512x128xbf16>, %k: tensor<1x2x512x128xbf16>,
                  %v: tensor<1x2x512x128xbf16>, %num: tensor<1x1x4xi32>,
                  %idx: tensor<1x1x4x4xi32>)
    -> (tensor<1x2x512x128xbf16>, tensor<1x2x512xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx
      {block = [128, 128], mask = #sparse_attn.causal}
      : tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>, tensor<1x2x512x128xbf16>,
        tensor<1x1x4xi32>, tensor<1x1x4x4xi32> -> tensor<1x2x512x128xbf16>, tensor<1x2x512xf32>
  return %o, %lse : tensor<1x2x512x128xbf16>, tensor<1x2x512xf32>
}
