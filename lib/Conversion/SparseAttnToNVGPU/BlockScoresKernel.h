//===- BlockScoresKernel.h - block_scores on tensor cores -------*- C++ -*-===//
//
// The pattern that computes block_scores in a tensor-core kernel.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKSCORESKERNEL_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKSCORESKERNEL_H

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

namespace mlir::sparse_attn {

/// Rewrites every block_scores with a head dim up to 256 (and a lowerable
/// mask, or none) into a launch of a four-warp block per 64 x 64 result
/// tile, result head and batch: group-summed query rows and key rows in
/// shared memory as f32, mma.sync in 3xTF32 (f32 accuracy), the mask's
/// -inf by block_mask's classification, rows written through shared memory.
void populateBlockScoresKernelPatterns(RewritePatternSet &patterns,
                                       const MmaAttentionOptions &options);

class BlockScoresOp;
class LoweringBuilder;

/// The lengths a masked block_scores classifies its block pairs with
/// (q_len / kv_len, or the segment ids' lengths), with run-time checks that
/// `queryBlocks` and `kvBlocks` (the pooled rows) are their block counts.
std::pair<Value, Value> getBlockScoresLengths(LoweringBuilder &emit,
                                              BlockScoresOp op,
                                              Value queryBlocks,
                                              Value kvBlocks);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKSCORESKERNEL_H
