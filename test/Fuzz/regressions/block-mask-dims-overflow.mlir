func.func @f() -> (tensor<3037000500x3037000500x1xi32>, tensor<3037000500x3037000500x1x1xi32>) {
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 128, kv_len = 128}
      : tensor<3037000500x3037000500x1xi32>, tensor<3037000500x3037000500x1x1xi32>
  return %num, %idx : tensor<3037000500x3037000500x1xi32>, tensor<3037000500x3037000500x1x1xi32>
}
