// NATTEN: neighborhood attention over images and video. Tokens are laid out
// row-major on the grid; windows shift at the borders so every query sees a
// full window.

// 2D: a 56x56 feature map, 7x7 windows with dilation 2 (DiNAT).
func.func @image(%q: tensor<1x4x3136x32xf16>, %k: tensor<1x4x3136x32xf16>, %v: tensor<1x4x3136x32xf16>)
    -> (tensor<1x4x3136x32xf16>, tensor<1x4x3136xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.neighborhood<grid = [56, 56], window = [7, 7], dilation = [2, 2], causal = [false, false]>}
      : tensor<1x4x3136x32xf16>, tensor<1x4x3136x32xf16>, tensor<1x4x3136x32xf16>
     -> tensor<1x4x3136x32xf16>, tensor<1x4x3136xf32>
  return %o, %lse : tensor<1x4x3136x32xf16>, tensor<1x4x3136xf32>
}

// 3D: 8 frames of 16x16, causal in time, 3x7x7 windows, as block lists of
// one frame-row (16 tokens) per block, folded at compile time.
func.func @video(%q: tensor<1x8x2048x64xbf16>, %k: tensor<1x8x2048x64xbf16>, %v: tensor<1x8x2048x64xbf16>)
    -> (tensor<1x8x2048x64xbf16>, tensor<1x8x2048xf32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.neighborhood<grid = [8, 16, 16], window = [3, 7, 7], dilation = [1, 1, 1], causal = [true, false, false]>,
                                       block = [256, 256], q_len = 2048, kv_len = 2048}
      : tensor<1x1x8xi32>, tensor<1x1x8x3xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [256, 256],
      mask = #sparse_attn.neighborhood<grid = [8, 16, 16], window = [3, 7, 7], dilation = [1, 1, 1], causal = [true, false, false]>}
      : tensor<1x8x2048x64xbf16>, tensor<1x8x2048x64xbf16>, tensor<1x8x2048x64xbf16>, tensor<1x1x8xi32>, tensor<1x1x8x3xi32>
     -> tensor<1x8x2048x64xbf16>, tensor<1x8x2048xf32>
  return %o, %lse : tensor<1x8x2048x64xbf16>, tensor<1x8x2048xf32>
}
