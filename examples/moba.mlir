// MoBA (Mixture of Block Attention): every query scores the mean-pooled key
// blocks (block_q = 1: the queries are their own "pooled" rows), keeps its
// current block (the highest-index block the causal mask allows) plus the
// top 2 others, and attends causally over them. One selection per query
// head.

func.func @moba(%q: tensor<1x16x8192x128xbf16>, %k: tensor<1x16x8192x128xbf16>, %v: tensor<1x16x8192x128xbf16>)
    -> (tensor<1x16x8192x128xbf16>, tensor<1x16x8192xf32>) {
  %kp = sparse_attn.pool mean %k {block = 512} : tensor<1x16x8192x128xbf16> -> tensor<1x16x16x128xf32>
  %scores = sparse_attn.block_scores %q, %kp {mask = #sparse_attn.causal, block = [1, 512], q_len = 8192, kv_len = 8192}
      : tensor<1x16x8192x128xbf16>, tensor<1x16x16x128xf32> -> tensor<1x16x8192x16xf32>
  %num, %idx = sparse_attn.select_topk %scores {k = 2, local = 1}
      : tensor<1x16x8192x16xf32> -> tensor<1x16x8192xi32>, tensor<1x16x8192x3xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [1, 512], mask = #sparse_attn.causal}
      : tensor<1x16x8192x128xbf16>, tensor<1x16x8192x128xbf16>, tensor<1x16x8192x128xbf16>, tensor<1x16x8192xi32>, tensor<1x16x8192x3xi32>
     -> tensor<1x16x8192x128xbf16>, tensor<1x16x8192xf32>
  return %o, %lse : tensor<1x16x8192x128xbf16>, tensor<1x16x8192xf32>
}
