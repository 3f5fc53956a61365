// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu | FileCheck %s
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="block-q=64 stages=1" | FileCheck %s --check-prefix=OPTS
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="stages=3" 2>&1 | FileCheck %s --check-prefix=BADOPT
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="block-q=48" 2>&1 | FileCheck %s --check-prefix=BADOPT
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_70" 2>&1 | FileCheck %s --check-prefix=BADCHIP
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="block-kv=128" 2>&1 | FileCheck %s --check-prefix=BADOPT
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s --check-prefix=WGMMA
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a warpgroup-rows=3" 2>&1 | FileCheck %s --check-prefix=BADROWS
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a warpgroup-rows=1" | FileCheck %s --check-prefix=ROWS1

// BADOPT: error: convert-sparse-attn-to-nvgpu: block-q must be 16, 32, 64 or 128, block-kv 16, 32, 64 (or 128 on sm_90a), stages 1 or 2
// BADROWS: error: convert-sparse-attn-to-nvgpu: warpgroup-rows must be 0 (the kernel's choice), 1 or 2 (got 3)
// ROWS1-LABEL: func.func @d64_bf16(
// ROWS1: {sparse_attn.mma_kernel = {block_kv = 128 : i64, block_q = 128 : i64, blocks_per_sm = 2 : i64, items_per_block = 1 : i64, mma = "wgmma", row_tiles = 1 : i64, shared_memory_bytes = 82944 : i64, stages = 2 : i64, warps = 8 : i64}}
// BADCHIP: error: convert-sparse-attn-to-nvgpu: unknown chip 'sm_70' (expected sm_80, sm_90 or sm_90a)

// block_sparse_attention on bf16/f16 becomes one gpu.launch of the
// tensor-core kernel: operands as buffers, results allocated, the launch,
// results back as tensors. Ops the kernel does not take stay for the
// general path.

// CHECK-LABEL: func.func @causal_bf16(
// CHECK: %[[Q:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<1x4x?x128xbf16> to memref<1x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<1x4x?x128xbf16>
// CHECK: %[[LSE:.*]] = memref.alloc(%{{.*}}) : memref<1x4x?xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}} = %c4{{.*}}, {{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}, {{.*}}) dynamic_shared_memory_size
// CHECK: gpu.dynamic_shared_memory
// CHECK: nvgpu.device_async_copy {{.*}} {bypassL1} : memref<1x4x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>> to memref<128x136xbf16, #gpu.address_space<workgroup>>
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false} : memref<128x136xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// CHECK: nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true} : memref<2x64x136xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// CHECK: } {sparse_attn.mma_kernel = {block_kv = 64 : i64, block_q = 128 : i64, blocks_per_sm = 2 : i64, items_per_block = 1 : i64, mma = "mma.sync", row_tiles = 2 : i64, shared_memory_bytes = 104448 : i64, stages = 2 : i64, warps = 4 : i64}}
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: bufferization.to_tensor %[[LSE]] restrict writable

// OPTS-LABEL: func.func @causal_bf16(
// OPTS: {sparse_attn.mma_kernel = {block_kv = 64 : i64, block_q = 64 : i64, blocks_per_sm = 2 : i64, items_per_block = 1 : i64, mma = "mma.sync", row_tiles = 1 : i64, shared_memory_bytes = 52224 : i64, stages = 1 : i64, warps = 4 : i64}}

// sm_90a: the wgmma kernel. Two warpgroups (256 threads) of 64 rows each,
// 64-key tiles, registers capped for two blocks per multiprocessor (the
// cap on the shared-memory op, which outlining keeps); Q, K, V in one
// 1 KiB-aligned array of swizzled tiles (the
// shared address read off the dynamic shared memory), cp.async'ed into
// place and fenced to the async proxy before the barrier; S = Q K^T from
// two descriptors, P V with P from registers and V N-major (trans-b 1);
// each product fenced, committed and waited for.
// WGMMA-LABEL: func.func @causal_bf16(
// WGMMA: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}, {{.*}}) dynamic_shared_memory_size
// The register cap and the configuration ride on the shared-memory op,
// which outlining keeps (sparse-attn-kernel-limits moves them to the gpu.func).
// WGMMA: %[[SMEM:.*]] = gpu.dynamic_shared_memory {sparse_attn.max_registers = 128 : i32, sparse_attn.mma_kernel = {block_kv = 64 : i64, {{.*}}mma = "wgmma"{{.*}}}} : memref<?xi8, #gpu.address_space<workgroup>>
// WGMMA: %[[ADDR:.*]] = memref.extract_aligned_pointer_as_index %[[SMEM]]
// WGMMA: arith.remui %[[ADDR]], %c1024
// WGMMA: memref.view %[[SMEM]]{{.*}} to memref<49152xbf16, #gpu.address_space<workgroup>>
// The 16-byte chunk of a row goes to chunk ^ (row % 8).
// WGMMA: arith.xori
// WGMMA: nvgpu.device_async_copy {{.*}} to memref<49152xbf16, #gpu.address_space<workgroup>>
// WGMMA: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// WGMMA-NEXT: gpu.barrier
// WGMMA: nvvm.wgmma.fence.aligned
// K-major descriptors: stride 1024 bytes between 8-row groups (64 << 32),
// leading offset unused (1 << 16), 128-byte swizzle (1 << 62).
// WGMMA: arith.constant 4611686293305360384 : i64
// WGMMA: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;
// WGMMA: nvvm.wgmma.commit.group.sync.aligned
// WGMMA-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// WGMMA: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// WGMMA: nvvm.wgmma.fence.aligned
// V is N-major: its 64-column panels are 64 keys x 128 bytes apart
// (leading offset 8192 >> 4 << 16).
// WGMMA: arith.constant 4611686293338849280 : i64
// WGMMA: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, {${{[0-9]+}}, ${{[0-9]+}}, ${{[0-9]+}}, ${{[0-9]+}}}, ${{[0-9]+}}, p, 1, 1, 1;
// WGMMA: nvvm.wgmma.commit.group.sync.aligned
// WGMMA-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// WGMMA: {sparse_attn.mma_kernel = {block_kv = 64 : i64, block_q = 128 : i64, blocks_per_sm = 2 : i64, items_per_block = 1 : i64, mma = "wgmma", row_tiles = 1 : i64, shared_memory_bytes = 99328 : i64, stages = 2 : i64, warps = 8 : i64}}
func.func @causal_bf16(%q: tensor<1x4x?x128xbf16>, %k: tensor<1x2x?x128xbf16>, %v: tensor<1x2x?x128xbf16>,
                       %num: tensor<1x1x?xi32>, %idx: tensor<1x1x?x8xi32>) -> (tensor<1x4x?x128xbf16>, tensor<1x4x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128], mask = #sparse_attn.causal}
      : tensor<1x4x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x1x?xi32>, tensor<1x1x?x8xi32>
     -> tensor<1x4x?x128xbf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x128xbf16>, tensor<1x4x?xf32>
}

// Head dim 64 on sm_90a: one warpgroup (128 threads) takes two 64-row
// tiles: per 16 head-dim columns two S products sharing the K descriptor,
// per 16 keys two P V products sharing the V descriptor.
// WGMMA-LABEL: func.func @d64_bf16(
// WGMMA: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}}, {{.*}}) dynamic_shared_memory_size
// WGMMA-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0, 0;
// WGMMA: nvvm.wgmma.wait.group.sync.aligned 0
// WGMMA-COUNT-16: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// WGMMA: {sparse_attn.mma_kernel = {block_kv = 128 : i64, block_q = 128 : i64, blocks_per_sm = 2 : i64, items_per_block = 1 : i64, mma = "wgmma", row_tiles = 2 : i64, shared_memory_bytes = 82944 : i64, stages = 2 : i64, warps = 4 : i64}}
func.func @d64_bf16(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x4x?x64xbf16>, %v: tensor<1x4x?x64xbf16>,
                    %num: tensor<1x4x?xi32>, %idx: tensor<1x4x?x?xi32>) -> (tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128]}
      : tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?xi32>, tensor<1x4x?x?xi32>
     -> tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>
}

// Small blocks: one 16-row tile per warp, 16-key tiles; f16 operands stay
// f16x2 registers.
// CHECK-LABEL: func.func @small_blocks_f16(
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: {sparse_attn.mma_kernel = {block_kv = 16 : i64, block_q = 32 : i64, blocks_per_sm = 2 : i64, items_per_block = 1 : i64, mma = "mma.sync", row_tiles = 1 : i64, shared_memory_bytes = 13824 : i64, stages = 2 : i64, warps = 2 : i64}}
// On sm_90a, block_q 32 is too small for a warpgroup: mma.sync.
// WGMMA-LABEL: func.func @small_blocks_f16(
// WGMMA: mma = "mma.sync"
func.func @small_blocks_f16(%q: tensor<2x8x96x64xf16>, %k: tensor<2x8x96x64xf16>, %v: tensor<2x8x96x64xf16>,
                            %num: tensor<2x8x3xi32>, %idx: tensor<2x8x3x6xi32>) -> (tensor<2x8x96x64xf16>, tensor<2x8x96xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [32, 16]}
      : tensor<2x8x96x64xf16>, tensor<2x8x96x64xf16>, tensor<2x8x96x64xf16>, tensor<2x8x3xi32>, tensor<2x8x3x6xi32>
     -> tensor<2x8x96x64xf16>, tensor<2x8x96xf32>
  return %o, %lse : tensor<2x8x96x64xf16>, tensor<2x8x96xf32>
}

// f32 takes the CUDA-core kernel (its 32-row blocks in 32-row tiles of two
// warps, 32-key tiles); left for the general path: head dims over 256 that
// are not multiples of 64, lists finer than a query tile over a dynamic key
// length (masks reading segment ids are taken: document.mlir; static keys
// with fine lists: row-lists.mlir).
// CHECK-LABEL: func.func @not_taken(
// CHECK: gpu.launch
// CHECK-SAME: threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c64
// CHECK: mma = "simt"
// CHECK-COUNT-2: = sparse_attn.block_sparse_attention
// CHECK-NOT: gpu.launch
func.func @not_taken(%q: tensor<1x2x64x64xf32>, %k: tensor<1x2x64x64xf32>, %v: tensor<1x2x64x64xf32>,
                     %qw: tensor<1x2x64x288xbf16>, %kw: tensor<1x2x64x288xbf16>,
                     %qs: tensor<1x2x64x64xbf16>, %ks: tensor<1x2x?x64xbf16>,
                     %num: tensor<1x1x2xi32>, %idx: tensor<1x1x2x2xi32>,
                     %num8: tensor<1x1x8xi32>, %idx8: tensor<1x1x8x8xi32>) -> (tensor<1x2x64x64xf32>, tensor<1x2x64x288xbf16>, tensor<1x2x64x64xbf16>) {
  %o1, %l1 = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [32, 32]}
      : tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x2x64x64xf32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
     -> tensor<1x2x64x64xf32>, tensor<1x2x64xf32>
  %o2, %l2 = sparse_attn.block_sparse_attention %qw, %kw, %kw, %num, %idx {block = [32, 32]}
      : tensor<1x2x64x288xbf16>, tensor<1x2x64x288xbf16>, tensor<1x2x64x288xbf16>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
     -> tensor<1x2x64x288xbf16>, tensor<1x2x64xf32>
  %o3, %l3 = sparse_attn.block_sparse_attention %qs, %ks, %ks, %num8, %idx8 {block = [8, 8]}
      : tensor<1x2x64x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x1x8xi32>, tensor<1x1x8x8xi32>
     -> tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>
  return %o1, %o2, %o3 : tensor<1x2x64x64xf32>, tensor<1x2x64x288xbf16>, tensor<1x2x64x64xbf16>
}
