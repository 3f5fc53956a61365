// RUN: sparse-attn-opt %s --sparse-attn-kernel-limits | FileCheck %s
// RUN: not sparse-attn-opt %s --convert-sparse-attn-to-nvgpu="blocks-per-sm=3" 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: error: convert-sparse-attn-to-nvgpu: blocks-per-sm must be 0 (the kernel's choice), 1 or 2 (got 3)

// The register cap recorded inside an outlined tensor-core kernel becomes
// the kernel's nvvm.maxnreg (the smallest of several), and the marker goes;
// kernels without one are left alone.
// CHECK-LABEL: gpu.module @kernels
// CHECK: gpu.func @capped() kernel attributes {nvvm.maxnreg = 96 : i32}
// CHECK-NOT: sparse_attn.max_registers
// CHECK: gpu.func @free() kernel {
// CHECK-NOT: nvvm.maxnreg
gpu.module @kernels {
  gpu.func @capped() kernel {
    %0 = gpu.dynamic_shared_memory {sparse_attn.max_registers = 128 : i32} : memref<?xi8, #gpu.address_space<workgroup>>
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
