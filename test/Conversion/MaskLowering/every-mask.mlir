// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-linalg | FileCheck %s --check-prefix=LINALG
// RUN: sparse-attn-opt %s --split-input-file --sparse-attn-tile | FileCheck %s --check-prefix=TILE
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90" | FileCheck %s --check-prefix=MMA
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s --check-prefix=WGMMA

// Every mask kind, combined, lowers through every path: the reference
// lowering (pair predicates), the tiled general path (key hulls), and both
// tensor-core kernels (pair predicates, tile tests, row intervals). Each
// answer comes from the mask lowering interface's model of its kind.

// A union of an intersection (causal and document), a sliding window, a
// sink window and a 2D neighborhood, with segment ids: every path. The
// tensor-core kernels read the ids (a first launch tells whether the key
// ids are sorted; the query tile searches its documents' keys) and fold
// the elements' key hulls.
// LINALG-LABEL: func.func @every_kind(
// The neighborhood's length check, reached through the union.
// LINALG: cf.assert {{.*}}the key length differs from the neighborhood grid's 128 tokens
// LINALG-NOT: = sparse_attn.
// LINALG-DAG: tensor.extract %arg3
// LINALG-DAG: tensor.extract %arg4
// LINALG-DAG: arith.remsi
// LINALG-DAG: arith.divsi
// LINALG-DAG: arith.ori
// LINALG-DAG: arith.andi
// LINALG: return
// TILE-LABEL: func.func @every_kind(
// TILE-NOT: = sparse_attn.attention
// TILE: scf.forall
// The tile's key range is the union's hull: the smallest start, the
// largest end of its elements' ranges (the intersection's: the largest
// start, the smallest end).
// TILE: arith.maxsi
// TILE: arith.minsi
// TILE: arith.minsi
// TILE: arith.maxsi
// TILE: scf.for
// TILE: tensor.extract %arg3
// TILE: arith.remsi
// TILE: } {sparse_attn.tile =
// MMA-LABEL: func.func @every_kind(
// MMA: memref.atomic_rmw mins
// MMA: scf.while
// MMA: nvvm.mma.sync
// MMA: arith.remsi
// MMA-NOT: = sparse_attn.attention
// WGMMA-LABEL: func.func @every_kind(
// WGMMA: memref.atomic_rmw mins
// WGMMA: scf.while
// WGMMA: wgmma.mma_async
// WGMMA: arith.remsi
// WGMMA-NOT: = sparse_attn.attention
func.func @every_kind(%q: tensor<1x2x128x64xbf16>, %k: tensor<1x2x128x64xbf16>, %v: tensor<1x2x128x64xbf16>,
                      %sq: tensor<1x128xi32>, %skv: tensor<1x128xi32>)
    -> (tensor<1x2x128x64xbf16>, tensor<1x2x128xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v segment_ids(%sq, %skv : tensor<1x128xi32>, tensor<1x128xi32>) {
      mask = #sparse_attn.union<[#sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>,
                                 #sparse_attn.sliding_window<left = 16, right = 4>,
                                 #sparse_attn.sink_window<sink = 4, window = 32>,
                                 #sparse_attn.neighborhood<grid = [8, 16], window = [3, 5], dilation = [1, 1], causal = [false, false]>]>}
      : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16> -> tensor<1x2x128x64xbf16>, tensor<1x2x128xf32>
  return %o, %lse : tensor<1x2x128x64xbf16>, tensor<1x2x128xf32>
}

// -----

// Every structural kind in block_sparse_attention: both kernels take it.
// The kernel masks pair by pair (the neighborhood has no tile test, so the
// union's fully-allowed test is that of its other elements), tests tiles
// against the window (per warpgroup in the wgmma kernel, since the sliding window has a
// lower edge: the warp index broadcast from lane 0), and skips nothing the
// union allows.
// LINALG-LABEL: func.func @structural(
// LINALG-NOT: = sparse_attn.
// LINALG: arith.remsi
// LINALG: return
// TILE-LABEL: func.func @structural(
// TILE: scf.forall
// TILE: arith.remsi
// TILE: } {sparse_attn.tile =
// MMA-LABEL: func.func @structural(
// MMA: gpu.launch
// MMA: nvvm.mma.sync
// MMA: arith.remsi
// MMA: sparse_attn.mma_kernel = {{{.*}}mma = "mma.sync"
// WGMMA-LABEL: func.func @structural(
// WGMMA: gpu.launch
// WGMMA: gpu.shuffle{{ +}}idx
// WGMMA: wgmma.mma_async
// WGMMA: arith.remsi
// WGMMA: sparse_attn.mma_kernel = {{{.*}}mma = "wgmma"
func.func @structural(%q: tensor<1x2x128x128xbf16>, %k: tensor<1x2x128x128xbf16>, %v: tensor<1x2x128x128xbf16>,
                      %num: tensor<1x1x1xi32>, %idx: tensor<1x1x1x1xi32>)
    -> (tensor<1x2x128x128xbf16>, tensor<1x2x128xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128],
      mask = #sparse_attn.union<[#sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 64, right = 64>]>,
                                 #sparse_attn.sliding_window<left = 16, right = 4>,
                                 #sparse_attn.sink_window<sink = 4, window = 32>,
                                 #sparse_attn.neighborhood<grid = [8, 16], window = [3, 5], dilation = [1, 1], causal = [false, false]>]>}
      : tensor<1x2x128x128xbf16>, tensor<1x2x128x128xbf16>, tensor<1x2x128x128xbf16>, tensor<1x1x1xi32>, tensor<1x1x1x1xi32>
     -> tensor<1x2x128x128xbf16>, tensor<1x2x128xf32>
  return %o, %lse : tensor<1x2x128x128xbf16>, tensor<1x2x128xf32>
}

// -----

// Row intervals fold through combinators: a union of causal and a sliding
// window is one interval per row ([p - inf, p + 4]), masked by two i32
// compares per score against constant columns.
// MMA-LABEL: func.func @interval_union(
// MMA: gpu.launch
// MMA: arith.cmpi sle, %{{.*}}, %c{{[0-9]+}}_i32 : i32
// MMA: sparse_attn.mma_kernel
func.func @interval_union(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>,
                          %num: tensor<1x1x2xi32>, %idx: tensor<1x1x2x2xi32>)
    -> (tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128],
      mask = #sparse_attn.union<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 16, right = 4>]>}
      : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
     -> tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>
  return %o, %lse : tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>
}
