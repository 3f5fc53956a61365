// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90" -o %t.sm90.mlir
// RUN: FileCheck %s --check-prefix=SM90 < %t.sm90.mlir
// RUN: FileCheck %s --check-prefix=BIN90 < %t.sm90.mlir
// RUN: %python %S/ptxas_check.py %t.sm90.mlir sm_90 | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: FileCheck %s --check-prefix=BIN80 < %t.sm80.mlir
// RUN: %python %S/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS
// RUN: not sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_70" 2>&1 | FileCheck %s --check-prefix=CHIP

// Every op of the dialect lowers to kernels: host code launches them
// (gpu.launch_func) and the kernels are PTX for the chosen chip in
// gpu.binary ops, produced by LLVM's NVPTX backend. When ptxas is
// installed, every PTX module is assembled for its chip; otherwise the
// script prints that it skipped that step.

// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}
// CHIP: unknown chip 'sm_70'

// SM90-NOT: sparse_attn.
// SM90-NOT: linalg.
// SM90-LABEL: llvm.func @attention(
// SM90: gpu.launch_func @attention_kernel::@attention_kernel
// SM90-LABEL: llvm.func @block_sparse(
// SM90: gpu.launch_func
// SM90-LABEL: llvm.func @token_sparse(
// SM90: gpu.launch_func
// SM90-LABEL: llvm.func @lists_and_indexers(
// SM90: gpu.launch_func
// BIN90: gpu.binary @attention_kernel [#gpu.object<#nvvm.target<chip = "sm_90", features = "+ptx80">, {{.*}}assembly = "{{.*}}.target sm_90
// BIN80: gpu.binary @attention_kernel [#gpu.object<#nvvm.target<chip = "sm_80", features = "+ptx80">, {{.*}}assembly = "{{.*}}.target sm_80

// Tiled: one thread block per (batch, head, query tile).
func.func @attention(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 256, right = 0>]>} score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %cap = arith.constant 30.0 : f32
    %d = arith.divf %s, %cap : f32
    %t = math.tanh %d : f32
    %r = arith.mulf %t, %cap : f32
    sparse_attn.yield %r : f32
  } : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}

func.func @block_sparse(%q: tensor<1x4x?x128xf16>, %k: tensor<1x4x?x128xf16>, %v: tensor<1x4x?x128xf16>, %sq: tensor<1x?xi32>, %skv: tensor<1x?xi32>) -> (tensor<1x4x?x128xf16>, tensor<1x4x?xf32>) {
  %num, %idx = sparse_attn.block_mask segment_ids(%sq, %skv : tensor<1x?xi32>, tensor<1x?xi32>) {mask = #sparse_attn.document, block = [64, 64]} : tensor<1x1x?xi32>, tensor<1x1x?x?xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx segment_ids(%sq, %skv : tensor<1x?xi32>, tensor<1x?xi32>) {block = [64, 64], mask = #sparse_attn.document}
      : tensor<1x4x?x128xf16>, tensor<1x4x?x128xf16>, tensor<1x4x?x128xf16>, tensor<1x1x?xi32>, tensor<1x1x?x?xi32> -> tensor<1x4x?x128xf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x128xf16>, tensor<1x4x?xf32>
}

func.func @token_sparse(%q: tensor<1x4x?x32xf32>, %k: tensor<1x1x?x32xf32>, %v: tensor<1x1x?x16xf32>, %t: tensor<1x?x8xi32>) -> (tensor<1x4x?x16xf32>, tensor<1x4x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %t
      : tensor<1x4x?x32xf32>, tensor<1x1x?x32xf32>, tensor<1x1x?x16xf32>, tensor<1x?x8xi32> -> tensor<1x4x?x16xf32>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x16xf32>, tensor<1x4x?xf32>
}

func.func @lists_and_indexers(%q: tensor<1x8x1024x64xbf16>, %k: tensor<1x2x1024x64xbf16>, %qi: tensor<1x2x1024x32xbf16>, %ki: tensor<1x1024x32xbf16>, %w: tensor<1x1024x2xf32>)
    -> (tensor<1x2x16xi32>, tensor<1x2x16x7xi32>, tensor<1x1024x64xi32>) {
  %qp = sparse_attn.pool mean %q {block = 64} : tensor<1x8x1024x64xbf16> -> tensor<1x8x16x64xf32>
  %kp = sparse_attn.pool max %k {block = 64} : tensor<1x2x1024x64xbf16> -> tensor<1x2x16x64xf32>
  %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 1024, kv_len = 1024}
      : tensor<1x8x16x64xf32>, tensor<1x2x16x64xf32> -> tensor<1x2x16x16xf32>
  %num, %idx = sparse_attn.select_topk %s {k = 4, sink = 1, local = 2}
      : tensor<1x2x16x16xf32> -> tensor<1x2x16xi32>, tensor<1x2x16x7xi32>
  %ti = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 64, mask = #sparse_attn.causal}
      : tensor<1x2x1024x32xbf16>, tensor<1x1024x32xbf16>, tensor<1x1024x2xf32> -> tensor<1x1024x64xi32>
  return %num, %idx, %ti : tensor<1x2x16xi32>, tensor<1x2x16x7xi32>, tensor<1x1024x64xi32>
}

// select_threshold's warp-per-row kernel assembles for every chip.
func.func @threshold(%s: tensor<1x2x16x16xf32>) -> (tensor<1x2x16xi32>, tensor<1x2x16x7xi32>) {
  %num, %idx = sparse_attn.select_threshold %s {mass = 0.9 : f32, max_blocks = 4, sink = 1, local = 2}
      : tensor<1x2x16x16xf32> -> tensor<1x2x16xi32>, tensor<1x2x16x7xi32>
  return %num, %idx : tensor<1x2x16xi32>, tensor<1x2x16x7xi32>
}
