// RUN: sparse-attn-opt %s --sparse-attn-to-llvm-cpu-pipeline | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-llvm-cpu-pipeline | FileCheck %s --check-prefix=MATH

// The host pipeline leaves only the LLVM dialect: functions take and
// return memref descriptors, with the C interface when asked for, and a
// failed run-time shape check prints its message and aborts.

// CHECK-NOT: sparse_attn.
// CHECK-NOT: linalg.
// CHECK-NOT: tensor.
// CHECK-DAG: llvm.func @abort()
// CHECK-DAG: llvm.func @puts(!llvm.ptr)
// CHECK-DAG: llvm.func @malloc(i64) -> !llvm.ptr
// CHECK-DAG: llvm.mlir.global private constant @assert_msg{{.*}} : !llvm.array<{{[0-9]+}} x i8>
// CHECK-LABEL: llvm.func @attention(
// CHECK-SAME: -> !llvm.struct<(struct<(ptr, ptr, i64, array<4 x i64>, array<4 x i64>)>, struct<(ptr, ptr, i64, array<3 x i64>, array<3 x i64>)>)>
// CHECK: llvm.call @puts
// CHECK: llvm.call @abort()
// MATH-LABEL: llvm.func @attention(
// MATH-DAG: llvm.intr.exp
// MATH-DAG: llvm.intr.log
// MATH-LABEL: llvm.func @_mlir_ciface_attention(
// CHECK-LABEL: llvm.func @_mlir_ciface_attention(
func.func @attention(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>, %v: tensor<?x2x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) attributes {llvm.emit_c_interface} {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}

// Every example-shaped op lowers: lists, indexers, token attention.
// CHECK-LABEL: llvm.func @nsa_selection(
func.func @nsa_selection(%k: tensor<1x2x4096x64xbf16>, %qp: tensor<1x8x64x64xf32>) -> (tensor<1x2x64xi32>, tensor<1x2x64x11xi32>) {
  %kp = sparse_attn.pool mean %k {block = 64} : tensor<1x2x4096x64xbf16> -> tensor<1x2x64x64xf32>
  %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 4096, kv_len = 4096}
      : tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  %num, %idx = sparse_attn.select_topk %s {k = 8, sink = 1, local = 2}
      : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x11xi32>
  return %num, %idx : tensor<1x2x64xi32>, tensor<1x2x64x11xi32>
}
