// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg --canonicalize --cse | FileCheck %s

// Block lists become a membership tensor [Bl, Hl, NQ, NK]: slot t of list
// (b, h, I) names J iff t < max(num, 0) and the entry equals J, so -1 and
// out-of-range entries never match and are never used as an address. The
// masking generic reads it at (b or 0, h / (Hq / Hl), i / block_q,
// j / block_kv).

// CHECK-DAG: #[[NUM_MAP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2)>
// CHECK-DAG: #[[IDX_MAP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-LABEL: func.func @lists
// CHECK-SAME: %[[NUM:[a-z0-9]+]]: tensor<?x2x?xi32>, %[[IDX:[a-z0-9]+]]: tensor<?x2x?x3xi32>
// CHECK: cf.assert {{.*}}: block lists do not have ceil(Sq / block_q) query blocks"
// CHECK: %[[MEMBER:.*]] = linalg.generic {indexing_maps = [#[[NUM_MAP]], #[[IDX_MAP]], {{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[NUM]], %[[IDX]] : tensor<?x2x?xi32>, tensor<?x2x?x3xi32>) outs(%{{.*}} : tensor<?x2x?x?xi1>)
// CHECK:   ^bb0(%[[COUNT:.*]]: i32, %[[ENTRY:.*]]: i32, %[[OUT:.*]]: i1):
// CHECK:   %[[SLOT:.*]] = linalg.index 4 : index
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[COUNT_IDX:.*]] = arith.index_cast %[[COUNT]] : i32 to index
// CHECK:   %[[CLAMPED:.*]] = arith.maxsi %[[COUNT_IDX]], %c0 : index
// CHECK:   %[[IN_LIST:.*]] = arith.cmpi slt, %[[SLOT]], %[[CLAMPED]] : index
// CHECK:   %[[ENTRY_IDX:.*]] = arith.index_cast %[[ENTRY]] : i32 to index
// CHECK:   %[[MATCH:.*]] = arith.cmpi eq, %[[ENTRY_IDX]], %[[J]] : index
// CHECK:   %[[HIT:.*]] = arith.andi %[[IN_LIST]], %[[MATCH]] : i1
// CHECK:   arith.ori %[[OUT]], %[[HIT]] : i1
// CHECK: %[[IS_ONE:.*]] = arith.cmpi eq, %{{.*}}, %c1 : index
// CHECK: cf.assert {{.*}}: block lists' batch is neither 1 nor the batch size"
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK:   %[[B:.*]] = linalg.index 0 : index
// CHECK:   %[[H:.*]] = linalg.index 1 : index
// CHECK:   %[[I:.*]] = linalg.index 2 : index
// CHECK:   %[[JJ:.*]] = linalg.index 3 : index
// CHECK:   %[[LB:.*]] = arith.select %[[IS_ONE]], %c0, %[[B]] : index
// CHECK:   %[[LH:.*]] = arith.divui %[[H]], %c2 : index
// CHECK:   %[[QB:.*]] = arith.divui %[[I]], %c16 : index
// CHECK:   %[[KB:.*]] = arith.divui %[[JJ]], %c32 : index
// CHECK:   %[[LISTED:.*]] = tensor.extract %[[MEMBER]][%[[LB]], %[[LH]], %[[QB]], %[[KB]]] : tensor<?x2x?x?xi1>
// CHECK:   %[[ALLOWED:.*]] = arith.andi %{{.*}}, %[[LISTED]] : i1
// CHECK:   arith.select %[[ALLOWED]]
func.func @lists(%q: tensor<2x4x?x16xbf16>, %k: tensor<2x2x?x16xbf16>, %v: tensor<2x2x?x8xbf16>, %num: tensor<?x2x?xi32>, %idx: tensor<?x2x?x3xi32>) -> (tensor<2x4x?x8xbf16>, tensor<2x4x?xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [16, 32], mask = #sparse_attn.sliding_window<left = 8, right = 0>}
      : tensor<2x4x?x16xbf16>, tensor<2x2x?x16xbf16>, tensor<2x2x?x8xbf16>, tensor<?x2x?xi32>, tensor<?x2x?x3xi32> -> tensor<2x4x?x8xbf16>, tensor<2x4x?xf32>
  return %o, %lse : tensor<2x4x?x8xbf16>, tensor<2x4x?xf32>
}

// Static list batch 1: every batch reads list 0.
// CHECK-LABEL: func.func @shared_lists
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK:   tensor.extract %{{.*}}[%c0, %{{.*}}, %{{.*}}, %{{.*}}] : tensor<1x1x4x4xi1>
func.func @shared_lists(%q: tensor<2x4x64x16xf32>, %k: tensor<2x2x64x16xf32>, %v: tensor<2x2x64x16xf32>, %num: tensor<1x1x4xi32>, %idx: tensor<1x1x4x2xi32>) -> (tensor<2x4x64x16xf32>, tensor<2x4x64xf32>) {
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [16, 16]}
      : tensor<2x4x64x16xf32>, tensor<2x2x64x16xf32>, tensor<2x2x64x16xf32>, tensor<1x1x4xi32>, tensor<1x1x4x2xi32> -> tensor<2x4x64x16xf32>, tensor<2x4x64xf32>
  return %o, %lse : tensor<2x4x64x16xf32>, tensor<2x4x64xf32>
}
