// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90" | FileCheck %s --check-prefix=SYNC
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS

// token_sparse_attention on the kernels (issue 15): a block per query and
// kv head whose rows are the group's query heads (they share the query's
// token list: FlashMLA's sparse structure; decode's packing with one query),
// kv tiles gathered from the list: each slot's token index is loaded, an
// invalid one (negative, >= Skv, past n) zero-fills its row (cp.async with
// 0 source bytes) and masks its scores; a key listed twice counts twice.

// DeepSeek's example shape: 16 heads of one kv head, D = 192, Dv = 128:
// the wgmma kernel's 64-row tile on sm_90a, mma.sync's 16 rows on sm_90.
// CHECK-LABEL: func.func @dsa(
// CHECK-NOT: = sparse_attn.token_sparse_attention
// CHECK: %[[TI:.*]] = bufferization.to_buffer %arg3
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %{{.*}}, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// CHECK: memref.load %[[TI]]
// CHECK: nvgpu.device_async_copy
// CHECK: mma = "wgmma", packed_queries = 1 : i64
// SYNC-LABEL: func.func @dsa(
// SYNC: block_q = 16 : i64, {{.*}}group_size = 16 : i64, {{.*}}mma = "mma.sync", packed_queries = 1 : i64
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}
func.func @dsa(%q: tensor<1x16x?x192xbf16>, %k: tensor<1x1x?x192xbf16>, %v: tensor<1x1x?x128xbf16>, %ti: tensor<1x?x?xi32>)
    -> (tensor<1x16x?x128xbf16>, tensor<1x16x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %ti
      : tensor<1x16x?x192xbf16>, tensor<1x1x?x192xbf16>, tensor<1x1x?x128xbf16>, tensor<1x?x?xi32> -> tensor<1x16x?x128xbf16>, tensor<1x16x?xf32>
  return %o, %lse : tensor<1x16x?x128xbf16>, tensor<1x16x?xf32>
}

// -----

// A 256-head group takes two 128-row tiles: two blocks per query.
// CHECK-LABEL: func.func @wide_group(
// CHECK: %[[TILES:.*]] = arith.muli %{{.*}}, %c2
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[TILES]],
// CHECK: block_q = 128 : i64, {{.*}}group_size = 256 : i64
func.func @wide_group(%q: tensor<1x256x?x64xf16>, %k: tensor<1x1x?x64xf16>, %ti: tensor<1x?x64xi32>)
    -> (tensor<1x256x?x64xf16>, tensor<1x256x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %k, %ti
      : tensor<1x256x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x?x64xi32> -> tensor<1x256x?x64xf16>, tensor<1x256x?xf32>
  return %o, %lse : tensor<1x256x?x64xf16>, tensor<1x256x?xf32>
}

// -----

// f32 on the CUDA-core kernel: a 4-head group in one warp's 16 rows, eight
// blocks per multiprocessor (16-key tiles fit them).
// CHECK-LABEL: func.func @f32_group4(
// CHECK: block_kv = 16 : i64, block_q = 16 : i64, blocks_per_sm = 8 : i64, group_size = 4 : i64, {{.*}}mma = "simt", packed_queries = 1 : i64
func.func @f32_group4(%q: tensor<2x8x?x64xf32>, %k: tensor<2x2x?x64xf32>, %ti: tensor<2x?x?xi32>)
    -> (tensor<2x8x?x64xf32>, tensor<2x8x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %k, %ti
      : tensor<2x8x?x64xf32>, tensor<2x2x?x64xf32>, tensor<2x2x?x64xf32>, tensor<2x?x?xi32> -> tensor<2x8x?x64xf32>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x64xf32>, tensor<2x8x?xf32>
}

// -----

// MLA's latent head dim (576 / 512): the wgmma kernel with the value
// columns in two slices (mla.mlir); a head dim past 576 stays on the
// general path.
// CHECK-LABEL: func.func @mla(
// CHECK: gpu.launch
// CHECK: value_slices = 2
// CHECK-LABEL: func.func @d640(
// CHECK: = sparse_attn.token_sparse_attention
// CHECK-NOT: gpu.launch
func.func @mla(%q: tensor<1x128x?x576xbf16>, %k: tensor<1x1x?x576xbf16>, %v: tensor<1x1x?x512xbf16>, %ti: tensor<1x?x?xi32>)
    -> (tensor<1x128x?x512xbf16>, tensor<1x128x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %ti
      : tensor<1x128x?x576xbf16>, tensor<1x1x?x576xbf16>, tensor<1x1x?x512xbf16>, tensor<1x?x?xi32> -> tensor<1x128x?x512xbf16>, tensor<1x128x?xf32>
  return %o, %lse : tensor<1x128x?x512xbf16>, tensor<1x128x?xf32>
}

func.func @d640(%q: tensor<1x16x?x640xbf16>, %k: tensor<1x1x?x640xbf16>, %v: tensor<1x1x?x512xbf16>, %ti: tensor<1x?x?xi32>)
    -> (tensor<1x16x?x512xbf16>, tensor<1x16x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %ti
      : tensor<1x16x?x640xbf16>, tensor<1x1x?x640xbf16>, tensor<1x1x?x512xbf16>, tensor<1x?x?xi32> -> tensor<1x16x?x512xbf16>, tensor<1x16x?xf32>
  return %o, %lse : tensor<1x16x?x512xbf16>, tensor<1x16x?xf32>
}
