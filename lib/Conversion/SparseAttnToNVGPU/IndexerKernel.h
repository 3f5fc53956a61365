//===- IndexerKernel.h - lightning_indexer on tensor cores ------*- C++ -*-===//
//
// The pattern that computes lightning_indexer (scores and top-k) in one
// tensor-core kernel.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_INDEXERKERNEL_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_INDEXERKERNEL_H

#include "KernelBuilder.h"

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"
#include "SparseAttn/Utils/ChipInfo.h"
#include "SparseAttn/Utils/LoweringBuilder.h"

namespace mlir::sparse_attn {

/// Rewrites every lightning_indexer on f16/bf16 with an index head dim up to
/// 256 (a lowerable mask or none, topk's candidates within shared memory)
/// into a launch of a warp per query, up to four a block: logits by
/// mma.sync with keys as rows and heads as columns, ReLU and the weighted
/// head sum in registers, a streaming top-k in shared memory (threshold,
/// radix-select compactions); the scores never reach global memory.
void populateIndexerKernelPatterns(RewritePatternSet &patterns,
                                   const MmaAttentionOptions &options);

/// What the indexer's kernel body reads: the buffers (index queries
/// `B x HI x Sq x DI`, index keys `B x Skv x DI`, weights `B x Sq x HI`),
/// the lengths, the mask and its segment ids (null without).
struct IndexerProblem {
  Value queries, keys, weights;
  Value batch, queryLen, kvLen;
  Value idsQ, idsKv;
  Attribute mask;
  int64_t heads = 0, headDim = 0, topk = 0;
  Type element, weightElement;
};

/// The problem of a lightning_indexer (or of the indexer part of a fused
/// op) on these tensors: their buffers, lengths (checked at run time as
/// the op's verifier checks static ones) and the mask's length checks.
IndexerProblem getIndexerProblem(PatternRewriter &rewriter,
                                 LoweringBuilder &emit, Value query, Value key,
                                 Value weights, Value idsQ, Value idsKv,
                                 Attribute mask, int64_t topk);

/// Shared-memory layout of the indexer's body for `warps` queries a block
/// (a warp each): their index heads, the key tiles' stages, each warp's
/// candidate keys and radix histogram (the transient part, from byte 0),
/// then each warp's candidate indices from `indicesOffset` (after the
/// transient part unless placed later): after the body, warp w's list is
/// the first `count` entries of row w there.
struct IndexerLayout {
  int64_t warps, stages, heads, dim, stride, capacity;
  /// The block's threads (warps * 32 unless the block has more warps than
  /// queries: those join the copies and barriers only).
  int64_t threads;
  int64_t queryBytes, keyOffset, keysOffset, histOffset, transientBytes;
  int64_t indicesOffset, bytes;

  IndexerLayout(int64_t warps, int64_t stages, int64_t headCount,
                int64_t headDim, int64_t topk);
  /// Moves the indices to `offset` (at least transientBytes, a multiple of
  /// 16).
  void placeIndicesAt(int64_t offset);
  int64_t indicesBytes() const { return warps * capacity * 4; }
};

/// The most cp.async stages of index key tiles the body may use for this
/// head dim on `chip` (one when rows are not whole 16-byte chunks).
int64_t getIndexerMaxStages(int64_t headDim, const ChipInfo &chip);

/// Whether the indexer's body takes these inputs (f16/bf16, head dim up to
/// 256, a lowerable mask or none), else why not.
LogicalResult checkIndexerInputs(Type element, int64_t headDim, Attribute mask,
                                 std::string &reason);

/// What the indexer's body leaves: the warp's count of listed keys (at most
/// topk; 0 for warps past layout.warps) and the view of the lists
/// (`[warps, capacity]` i32 at layout.indicesOffset: the warp's row holds
/// its keys' indices, ascending, in the first `count` entries).
struct IndexerSelection {
  Value count, lists;
};

/// The indexer's body for the block's `layout.warps` queries from
/// `firstQuery` of batch `batch` (threads `tid` of `layout.threads`; the
/// layout at byte 0 of `shared`): the logits on tensor cores, the weighted
/// ReLU head sums and each warp's streaming top-k. Every thread of the
/// block must run it.
IndexerSelection buildIndexerSelection(KernelBuilder &emit, Value tid,
                                       Value firstQuery, Value batch,
                                       const IndexerProblem &problem,
                                       const IndexerLayout &layout,
                                       Value shared);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_INDEXERKERNEL_H
