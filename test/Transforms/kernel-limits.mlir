// RUN: sparse-attn-opt %s --sparse-attn-kernel-limits | FileCheck %s
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="blocks-per-sm=3" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="block-q=65 block-kv=0" 2>&1 | FileCheck %s --check-prefix=NUMBERS

// BAD: error: convert-sparse-attn-to-nvgpu: blocks-per-sm must be 0 (the kernel's choice), 1 or 2 (got 3)
// Option values are printed as numbers.
// NUMBERS: error: convert-sparse-attn-to-nvgpu: block-q must be 16, 32, 64 or 128, block-kv 16, 32, 64 (or 128 on sm_90a), stages 1 or 2 (got block-q = 65, block-kv = 0, stages = 2)

// The register cap recorded inside an outlined tensor-core kernel becomes
// the kernel's nvvm.maxnreg (the smallest of several), the configuration
// moves onto the gpu.func, and the markers go; kernels without them are
// left alone.
// CHECK-LABEL: gpu.module @kernels
// CHECK: gpu.func @capped() kernel attributes {nvvm.maxnreg = 96 : i32, sparse_attn.mma_kernel = {block_q = 128 : i64, mma = "wgmma"}}
// CHECK-NOT: sparse_attn.max_registers
// CHECK-NOT: sparse_attn.mma_kernel
// CHECK: gpu.func @free() kernel {
// CHECK-NOT: nvvm.maxnreg
// CHECK-NOT: sparse_attn.mma_kernel
gpu.module @kernels {
  gpu.func @capped() kernel {
    %0 = gpu.dynamic_shared_memory {sparse_attn.max_registers = 128 : i32, sparse_attn.mma_kernel = {block_q = 128 : i64, mma = "wgmma"}} : memref<?xi8, #gpu.address_space<workgroup>>
    %1 = gpu.dynamic_shared_memory {sparse_attn.max_registers = 96 : i32} : memref<?xi8, #gpu.address_space<workgroup>>
    gpu.return
  }
  gpu.func @free() kernel {
    %0 = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    gpu.return
  }
}

// (A host function, so that the function pass in the BAD run runs.)
func.func @host() {
  return
}
