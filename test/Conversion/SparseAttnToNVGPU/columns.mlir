// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a trust-column-lists=true" | FileCheck %s
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="chip=sm_90a" | FileCheck %s --check-prefix=DEFAULT
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_90a nvgpu-options={trust-column-lists=true}" -o %t.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.mlir sm_90a | FileCheck %s --check-prefix=PTXAS
// RUN: sparse-attn-opt %s --sparse-attn-to-ptx-pipeline="chip=sm_80 nvgpu-options={trust-column-lists=true}" -o %t.sm80.mlir
// RUN: %python %S/../../Pipelines/ptxas_check.py %t.sm80.mlir sm_80 | FileCheck %s --check-prefix=PTXAS
// PTXAS: {{ptxas assembled [0-9]+ PTX module\(s\)|ptxas not found: [0-9]+ PTX module\(s\) for sm_[0-9]+ NOT assembled}}

// By default only columns straight from vertical_slash (with its block
// lists) take the kernel: lists from elsewhere may repeat a column or list
// one inside a listed block, which the kernel would count twice.
// DEFAULT-LABEL: func.func @columns
// DEFAULT: = sparse_attn.block_sparse_attention
// DEFAULT-LABEL: func.func @chain
// DEFAULT: sparse_attn.vertical_slash
// DEFAULT-NOT: = sparse_attn.block_sparse_attention
// DEFAULT: sparse_attn.mma_kernel
// DEFAULT-NOT: = sparse_attn.block_sparse_attention
// DEFAULT: return

// With trust-column-lists=true, block_sparse_attention with columns(...)
// (vertical-slash) on the
// tensor-core kernel: the query tile reads its column count with its block
// count, walks its blocks' tiles and then ceil(columns / 64) tiles of
// column slots, whose K/V rows are gathered (cp.async from the key each
// slot names, zero-filled for an invalid slot) and whose pairs are masked
// one by one at those keys.
// CHECK-LABEL: func.func @columns
// CHECK: %[[COLS:.*]] = bufferization.to_buffer %arg5 read_only : tensor<1x2x4x100xi32>
// CHECK: gpu.launch
// CHECK: sparse_attn.mma_kernel = {{{.*}}mma = "wgmma"
// CHECK: memref.load %{{.*}} : memref<1x2x4xi32
// CHECK: memref.load %{{.*}} : memref<1x2x4xi32
// The walk: block tiles, then column tiles.
// CHECK: %[[CT:.*]] = arith.addi %{{.*}}, %c63{{.*}} : index
// CHECK: arith.divui %[[CT]], %c64{{.*}} : index
// CHECK: scf.for
// CHECK: %[[IS_COLUMN:.*]] = arith.cmpi sge, %{{.*}}, %{{.*}} : index
// Column tile loads: the slot's key from the column list.
// CHECK: scf.if %{{.*}} {
// CHECK: memref.load %[[COLS]]
// CHECK: nvgpu.device_async_copy
// CHECK-NOT: sparse_attn.block_sparse_attention
// CHECK: return
func.func @columns(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %n: tensor<1x2x4xi32>, %i: tensor<1x2x4x4xi32>,
                   %cn: tensor<1x2x4xi32>, %ci: tensor<1x2x4x100xi32>) -> (tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>) {
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %k, %n, %i columns(%cn, %ci : tensor<1x2x4xi32>, tensor<1x2x4x100xi32>) {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x4xi32>, tensor<1x2x4x4xi32> -> tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
  return %o, %l : tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
}

func.func @chain(%q: tensor<1x4x256x64xbf16>, %k: tensor<1x2x256x64xbf16>) -> (tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>) {
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %k {last_q = 64, vertical = 100, slash = 8, sink = 4, local = 2, block = [64, 64]}
      : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16> -> tensor<1x4x4xi32>, tensor<1x4x4x4xi32>, tensor<1x4x4xi32>, tensor<1x4x4x100xi32>
  %o, %l = sparse_attn.block_sparse_attention %q, %k, %k, %n, %i columns(%cn, %ci : tensor<1x4x4xi32>, tensor<1x4x4x100xi32>) {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x4x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x4x4xi32>, tensor<1x4x4x4xi32> -> tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
  return %o, %l : tensor<1x4x256x64xbf16>, tensor<1x4x256xf32>
}
