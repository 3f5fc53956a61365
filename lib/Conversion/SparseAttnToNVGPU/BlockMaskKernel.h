//===- BlockMaskKernel.h - block_mask's lists on the GPU --------*- C++ -*-===//
//
// The pattern that computes a block_mask's lists in a parallel GPU kernel.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKMASKKERNEL_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKMASKKERNEL_H

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

namespace mlir::sparse_attn {

/// Rewrites every block_mask with a lowerable mask (and a list batch it can
/// tell) into a launch of one warp per (query block, batch) on buffers:
/// each lane classifies a kv block by the mask's tile tests, the warp
/// scans the pairs of the blocks they cannot tell, and writes the lists in
/// order by ballots. Masks reading segment ids get the segment-bounds launch first.
void populateBlockMaskKernelPatterns(RewritePatternSet &patterns,
                                     const MmaAttentionOptions &options);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKMASKKERNEL_H
