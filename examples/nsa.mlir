// NSA (Native Sparse Attention): pool keys and queries per block, score
// block pairs with one selection per GQA group (scores summed over the
// group's query heads), keep the first block, the two most recent and the
// top 16, and attend over them; the sliding-window branch is a plain masked
// attention. (NSA's compressed branch and its learned gate combine the
// branch outputs outside this dialect.)

func.func @nsa_selected_and_sliding(%q: tensor<1x16x4096x128xbf16>, %k: tensor<1x2x4096x128xbf16>,
                                    %v: tensor<1x2x4096x128xbf16>)
    -> (tensor<1x16x4096x128xbf16>, tensor<1x16x4096xf32>, tensor<1x16x4096x128xbf16>, tensor<1x16x4096xf32>) {
  %qp = sparse_attn.pool mean %q {block = 64} : tensor<1x16x4096x128xbf16> -> tensor<1x16x64x128xf32>
  %kp = sparse_attn.pool mean %k {block = 64} : tensor<1x2x4096x128xbf16> -> tensor<1x2x64x128xf32>
  %scores = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 4096, kv_len = 4096}
      : tensor<1x16x64x128xf32>, tensor<1x2x64x128xf32> -> tensor<1x2x64x64xf32>
  %num, %idx = sparse_attn.select_topk %scores {k = 16, sink = 1, local = 2}
      : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x19xi32>
  %o_sel, %lse_sel = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x16x4096x128xbf16>, tensor<1x2x4096x128xbf16>, tensor<1x2x4096x128xbf16>, tensor<1x2x64xi32>, tensor<1x2x64x19xi32>
     -> tensor<1x16x4096x128xbf16>, tensor<1x16x4096xf32>
  %o_win, %lse_win = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.sliding_window<left = 511, right = 511>]>}
      : tensor<1x16x4096x128xbf16>, tensor<1x2x4096x128xbf16>, tensor<1x2x4096x128xbf16>
     -> tensor<1x16x4096x128xbf16>, tensor<1x16x4096xf32>
  return %o_sel, %lse_sel, %o_win, %lse_win
      : tensor<1x16x4096x128xbf16>, tensor<1x16x4096xf32>, tensor<1x16x4096x128xbf16>, tensor<1x16x4096xf32>
}
