// RUN: sparse-attn-opt %s --convert-sparse-attn-to-linalg --canonicalize --cse | FileCheck %s

// Maps of the block_scores case below (maps print at the top).
// CHECK-DAG: #[[GROUPED:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d5)>
// CHECK-DAG: #[[KEYS:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1 + d2 floordiv 2, d4, d5)>
// CHECK-DAG: #[[SHARED_OCC:.*]] = affine_map<(d0, d1, d2, d3) -> (0, d2, d3)>

// pool: each output row reduces the rows of its block that exist, so the
// partial last block divides by its own count.
// CHECK-LABEL: func.func @pool_mean
// CHECK-DAG: %[[S:.*]] = tensor.dim %arg0, %c2
// CHECK: %[[NB:.*]] = arith.ceildivsi %[[S]], %c4 : index
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x2x?x8xf32>)
// CHECK:   %[[J:.*]] = linalg.index 2 : index
// CHECK:   %[[BEGIN:.*]] = arith.muli %[[J]], %c4 : index
// CHECK:   %[[NEXT:.*]] = arith.addi %[[BEGIN]], %c4 : index
// CHECK:   %[[END:.*]] = arith.minsi %[[NEXT]], %[[S]] : index
// CHECK:   %[[SUM:.*]] = scf.for %{{.*}} = %[[BEGIN]] to %[[END]] step %c1 iter_args(%{{.*}} = %cst) -> (f32)
// CHECK:     arith.extf %{{.*}} : bf16 to f32
// CHECK:     arith.addf
// CHECK:   %[[COUNT:.*]] = arith.subi %[[END]], %[[BEGIN]] : index
// CHECK:   %[[COUNT_I64:.*]] = arith.index_cast %[[COUNT]] : index to i64
// CHECK:   %[[COUNT_F:.*]] = arith.uitofp %[[COUNT_I64]] : i64 to f32
// CHECK:   arith.divf %[[SUM]], %[[COUNT_F]] : f32
func.func @pool_mean(%x: tensor<?x2x?x8xbf16>) -> tensor<?x2x?x8xf32> {
  %p = sparse_attn.pool mean %x {block = 4} : tensor<?x2x?x8xbf16> -> tensor<?x2x?x8xf32>
  return %p : tensor<?x2x?x8xf32>
}

// CHECK-LABEL: func.func @pool_max
// CHECK:   scf.for {{.*}} iter_args(%{{.*}} = %cst) -> (f32)
// CHECK:     arith.maximumf
// CHECK-NOT: arith.divf
// CHECK: return
func.func @pool_max(%x: tensor<1x1x10x4xf32>) -> tensor<1x1x3x4xf32> {
  %p = sparse_attn.pool max %x {block = 4} : tensor<1x1x10x4xf32> -> tensor<1x1x3x4xf32>
  return %p : tensor<1x1x3x4xf32>
}

// block_scores with Hkv result heads: q heads are grouped by expand_shape,
// a group's dot products are summed, scaled, and -inf where the causal mask
// leaves the block pair empty (occupancy of the 12 x 12 pairs).
// CHECK-LABEL: func.func @scores
// CHECK-DAG: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 0.353553385 : f32
// CHECK: %[[OCC:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x3x3xi1>)
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       arith.cmpi sle
// CHECK: %[[GROUPS:.*]] = tensor.expand_shape %arg0 {{\[}}[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 3, 8] : tensor<1x4x3x8xf32> into tensor<1x2x2x3x8xf32>
// CHECK: %[[DOTS:.*]] = linalg.generic {indexing_maps = [#[[GROUPED]], #[[KEYS]], {{.*}}], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel", "reduction"]} ins(%[[GROUPS]], %arg1
// CHECK: linalg.generic {indexing_maps = [{{.*}}, #[[SHARED_OCC]], {{.*}}]{{.*}} ins(%[[DOTS]], %[[OCC]] : tensor<1x2x3x3xf32>, tensor<1x3x3xi1>)
// CHECK:   ^bb0(%[[DOT:.*]]: f32, %[[OCCUPIED:.*]]: i1, %{{.*}}: f32):
// CHECK:   %[[SCALED:.*]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
// CHECK:   arith.select %[[OCCUPIED]], %[[SCALED]], %[[NEG_INF]] : f32
func.func @scores(%qp: tensor<1x4x3x8xf32>, %kp: tensor<1x2x3x8xf32>) -> tensor<1x2x3x3xf32> {
  %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [4, 4], q_len = 12, kv_len = 12} : tensor<1x4x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x3xf32>
  return %s : tensor<1x2x3x3xf32>
}

// select_topk, per row (one forall iteration each, writing its rows of the
// results in place, with no scratch memory): the end of the `sink` first
// selectable blocks and the begin of the `local` last ones by counting
// scans, then k rounds each finding the best selectable block after the
// previous round's pick in the order (score desc, index asc), then one
// ascending scan emitting sink, local and everything up to the last pick.
// CHECK-LABEL: func.func @topk
// CHECK-DAG: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[NK:.*]] = tensor.dim %arg0, %c3
// CHECK: %[[PADDED:.*]] = linalg.fill ins(%c-1_i32 : i32) outs(%{{.*}} : tensor<?x2x?x6xi32>)
// CHECK: %[[ROUNDS:.*]] = arith.minsi %[[NK]], %c3 : index
// CHECK: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}}, 2, %{{.*}}) shared_outs
// CHECK:   %[[ROW:.*]] = tensor.extract_slice %{{.*}} [1, 1, 1, 6] [1, 1, 1, 1] : tensor<?x2x?x6xi32> to tensor<6xi32>
// CHECK:   %[[SINK:.*]]:2 = scf.for %{{.*}} = %c0 to %[[NK]] step %c1 iter_args(%{{.*}} = %c0, %{{.*}} = %[[NK]]) -> (index, index)
// CHECK:     arith.cmpf ogt, %{{.*}}, %[[NEG_INF]] : f32
// CHECK:     arith.cmpi eq, %{{.*}}, %c1 : index
// CHECK:   %[[LOCAL:.*]]:2 = scf.for %{{.*}} = %c0 to %[[NK]] step %c1 iter_args(%{{.*}} = %c0, %{{.*}} = %c0) -> (index, index)
// CHECK:     arith.cmpi eq, %{{.*}}, %c2 : index
// CHECK:   %[[PICK:.*]]:3 = scf.for %{{.*}} = %c0 to %[[ROUNDS]] step %c1 iter_args(%[[FOUND:.*]] = %false, %[[PREV_SCORE:.*]] = %{{.*}}, %[[PREV_POS:.*]] = %c0) -> (i1, f32, index)
// CHECK:     scf.for %[[J:.*]] = %c0 to %[[NK]] step %c1 iter_args(%{{.*}} = %false, %[[BEST:.*]] = %{{.*}}, %{{.*}} = %c0) -> (i1, f32, index)
// CHECK:       arith.cmpi slt, %[[J]], %[[SINK]]#1 : index
// CHECK:       arith.cmpi sge, %[[J]], %[[LOCAL]]#1 : index
// CHECK:       arith.cmpf olt, %{{.*}}, %[[PREV_SCORE]] : f32
// CHECK:       arith.cmpf oeq, %{{.*}}, %[[PREV_SCORE]] : f32
// CHECK:       arith.cmpi sgt, %[[J]], %[[PREV_POS]] : index
// CHECK:       arith.cmpf ogt, %{{.*}}, %[[BEST]] : f32
// CHECK:   scf.for %{{.*}} = %c0 to %[[NK]] step %c1 iter_args(%{{.*}} = %c0, %[[OUT:.*]] = %[[ROW]]) -> (index, tensor<6xi32>)
// CHECK:     arith.cmpf olt, %{{.*}}, %[[PICK]]#1 : f32
// CHECK:     arith.cmpi sgt, %{{.*}}, %[[PICK]]#2 : index
// CHECK:     arith.cmpi slt, %{{.*}}, %c6 : index
// CHECK:     tensor.insert %{{.*}} into %{{.*}}[%{{.*}}] : tensor<6xi32>
func.func @topk(%s: tensor<?x2x?x?xf32>) -> (tensor<?x2x?xi32>, tensor<?x2x?x6xi32>) {
  %num, %idx = sparse_attn.select_topk %s {k = 3, sink = 1, local = 2} : tensor<?x2x?x?xf32> -> tensor<?x2x?xi32>, tensor<?x2x?x6xi32>
  return %num, %idx : tensor<?x2x?xi32>, tensor<?x2x?x6xi32>
}

// select_threshold: select_topk's structure, plus per row a max scan, the
// total weight and the forced blocks' weight (exp(s - max)); a round picks
// only while the carried sum is below mass * total, and adds its pick's
// weight.
// CHECK-LABEL: func.func @threshold
// CHECK: scf.forall
// CHECK:   arith.maximumf
// CHECK:   math.exp
// CHECK:   %[[TARGET:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK:   scf.for {{.*}} -> (i1, f32, index, f32)
// CHECK:     arith.cmpf olt, %{{.*}}, %[[TARGET]] : f32
// CHECK:     arith.addf
func.func @threshold(%s: tensor<?x2x?x?xf32>) -> (tensor<?x2x?xi32>, tensor<?x2x?x6xi32>) {
  %num, %idx = sparse_attn.select_threshold %s {mass = 0.9 : f32, max_blocks = 3, sink = 1, local = 2} : tensor<?x2x?x?xf32> -> tensor<?x2x?xi32>, tensor<?x2x?x6xi32>
  return %num, %idx : tensor<?x2x?xi32>, tensor<?x2x?x6xi32>
}

// lightning_indexer: dots per index head, sum_h w * relu(dot), then per
// query topk rounds over the keys the mask allows and one emitting scan.
// CHECK-LABEL: func.func @indexer
// CHECK: cf.assert {{.*}}: query lengths differ"
// CHECK: %[[DOTS:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<1x2x?x8xbf16>, tensor<1x?x8xbf16>) outs(%{{.*}} : tensor<1x2x?x?xf32>)
// CHECK: %[[INDEX:.*]] = linalg.generic {{.*}} ins(%[[DOTS]], %arg2 : tensor<1x2x?x?xf32>, tensor<1x?x2xf32>) outs(%{{.*}} : tensor<1x?x?xf32>)
// CHECK:   %[[RELU:.*]] = arith.maximumf %{{.*}}, %cst{{.*}} : f32
// CHECK:   arith.mulf %{{.*}}, %[[RELU]] : f32
// CHECK: %[[ROUNDS:.*]] = arith.minsi %{{.*}}, %c4 : index
// CHECK: scf.forall
// CHECK:   scf.for %{{.*}} = %c0 to %[[ROUNDS]]
// CHECK:     scf.for
// CHECK:       arith.cmpi sle
// CHECK:       tensor.extract %[[INDEX]]
// CHECK:   scf.yield {{.*}} : index, tensor<4xi32>
func.func @indexer(%qi: tensor<1x2x?x8xbf16>, %ki: tensor<1x?x8xbf16>, %w: tensor<1x?x2xf32>) -> tensor<1x?x4xi32> {
  %t = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 4, mask = #sparse_attn.causal} : tensor<1x2x?x8xbf16>, tensor<1x?x8xbf16>, tensor<1x?x2xf32> -> tensor<1x?x4xi32>
  return %t : tensor<1x?x4xi32>
}
