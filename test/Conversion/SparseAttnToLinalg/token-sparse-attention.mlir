// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg --canonicalize --cse | FileCheck %s

// Token lists are gathered: a slot is valid iff 0 <= x < Skv, and k/v are
// read only under an scf.if on that condition, so -1 and out-of-range
// entries are never dereferenced. Invalid slots score -inf.

// CHECK-LABEL: func.func @tokens
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<?x4x?x16xf16>, %[[K:[a-z0-9]+]]: tensor<?x2x?x16xf16>, %[[V:[a-z0-9]+]]: tensor<?x2x?x8xf16>, %[[T:[a-z0-9]+]]: tensor<?x?x5xi32>
// CHECK: %[[SKV:.*]] = tensor.dim %[[K]], %c2
// CHECK: cf.assert {{.*}} "sparse_attn.token_sparse_attention at {{.*}}: token_indices batch differs from the query batch"
// CHECK: cf.assert {{.*}} "sparse_attn.token_sparse_attention at {{.*}}: token_indices length differs from the query length"
// CHECK: %[[DOTS:.*]] = linalg.generic {{.*}} ins(%[[Q]], %[[T]] : tensor<?x4x?x16xf16>, tensor<?x?x5xi32>)
// CHECK:   ^bb0(%[[QE:.*]]: f16, %[[ENTRY:.*]]: i32, %[[ACC:.*]]: f32):
// CHECK:   %[[POS:.*]] = arith.index_cast %[[ENTRY]] : i32 to index
// CHECK:   %[[GE:.*]] = arith.cmpi sge, %[[POS]], %c0 : index
// CHECK:   %[[LT:.*]] = arith.cmpi slt, %[[POS]], %[[SKV]] : index
// CHECK:   %[[VALID:.*]] = arith.andi %[[GE]], %[[LT]] : i1
// CHECK:   %[[KV_HEAD:.*]] = arith.divui %{{.*}}, %c2 : index
// CHECK:   %[[KE:.*]] = scf.if %[[VALID]] -> (f16) {
// CHECK:     %[[READ:.*]] = tensor.extract %[[K]][%{{.*}}, %[[KV_HEAD]], %[[POS]], %{{.*}}] : tensor<?x2x?x16xf16>
// CHECK:     scf.yield %[[READ]] : f16
// CHECK:   } else {
// CHECK:     scf.yield %{{.*}} : f16
// CHECK:   }
// CHECK: %[[SCORES:.*]] = linalg.generic {{.*}} ins(%[[T]] : tensor<?x?x5xi32>) outs(%[[DOTS]] : tensor<?x4x?x5xf32>)
// CHECK:   arith.select %{{.*}}, %{{.*}}, %cst{{.*}} : f32
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[T]] : tensor<?x4x?x5xf32>, tensor<?x?x5xi32>)
// CHECK:   scf.if %{{.*}} -> (f16) {
// CHECK:     tensor.extract %[[V]]
// CHECK: return {{.*}} : tensor<?x4x?x8xf16>, tensor<?x4x?xf32>
func.func @tokens(%q: tensor<?x4x?x16xf16>, %k: tensor<?x2x?x16xf16>, %v: tensor<?x2x?x8xf16>, %t: tensor<?x?x5xi32>) -> (tensor<?x4x?x8xf16>, tensor<?x4x?xf32>) {
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %t
      : tensor<?x4x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x8xf16>, tensor<?x?x5xi32> -> tensor<?x4x?x8xf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf16>, tensor<?x4x?xf32>
}
