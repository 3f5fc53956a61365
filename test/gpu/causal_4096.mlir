// The problem of test/gpu/bench_causal.py: causal attention, B=1, H=8,
// S=4096, D=128, bf16.
func.func @f(%q: tensor<1x8x4096x128xbf16>, %k: tensor<1x8x4096x128xbf16>, %v: tensor<1x8x4096x128xbf16>)
    -> (tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16>
     -> tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
  return %o, %lse : tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
}
