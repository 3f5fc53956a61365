// RUN: sparse-attn-opt %s --split-input-file --sparse-attn-tile="block-q=128 block-kv=128 stages=3 chip=sm_80" --verify-diagnostics
// RUN: not sparse-attn-opt %s --sparse-attn-tile="chip=sm_70" 2>&1 | FileCheck %s --check-prefix=CHIP

// An explicit request that cannot fit is an error, not a silent shrink.
func.func @too_big(%q: tensor<1x8x4096x128xbf16>, %k: tensor<1x8x4096x128xbf16>, %v: tensor<1x8x4096x128xbf16>) -> (tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>) {
  // expected-error @+1 {{tile block_q = 128, block_kv = 128, stages = 3 needs 229376 bytes of shared memory for head dims 128/128, more than sm_80's 166912 per block}}
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
      : tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16> -> tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
  return %o, %lse : tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
}

// -----

// Block-sparse tiles must divide the blocks, so a tile never straddles two
// query blocks' lists or two kv blocks.
func.func @straddles(%q: tensor<1x2x256x64xbf16>, %k: tensor<1x2x256x64xbf16>, %v: tensor<1x2x256x64xbf16>, %num: tensor<1x1x4xi32>, %idx: tensor<1x1x4x4xi32>) -> (tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>) {
  // expected-error @+1 {{block_sparse_attention tiles must divide its blocks [64, 64], got block-q = 128 and block-kv = 128}}
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [64, 64]}
      : tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x2x256x64xbf16>, tensor<1x1x4xi32>, tensor<1x1x4x4xi32> -> tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>
  return %o, %lse : tensor<1x2x256x64xbf16>, tensor<1x2x256xf32>
}

// CHIP: error: sparse-attn-tile: unknown chip 'sm_70' (expected sm_80, sm_90 or sm_90a)
