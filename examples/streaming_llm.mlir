// StreamingLLM / MInference's A-shape: attention sinks plus a local window.
// Prefill and decode share one mask; bottom-right alignment places the
// single decode query at the end of the KV cache without offsets.

func.func @prefill(%q: tensor<1x32x4096x128xf16>, %k: tensor<1x8x4096x128xf16>, %v: tensor<1x8x4096x128xf16>)
    -> (tensor<1x32x4096x128xf16>, tensor<1x32x4096xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.sink_window<sink = 4, window = 1020>}
      : tensor<1x32x4096x128xf16>, tensor<1x8x4096x128xf16>, tensor<1x8x4096x128xf16>
     -> tensor<1x32x4096x128xf16>, tensor<1x32x4096xf32>
  return %o, %lse : tensor<1x32x4096x128xf16>, tensor<1x32x4096xf32>
}

// One new token per sequence against a cache of runtime length.
func.func @decode(%q: tensor<?x32x1x128xf16>, %k: tensor<?x8x?x128xf16>, %v: tensor<?x8x?x128xf16>)
    -> (tensor<?x32x1x128xf16>, tensor<?x32x1xf32>) {
  %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.sink_window<sink = 4, window = 1020>}
      : tensor<?x32x1x128xf16>, tensor<?x8x?x128xf16>, tensor<?x8x?x128xf16>
     -> tensor<?x32x1x128xf16>, tensor<?x32x1xf32>
  return %o, %lse : tensor<?x32x1x128xf16>, tensor<?x32x1xf32>
}

// The same pattern as block lists: the sink block plus the diagonal band,
// folded at compile time.
func.func @prefill_block_sparse(%q: tensor<1x32x4096x128xf16>, %k: tensor<1x8x4096x128xf16>, %v: tensor<1x8x4096x128xf16>)
    -> (tensor<1x32x4096x128xf16>, tensor<1x32x4096xf32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.sink_window<sink = 4, window = 1020>, block = [128, 128], q_len = 4096, kv_len = 4096}
      : tensor<1x1x32xi32>, tensor<1x1x32x10xi32>
  %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128], mask = #sparse_attn.sink_window<sink = 4, window = 1020>}
      : tensor<1x32x4096x128xf16>, tensor<1x8x4096x128xf16>, tensor<1x8x4096x128xf16>, tensor<1x1x32xi32>, tensor<1x1x32x10xi32>
     -> tensor<1x32x4096x128xf16>, tensor<1x32x4096xf32>
  return %o, %lse : tensor<1x32x4096x128xf16>, tensor<1x32x4096xf32>
}
