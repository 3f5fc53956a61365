// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90" | FileCheck %s --check-prefix=SYNC
// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-nvgpu="chip=sm_90a decode=false" | FileCheck %s --check-prefix=NODECODE
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a" -o %t.sm90a.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm90a.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS

// Decode (issue 14): `attention` with a static query length up to 64 packs
// the query heads of each GQA group into one tile's rows (row r: head
// kvHead * group + r / Sq, query r % Sq), so a block per kv head reads its
// keys once for the group; the keys are split across blocks (about two
// waves over the chip's multiprocessors, a whole number of kv tiles each,
// chosen at run time from the batch and the key length), each writing its
// normalized part and log-sum-exp in f32; a second launch merges the parts
// by their log-sum-exps.

// Sq = 1, 32 query heads over 8 kv heads: 4 rows of a 64-row wgmma tile.
// CHECK-LABEL: func.func @decode(
// CHECK: arith.ceildivsi %c528
// CHECK: arith.ceildivsi
// CHECK: %[[SPLITS:.*]] = arith.ceildivsi
// CHECK: %[[PARTIAL:.*]] = memref.alloc(%{{.*}}, %[[SPLITS]]) : memref<?x32x?x1x128xf32>
// CHECK: %[[PLSE:.*]] = memref.alloc(%{{.*}}, %[[SPLITS]]) : memref<?x32x?x1xf32>
// CHECK: %[[BLOCKS:.*]] = arith.muli %{{.*}}, %[[SPLITS]]
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %[[BLOCKS]], %{{.*}} = %c8,
// CHECK: packed_queries = 1 :
// CHECK: arith.remui %{{.*}}, %[[SPLITS]]
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: vector.store %{{.*}}, %[[PARTIAL]]
// CHECK: memref.store %{{.*}}, %[[PLSE]]
// CHECK: gpu.terminator
// The combine: a block per (query, head, batch), a thread per value column.
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %{{.*}}, %{{.*}} = %c32{{.*}}, %{{.*}} = %{{.*}}) threads({{.*}}) in (%{{.*}} = %c128
// CHECK: scf.for
// CHECK: memref.load %[[PLSE]]
// CHECK: arith.maximumf
// CHECK: scf.for
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: memref.load %[[PARTIAL]]
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// SYNC-LABEL: func.func @decode(
// SYNC: block_q = 16 : i64, {{.*}}packed_queries = 1 :
// SYNC: nvvm.mma.sync
// NODECODE-LABEL: func.func @decode(
// NODECODE-NOT: packed_queries = 1
// NODECODE: gpu.launch
// NODECODE-NOT: gpu.launch
// NODECODE: return
func.func @decode(%q: tensor<?x32x1x128xbf16>, %k: tensor<?x8x?x128xbf16>, %v: tensor<?x8x?x128xbf16>)
    -> (tensor<?x32x1x128xbf16>, tensor<?x32x1xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v
      : tensor<?x32x1x128xbf16>, tensor<?x8x?x128xbf16>, tensor<?x8x?x128xbf16> -> tensor<?x32x1x128xbf16>, tensor<?x32x1xf32>
  return %o, %lse : tensor<?x32x1x128xbf16>, tensor<?x32x1xf32>
}

// -----

// Sq = 64 with 8 query heads per kv head: 512 packed rows, four 128-row
// tiles per kv head; causal rows keep their own positions (bottom-right).
// CHECK-LABEL: func.func @speculative(
// CHECK: gpu.launch
// CHECK: block_q = 128 : i64, {{.*}}packed_queries = 64 :
// CHECK: gpu.launch
// CHECK: return
func.func @speculative(%q: tensor<1x8x64x64xf16>, %k: tensor<1x1x?x64xf16>, %v: tensor<1x1x?x64xf16>)
    -> (tensor<1x8x64x64xf16>, tensor<1x8x64xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x8x64x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16> -> tensor<1x8x64x64xf16>, tensor<1x8x64xf32>
  return %o, %lse : tensor<1x8x64x64xf16>, tensor<1x8x64xf32>
}

// -----

// A dynamic query length or segment ids: the kernel without packing.
// CHECK-LABEL: func.func @not_decode(
// CHECK-NOT: packed_queries = {{[1-9]}}
// CHECK: return
func.func @not_decode(%q: tensor<1x8x?x64xf16>, %k: tensor<1x1x?x64xf16>, %v: tensor<1x1x?x64xf16>)
    -> (tensor<1x8x?x64xf16>, tensor<1x8x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x8x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16> -> tensor<1x8x?x64xf16>, tensor<1x8x?xf32>
  return %o, %lse : tensor<1x8x?x64xf16>, tensor<1x8x?xf32>
}

// PTXAS: {{ptxas assembled 5 PTX module\(s\)|ptxas not found: 5 PTX module\(s\) for sm_[0-9]+ NOT assembled}}
