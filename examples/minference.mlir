// MInference's vertical-slash pattern for long prefill (Llama-3-8B-262k's
// per-head budgets: 1000 verticals, 6096 slashes). The estimator attends
// the last 64 queries to every key and keeps the top key columns
// (vertical lines, the first 30 keys forced) and the top diagonals (slash
// lines, the 100 nearest the main diagonal forced); the attention then runs
// over the kv blocks the slashes cross plus the columns those blocks miss,
// under the causal mask.

func.func @vertical_slash_prefill(%q: tensor<1x32x32768x128xbf16>, %k: tensor<1x8x32768x128xbf16>,
                                  %v: tensor<1x8x32768x128xbf16>)
    -> (tensor<1x32x32768x128xbf16>, tensor<1x32x32768xf32>) {
  %num, %idx, %ncol, %cols = sparse_attn.vertical_slash %q, %k
      {last_q = 64, vertical = 1000, slash = 6096, sink = 30, local = 100, block = [64, 64]}
      : tensor<1x32x32768x128xbf16>, tensor<1x8x32768x128xbf16>
     -> tensor<1x32x512xi32>, tensor<1x32x512x512xi32>, tensor<1x32x512xi32>, tensor<1x32x512x1000xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx
      columns(%ncol, %cols : tensor<1x32x512xi32>, tensor<1x32x512x1000xi32>)
      {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x32x32768x128xbf16>, tensor<1x8x32768x128xbf16>, tensor<1x8x32768x128xbf16>,
        tensor<1x32x512xi32>, tensor<1x32x512x512xi32>
     -> tensor<1x32x32768x128xbf16>, tensor<1x32x32768xf32>
  return %o, %lse : tensor<1x32x32768x128xbf16>, tensor<1x32x32768xf32>
}

// MInference's other dynamic pattern, block-sparse: estimate block
// importance from pooled queries and keys, keep the first block, the
// diagonal block and the top 64 per query block (one list per head), and
// run causal block-sparse attention. Heads assigned the A-shape pattern use
// a sink_window mask instead (see streaming_llm.mlir).

func.func @block_sparse_prefill(%q: tensor<1x32x32768x128xbf16>, %k: tensor<1x8x32768x128xbf16>,
                                %v: tensor<1x8x32768x128xbf16>)
    -> (tensor<1x32x32768x128xbf16>, tensor<1x32x32768xf32>) {
  %qp = sparse_attn.pool mean %q {block = 64} : tensor<1x32x32768x128xbf16> -> tensor<1x32x512x128xf32>
  %kp = sparse_attn.pool mean %k {block = 64} : tensor<1x8x32768x128xbf16> -> tensor<1x8x512x128xf32>
  %scores = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 32768, kv_len = 32768}
      : tensor<1x32x512x128xf32>, tensor<1x8x512x128xf32> -> tensor<1x32x512x512xf32>
  %num, %idx = sparse_attn.select_topk %scores {k = 64, sink = 1, local = 1}
      : tensor<1x32x512x512xf32> -> tensor<1x32x512xi32>, tensor<1x32x512x66xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [64, 64], mask = #sparse_attn.causal}
      : tensor<1x32x32768x128xbf16>, tensor<1x8x32768x128xbf16>, tensor<1x8x32768x128xbf16>, tensor<1x32x512xi32>, tensor<1x32x512x66xi32>
     -> tensor<1x32x32768x128xbf16>, tensor<1x32x32768xf32>
  return %o, %lse : tensor<1x32x32768x128xbf16>, tensor<1x32x32768xf32>
}
