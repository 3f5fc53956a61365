// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90" | FileCheck %s --check-prefix=SYNC
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a items-per-block=2" | FileCheck %s --check-prefix=ITEMS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS

// Document masks on the tensor-core kernels (issue 14). A first launch
// (SegmentBounds.cpp) writes what the kernel needs of the segment ids: per
// batch and chunk of 2048 neighbouring key pairs, whether the ids do not
// decrease (a block per chunk, eight independent loads per thread, clearing
// a shared flag atomically; the kernel ands the chunks' flags); per query
// tile, the least and greatest id of its rows (reduced over a warp's
// lanes) and its documents' keys (two 32-way searches of the key ids, a
// ballot counting the probes before each bound). Without lists the kernel
// visits only those keys when the ids are sorted. Each kv tile reads the
// ids of its first and last key (before the copy wait): one document at
// both ends and in the rows is a tile every pair of which is allowed; ids
// all below or above the rows' is a tile skipped. On a tile inside one
// document the intersection with causal is causal alone: its two compares
// per score (i32, against the row's key interval); other tiles compare the
// pair's ids, read once per row and per key.

// CHECK-LABEL: func.func @document_causal(
// CHECK: %[[SORTED:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?xi32>
// CHECK: %[[BOUNDS:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?x4xi32>
// CHECK: gpu.launch blocks({{.*}}) threads({{.*}}) in (%{{.*}} = %c256,
// CHECK: memref.atomic_rmw mins
// CHECK: memref.store %{{.*}}, %[[SORTED]][
// CHECK: } else {
// CHECK: gpu.shuffle  xor
// CHECK: scf.while
// CHECK: nvvm.vote.sync  ballot
// CHECK: nvvm.vote.sync  ballot
// CHECK: memref.store %{{.*}}, %[[BOUNDS]][
// CHECK: gpu.terminator
// CHECK: gpu.launch
// CHECK: mma = "wgmma"
// CHECK: memref.load %[[SORTED]][
// CHECK: nvvm.vote.sync  ballot
// CHECK: memref.load %[[BOUNDS]][
// CHECK: scf.for
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: arith.cmpi sle, %{{.*}}, %{{.*}} : i32
// SYNC-LABEL: func.func @document_causal(
// SYNC: scf.while
// SYNC: nvvm.mma.sync
// ITEMS-LABEL: func.func @document_causal(
// ITEMS: memref<?x?x4xi32>
// ITEMS: items_per_block = 2
func.func @document_causal(%q: tensor<2x8x?x128xbf16>, %k: tensor<2x2x?x128xbf16>, %v: tensor<2x2x?x128xbf16>,
                           %seg: tensor<2x?xi32>) -> (tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v segment_ids(%seg, %seg : tensor<2x?xi32>, tensor<2x?xi32>)
      {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>}
      : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16> -> tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
}

// -----

// block_sparse_attention over lists: the same launch and tile tests (the
// lists name the kv blocks; the key ranges go unused).
// CHECK-LABEL: func.func @block_sparse_document(
// CHECK: gpu.launch
// CHECK: memref.atomic_rmw mins
// CHECK: gpu.launch
// CHECK-NOT: scf.while
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: return
func.func @block_sparse_document(%q: tensor<1x4x256x64xf16>, %k: tensor<1x4x256x64xf16>, %v: tensor<1x4x256x64xf16>,
                                 %num: tensor<1x1x2xi32>, %idx: tensor<1x1x2x2xi32>,
                                 %sq: tensor<1x256xi32>, %skv: tensor<1x256xi32>) -> (tensor<1x4x256x64xf16>, tensor<1x4x256xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx segment_ids(%sq, %skv : tensor<1x256xi32>, tensor<1x256xi32>)
      {block = [128, 128], mask = #sparse_attn.document}
      : tensor<1x4x256x64xf16>, tensor<1x4x256x64xf16>, tensor<1x4x256x64xf16>, tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
     -> tensor<1x4x256x64xf16>, tensor<1x4x256xf32>
  return %o, %lse : tensor<1x4x256x64xf16>, tensor<1x4x256xf32>
}

// PTXAS: {{ptxas assembled 4 PTX module\(s\)|ptxas not found: 4 PTX module\(s\) for sm_[0-9]+ NOT assembled}}
