// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg --canonicalize --cse | FileCheck %s

// The per-pair predicate of each mask attribute, evaluated in the masking
// generic (docs/semantics.md, "Positions and masks"). With Sq = 4 and
// Skv = 8 the bottom-right position folds to p = i + 4.

!q = tensor<1x1x4x8xf32>
!kv = tensor<1x1x8x8xf32>
!lse = tensor<1x1x4xf32>

// p - 2 <= j <= p + 1
// CHECK-LABEL: func.func @sliding_window
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK:   %[[I:.*]] = linalg.index 2 : index
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[FIRST:.*]] = arith.addi %[[I]], %c2 : index
// CHECK:   %[[LAST:.*]] = arith.addi %[[I]], %c5 : index
// CHECK:   %[[GE:.*]] = arith.cmpi sle, %[[FIRST]], %[[J]] : index
// CHECK:   %[[LE:.*]] = arith.cmpi sle, %[[J]], %[[LAST]] : index
// CHECK:   %[[IN:.*]] = arith.andi %[[GE]], %[[LE]] : i1
// CHECK:   arith.select %[[IN]]
func.func @sliding_window(%q: !q, %k: !kv, %v: !kv) -> (!q, !lse) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.sliding_window<left = 2, right = 1>} : !q, !kv, !kv -> !q, !lse
  return %o, %lse : !q, !lse
}

// j <= p and (j < 2 or p - j < 3)
// CHECK-LABEL: func.func @sink_window
// CHECK:   %[[I:.*]] = linalg.index 2 : index
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[P:.*]] = arith.addi %[[I]], %c4 : index
// CHECK:   %[[CAUSAL:.*]] = arith.cmpi sle, %[[J]], %[[P]] : index
// CHECK:   %[[SINK:.*]] = arith.cmpi slt, %[[J]], %c2 : index
// CHECK:   %[[DIST:.*]] = arith.subi %[[P]], %[[J]] : index
// CHECK:   %[[WIN:.*]] = arith.cmpi slt, %[[DIST]], %c3 : index
// CHECK:   %[[EITHER:.*]] = arith.ori %[[SINK]], %[[WIN]] : i1
// CHECK:   %[[IN:.*]] = arith.andi %[[CAUSAL]], %[[EITHER]] : i1
// CHECK:   arith.select %[[IN]]
func.func @sink_window(%q: !q, %k: !kv, %v: !kv) -> (!q, !lse) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.sink_window<sink = 2, window = 3>} : !q, !kv, !kv -> !q, !lse
  return %o, %lse : !q, !lse
}

// Document masks compare the segment ids read at (b, i) and (b, j).
// CHECK-LABEL: func.func @document
// CHECK-SAME: %[[SQ:[a-z0-9]+]]: tensor<1x4xi32>, %[[SKV:[a-z0-9]+]]: tensor<1x8xi32>
// CHECK:   %[[I:.*]] = linalg.index 2 : index
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[SEG_Q:.*]] = tensor.extract %[[SQ]][%c0, %[[I]]] : tensor<1x4xi32>
// CHECK:   %[[SEG_KV:.*]] = tensor.extract %[[SKV]][%c0, %[[J]]] : tensor<1x8xi32>
// CHECK:   %[[SAME:.*]] = arith.cmpi eq, %[[SEG_Q]], %[[SEG_KV]] : i32
// CHECK:   arith.select %[[SAME]]
func.func @document(%q: !q, %k: !kv, %v: !kv, %sq: tensor<1x4xi32>, %skv: tensor<1x8xi32>) -> (!q, !lse) {
  %o, %lse = sparse_attn.attention %q, %k, %v segment_ids(%sq, %skv : tensor<1x4xi32>, tensor<1x8xi32>) {mask = #sparse_attn.document} : !q, !kv, !kv -> !q, !lse
  return %o, %lse : !q, !lse
}

// Neighborhood on a 2x4 grid: the on-grid check, coordinates of the clamped
// position, the border-shifted window of dim 0 (window 1: begin =
// clamp(P, 0, 1)) and the dilated causal window of dim 1 (same group mod 2,
// begin = max(P - 1, 0), end = P + 1).
// CHECK-LABEL: func.func @neighborhood
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[P:.*]] = arith.addi %{{.*}}, %c4 : index
// CHECK:   %[[GE0:.*]] = arith.cmpi sge, %[[P]], %c0 : index
// CHECK:   %[[LT8:.*]] = arith.cmpi slt, %[[P]], %c8 : index
// CHECK:   %[[ON_GRID:.*]] = arith.andi %[[GE0]], %[[LT8]] : i1
// CHECK:   %[[PC0:.*]] = arith.maxsi %[[P]], %c0 : index
// CHECK:   %[[PC:.*]] = arith.minsi %[[PC0]], %c7 : index
// CHECK:   %[[ROW_DIV:.*]] = arith.divsi %[[PC]], %c4 : index
// CHECK:   %[[ROW:.*]] = arith.remsi %[[ROW_DIV]], %c2 : index
// CHECK:   %[[KEY_ROW_DIV:.*]] = arith.divsi %[[J]], %c4 : index
// CHECK:   %[[KEY_ROW:.*]] = arith.remsi %[[KEY_ROW_DIV]], %c2 : index
// CHECK:   %[[BEGIN0:.*]] = arith.maxsi %[[ROW]], %c0 : index
// CHECK:   %[[BEGIN:.*]] = arith.minsi %[[BEGIN0]], %c1 : index
// CHECK:   %[[END:.*]] = arith.addi %[[BEGIN]], %c1 : index
// CHECK:   arith.cmpi sle, %[[BEGIN]], %[[KEY_ROW]] : index
// CHECK:   arith.cmpi slt, %[[KEY_ROW]], %[[END]] : index
// CHECK:   %[[COL:.*]] = arith.remsi %[[PC]], %c4 : index
// CHECK:   %[[KEY_COL:.*]] = arith.remsi %[[J]], %c4 : index
// CHECK:   %[[GROUP:.*]] = arith.remsi %[[COL]], %c2 : index
// CHECK:   %[[MEMBER:.*]] = arith.divsi %[[COL]], %c2 : index
// CHECK:   %[[EARLIEST:.*]] = arith.subi %[[MEMBER]], %c1 : index
// CHECK:   %[[CBEGIN:.*]] = arith.maxsi %[[EARLIEST]], %c0 : index
// CHECK:   %[[CEND:.*]] = arith.addi %[[MEMBER]], %c1 : index
// CHECK:   %[[KEY_GROUP:.*]] = arith.remsi %[[KEY_COL]], %c2 : index
// CHECK:   arith.cmpi eq, %[[GROUP]], %[[KEY_GROUP]] : index
// CHECK:   %[[KEY_MEMBER:.*]] = arith.divsi %[[KEY_COL]], %c2 : index
// CHECK:   arith.cmpi sle, %[[CBEGIN]], %[[KEY_MEMBER]] : index
// CHECK:   arith.cmpi slt, %[[KEY_MEMBER]], %[[CEND]] : index
func.func @neighborhood(%q: !q, %k: !kv, %v: !kv) -> (!q, !lse) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.neighborhood<grid = [2, 4], window = [1, 2], dilation = [1, 2], causal = [false, true]>} : !q, !kv, !kv -> !q, !lse
  return %o, %lse : !q, !lse
}

// Combinators: and/or of their elements.
// CHECK-LABEL: func.func @combinators
// CHECK:   %[[I:.*]] = linalg.index 2 : index
// CHECK:   %[[J:.*]] = linalg.index 3 : index
// CHECK:   %[[P:.*]] = arith.addi %[[I]], %c4 : index
// CHECK:   %[[CAUSAL:.*]] = arith.cmpi sle, %[[J]], %[[P]] : index
// CHECK:   %[[SELF_LO:.*]] = arith.cmpi sle, %[[P]], %[[J]] : index
// CHECK:   %[[SELF:.*]] = arith.andi %[[SELF_LO]], %[[CAUSAL]] : i1
// CHECK:   %[[PREV_FIRST:.*]] = arith.addi %[[I]], %c3 : index
// CHECK:   %[[PREV_LO:.*]] = arith.cmpi sle, %[[PREV_FIRST]], %[[J]] : index
// CHECK:   %[[PREV:.*]] = arith.andi %[[PREV_LO]], %[[CAUSAL]] : i1
// CHECK:   %[[ANY:.*]] = arith.ori %[[SELF]], %[[PREV]] : i1
// CHECK:   %[[ALL:.*]] = arith.andi %[[CAUSAL]], %[[ANY]] : i1
// CHECK:   arith.select %[[ALL]]
func.func @combinators(%q: !q, %k: !kv, %v: !kv) -> (!q, !lse) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.union<[#sparse_attn.sliding_window<left = 0, right = 0>, #sparse_attn.sliding_window<left = 1, right = 0>]>]>} : !q, !kv, !kv -> !q, !lse
  return %o, %lse : !q, !lse
}

// With a dynamic key length, the grid's token count is checked at run time.
// CHECK-LABEL: func.func @neighborhood_dynamic
// CHECK: %[[SKV:.*]] = tensor.dim %arg1, %c2
// CHECK: %[[IS_GRID:.*]] = arith.cmpi eq, %[[SKV]], %c8 : index
// CHECK: cf.assert %[[IS_GRID]], "sparse_attn.attention at {{.*}}: the key length differs from the neighborhood grid's 8 tokens"
func.func @neighborhood_dynamic(%q: tensor<1x1x?x8xf32>, %k: tensor<1x1x?x8xf32>, %v: tensor<1x1x?x8xf32>) -> (tensor<1x1x?x8xf32>, tensor<1x1x?xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.neighborhood<grid = [2, 4], window = [1, 3]>} : tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32> -> tensor<1x1x?x8xf32>, tensor<1x1x?xf32>
  return %o, %lse : tensor<1x1x?x8xf32>, tensor<1x1x?xf32>
}
