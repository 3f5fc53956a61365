// The PTX pipeline fuses selection chains first (fuse-selection=true by
// default) and compiles what it formed; fuse-selection=false leaves them.
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o /dev/null \
// RUN:   --mlir-print-ir-after=sparse-attn-fuse-selection 2>&1 | FileCheck %s --check-prefix=FUSED
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a fuse-selection=false" -o /dev/null \
// RUN:   --mlir-print-ir-after=canonicalize 2>&1 | FileCheck %s --check-prefix=UNFUSED
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" | FileCheck %s --check-prefix=PTX
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a fuse-selection=false" | FileCheck %s --check-prefix=PTX

// FUSED-LABEL: IR Dump After SparseAttnFuseSelectionPass
// FUSED: sparse_attn.fused_block_sparse_attention
// FUSED: sparse_attn.fused_token_sparse_attention
// UNFUSED-NOT: fused_
// UNFUSED: sparse_attn.select_topk
// UNFUSED: sparse_attn.lightning_indexer
// UNFUSED-NOT: fused_
// PTX: gpu.binary
// PTX-NOT: sparse_attn.

func.func @nsa(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>, %v: tensor<1x2x512x64xbf16>)
    -> (tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>) {
  %qp = sparse_attn.pool mean %q {block = 64} : tensor<1x8x512x64xbf16> -> tensor<1x8x8x64xf32>
  %kp = sparse_attn.pool mean %k {block = 64} : tensor<1x2x512x64xbf16> -> tensor<1x2x8x64xf32>
  %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 512, kv_len = 512}
      : tensor<1x8x8x64xf32>, tensor<1x2x8x64xf32> -> tensor<1x2x8x8xf32>
  %n, %i = sparse_attn.select_topk %s {k = 3, sink = 1, local = 2}
      : tensor<1x2x8x8xf32> -> tensor<1x2x8xi32>, tensor<1x2x8x8xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x8xi32>, tensor<1x2x8x8xi32>
     -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  return %o, %lse : tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
}

func.func @dsa(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x1x256x64xbf16>, %v: tensor<1x1x256x64xbf16>,
               %qi: tensor<1x2x256x32xbf16>, %ki: tensor<1x256x32xbf16>, %w: tensor<1x256x2xf32>)
    -> (tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>) {
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 64, mask = #sparse_attn.causal}
      : tensor<1x2x256x32xbf16>, tensor<1x256x32xbf16>, tensor<1x256x2xf32> -> tensor<1x256x64xi32>
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %t
      : tensor<1x4x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x1x256x64xbf16>, tensor<1x256x64xi32>
     -> tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
  return %o, %lse : tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
}
