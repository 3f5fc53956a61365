// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu | FileCheck %s
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s --check-prefix=WGMMA
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a items-per-block=2" | FileCheck %s --check-prefix=ITEMS
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a items-per-block=9" 2>&1 | FileCheck %s --check-prefix=BADITEMS

// BADITEMS: error: convert-sparse-attn-to-nvgpu: items-per-block must be 1 to 8 (got 9)

// Two query tiles per thread block: half the blocks along x (ceil(4 / 2)),
// a second Q buffer (the D = 64 wgmma kernel's 82944 bytes of tiles plus
// 16384, then 8 bytes of counts), a loop over the block's two items, each
// item's Q and first kv tile issued under a condition (by the previous
// item's last kv tile, or at its start).
// ITEMS-LABEL: func.func @full_lists(
// ITEMS: arith.addi %c99336
// ITEMS: %[[BLOCKS:.*]] = arith.ceildivsi %{{.*}}, %c2{{.*}} : index
// ITEMS: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]],
// ITEMS: scf.for %{{.*}} = %c0{{.*}} to %c2{{.*}} step %c1{{.*}} iter_args(
// ITEMS: nvgpu.device_async_copy
// ITEMS: scf.for
// ITEMS: } else {
// ITEMS: nvgpu.device_async_copy
// ITEMS: items_per_block = 2 : i64, mma = "wgmma"

// block_sparse_attention with full(...) lists: the kernel reads both count
// tensors, builds one list in shared memory (full blocks first, then the
// first pair; [kept, kept full] before it), counts the kept full blocks with
// a second ballot, and lets a tile of a full block skip the mask and the
// mask_mod. Shared memory: the tiles, 8 bytes of counts, 4 bytes per entry
// of both capacities.

// CHECK-LABEL: func.func @full_lists(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x4x512x64xbf16>
// CHECK: %[[FNUM:.+]] = bufferization.to_buffer %{{.*}} : tensor<1x1x4xi32>
// CHECK: %[[FIDX:.+]] = bufferization.to_buffer %{{.*}} : tensor<1x1x4x3xi32>
// CHECK: %[[ENTRIES:.+]] = arith.addi %c2, %c3 : index
// CHECK: %[[ENTRY_BYTES:.+]] = arith.muli %[[ENTRIES]], %{{.*}} : index
// CHECK: %[[BYTES:.+]] = arith.addi %c55304, %[[ENTRY_BYTES]] : index
// CHECK: arith.cmpi sle, %[[BYTES]], %c232448 : index
// CHECK: gpu.launch
// CHECK-SAME: dynamic_shared_memory_size
// The counts: [kept, kept full].
// CHECK: memref.view %{{.*}}[%c55296][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<2xi32, #gpu.address_space<workgroup>>
// CHECK: memref.load %[[FNUM]]
// CHECK: memref.load %[[FIDX]]
// CHECK: nvvm.vote.sync ballot
// CHECK: nvvm.vote.sync ballot
// CHECK: memref.store %{{.*}}, %{{.*}}[%c1{{.*}}] : memref<2xi32, #gpu.address_space<workgroup>>
// CHECK: gpu.terminator

// WGMMA-LABEL: func.func @full_lists(
// WGMMA: memref<2xi32, #gpu.address_space<workgroup>>
// WGMMA: nvvm.vote.sync ballot
// WGMMA: nvvm.vote.sync ballot
// WGMMA: wgmma.mma_async
// WGMMA: mma = "wgmma"
func.func @full_lists(%q: tensor<1x4x512x64xbf16>, %k: tensor<1x2x512x64xbf16>, %v: tensor<1x2x512x64xbf16>,
                      %num: tensor<1x1x4xi32>, %idx: tensor<1x1x4x2xi32>,
                      %fnum: tensor<1x1x4xi32>, %fidx: tensor<1x1x4x3xi32>)
    -> (tensor<1x4x512x64xbf16>, tensor<1x4x512xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx
      full(%fnum, %fidx : tensor<1x1x4xi32>, tensor<1x1x4x3xi32>)
      {block = [128, 128], mask = #sparse_attn.causal} mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c3 = arith.constant 3 : index
    %r = arith.remui %j, %c3 : index
    %c0 = arith.constant 0 : index
    %keep = arith.cmpi ne, %r, %c0 : index
    sparse_attn.yield %keep : i1
  }
      : tensor<1x4x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x1x4xi32>, tensor<1x1x4x2xi32>
     -> tensor<1x4x512x64xbf16>, tensor<1x4x512xf32>
  return %o, %lse : tensor<1x4x512x64xbf16>, tensor<1x4x512xf32>
}
