//===- FusedRowSelection.h - block_scores fused with its selection -*- C++
//-*-===//
//
// MoBA's selection in one kernel: each query's scores against the pooled
// keys computed, selected and written as its list, the score matrix never
// in global memory.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_FUSEDROWSELECTION_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_FUSEDROWSELECTION_H

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

#include "llvm/ADT/DenseSet.h"

namespace mlir::sparse_attn {

/// Whether the kernel below takes the rows of a block_scores of
/// `queryPooled` against `keyPooled` into `resultHeads` heads (or of a
/// fused_block_sparse_attention's): per-token rows (block_q = 1, MoBA), one
/// result head per query head, no segment ids, a lowerable mask or none,
/// static head dim and at most 32 kv blocks (a lane each) whose pooled keys
/// and four warps' rows fit shared memory. Otherwise `reason` says why.
bool canFuseRowScores(RankedTensorType queryPooled, RankedTensorType keyPooled,
                      int64_t resultHeads, int64_t blockQ, Attribute mask,
                      bool segmentIds, const MmaAttentionOptions &options,
                      std::string &reason);

/// Rewrites each select_topk / select_threshold in `selections` (whose
/// scores come from a block_scores canFuseRowScores takes) into one launch:
/// a block of four warps per 64 rows, head and batch holds the head's pooled
/// keys in shared memory (f32); a warp per row loads the row's query,
/// classifies the kv blocks by the mask's tile tests (classifyKvBlock),
/// computes each block's score (a lane per block, f32 dot products), then
/// selects and writes the row's list (RowSelection.h). The block_scores is
/// left without users (the pass erases it).
void populateFusedRowSelectionPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options,
    const llvm::DenseSet<Operation *> &selections);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_FUSEDROWSELECTION_H
