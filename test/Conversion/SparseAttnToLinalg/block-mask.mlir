// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg --canonicalize --cse | FileCheck %s

// block_mask at run time: an occupancy tensor [B, NQ, NK] (does the block
// pair hold an allowed pair? scan of the pairs that exist, so partial last
// blocks only see their valid rows), then per list an ascending scan that
// writes occupied blocks while they fit the capacity and counts them all.

// CHECK-LABEL: func.func @document
// CHECK-SAME: %[[SQ:[a-z0-9]+]]: tensor<?x?xi32>, %[[SKV:[a-z0-9]+]]: tensor<?x?xi32>
// CHECK-DAG: %[[PAD:.*]] = arith.constant -1 : i32
// CHECK-DAG: %[[Q_LEN:.*]] = tensor.dim %[[SQ]], %c1
// CHECK-DAG: %[[KV_LEN:.*]] = tensor.dim %[[SKV]], %c1
// CHECK: %[[NQ:.*]] = arith.ceildivsi %[[Q_LEN]], %c4 : index
// CHECK: %[[NK:.*]] = arith.ceildivsi %[[KV_LEN]], %c8 : index
// CHECK: cf.assert {{.*}}: segment ids batch sizes differ"
// CHECK: %[[OCC:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x?x?xi1>)
// CHECK:   %[[B:.*]] = linalg.index 0 : index
// CHECK:   %[[I_BLOCK:.*]] = linalg.index 1 : index
// CHECK:   %[[J_BLOCK:.*]] = linalg.index 2 : index
// CHECK:   %[[ROW0:.*]] = arith.muli %[[I_BLOCK]], %c4 : index
// CHECK:   %[[ROW1:.*]] = arith.addi %[[ROW0]], %c4 : index
// CHECK:   %[[ROW_END:.*]] = arith.minsi %[[ROW1]], %[[Q_LEN]] : index
// CHECK:   %[[COL0:.*]] = arith.muli %[[J_BLOCK]], %c8 : index
// CHECK:   %[[COL1:.*]] = arith.addi %[[COL0]], %c8 : index
// CHECK:   %[[COL_END:.*]] = arith.minsi %[[COL1]], %[[KV_LEN]] : index
// CHECK:   scf.for %[[I:.*]] = %[[ROW0]] to %[[ROW_END]]
// CHECK:     scf.for %[[J:.*]] = %[[COL0]] to %[[COL_END]]
// CHECK:       tensor.extract %[[SQ]][%[[B]], %[[I]]]
// CHECK:       tensor.extract %[[SKV]][%[[B]], %[[J]]]
// CHECK:       arith.cmpi eq
// CHECK:       arith.ori
// CHECK: %[[LISTS:.*]] = linalg.fill ins(%[[PAD]] : i32) outs(%{{.*}} : tensor<?x1x?x?xi32>)
// One forall iteration per list (b, h, I), so lists fill in parallel (on a
// GPU, one thread each); each writes its row of both results in place.
// CHECK: %[[RESULT:.*]]:2 = scf.forall (%[[LB:.*]], %[[QB:.*]]) in (%{{.*}}, %[[NQ]]) shared_outs(%[[NUMS:.*]] = %{{.*}}, %[[IDXS:.*]] = %[[LISTS]])
// CHECK:   %[[NUM_ROW:.*]] = tensor.extract_slice %[[NUMS]][%[[LB]], 0, %[[QB]]] [1, 1, 1] [1, 1, 1] : tensor<?x1x?xi32> to tensor<1xi32>
// CHECK:   %[[IDX_ROW:.*]] = tensor.extract_slice %[[IDXS]][%[[LB]], 0, %[[QB]], 0] [1, 1, 1, %{{.*}}] [1, 1, 1, 1] : tensor<?x1x?x?xi32> to tensor<?xi32>
// CHECK:   %[[SCAN:.*]]:2 = scf.for %[[KB:.*]] = %c0 to %[[NK]] step %c1 iter_args(%[[COUNT:.*]] = %c0, %[[ROW:.*]] = %[[IDX_ROW]])
// CHECK:     %[[OCCUPIED:.*]] = tensor.extract %[[OCC]][%[[LB]], %[[QB]], %[[KB]]]
// The capacity: the row's length (here NK, the dynamic capacity's extent).
// CHECK:     %[[FITS:.*]] = arith.cmpi slt, %[[COUNT]], %{{.*}} : index
// CHECK:     %[[STORE:.*]] = arith.andi %[[OCCUPIED]], %[[FITS]] : i1
// CHECK:     scf.if %[[STORE]]
// CHECK:       tensor.insert %{{.*}} into %[[ROW]][%[[COUNT]]]
// CHECK:   %[[NUM:.*]] = arith.index_cast %[[SCAN]]#0 : index to i32
// CHECK:   %[[NUM_OUT:.*]] = tensor.insert %[[NUM]] into %[[NUM_ROW]][%c0]
// CHECK:   scf.forall.in_parallel
// CHECK:     tensor.parallel_insert_slice %[[NUM_OUT]] into %[[NUMS]][%[[LB]], 0, %[[QB]]]
// CHECK:     tensor.parallel_insert_slice %[[SCAN]]#1 into %[[IDXS]][%[[LB]], 0, %[[QB]], 0]
// CHECK: return %[[RESULT]]#0, %[[RESULT]]#1
func.func @document(%sq: tensor<?x?xi32>, %skv: tensor<?x?xi32>) -> (tensor<?x1x?xi32>, tensor<?x1x?x?xi32>) {
  %num, %idx = sparse_attn.block_mask segment_ids(%sq, %skv : tensor<?x?xi32>, tensor<?x?xi32>) {mask = #sparse_attn.document, block = [4, 8]} : tensor<?x1x?xi32>, tensor<?x1x?x?xi32>
  return %num, %idx : tensor<?x1x?xi32>, tensor<?x1x?x?xi32>
}

// A structural mask has one occupancy for every batch (batch 0 is read).
// (Static shapes would fold to constants; a dynamic capacity keeps the op,
// and takes the number of kv blocks.)
// CHECK-LABEL: func.func @causal
// CHECK: %[[OCC:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x4x2xi1>)
// CHECK:   arith.cmpi sle
// CHECK: scf.forall (%{{.*}}, %{{.*}}, %[[QB:.*]]) in (2, 3, 4)
// CHECK:   scf.for %[[KB:.*]] = %c0 to %c2
// CHECK:     tensor.extract %[[OCC]][%c0, %[[QB]], %[[KB]]]
// CHECK: return {{.*}} : tensor<2x3x4xi32>, tensor<2x3x4x?xi32>
func.func @causal() -> (tensor<2x3x4xi32>, tensor<2x3x4x?xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [4, 8], q_len = 13, kv_len = 16} : tensor<2x3x4xi32>, tensor<2x3x4x?xi32>
  return %num, %idx : tensor<2x3x4xi32>, tensor<2x3x4x?xi32>
}
