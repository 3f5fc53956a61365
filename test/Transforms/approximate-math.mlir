// RUN: sparse-attn-opt %s --sparse-attn-approximate-math | FileCheck %s

// exp, log and tanh become arith-only polynomials, and the fma, floor and
// absf they use become arith: no math op (no libdevice call) is left.

// CHECK-LABEL: func.func @functions
// CHECK-NOT: math.
// CHECK: arith.mulf
// CHECK: return
func.func @functions(%x: f32) -> (f32, f32, f32) {
  %e = math.exp %x : f32
  %l = math.log %x : f32
  %t = math.tanh %x : f32
  return %e, %l, %t : f32, f32, f32
}

// floor through i32 with |x| >= 2^23, inf and NaN passing through; absf by
// clearing the sign bit.
// CHECK-LABEL: func.func @pieces
// CHECK-DAG: %[[TRUNC:.*]] = arith.fptosi %{{.*}} : f32 to i32
// CHECK-DAG: arith.constant 1258291200 : i32
// CHECK-DAG: arith.constant 2147483647 : i32
// CHECK-NOT: math.
func.func @pieces(%x: f32) -> (f32, f32) {
  %f = math.floor %x : f32
  %a = math.absf %x : f32
  return %f, %a : f32, f32
}
