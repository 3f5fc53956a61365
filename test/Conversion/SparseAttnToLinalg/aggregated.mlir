// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg | FileCheck %s
// RUN: sparse-attn-opt %s --sparse-attn-to-llvm-cpu-pipeline | FileCheck %s --check-prefix=CPU

// Attention as frontends write it (linalg.softmax between the products)
// reaches the CPU pipeline's loops: linalg.softmax is decomposed into its
// max, exp-sum and division; linalg.transpose lowers as a structured op.
// CHECK-LABEL: func.func @softmax(
// CHECK-NOT: linalg.softmax
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.maxnumf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: linalg.transpose
// CPU-NOT: linalg.
// CPU-NOT: unrealized_conversion_cast
// CPU: llvm.func @softmax(
func.func @softmax(%s: tensor<2x4x8xf32>, %y: tensor<8x2xf32>) -> (tensor<2x4x8xf32>, tensor<2x8xf32>) {
  %e = tensor.empty() : tensor<2x4x8xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<2x4x8xf32>) outs(%e : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %e2 = tensor.empty() : tensor<2x8xf32>
  %t = linalg.transpose ins(%y : tensor<8x2xf32>) outs(%e2 : tensor<2x8xf32>) permutation = [1, 0]
  return %p, %t : tensor<2x4x8xf32>, tensor<2x8xf32>
}
