// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a tensor-cores=false" | FileCheck %s --check-prefix=NOTC
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: FileCheck %s --check-prefix=PTX < %t.sm90a.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS

// The CUDA-core kernel (issue 14, item 6): what the tensor-core kernels
// cannot take runs on the same skeleton with f32 fma products, mma = "simt"
// in the configuration. Four warps (64 query rows) per block; the largest
// kv tile that lets two blocks share a multiprocessor (f32 at head dim 128:
// 32 keys, 110,592 bytes of shared memory on sm_90a; the smaller sm_80
// takes 16-key tiles); the probabilities of a tile in shared memory after
// the K/V stages.

// CHECK-LABEL: func.func @f32_causal(
// CHECK-NOT: = sparse_attn.attention
// CHECK: gpu.launch {{.*}} threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// The products: fmas from 4-wide loads of the padded tiles (rows of 132
// f32), the probabilities in [64][36] f32 behind a warp barrier.
// CHECK: memref.view {{.*}} to memref<64x132xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}} to memref<64x36xf32, #gpu.address_space<workgroup>>
// CHECK: vector.load {{.*}} : memref<64x132xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: llvm.intr.fma
// CHECK: nvvm.bar.warp.sync
// The output is stored as f32 pairs (no rounding).
// CHECK: vector.store {{.*}} : memref<?x8x?x128xf32>, vector<2xf32>
// CHECK: sparse_attn.mma_kernel = {block_kv = 32 : i64, block_q = 64 : i64, blocks_per_sm = 2 : i64, items_per_block = 1 : i64, mma = "simt", row_tiles = 1 : i64, shared_memory_bytes = 110592 : i64, stages = 2 : i64, warps = 4 : i64}
// SM80-LABEL: func.func @f32_causal(
// SM80: block_kv = 16 : i64, {{.*}}mma = "simt"{{.*}}shared_memory_bytes = 72704
// PTX: gpu.binary @f32_causal_kernel {{.*}}fma.rn.f32
// PTX-NOT: mma.sync
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}
func.func @f32_causal(%q: tensor<?x8x?x128xf32>, %k: tensor<?x8x?x128xf32>, %v: tensor<?x8x?x128xf32>)
    -> (tensor<?x8x?x128xf32>, tensor<?x8x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<?x8x?x128xf32>, tensor<?x8x?x128xf32>, tensor<?x8x?x128xf32> -> tensor<?x8x?x128xf32>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x128xf32>, tensor<?x8x?xf32>
}

// -----

// bf16 with head dims multiples of 8 but not of 16 (no m16n8k16 step):
// 64-key tiles; the bf16 tiles widened to f32 at the loads; documents and
// decode work as on the tensor cores (the segment-bounds launch first).
// CHECK-LABEL: func.func @bf16_d72_documents(
// CHECK: gpu.launch
// CHECK: gpu.launch
// CHECK: arith.extf {{.*}} : vector<4xbf16> to vector<4xf32>
// CHECK: arith.truncf {{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: mma = "simt"
func.func @bf16_d72_documents(%q: tensor<1x4x?x72xbf16>, %v: tensor<1x4x?x40xbf16>, %seg: tensor<1x?xi32>)
    -> (tensor<1x4x?x40xbf16>, tensor<1x4x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %q, %v segment_ids(%seg, %seg : tensor<1x?xi32>, tensor<1x?xi32>)
      {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>}
      : tensor<1x4x?x72xbf16>, tensor<1x4x?x72xbf16>, tensor<1x4x?x40xbf16> -> tensor<1x4x?x40xbf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x40xbf16>, tensor<1x4x?xf32>
}

// -----

// Decode on f32: the GQA group's 4 heads x 4 queries packed into one 16-row
// tile (one warp), the keys split, the combine launch after.
// CHECK-LABEL: func.func @f32_decode(
// CHECK: gpu.launch
// CHECK: mma = "simt"
// CHECK-SAME: packed_queries = 4
// CHECK: gpu.launch
func.func @f32_decode(%q: tensor<1x16x4x64xf32>, %k: tensor<1x4x?x64xf32>, %v: tensor<1x4x?x64xf32>)
    -> (tensor<1x16x4x64xf32>, tensor<1x16x4xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x16x4x64xf32>, tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32> -> tensor<1x16x4x64xf32>, tensor<1x16x4xf32>
  return %o, %lse : tensor<1x16x4x64xf32>, tensor<1x16x4xf32>
}

// -----

// Block lists with 8-key blocks (no tensor-core kv tile that small): the
// kernel's kv tile is the block.
// CHECK-LABEL: func.func @kv_blocks_of_8(
// CHECK: sparse_attn.mma_kernel = {block_kv = 8 : i64, block_q = 32 : i64, {{.*}}mma = "simt"
func.func @kv_blocks_of_8(%q: tensor<1x2x64x64xf16>, %num: tensor<1x1x2xi32>, %idx: tensor<1x1x2x8xi32>)
    -> (tensor<1x2x64x64xf16>, tensor<1x2x64xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %q, %q, %num, %idx {block = [32, 8]}
      : tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x2x64x64xf16>, tensor<1x1x2xi32>, tensor<1x1x2x8xi32>
     -> tensor<1x2x64x64xf16>, tensor<1x2x64xf32>
  return %o, %lse : tensor<1x2x64x64xf16>, tensor<1x2x64xf32>
}

// -----

// tensor-cores=false: the CUDA-core kernel for an op the wgmma kernel takes.
// CHECK-LABEL: func.func @bf16_causal(
// CHECK: mma = "wgmma"
// NOTC-LABEL: func.func @bf16_causal(
// NOTC: mma = "simt"
func.func @bf16_causal(%q: tensor<1x8x?x128xbf16>) -> (tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %q, %q {mask = #sparse_attn.causal}
      : tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16>, tensor<1x8x?x128xbf16> -> tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>
  return %o, %lse : tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>
}

// -----

// What neither kernel takes stays for the general path: head dims past 256
// (f32), lists finer than a query tile over a dynamic key length (static
// ones are row lists: row-lists.mlir).
// CHECK-LABEL: func.func @general(
// CHECK-COUNT-2: = sparse_attn.block_sparse_attention
// CHECK-NOT: gpu.launch
func.func @general(%w: tensor<1x2x64x288xf32>, %s: tensor<1x2x64x64xbf16>, %sd: tensor<1x2x?x64xbf16>,
                   %num: tensor<1x1x2xi32>, %idx: tensor<1x1x2x2xi32>,
                   %num8: tensor<1x1x8xi32>, %idx8: tensor<1x1x8x8xi32>) -> (tensor<1x2x64x288xf32>, tensor<1x2x64x64xbf16>) {
  %o1, %l1 = sparse_attn.block_sparse_attention %w, %w, %w, %num, %idx {block = [32, 32]}
      : tensor<1x2x64x288xf32>, tensor<1x2x64x288xf32>, tensor<1x2x64x288xf32>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
     -> tensor<1x2x64x288xf32>, tensor<1x2x64xf32>
  %o2, %l2 = sparse_attn.block_sparse_attention %s, %sd, %sd, %num8, %idx8 {block = [8, 8]}
      : tensor<1x2x64x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x1x8xi32>, tensor<1x1x8x8xi32>
     -> tensor<1x2x64x64xbf16>, tensor<1x2x64xf32>
  return %o1, %o2 : tensor<1x2x64x288xf32>, tensor<1x2x64x64xbf16>
}
