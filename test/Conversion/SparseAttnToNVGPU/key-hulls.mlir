// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --sparse-attn-tile | FileCheck %s --check-prefix=TILE

// Key hulls the kernels walk (issue 14). A neighborhood's: the rows of the
// outermost grid dimension its queries' windows reach, as whole rows of
// keys. Without dilation it is exact: the window's first row, row - window
// / 2 clamped to [0, extent - window], is monotone in the query's row, so a
// query tile visits rows begin(first row) to begin(last row) + window - 1
// (a 128-token tile of a 128 x 128 grid with a 13 x 13 window: 13 rows of
// 128 keys, not the whole grid).
// CHECK-LABEL: func.func @natten(
// CHECK: gpu.launch
// CHECK: arith.divsi %{{.*}}, %c128
// CHECK: %[[C6:.*]] = arith.constant 6 : index
// CHECK: arith.subi %{{.*}}, %[[C6]]
// CHECK: %[[C115:.*]] = arith.constant 115 : index
// CHECK: arith.minsi %{{.*}}, %[[C115]]
// CHECK: arith.muli %{{.*}}, %c128
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// A kv tile inside one grid row (first and last key in the same row): each
// query row sees one interval of it (empty when the row's window misses
// that grid row), two i32 compares per score; other tiles pair by pair.
// CHECK: arith.divsi %{{.*}}, %c128
// CHECK: arith.divsi %{{.*}}, %c128
// CHECK: arith.cmpi eq
// CHECK: scf.if
// CHECK: arith.cmpi sle, %{{.*}}, %{{.*}} : i32
// The tiled general path takes the same hull.
// TILE-LABEL: func.func @natten(
// TILE: arith.divsi
// TILE: arith.minsi
// TILE: scf.for
func.func @natten(%q: tensor<1x2x16384x64xbf16>, %k: tensor<1x2x16384x64xbf16>, %v: tensor<1x2x16384x64xbf16>)
    -> (tensor<1x2x16384x64xbf16>, tensor<1x2x16384xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v
      {mask = #sparse_attn.neighborhood<grid = [128, 128], window = [13, 13], dilation = [1, 1], causal = [false, false]>}
      : tensor<1x2x16384x64xbf16>, tensor<1x2x16384x64xbf16>, tensor<1x2x16384x64xbf16> -> tensor<1x2x16384x64xbf16>, tensor<1x2x16384xf32>
  return %o, %lse : tensor<1x2x16384x64xbf16>, tensor<1x2x16384xf32>
}

// -----

// Dilated or causal rows: within (window - 1) * dilation rows of the
// queries' rows (causal: none after them).
// CHECK-LABEL: func.func @dilated_causal(
// CHECK: %[[C8:.*]] = arith.constant 8 : index
// CHECK: arith.subi %{{.*}}, %[[C8]]
// CHECK: arith.maxsi
// CHECK: nvvm.wgmma.commit.group.sync.aligned
func.func @dilated_causal(%q: tensor<1x2x4096x64xbf16>, %k: tensor<1x2x4096x64xbf16>, %v: tensor<1x2x4096x64xbf16>)
    -> (tensor<1x2x4096x64xbf16>, tensor<1x2x4096xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v
      {mask = #sparse_attn.neighborhood<grid = [16, 16, 16], window = [5, 3, 3], dilation = [2, 1, 1], causal = [true, false, false]>}
      : tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16> -> tensor<1x2x4096x64xbf16>, tensor<1x2x4096xf32>
  return %o, %lse : tensor<1x2x4096x64xbf16>, tensor<1x2x4096xf32>
}

// -----

// A sink window: the sink's tiles (before the window's first), then the
// window's, walked apart: tile t < prefix is kv tile t, a later one kv tile
// first + t - prefix. The tiled general path joins them into one range.
// CHECK-LABEL: func.func @sink(
// CHECK: %[[C4095:.*]] = arith.constant 4095 : index
// CHECK: arith.subi %{{.*}}, %[[C4095]]
// CHECK: %[[C4:.*]] = arith.constant 4 : index
// CHECK: arith.minsi
// CHECK: scf.for
// CHECK: arith.cmpi slt
// CHECK: arith.select
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// TILE-LABEL: func.func @sink(
// TILE: arith.constant 4095 : index
// TILE: arith.minsi
// TILE: arith.maxsi
// TILE: scf.for
func.func @sink(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>)
    -> (tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.sink_window<sink = 4, window = 4096>}
      : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>
  return %o, %lse : tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>
}
