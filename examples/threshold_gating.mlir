// FlexPrefill / SeerAttention-style gating: pool queries and keys per
// 64-token block, score the block pairs per GQA group, keep the first
// block, the current one and then the highest-scoring blocks until they
// hold 95% of the row's softmax mass (at most 32), and attend causally over
// them. sparse-attn-to-ptx-pipeline fuses the chain
// (sparse-attn-fuse-selection): each attention block selects its list from
// the pooled rows in shared memory.

func.func @threshold_gated_prefill(%q: tensor<1x32x8192x128xbf16>, %k: tensor<1x8x8192x128xbf16>,
                                   %v: tensor<1x8x8192x128xbf16>)
    -> (tensor<1x32x8192x128xbf16>, tensor<1x32x8192xf32>) {
  %qp = sparse_attn.pool mean %q {block = 64} : tensor<1x32x8192x128xbf16> -> tensor<1x32x128x128xf32>
  %kp = sparse_attn.pool mean %k {block = 64} : tensor<1x8x8192x128xbf16> -> tensor<1x8x128x128xf32>
  %scores = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 8192, kv_len = 8192}
      : tensor<1x32x128x128xf32>, tensor<1x8x128x128xf32> -> tensor<1x8x128x128xf32>
  %num, %idx = sparse_attn.select_threshold %scores {mass = 0.95 : f32, max_blocks = 32, sink = 1, local = 1}
      : tensor<1x8x128x128xf32> -> tensor<1x8x128xi32>, tensor<1x8x128x34xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x32x8192x128xbf16>, tensor<1x8x8192x128xbf16>, tensor<1x8x8192x128xbf16>, tensor<1x8x128xi32>, tensor<1x8x128x34xi32>
     -> tensor<1x32x8192x128xbf16>, tensor<1x32x8192xf32>
  return %o, %lse : tensor<1x32x8192x128xbf16>, tensor<1x32x8192xf32>
}
