// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90" | FileCheck %s --check-prefix=SYNC
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90" -o %t.sm90.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90.mlir sm_90 | FileCheck %s --check-prefix=PTXAS

// Head dims past 128 (issue 14). A value dim of 256 holds a 128-register
// output accumulator per thread: the kernel takes one block per
// multiprocessor, no register cap (ptxas fits the wgmma kernel in 242
// registers without spills) and the largest kv tile that fits its shared
// memory; mma.sync gives each warp one 16-row tile. D = 192 with Dv = 128
// (DeepSeek's shape) keeps two blocks per multiprocessor on wgmma.

// CHECK-LABEL: func.func @d256(
// CHECK-NOT: sparse_attn.max_registers
// CHECK: sparse_attn.mma_kernel = {block_kv = 64 : i64, block_q = 128 : i64, blocks_per_sm = 1 : i64, {{.*}}mma = "wgmma", row_tiles = 1 : i64
// SYNC-LABEL: func.func @d256(
// SYNC: sparse_attn.mma_kernel = {block_kv = 64 : i64, block_q = 128 : i64, blocks_per_sm = 1 : i64, {{.*}}mma = "mma.sync", row_tiles = 1 : i64, {{.*}}warps = 8 : i64
func.func @d256(%q: tensor<1x8x?x256xbf16>, %k: tensor<1x8x?x256xbf16>, %v: tensor<1x8x?x256xbf16>)
    -> (tensor<1x8x?x256xbf16>, tensor<1x8x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x8x?x256xbf16>, tensor<1x8x?x256xbf16>, tensor<1x8x?x256xbf16> -> tensor<1x8x?x256xbf16>, tensor<1x8x?xf32>
  return %o, %lse : tensor<1x8x?x256xbf16>, tensor<1x8x?xf32>
}

// -----

// CHECK-LABEL: func.func @d192(
// CHECK: sparse_attn.max_registers = 128
// CHECK-SAME: blocks_per_sm = 2 : i64, {{.*}}mma = "wgmma"
// SYNC-LABEL: func.func @d192(
// SYNC: row_tiles = 1 : i64
func.func @d192(%q: tensor<1x8x?x192xbf16>, %k: tensor<1x8x?x192xbf16>, %v: tensor<1x8x?x128xbf16>)
    -> (tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x8x?x192xbf16>, tensor<1x8x?x192xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>
  return %o, %lse : tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>
}

// PTXAS: {{ptxas assembled 2 PTX module\(s\)|ptxas not found: 2 PTX module\(s\) for sm_[0-9]+ NOT assembled}}
