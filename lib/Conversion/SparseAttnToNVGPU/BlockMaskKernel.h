//===- BlockMaskKernel.h - block_mask's lists on the GPU --------*- C++ -*-===//
//
// The pattern that computes a block_mask's lists in a parallel GPU kernel.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKMASKKERNEL_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKMASKKERNEL_H

#include "SegmentBounds.h"

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"
#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

namespace mlir::sparse_attn {

/// Rewrites every block_mask with a lowerable mask (and a list batch it can
/// tell) into a launch of one warp per (query block, batch) on buffers:
/// each lane classifies a kv block by the mask's tile tests, the warp
/// scans the pairs of the blocks they cannot tell, and writes the lists in
/// order by ballots. Masks reading segment ids get the segment-bounds launch
/// first.
void populateBlockMaskKernelPatterns(RewritePatternSet &patterns,
                                     const MmaAttentionOptions &options);

class KernelBuilder;

/// What the warp of one query block knows while it classifies kv blocks.
struct QueryBlockContext {
  Attribute mask;
  BlockSizes block;
  Value qLen, kvLen, kvBlocks, b, lane;
  Value firstRow, lastRow, firstPosition, lastPosition;
  bool perBatch = false;
  Value idsQ, idsKv;
  SegmentBounds segments;
};

/// The rows and positions of query block `queryBlock` (and its segment
/// bounds from the segment-bounds launch's `bounds` when `perBatch`;
/// `keysSorted`, when given, is the batch's sorted flag already read by
/// buildKeysSortedFlag, which a warp visiting many query blocks reads once).
QueryBlockContext
setUpQueryBlock(KernelBuilder &emit, Attribute mask, BlockSizes block,
                Value qLen, Value kvLen, Value kvBlocks, Value b, Value lane,
                Value queryBlock, bool perBatch, Value idsQ, Value idsKv,
                const SegmentBoundsBuffers &bounds, Value keysSorted = nullptr);

/// Whether this lane's kv block exists, is occupied (some pair allowed)
/// and is full (every existing pair allowed).
struct BlockClass {
  Value exists, occupied, full;
};

/// Classifies kv block `kvBlock` of a round of 32 consecutive blocks (one
/// per lane; every lane of the warp takes part): in closed form for a mask
/// with a row key interval; otherwise by the mask's tile tests, and the
/// blocks they cannot tell by the whole warp, one at a time, 32 pairs a
/// step, until an allowed and an excluded pair are seen.
BlockClass classifyKvBlock(KernelBuilder &round, const QueryBlockContext &c,
                           Value kvBlock);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_BLOCKMASKKERNEL_H
