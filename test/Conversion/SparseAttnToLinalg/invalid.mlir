// RUN: sparse-attn-opt %s --split-input-file --convert-sparse-attn-to-linalg --verify-diagnostics

// A list batch that nothing defines at run time cannot be lowered.
func.func @dynamic_batch_without_segment_ids() -> (tensor<?x1x4xi32>, tensor<?x1x4x4xi32>) {
  // expected-error @+1 {{has a dynamic list batch but no segment ids to give its extent}}
  %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [4, 4], q_len = 16, kv_len = 16} : tensor<?x1x4xi32>, tensor<?x1x4x4xi32>
  return %num, %idx : tensor<?x1x4xi32>, tensor<?x1x4x4xi32>
}
