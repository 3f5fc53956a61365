// RUN: sparse-attn-opt %s --sparse-attn-linalg-to-gpu-loops --canonicalize | FileCheck %s

// Outside a kernel's forall a linalg op becomes parallel loops over its
// parallel dims (a kernel of its own), reductions sequential inside; inside
// one it becomes sequential loops (the thread block's own work); memref.copy
// becomes loops too.

// CHECK-LABEL: func.func @outside
// CHECK: scf.parallel (%[[I:.*]], %[[J:.*]]) = (%c0, %c0) to (%{{.*}}, %c8) step (%c1, %c1)
// CHECK:   memref.store %{{.*}}, %{{.*}}[%[[I]], %[[J]]] : memref<?x8xf32>
// CHECK: scf.parallel (%[[I2:.*]]) = (%c0) to (%{{.*}}) step (%c1)
// CHECK:   scf.for %[[J2:.*]] = %c0 to %c8 step %c1
// CHECK-NOT: memref.copy
func.func @outside(%a: memref<?x8xf32>, %b: memref<?xf32>, %c: memref<?x8xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%a : memref<?x8xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%a : memref<?x8xf32>) outs(%b : memref<?xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %acc, %x : f32
    linalg.yield %s : f32
  }
  memref.copy %a, %c : memref<?x8xf32> to memref<?x8xf32>
  return
}

// CHECK-LABEL: func.func @inside
// CHECK: scf.forall
// CHECK-NOT: scf.parallel
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       memref.store
func.func @inside(%a: memref<4x16x8xf32>) {
  %zero = arith.constant 0.0 : f32
  scf.forall (%t) in (4) {
    %tile = memref.subview %a[%t, 0, 0] [1, 16, 8] [1, 1, 1] : memref<4x16x8xf32> to memref<16x8xf32, strided<[8, 1], offset: ?>>
    linalg.fill ins(%zero : f32) outs(%tile : memref<16x8xf32, strided<[8, 1], offset: ?>>)
  }
  return
}
