// Input of install-consumer.test.
func.func @causal(%q: tensor<1x4x128x64xf32>, %k: tensor<1x2x128x64xf32>, %v: tensor<1x2x128x64xf32>)
    -> (tensor<1x4x128x64xf32>, tensor<1x4x128xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x4x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>
     -> tensor<1x4x128x64xf32>, tensor<1x4x128xf32>
  return %o, %lse : tensor<1x4x128x64xf32>, tensor<1x4x128xf32>
}
