// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS

// block_mask on the GPU (issue 14): a block_mask with segment ids (lengths
// known at run time only; it cannot fold) becomes the segment-bounds launch
// and one warp per (query block, batch). Each lane takes a kv block per
// round of 32: the mask's tile tests decide it (here causal's and the
// document's, by the ids of the block's first and last key when the key
// ids are sorted), or the whole warp scans its pairs (the undecided blocks
// one at a time, 32 pairs a step, column by column) until an allowed and an
// excluded one are seen; a ballot ranks the round's partial and full blocks
// and the lanes write them in ascending order, then the counts and -1 past
// them.
// CHECK-LABEL: func.func @document_causal(
// CHECK: memref.alloc({{.*}}) : memref<2x1x?xi32>
// CHECK: memref.alloc({{.*}}) : memref<2x1x?x?xi32>
// CHECK: gpu.launch
// CHECK: memref.atomic_rmw mins
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads({{.*}}) in (%{{.*}} = %c32,
// CHECK: nvvm.vote.sync  ballot
// CHECK: scf.for
// CHECK: nvvm.vote.sync  ballot
// CHECK: scf.while
// CHECK: gpu.shuffle  idx
// CHECK: scf.while
// CHECK: nvvm.vote.sync  ballot
// CHECK: nvvm.vote.sync  ballot
// CHECK: llvm.intr.ctpop
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor
// CHECK-NOT: sparse_attn.block_mask
func.func @document_causal(%sq: tensor<2x?xi32>, %skv: tensor<2x?xi32>)
    -> (tensor<2x1x?xi32>, tensor<2x1x?x?xi32>, tensor<2x1x?xi32>, tensor<2x1x?x?xi32>) {
  %n, %i, %fn, %fi = sparse_attn.block_mask segment_ids(%sq, %skv : tensor<2x?xi32>, tensor<2x?xi32>)
      {block = [128, 128], mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>}
      : tensor<2x1x?xi32>, tensor<2x1x?x?xi32>, tensor<2x1x?xi32>, tensor<2x1x?x?xi32>
  return %n, %i, %fn, %fi : tensor<2x1x?xi32>, tensor<2x1x?x?xi32>, tensor<2x1x?xi32>, tensor<2x1x?x?xi32>
}

// -----

// Static lengths without segment ids fold to constants: left alone.
// CHECK-LABEL: func.func @structural(
// CHECK: sparse_attn.block_mask
// CHECK-NOT: gpu.launch
func.func @structural() -> (tensor<1x1x4xi32>, tensor<1x1x4x4xi32>) {
  %n, %i = sparse_attn.block_mask {block = [128, 128], mask = #sparse_attn.causal, q_len = 512, kv_len = 512}
      : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  return %n, %i : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
}

// PTXAS: {{ptxas assembled 2 PTX module\(s\)|ptxas not found: 2 PTX module\(s\) for sm_[0-9]+ NOT assembled}}
