// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg --canonicalize --cse | FileCheck %s
// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg="runtime-checks=false" | FileCheck %s --check-prefix=NOCHECK

// Scores with GQA (kv head = h floordiv 4), f32 accumulation of bf16
// products, masking to -inf, row max, exp-sum, weighted values, and the
// empty-row rules of docs/semantics.md.

// CHECK-DAG: #[[Q:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[K:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 4, d3, d4)>
// CHECK-DAG: #[[V:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 4, d4, d3)>
// CHECK-LABEL: func.func @causal_gqa
// CHECK-SAME: %[[Q_ARG:.*]]: tensor<1x8x16x32xbf16>, %[[K_ARG:.*]]: tensor<1x2x16x32xbf16>, %[[V_ARG:.*]]: tensor<1x2x16x64xbf16>
// CHECK-DAG: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 0.176776{{[0-9]*}} : f32
// CHECK-NOT: cf.assert
// CHECK: %[[DOTS:.*]] = linalg.generic {indexing_maps = [#[[Q]], #[[K]], {{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[Q_ARG]], %[[K_ARG]] : tensor<1x8x16x32xbf16>, tensor<1x2x16x32xbf16>) outs({{.*}} : tensor<1x8x16x16xf32>)
// CHECK:   arith.extf {{.*}} : bf16 to f32
// CHECK:   arith.mulf
// CHECK:   arith.addf
// CHECK: %[[MASKED:.*]]:2 = linalg.generic {{.*}} outs(%[[DOTS]], %{{.*}} : tensor<1x8x16x16xf32>, tensor<1x8x16x16xi1>)
// CHECK:   %[[I:.*]] = linalg.index 2 : index
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[ALLOWED:.*]] = arith.cmpi sle, %[[J]], %[[I]] : index
// CHECK:   %[[SCALED:.*]] = arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK:   %[[SCORE:.*]] = arith.select %[[ALLOWED]], %[[SCALED]], %[[NEG_INF]] : f32
// CHECK:   linalg.yield %[[SCORE]], %[[ALLOWED]] : f32, i1
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[MASKED]]#0 : tensor<1x8x16x16xf32>)
// CHECK:   arith.maximumf
// CHECK: %[[PROBS:.*]] = linalg.generic {{.*}} ins(%[[MAX]] : tensor<1x8x16xf32>) outs(%[[MASKED]]#0 : tensor<1x8x16x16xf32>)
// CHECK:   %[[EMPTY_ROW:.*]] = arith.cmpf oeq, %{{.*}}, %[[NEG_INF]] : f32
// CHECK:   math.exp
// CHECK:   arith.select %[[EMPTY_ROW]]
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[PROBS]] : tensor<1x8x16x16xf32>)
// Only allowed keys enter the weighted sum (no 0 * NaN from masked rows of v).
// CHECK: %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[Q]], #[[Q]], #[[V]], {{.*}}], {{.*}} ins(%[[PROBS]], %[[MASKED]]#1, %[[V_ARG]] : tensor<1x8x16x16xf32>, tensor<1x8x16x16xi1>, tensor<1x2x16x64xbf16>)
// CHECK:   ^bb0(%{{.*}}: f32, %[[KEEP:.*]]: i1, %{{.*}}: bf16, %[[ACC_IN:.*]]: f32):
// CHECK:   %[[NEXT:.*]] = arith.addf %[[ACC_IN]], %{{.*}} : f32
// CHECK:   arith.select %[[KEEP]], %[[NEXT]], %[[ACC_IN]] : f32
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[ACC]], %[[MAX]], %[[SUM]] : {{.*}}) outs(%{{.*}} : tensor<1x8x16x64xbf16>)
// CHECK:   arith.divf
// CHECK:   arith.truncf {{.*}} : f32 to bf16
// CHECK: %[[LSE:.*]] = linalg.generic {{.*}} ins(%[[MAX]], %[[SUM]] : tensor<1x8x16xf32>, tensor<1x8x16xf32>)
// CHECK:   math.log
// CHECK: return %[[OUT]], %[[LSE]]
func.func @causal_gqa(%q: tensor<1x8x16x32xbf16>, %k: tensor<1x2x16x32xbf16>, %v: tensor<1x2x16x64xbf16>) -> (tensor<1x8x16x64xbf16>, tensor<1x8x16xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x8x16x32xbf16>, tensor<1x2x16x32xbf16>, tensor<1x2x16x64xbf16> -> tensor<1x8x16x64xbf16>, tensor<1x8x16xf32>
  return %o, %lse : tensor<1x8x16x64xbf16>, tensor<1x8x16xf32>
}

// Dynamic dims are read with tensor.dim; the rules the verifier could not
// check become asserts. Bottom-right alignment: p = i + (Skv - Sq).
// CHECK-LABEL: func.func @dynamic
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK: %[[QB:.*]] = tensor.dim %arg0, %[[C0]]
// CHECK: %[[KB:.*]] = tensor.dim %arg1, %[[C0]]
// CHECK: %[[SAME_B:.*]] = arith.cmpi eq, %[[KB]], %[[QB]] : index
// CHECK: cf.assert %[[SAME_B]], "sparse_attn.attention at {{.*}}attention.mlir:{{[0-9]+}}:{{[0-9]+}}: the batch sizes of q, k, v (and segment ids) differ"
// CHECK: %[[SQ:.*]] = tensor.dim %arg0, %[[C2]]
// CHECK: %[[SKV:.*]] = tensor.dim %arg1, %[[C2]]
// CHECK: cf.assert {{.*}} "sparse_attn.attention at {{.*}}: the key lengths of k, v (and segment ids) differ"
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK:   %[[I:.*]] = linalg.index 2 : index
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[OFFSET:.*]] = arith.subi %[[SKV]], %[[SQ]] : index
// CHECK:   %[[P:.*]] = arith.addi %[[I]], %[[OFFSET]] : index
// CHECK:   arith.cmpi sle, %[[J]], %[[P]] : index
// CHECK: return {{.*}} : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
// NOCHECK-LABEL: func.func @dynamic
// NOCHECK-NOT: cf.assert
// NOCHECK: return
func.func @dynamic(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>, %v: tensor<?x4x?x16xf32>) -> (tensor<?x4x?x16xf32>, tensor<?x4x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal, scale = 0.5 : f32}
      : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32> -> tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x16xf32>, tensor<?x4x?xf32>
}

// A static result dim over a dynamic operand dim is checked, then cast.
// CHECK-LABEL: func.func @static_result
// CHECK: cf.assert {{.*}}: output shape dim 2"
// CHECK: cf.assert {{.*}}: lse shape dim 2"
func.func @static_result(%q: tensor<1x1x?x8xf32>, %k: tensor<1x1x?x8xf32>, %v: tensor<1x1x?x8xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v
      : tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32> -> tensor<1x1x4x8xf32>, tensor<1x1x4xf32>
  return %o, %lse : tensor<1x1x4x8xf32>, tensor<1x1x4xf32>
}

// mask_mod and score_mod are inlined into the masking generic: the
// mask_mod's i1 joins the mask, the score_mod rewrites the scaled score.
// CHECK-LABEL: func.func @mods
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK:   %[[I:.*]] = linalg.index 2 : index
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[NE:.*]] = arith.cmpi ne, %[[I]], %[[J]] : index
// CHECK:   %[[SCALED:.*]] = arith.mulf
// CHECK:   %[[DIV:.*]] = arith.divf %[[SCALED]], %{{.*}} : f32
// CHECK:   %[[TANH:.*]] = math.tanh %[[DIV]] : f32
// CHECK:   %[[CAPPED:.*]] = arith.mulf %[[TANH]], %{{.*}} : f32
// CHECK:   arith.select %[[NE]], %[[CAPPED]], %{{.*}} : f32
// CHECK-NOT: sparse_attn
func.func @mods(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %ne = arith.cmpi ne, %i, %j : index
    sparse_attn.yield %ne : i1
  } score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %cap = arith.constant 30.0 : f32
    %d = arith.divf %s, %cap : f32
    %t = math.tanh %d : f32
    %r = arith.mulf %t, %cap : f32
    sparse_attn.yield %r : f32
  } : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
  return %o, %lse : tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
}
