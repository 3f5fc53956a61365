// RUN: sparse-attn-opt %s --sparse-attn-attention-to-block-sparse | FileCheck %s --check-prefix=REWRITE
// RUN: sparse-attn-opt %s --sparse-attn-attention-to-block-sparse --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s --check-prefix=DIRECT
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.mlir
// RUN: FileCheck %s --check-prefix=PTX < %t.mlir

// The conversion takes attention itself, with no block lists: each query
// tile walks its key hull (static and dynamic lengths alike); the f32 op
// takes the CUDA-core kernel.
// DIRECT-LABEL: func.func @causal(
// DIRECT-NOT: sparse_attn.block_mask
// DIRECT: gpu.launch
// DIRECT: mma = "wgmma"
// DIRECT-LABEL: func.func @modded(
// DIRECT: gpu.launch
// DIRECT: arith.remui
// DIRECT-LABEL: func.func @stays(
// DIRECT-NOT: = sparse_attn.attention
// DIRECT: gpu.launch
// DIRECT: mma = "simt"
// DIRECT: gpu.launch
// DIRECT: mma = "wgmma"
// DIRECT: mma = "wgmma"

// sparse-attn-attention-to-block-sparse (a pass of its own, no longer in the
// pipeline) rewrites attention with static lengths into block_sparse_attention
// over block_mask's exact 128 x 128 lists: partial and full blocks apart
// (capacities: the longest lists), or one pair when a mask_mod must see
// every pair; convert-sparse-attn-to-nvgpu then takes those on f16/bf16.
// Dynamic lengths stay attention.
// REWRITE-LABEL: func.func @causal(
// REWRITE: sparse_attn.block_mask {block = [128, 128], kv_len = 1000 : i64, mask = #sparse_attn.causal, q_len = 1000 : i64} : tensor<1x1x8xi32>, tensor<1x1x8x1xi32>, tensor<1x1x8xi32>, tensor<1x1x8x7xi32>
// REWRITE: sparse_attn.block_sparse_attention {{.*}} full(
// REWRITE-LABEL: func.func @modded(
// REWRITE: sparse_attn.block_mask {block = [128, 128], kv_len = 256 : i64, mask = #sparse_attn.sliding_window<left = 100, right = 0>, q_len = 256 : i64} : tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
// REWRITE-LABEL: func.func @stays(
// REWRITE: sparse_attn.block_sparse_attention {{.*}} : tensor<1x2x64x64xf32>
// REWRITE: sparse_attn.attention {{.*}} : tensor<1x2x?x64xbf16>

// CHECK-LABEL: func.func @causal(
// CHECK: sparse_attn.block_mask {block = [128, 128], kv_len = 1000 : i64, mask = #sparse_attn.causal, q_len = 1000 : i64} : tensor<1x1x8xi32>, tensor<1x1x8x1xi32>, tensor<1x1x8xi32>, tensor<1x1x8x7xi32>
// CHECK-NOT: = sparse_attn.attention
// CHECK: gpu.launch
// CHECK: mma = "wgmma"
func.func @causal(%q: tensor<1x16x1000x128xbf16>, %k: tensor<1x4x1000x128xbf16>, %v: tensor<1x4x1000x128xbf16>) -> (tensor<1x16x1000x128xbf16>, tensor<1x16x1000xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x16x1000x128xbf16>, tensor<1x4x1000x128xbf16>, tensor<1x4x1000x128xbf16> -> tensor<1x16x1000x128xbf16>, tensor<1x16x1000xf32>
  return %o, %lse : tensor<1x16x1000x128xbf16>, tensor<1x16x1000xf32>
}

// CHECK-LABEL: func.func @modded(
// CHECK: sparse_attn.block_mask {block = [128, 128], kv_len = 256 : i64, mask = #sparse_attn.sliding_window<left = 100, right = 0>, q_len = 256 : i64} : tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
// CHECK: gpu.launch
// The mask_mod is evaluated in the kernel.
// CHECK: arith.remui
// CHECK: mma = "wgmma"
func.func @modded(%q: tensor<1x2x256x64xf16>, %k: tensor<1x2x256x64xf16>, %v: tensor<1x2x256x64xf16>) -> (tensor<1x2x256x64xf16>, tensor<1x2x256xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.sliding_window<left = 100, right = 0>} mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c3 = arith.constant 3 : index
    %r = arith.remui %j, %c3 : index
    %c0 = arith.constant 0 : index
    %keep = arith.cmpi ne, %r, %c0 : index
    sparse_attn.yield %keep : i1
  } : tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16> -> tensor<1x2x256x64xf16>, tensor<1x2x256xf32>
  return %o, %lse : tensor<1x2x256x64xf16>, tensor<1x2x256xf32>
}

// CHECK-LABEL: func.func @stays(
// CHECK-NOT: = sparse_attn.attention
// CHECK: gpu.launch
// CHECK: mma = "simt"
// CHECK: gpu.launch
func.func @stays(%q: tensor<1x2x64x64xf32>, %d: tensor<1x2x?x64xbf16>) -> (tensor<1x2x64x64xf32>, tensor<1x2x?x64xbf16>) {
  %o, %lse = sparse_attn.attention %q, %q, %q : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>, tensor<1x2x64xf32>
  %o2, %lse2 = sparse_attn.attention %d, %d, %d : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?x64xbf16>, tensor<1x2x?xf32>
  return %o, %o2 : tensor<1x2x64x64xf32>, tensor<1x2x?x64xbf16>
}

// The default pipeline: one kernel per attention op (the CUDA-core one for
// the f32 op), the causal one the wgmma kernel.
// PTX: gpu.launch_func @causal_kernel::@causal_kernel
// PTX: gpu.binary @causal_kernel {{.*}}wgmma.mma_async

// A score_mod that reads an outer tensor (ALiBi slopes) by tensor.extract:
// the kernel reads a buffer of it (memref.load in the launch).
// DIRECT-LABEL: func.func @captured(
// DIRECT: %[[SLOPES:.*]] = bufferization.to_buffer %arg1 read_only : tensor<2xf32> to memref<2xf32, strided<[?], offset: ?>>
// DIRECT-NOT: = sparse_attn.attention
// DIRECT: gpu.launch
// DIRECT: memref.load %[[SLOPES]]
// DIRECT: mma = "wgmma"
// A region using an outer tensor other than by tensor.extract stays on the
// general path.
// DIRECT-LABEL: func.func @captured_whole(
// DIRECT: = sparse_attn.attention
// DIRECT-NOT: gpu.launch
func.func @captured(%q: tensor<1x2x128x64xbf16>, %slopes: tensor<2xf32>) -> tensor<1x2x128x64xbf16> {
  %o, %lse = sparse_attn.attention %q, %q, %q {mask = #sparse_attn.causal} score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %slope = tensor.extract %slopes[%h] : tensor<2xf32>
    %biased = arith.subf %s, %slope : f32
    sparse_attn.yield %biased : f32
  } : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16> -> tensor<1x2x128x64xbf16>, tensor<1x2x128xf32>
  return %o : tensor<1x2x128x64xbf16>
}

func.func @captured_whole(%q: tensor<1x2x128x64xbf16>, %bias: tensor<2xf32>) -> tensor<1x2x128x64xbf16> {
  %o, %lse = sparse_attn.attention %q, %q, %q score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %c0 = arith.constant 0 : index
    %n = tensor.dim %bias, %c0 : tensor<2xf32>
    %nf = arith.index_cast %n : index to i64
    %f = arith.sitofp %nf : i64 to f32
    %biased = arith.subf %s, %f : f32
    sparse_attn.yield %biased : f32
  } : tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16> -> tensor<1x2x128x64xbf16>, tensor<1x2x128xf32>
  return %o : tensor<1x2x128x64xbf16>
}
