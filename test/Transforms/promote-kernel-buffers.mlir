// RUN: sparse-attn-opt %s --sparse-attn-promote-kernel-buffers | FileCheck %s

// Static buffers of a kernel become one alloca at the top of the launch
// body (even when allocated inside a loop), their deallocs go away; dynamic
// ones and host buffers stay.

// CHECK-LABEL: func.func @kernel_buffers
// CHECK: %[[HOST:.*]] = memref.alloc() : memref<4xf32>
// CHECK: gpu.launch
// CHECK-NEXT: %[[TILE:.*]] = memref.alloca() {alignment = 64 : i64} : memref<16x16xf32>
// CHECK-NEXT: %[[ROW:.*]] = memref.alloca() : memref<16xf32>
// CHECK: memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: scf.for
// CHECK-NOT: memref.alloc()
// CHECK: memref.store %{{.*}}, %[[TILE]]
// CHECK-NOT: memref.dealloc %[[TILE]]
// CHECK: gpu.terminator
// CHECK: memref.dealloc %[[HOST]]
func.func @kernel_buffers(%n: index, %x: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %host = memref.alloc() : memref<4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %row = memref.alloc() : memref<16xf32>
    %dynamic = memref.alloc(%n) : memref<?xf32>
    scf.for %i = %c0 to %n step %c1 {
      %tile = memref.alloc() {alignment = 64 : i64} : memref<16x16xf32>
      memref.store %x, %tile[%c0, %c0] : memref<16x16xf32>
      memref.dealloc %tile : memref<16x16xf32>
    }
    memref.store %x, %row[%c0] : memref<16xf32>
    memref.dealloc %row : memref<16xf32>
    memref.dealloc %dynamic : memref<?xf32>
    gpu.terminator
  }
  memref.dealloc %host : memref<4xf32>
  return
}
