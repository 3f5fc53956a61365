// FlexAttention: a BlockMask built from a mask, consumed by block-sparse
// attention, with mask_mod/score_mod for what the structural masks do not
// say. The static causal block_mask folds to constants at compile time.

// Causal GQA attention through FlexAttention's kv_num_blocks / kv_indices.
func.func @causal_block_sparse(%q: tensor<1x16x2048x128xbf16>, %k: tensor<1x4x2048x128xbf16>,
                               %v: tensor<1x4x2048x128xbf16>)
    -> (tensor<1x16x2048x128xbf16>, tensor<1x16x2048xf32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 2048, kv_len = 2048}
      : tensor<1x1x16xi32>, tensor<1x1x16x16xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128], mask = #sparse_attn.causal}
      : tensor<1x16x2048x128xbf16>, tensor<1x4x2048x128xbf16>, tensor<1x4x2048x128xbf16>, tensor<1x1x16xi32>, tensor<1x1x16x16xi32>
     -> tensor<1x16x2048x128xbf16>, tensor<1x16x2048xf32>
  return %o, %lse : tensor<1x16x2048x128xbf16>, tensor<1x16x2048xf32>
}

// Packed sequences of runtime length: causal within each document. The block
// lists depend on the segment ids, so they are built at run time.
func.func @document_causal(%q: tensor<2x16x?x64xf16>, %k: tensor<2x16x?x64xf16>, %v: tensor<2x16x?x64xf16>,
                           %segments: tensor<2x?xi32>)
    -> (tensor<2x16x?x64xf16>, tensor<2x16x?xf32>) {
  %num, %idx = sparse_attn.block_mask segment_ids(%segments, %segments : tensor<2x?xi32>, tensor<2x?xi32>)
      {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>, block = [128, 128]}
      : tensor<2x1x?xi32>, tensor<2x1x?x?xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx segment_ids(%segments, %segments : tensor<2x?xi32>, tensor<2x?xi32>)
      {block = [128, 128], mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>}
      : tensor<2x16x?x64xf16>, tensor<2x16x?x64xf16>, tensor<2x16x?x64xf16>, tensor<2x1x?xi32>, tensor<2x1x?x?xi32>
     -> tensor<2x16x?x64xf16>, tensor<2x16x?xf32>
  return %o, %lse : tensor<2x16x?x64xf16>, tensor<2x16x?xf32>
}

// Prefix-LM (bidirectional over the first 256 tokens, causal after) as a
// mask_mod, and Gemma-2's tanh softcap of 50 as a score_mod.
func.func @prefix_lm_softcap(%q: tensor<1x8x1024x256xbf16>, %k: tensor<1x4x1024x256xbf16>,
                             %v: tensor<1x4x1024x256xbf16>)
    -> (tensor<1x8x1024x256xbf16>, tensor<1x8x1024xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {scale = 0.0625 : f32} mask_mod {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %prefix = arith.constant 256 : index
    %in_prefix = arith.cmpi ult, %j, %prefix : index
    %causal = arith.cmpi ule, %j, %i : index
    %allowed = arith.ori %in_prefix, %causal : i1
    sparse_attn.yield %allowed : i1
  } score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    %cap = arith.constant 50.0 : f32
    %x = arith.divf %s, %cap : f32
    %t = math.tanh %x : f32
    %capped = arith.mulf %t, %cap : f32
    sparse_attn.yield %capped : f32
  } : tensor<1x8x1024x256xbf16>, tensor<1x4x1024x256xbf16>, tensor<1x4x1024x256xbf16>
     -> tensor<1x8x1024x256xbf16>, tensor<1x8x1024xf32>
  return %o, %lse : tensor<1x8x1024x256xbf16>, tensor<1x8x1024xf32>
}
