// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a row-lists=union" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90 row-lists=union" | FileCheck %s --check-prefix=SYNC
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a tensor-cores=false row-lists=union" | FileCheck %s --check-prefix=SIMT
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s --check-prefix=AUTO
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a row-lists=grouped" | FileCheck %s --check-prefix=GROUPED
// RUN: not sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a row-lists=both" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90" -o %t.sm90.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90.mlir sm_90 | FileCheck %s --check-prefix=PTXAS

// Lists finer than a query tile (block_q not a multiple of 16; MoBA lists
// per token, block_q = 1), two ways (option row-lists):
// - union: a 64-row tile reads its rows' lists, sets each listed block's
//   bit in its row's bitmap and in the union's (shared atomics), walks the
//   union's blocks in ascending order and masks each row to its own blocks;
//   a group of rows (warp or warpgroup) that lists none of a tile's blocks
//   skips the tile. The bitmaps need a static key length: 8192 keys in
//   512-key blocks are 16 blocks, one word each for the union and 64 rows.
// - grouped (auto's choice for kv blocks of 128 keys and more): a launch
//   groups each list head's (query, slot) pairs by kv block; a block takes
//   up to 64 of one kv block's queries (gathered Q rows) against its keys
//   and writes each row's partial result at its slot; a fill launch sets
//   the unused slots' lse to -inf and the combine launch merges a query's
//   slots by their log-sum-exps.
// AUTO-LABEL: func.func @moba(
// AUTO: gpu.launch blocks({{.*}}) in ({{.*}} = %c4, {{.*}}) threads({{.*}}) in ({{.*}} = %c512
// AUTO: memref.atomic_rmw addi
// AUTO: memref.atomic_rmw addi
// AUTO: gpu.launch
// AUTO: 0xFF800000
// AUTO: gpu.launch
// AUTO: memref.atomic_rmw mins
// AUTO: memref.atomic_rmw maxs
// AUTO: mma = "wgmma", row_groups = 1 : i64
// AUTO: gpu.launch blocks({{.*}}) in ({{.*}} = %c8192, {{.*}} = %c4
// AUTO-LABEL: func.func @rows24(
// AUTO: row_list_rows = 4
// GROUPED-LABEL: func.func @moba(
// GROUPED: row_groups = 1 : i64
// GROUPED-LABEL: func.func @rows24(
// GROUPED-NOT: row_groups
// GROUPED: row_list_rows = 4
// BAD: row-lists must be auto, union or grouped (got 'both')

// CHECK-LABEL: func.func @moba(
// CHECK: memref.atomic_rmw ori
// CHECK: memref.atomic_rmw ori
// CHECK: sparse_attn.mma_kernel = {block_kv = 64 : i64, block_q = 64 : i64, {{.*}}mma = "wgmma", row_list_rows = 64 : i64, row_tiles = 1 : i64
// SYNC-LABEL: func.func @moba(
// SYNC: sparse_attn.mma_kernel = {block_kv = 64 : i64, block_q = 64 : i64, {{.*}}mma = "mma.sync", row_list_rows = 64 : i64
// SIMT-LABEL: func.func @moba(
// SIMT: sparse_attn.mma_kernel = {{{.*}}block_q = 64 : i64, {{.*}}mma = "simt", row_list_rows = 64 : i64
func.func @moba(%q: tensor<1x4x8192x128xbf16>, %k: tensor<1x4x8192x128xbf16>, %v: tensor<1x4x8192x128xbf16>,
                %num: tensor<1x4x8192xi32>, %idx: tensor<1x4x8192x3xi32>)
    -> (tensor<1x4x8192x128xbf16>, tensor<1x4x8192xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [1, 512], mask = #sparse_attn.causal}
      : tensor<1x4x8192x128xbf16>, tensor<1x4x8192x128xbf16>, tensor<1x4x8192x128xbf16>, tensor<1x4x8192xi32>, tensor<1x4x8192x3xi32>
     -> tensor<1x4x8192x128xbf16>, tensor<1x4x8192xf32>
  return %o, %lse : tensor<1x4x8192x128xbf16>, tensor<1x4x8192xf32>
}

// -----

// block_q = 24 spans up to four list rows per 64-row tile (a tile may
// start inside one); GQA lists shared by the group, dynamic query length.
// CHECK-LABEL: func.func @rows24(
// CHECK: row_list_rows = 4 : i64
func.func @rows24(%q: tensor<2x8x?x64xf16>, %k: tensor<2x2x1000x64xf16>, %v: tensor<2x2x1000x64xf16>,
                  %num: tensor<2x2x?xi32>, %idx: tensor<2x2x?x4xi32>)
    -> (tensor<2x8x?x64xf16>, tensor<2x8x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [24, 64], mask = #sparse_attn.sliding_window<left = 100, right = 0>}
      : tensor<2x8x?x64xf16>, tensor<2x2x1000x64xf16>, tensor<2x2x1000x64xf16>, tensor<2x2x?xi32>, tensor<2x2x?x4xi32>
     -> tensor<2x8x?x64xf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x64xf16>, tensor<2x8x?xf32>
}

// -----

// A dynamic key length (no bitmap size) or full lists stay on the general
// path, with the reason as the pattern's remark.
// CHECK-LABEL: func.func @dynamic_keys(
// CHECK-NOT: sparse_attn.mma_kernel
// CHECK: return
func.func @dynamic_keys(%q: tensor<1x4x?x128xbf16>, %k: tensor<1x4x?x128xbf16>, %v: tensor<1x4x?x128xbf16>,
                        %num: tensor<1x4x?xi32>, %idx: tensor<1x4x?x3xi32>)
    -> (tensor<1x4x?x128xbf16>, tensor<1x4x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [1, 512], mask = #sparse_attn.causal}
      : tensor<1x4x?x128xbf16>, tensor<1x4x?x128xbf16>, tensor<1x4x?x128xbf16>, tensor<1x4x?xi32>, tensor<1x4x?x3xi32>
     -> tensor<1x4x?x128xbf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x128xbf16>, tensor<1x4x?xf32>
}

// PTXAS-NOT: spill
// PTXAS: {{ptxas assembled 6 PTX module\(s\)|ptxas not found: 6 PTX module\(s\) for sm_[0-9]+ NOT assembled}}
