// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90" | FileCheck %s --check-prefix=SYNC
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS

// Head dims past 256 (DeepSeek's MLA: D = 576, Dv = 512) on the wgmma
// kernel: Q and K in 64-column swizzled panels (a 64-row Q tile is 72 KB,
// so 16-key tiles in two stages: one block per multiprocessor, no spills), and the
// value columns in slices of up to 256 (wgmma's widest product), one block
// each: `value_slices = 2` doubles the grid's x (a query's two 64-head
// row tiles, then two slices); each block computes the
// whole score tile and its slice of P V, slice 0 writes the log-sum-exp.
// Without wgmma (sm_90) they stay on the general path.

// CHECK-LABEL: func.func @mla_sparse(
// CHECK: arith.muli %{{.*}}, %c2
// CHECK: %[[X:.*]] = arith.muli %{{.*}}, %c2{{.*}} : index
// CHECK-NEXT: arith.index_cast
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[X]],
// CHECK: sparse_attn.mma_kernel = {block_kv = 16 : i64, block_q = 64 : i64, blocks_per_sm = 1 : i64, {{.*}}mma = "wgmma", {{.*}}packed_queries = 1 : i64, row_tiles = 1 : i64, {{.*}}value_slices = 2 : i64
// SYNC-LABEL: func.func @mla_sparse(
// SYNC-NOT: sparse_attn.mma_kernel
// SYNC: return
func.func @mla_sparse(%q: tensor<1x128x?x576xbf16>, %k: tensor<1x1x?x576xbf16>, %v: tensor<1x1x?x512xbf16>,
                      %t: tensor<1x?x2048xi32>) -> (tensor<1x128x?x512xbf16>, tensor<1x128x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %t
      : tensor<1x128x?x576xbf16>, tensor<1x1x?x576xbf16>, tensor<1x1x?x512xbf16>, tensor<1x?x2048xi32>
     -> tensor<1x128x?x512xbf16>, tensor<1x128x?xf32>
  return %o, %lse : tensor<1x128x?x512xbf16>, tensor<1x128x?xf32>
}

// -----

// Dense MLA prefill (attention, causal) and a value dim of 320 (five
// 64-column slices).
// CHECK-LABEL: func.func @mla_dense(
// CHECK: value_slices = 2 : i64
func.func @mla_dense(%q: tensor<1x16x?x576xbf16>, %k: tensor<1x1x?x576xbf16>, %v: tensor<1x1x?x512xbf16>)
    -> (tensor<1x16x?x512xbf16>, tensor<1x16x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x16x?x576xbf16>, tensor<1x1x?x576xbf16>, tensor<1x1x?x512xbf16> -> tensor<1x16x?x512xbf16>, tensor<1x16x?xf32>
  return %o, %lse : tensor<1x16x?x512xbf16>, tensor<1x16x?xf32>
}

// -----

// CHECK-LABEL: func.func @dv320(
// CHECK: value_slices = 5 : i64
func.func @dv320(%q: tensor<1x4x?x128xf16>, %k: tensor<1x4x?x128xf16>, %v: tensor<1x4x?x320xf16>)
    -> (tensor<1x4x?x320xf16>, tensor<1x4x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v
      : tensor<1x4x?x128xf16>, tensor<1x4x?x128xf16>, tensor<1x4x?x320xf16> -> tensor<1x4x?x320xf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x320xf16>, tensor<1x4x?xf32>
}

// PTXAS-NOT: spill
// PTXAS: {{ptxas assembled 3 PTX module\(s\)|ptxas not found: 3 PTX module\(s\) for sm_[0-9]+ NOT assembled}}
