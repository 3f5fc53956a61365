// DeepSeek Sparse Attention (V3.2): the lightning indexer scores every
// (query, key) pair with a few small ReLU heads weighted per query, keeps
// the top 2048 keys of each query, and attention reads only those, shared
// by all heads (MQA over the latent cache: Hkv = 1, D = 192, Dv = 128).

func.func @dsa(%q: tensor<1x16x8192x192xbf16>, %k: tensor<1x1x8192x192xbf16>, %v: tensor<1x1x8192x128xbf16>,
               %qi: tensor<1x64x8192x128xbf16>, %ki: tensor<1x8192x128xbf16>, %w: tensor<1x8192x64xf32>)
    -> (tensor<1x16x8192x128xbf16>, tensor<1x16x8192xf32>) {
  %topk = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 2048, mask = #sparse_attn.causal}
      : tensor<1x64x8192x128xbf16>, tensor<1x8192x128xbf16>, tensor<1x8192x64xf32> -> tensor<1x8192x2048xi32>
  %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %topk {scale = 0.0721687836 : f32}
      : tensor<1x16x8192x192xbf16>, tensor<1x1x8192x192xbf16>, tensor<1x1x8192x128xbf16>, tensor<1x8192x2048xi32>
     -> tensor<1x16x8192x128xbf16>, tensor<1x16x8192xf32>
  return %o, %lse : tensor<1x16x8192x128xbf16>, tensor<1x16x8192xf32>
}
