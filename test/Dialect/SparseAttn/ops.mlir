// Every op and attribute round-trips through the custom form, the generic
// form and bytecode.
// RUN: sparse-attn-opt %s | sparse-attn-opt | FileCheck %s
// RUN: sparse-attn-opt %s --mlir-print-op-generic | sparse-attn-opt | FileCheck %s
// RUN: sparse-attn-opt %s --verify-roundtrip | FileCheck %s

// CHECK-LABEL: func.func @attention_causal
func.func @attention_causal(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>, %v: tensor<1x2x512x64xbf16>)
    -> (tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>) {
  // CHECK: %[[O:.*]], %[[LSE:.*]] = sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal, scale = 1.250000e-01 : f32}
  // CHECK-SAME: : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16> -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal, scale = 0.125 : f32}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>
     -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  // CHECK: return %[[O]], %[[LSE]]
  return %o, %lse : tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
}

// CHECK-LABEL: func.func @attention_dense_dynamic
func.func @attention_dense_dynamic(%q: tensor<?x4x?x128xf16>, %k: tensor<?x4x?x128xf16>, %v: tensor<?x4x?x64xf16>)
    -> (tensor<?x4x?x64xf16>, tensor<?x4x?xf32>) {
  // CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x4x?x128xf16>, tensor<?x4x?x128xf16>, tensor<?x4x?x64xf16> -> tensor<?x4x?x64xf16>, tensor<?x4x?xf32>
  %o, %lse = sparse_attn.attention %q, %k, %v
      : tensor<?x4x?x128xf16>, tensor<?x4x?x128xf16>, tensor<?x4x?x64xf16>
     -> tensor<?x4x?x64xf16>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x64xf16>, tensor<?x4x?xf32>
}

// CHECK-LABEL: func.func @attention_masks
func.func @attention_masks(%q: tensor<2x4x1024x64xf32>, %k: tensor<2x1x1024x64xf32>, %v: tensor<2x1x1024x64xf32>,
                           %sq: tensor<2x1024xi32>, %skv: tensor<2x1024xi32>) {
  // CHECK: mask = #sparse_attn.sliding_window<left = 256, right = 0>
  %o0, %l0 = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.sliding_window<left = 256, right = 0>}
      : tensor<2x4x1024x64xf32>, tensor<2x1x1024x64xf32>, tensor<2x1x1024x64xf32> -> tensor<2x4x1024x64xf32>, tensor<2x4x1024xf32>
  // CHECK: mask = #sparse_attn.sink_window<sink = 4, window = 1020>
  %o1, %l1 = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.sink_window<sink = 4, window = 1020>}
      : tensor<2x4x1024x64xf32>, tensor<2x1x1024x64xf32>, tensor<2x1x1024x64xf32> -> tensor<2x4x1024x64xf32>, tensor<2x4x1024xf32>
  // CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} segment_ids(%{{.*}}, %{{.*}} : tensor<2x1024xi32>, tensor<2x1024xi32>) {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>}
  %o2, %l2 = sparse_attn.attention %q, %k, %v segment_ids(%sq, %skv : tensor<2x1024xi32>, tensor<2x1024xi32>)
      {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>}
      : tensor<2x4x1024x64xf32>, tensor<2x1x1024x64xf32>, tensor<2x1x1024x64xf32> -> tensor<2x4x1024x64xf32>, tensor<2x4x1024xf32>
  // CHECK: mask = #sparse_attn.neighborhood<grid = [32, 32], window = [7, 7], dilation = [1, 2], causal = [false, true]>
  %o3, %l3 = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.neighborhood<grid = [32, 32], window = [7, 7], dilation = [1, 2], causal = [false, true]>}
      : tensor<2x4x1024x64xf32>, tensor<2x1x1024x64xf32>, tensor<2x1x1024x64xf32> -> tensor<2x4x1024x64xf32>, tensor<2x4x1024xf32>
  // Omitted dilation and causal print as their defaults.
  // CHECK: mask = #sparse_attn.neighborhood<grid = [8, 8, 16], window = [3, 3, 5], dilation = [1, 1, 1], causal = [false, false, false]>
  %o4, %l4 = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.neighborhood<grid = [8, 8, 16], window = [3, 3, 5]>}
      : tensor<2x4x1024x64xf32>, tensor<2x1x1024x64xf32>, tensor<2x1x1024x64xf32> -> tensor<2x4x1024x64xf32>, tensor<2x4x1024xf32>
  // CHECK: mask = #sparse_attn.neighborhood<grid = [1024], window = [9], dilation = [1], causal = [true]>
  %o5, %l5 = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.neighborhood<grid = [1024], window = [9], causal = [true]>}
      : tensor<2x4x1024x64xf32>, tensor<2x1x1024x64xf32>, tensor<2x1x1024x64xf32> -> tensor<2x4x1024x64xf32>, tensor<2x4x1024xf32>
  // CHECK: mask = #sparse_attn.union<[#sparse_attn.sink_window<sink = 4, window = 0>, #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 64, right = 64>]>]>
  %o6, %l6 = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.union<[#sparse_attn.sink_window<sink = 4, window = 0>, #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 64, right = 64>]>]>}
      : tensor<2x4x1024x64xf32>, tensor<2x1x1024x64xf32>, tensor<2x1x1024x64xf32> -> tensor<2x4x1024x64xf32>, tensor<2x4x1024xf32>
  return
}

// CHECK-LABEL: func.func @attention_mods
func.func @attention_mods(%q: tensor<1x8x128x64xbf16>, %k: tensor<1x8x128x64xbf16>, %v: tensor<1x8x128x64xbf16>,
                          %slopes: tensor<8xf32>) -> (tensor<1x8x128x64xbf16>, tensor<1x8x128xf32>) {
  // CHECK: sparse_attn.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal} mask_mod {
  // CHECK-NEXT: ^bb0(%[[B:.*]]: index, %[[H:.*]]: index, %[[I:.*]]: index, %[[J:.*]]: index):
  // CHECK: sparse_attn.yield %{{.*}} : i1
  // CHECK-NEXT: } score_mod {
  // CHECK-NEXT: ^bb0(%[[S:.*]]: f32, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index):
  // CHECK: tensor.extract
  // CHECK: sparse_attn.yield %{{.*}} : f32
  // CHECK-NEXT: } : tensor<1x8x128x64xbf16>
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal} mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c2 = arith.constant 2 : index
    %ri = arith.remui %i, %c2 : index
    %rj = arith.remui %j, %c2 : index
    %same = arith.cmpi eq, %ri, %rj : index
    sparse_attn.yield %same : i1
  } score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // ALiBi: s - slope[h] * (i - j), and a tanh softcap of 30.
    %slope = tensor.extract %slopes[%h] : tensor<8xf32>
    %ii = arith.index_cast %i : index to i64
    %jj = arith.index_cast %j : index to i64
    %d = arith.subi %ii, %jj : i64
    %df = arith.sitofp %d : i64 to f32
    %bias = arith.mulf %slope, %df : f32
    %biased = arith.subf %s, %bias : f32
    %cap = arith.constant 30.0 : f32
    %x = arith.divf %biased, %cap : f32
    %t = math.tanh %x : f32
    %capped = arith.mulf %t, %cap : f32
    sparse_attn.yield %capped : f32
  } : tensor<1x8x128x64xbf16>, tensor<1x8x128x64xbf16>, tensor<1x8x128x64xbf16> -> tensor<1x8x128x64xbf16>, tensor<1x8x128xf32>
  return %o, %lse : tensor<1x8x128x64xbf16>, tensor<1x8x128xf32>
}

// CHECK-LABEL: func.func @block_mask
func.func @block_mask(%sq: tensor<2x1000xi32>, %skv: tensor<2x1000xi32>, %dq: tensor<?x?xi32>, %dkv: tensor<?x?xi32>) {
  // CHECK: sparse_attn.block_mask {block = [128, 128], kv_len = 512 : i64, mask = #sparse_attn.causal, q_len = 512 : i64} : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512}
      : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
  // CHECK: sparse_attn.block_mask segment_ids(%{{.*}}, %{{.*}} : tensor<2x1000xi32>, tensor<2x1000xi32>) {block = [128, 64], mask = #sparse_attn.document} : tensor<2x1x8xi32>, tensor<2x1x8x16xi32>
  %n1, %i1 = sparse_attn.block_mask segment_ids(%sq, %skv : tensor<2x1000xi32>, tensor<2x1000xi32>) {mask = #sparse_attn.document, block = [128, 64]}
      : tensor<2x1x8xi32>, tensor<2x1x8x16xi32>
  // CHECK: sparse_attn.block_mask segment_ids(%{{.*}}, %{{.*}} : tensor<?x?xi32>, tensor<?x?xi32>) {block = [64, 64], mask = #sparse_attn.document} : tensor<?x1x?xi32>, tensor<?x1x?x?xi32>
  %n2, %i2 = sparse_attn.block_mask segment_ids(%dq, %dkv : tensor<?x?xi32>, tensor<?x?xi32>) {mask = #sparse_attn.document, block = [64, 64]}
      : tensor<?x1x?xi32>, tensor<?x1x?x?xi32>
  // No mask: every block.
  // CHECK: sparse_attn.block_mask {block = [64, 64], kv_len = 100 : i64, q_len = 100 : i64} : tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
  %n3, %i3 = sparse_attn.block_mask {block = [64, 64], q_len = 100, kv_len = 100}
      : tensor<1x1x2xi32>, tensor<1x1x2x2xi32>
  return
}

// CHECK-LABEL: func.func @full_block_lists
func.func @full_block_lists(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>) {
  // CHECK: %[[N:.*]], %[[I:.*]], %[[FN:.*]], %[[FI:.*]] = sparse_attn.block_mask {block = [128, 128], kv_len = 512 : i64, mask = #sparse_attn.causal, q_len = 512 : i64} : tensor<1x1x4xi32>, tensor<1x1x4x1xi32>, tensor<1x1x4xi32>, tensor<1x1x4x3xi32>
  %num, %idx, %fnum, %fidx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512}
      : tensor<1x1x4xi32>, tensor<1x1x4x1xi32>, tensor<1x1x4xi32>, tensor<1x1x4x3xi32>
  // CHECK: sparse_attn.block_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %[[N]], %[[I]] full(%[[FN]], %[[FI]] : tensor<1x1x4xi32>, tensor<1x1x4x3xi32>) {block = [128, 128], mask = #sparse_attn.causal}
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %k, %num, %idx full(%fnum, %fidx : tensor<1x1x4xi32>, tensor<1x1x4x3xi32>) {block = [128, 128], mask = #sparse_attn.causal}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x1x4xi32>, tensor<1x1x4x1xi32> -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  return
}

// CHECK-LABEL: func.func @vertical_slash
func.func @vertical_slash(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>) {
  // CHECK: %[[N:.*]], %[[I:.*]], %[[CN:.*]], %[[CI:.*]] = sparse_attn.vertical_slash %{{.*}}, %{{.*}} {block = [64, 64], last_q = 64 : i64, local = 16 : i64, sink = 4 : i64, slash = 32 : i64, vertical = 100 : i64} : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16> -> tensor<1x8x8xi32>, tensor<1x8x8x8xi32>, tensor<1x8x8xi32>, tensor<1x8x8x100xi32>
  %n, %i, %cn, %ci = sparse_attn.vertical_slash %q, %k {last_q = 64, vertical = 100, slash = 32, sink = 4, local = 16, block = [64, 64]}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16> -> tensor<1x8x8xi32>, tensor<1x8x8x8xi32>, tensor<1x8x8xi32>, tensor<1x8x8x100xi32>
  // CHECK: sparse_attn.block_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %[[N]], %[[I]] columns(%[[CN]], %[[CI]] : tensor<1x8x8xi32>, tensor<1x8x8x100xi32>) {block = [64, 64], mask = #sparse_attn.causal}
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %k, %n, %i columns(%cn, %ci : tensor<1x8x8xi32>, tensor<1x8x8x100xi32>) {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x8x8xi32>, tensor<1x8x8x8xi32> -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  return
}

// CHECK-LABEL: func.func @block_sparse_attention
func.func @block_sparse_attention(%q: tensor<1x8x512x64xbf16>, %k: tensor<1x2x512x64xbf16>, %v: tensor<1x2x512x64xbf16>,
                                  %num: tensor<1x1x4xi32>, %idx: tensor<1x1x4x4xi32>,
                                  %numh: tensor<1x8x4xi32>, %idxh: tensor<1x8x4x2xi32>,
                                  %numg: tensor<?x2x?xi32>, %idxg: tensor<?x2x?x?xi32>) {
  // CHECK: sparse_attn.block_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {block = [128, 128], mask = #sparse_attn.causal} : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x1x4xi32>, tensor<1x1x4x4xi32> -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128], mask = #sparse_attn.causal}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
     -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  // Per-query-head lists, a score_mod, no mask.
  // CHECK: sparse_attn.block_sparse_attention {{.*}} {block = [128, 64]} score_mod {
  %o1, %l1 = sparse_attn.block_sparse_attention %q, %k, %v, %numh, %idxh {block = [128, 64]} score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    sparse_attn.yield %s : f32
  } : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x8x4xi32>, tensor<1x8x4x2xi32>
     -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  // Per-GQA-group lists of dynamic shape.
  // CHECK: sparse_attn.block_sparse_attention {{.*}} : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<?x2x?xi32>, tensor<?x2x?x?xi32>
  %o2, %l2 = sparse_attn.block_sparse_attention %q, %k, %v, %numg, %idxg {block = [64, 64]}
      : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<?x2x?xi32>, tensor<?x2x?x?xi32>
     -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
  return
}

// CHECK-LABEL: func.func @indexers
func.func @indexers(%k: tensor<1x2x4096x64xbf16>, %qp: tensor<1x8x64x64xf32>,
                    %qi: tensor<1x4x4096x64xbf16>, %ki: tensor<1x4096x64xbf16>, %w: tensor<1x4096x4xf32>,
                    %q: tensor<1x8x4096x64xbf16>, %v: tensor<1x2x4096x64xbf16>) {
  // CHECK: sparse_attn.pool mean %{{.*}} {block = 64 : i64} : tensor<1x2x4096x64xbf16> -> tensor<1x2x64x64xf32>
  %kp = sparse_attn.pool mean %k {block = 64} : tensor<1x2x4096x64xbf16> -> tensor<1x2x64x64xf32>
  // CHECK: sparse_attn.pool max %{{.*}} {block = 100 : i64} : tensor<1x2x4096x64xbf16> -> tensor<1x2x41x64xf32>
  %km = sparse_attn.pool max %k {block = 100} : tensor<1x2x4096x64xbf16> -> tensor<1x2x41x64xf32>
  // CHECK: sparse_attn.block_scores %{{.*}}, %{{.*}} {block = [64, 64], kv_len = 4096 : i64, mask = #sparse_attn.causal, q_len = 4096 : i64} : tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 4096, kv_len = 4096}
      : tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
  // Per-query-head scores, no mask, explicit scale.
  // CHECK: sparse_attn.block_scores %{{.*}}, %{{.*}} {block = [64, 64], scale = 1.000000e+00 : f32} : tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x8x64x64xf32>
  %sh = sparse_attn.block_scores %qp, %kp {block = [64, 64], scale = 1.0 : f32}
      : tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x8x64x64xf32>
  // CHECK: sparse_attn.select_topk %{{.*}} {k = 8 : i64, local = 2 : i64, sink = 1 : i64} : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x11xi32>
  %num, %idx = sparse_attn.select_topk %s {k = 8, sink = 1, local = 2}
      : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x11xi32>
  // sink and local default to 0 and are elided.
  // CHECK: sparse_attn.select_topk %{{.*}} {k = 4 : i64} : tensor<1x8x64x64xf32> -> tensor<1x8x64xi32>, tensor<1x8x64x4xi32>
  %n2, %i2 = sparse_attn.select_topk %sh {k = 4}
      : tensor<1x8x64x64xf32> -> tensor<1x8x64xi32>, tensor<1x8x64x4xi32>
  // CHECK: sparse_attn.select_threshold %{{.*}} {local = 2 : i64, mass = 0.899999976 : f32, max_blocks = 16 : i64, sink = 1 : i64} : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x19xi32>
  %n3, %i3 = sparse_attn.select_threshold %s {mass = 0.9 : f32, max_blocks = 16, sink = 1, local = 2}
      : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x19xi32>
  // CHECK: sparse_attn.lightning_indexer %{{.*}}, %{{.*}}, %{{.*}} {mask = #sparse_attn.causal, topk = 512 : i64} : tensor<1x4x4096x64xbf16>, tensor<1x4096x64xbf16>, tensor<1x4096x4xf32> -> tensor<1x4096x512xi32>
  %ti = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 512, mask = #sparse_attn.causal}
      : tensor<1x4x4096x64xbf16>, tensor<1x4096x64xbf16>, tensor<1x4096x4xf32> -> tensor<1x4096x512xi32>
  // CHECK: sparse_attn.token_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x4096x512xi32> -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %ti
      : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x4096x512xi32>
     -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
  return
}

// CHECK-LABEL: func.func @indexers_dynamic
func.func @indexers_dynamic(%k: tensor<?x2x?x64xf16>, %qi: tensor<?x4x?x32xf16>, %ki: tensor<?x?x32xf16>, %w: tensor<?x?x4xf32>,
                            %sq: tensor<?x?xi32>, %skv: tensor<?x?xi32>) {
  // CHECK: sparse_attn.pool mean %{{.*}} {block = 64 : i64} : tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf32>
  %kp = sparse_attn.pool mean %k {block = 64} : tensor<?x2x?x64xf16> -> tensor<?x2x?x64xf32>
  // CHECK: sparse_attn.lightning_indexer %{{.*}}, %{{.*}}, %{{.*}} segment_ids(%{{.*}}, %{{.*}} : tensor<?x?xi32>, tensor<?x?xi32>) {mask = #sparse_attn.document, topk = 64 : i64}
  %ti = sparse_attn.lightning_indexer %qi, %ki, %w segment_ids(%sq, %skv : tensor<?x?xi32>, tensor<?x?xi32>) {topk = 64, mask = #sparse_attn.document}
      : tensor<?x4x?x32xf16>, tensor<?x?x32xf16>, tensor<?x?x4xf32> -> tensor<?x?x64xi32>
  return
}

// CHECK-LABEL: func.func @fused
func.func @fused(%q: tensor<1x8x4096x64xbf16>, %k: tensor<1x2x4096x64xbf16>, %v: tensor<1x2x4096x64xbf16>,
                 %qp: tensor<1x8x64x64xf32>, %kp: tensor<1x2x64x64xf32>, %qi: tensor<1x4x4096x64xbf16>,
                 %ki: tensor<1x4096x64xbf16>, %w: tensor<1x4096x4xf32>) {
  // CHECK: sparse_attn.fused_block_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {block = [64, 64], k = 8 : i64, list_heads = 2 : i64, local = 2 : i64, mask = #sparse_attn.causal, score_mask = #sparse_attn.causal, sink = 1 : i64} : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
  %o1, %l1 = sparse_attn.fused_block_sparse_attention %q, %k, %v, %qp, %kp
      {block = [64, 64], mask = #sparse_attn.causal, score_mask = #sparse_attn.causal, list_heads = 2, k = 8, sink = 1, local = 2}
      : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32>
     -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
  // CHECK: sparse_attn.fused_block_sparse_attention {{.*}} {block = [64, 64], list_heads = 8 : i64, mass = 0.949999988 : f32, max_blocks = 12 : i64, scale = 1.250000e-01 : f32, score_scale = 2.500000e-01 : f32}
  %o2, %l2 = sparse_attn.fused_block_sparse_attention %q, %k, %v, %qp, %kp
      {block = [64, 64], list_heads = 8, mass = 0.95 : f32, max_blocks = 12, scale = 0.125 : f32, score_scale = 0.25 : f32}
      : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32>
     -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
  // CHECK: sparse_attn.fused_token_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {index_mask = #sparse_attn.causal, topk = 512 : i64} : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x4x4096x64xbf16>, tensor<1x4096x64xbf16>, tensor<1x4096x4xf32> -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
  %o3, %l3 = sparse_attn.fused_token_sparse_attention %q, %k, %v, %qi, %ki, %w {topk = 512, index_mask = #sparse_attn.causal}
      : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x4x4096x64xbf16>, tensor<1x4096x64xbf16>, tensor<1x4096x4xf32>
     -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
  return
}
