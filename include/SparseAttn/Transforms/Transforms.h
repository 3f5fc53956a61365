//===- Transforms.h - rewrites of sparse_attn ops ---------------*- C++ -*-===//
//
// Pattern sets on sparse_attn ops that stay in the dialect, for lowerings
// (ours and other compilers') to combine with their own.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TRANSFORMS_TRANSFORMS_H
#define SPARSE_ATTN_TRANSFORMS_TRANSFORMS_H

#include "SparseAttn/IR/SparseAttnOps.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace mlir {
class Pass;
class RewritePatternSet;
namespace sparse_attn {

/// The block_sparse_attention an `attention` op would become: its blocks
/// and the capacities of its lists (the full ones when it has them).
struct BlockSparseForm {
  int64_t blockQ = 0, blockKv = 0;
  int64_t capacity = 0;
  std::optional<int64_t> fullCapacity;
};

struct AttentionToBlockSparseOptions {
  /// Block sizes of the lists.
  int64_t blockQ = 128, blockKv = 128;
  /// Which ops to rewrite, given the form each would take (null: all). A
  /// lowering passes the test of the kernel it has for the result, so that
  /// an op it cannot take stays `attention`.
  std::function<bool(AttentionOp, const BlockSparseForm &)> filter;
};

/// Rewrites each `attention` with static lengths whose mask reads no
/// segment ids into `block_sparse_attention` over the exact lists of a
/// `block_mask` (full blocks apart, unless a `mask_mod` must see every
/// pair), which then folds to constants when small enough. The results are
/// those of the attention (docs/semantics.md: lists holding every block of
/// the mask change nothing).
void populateAttentionToBlockSparsePatterns(
    RewritePatternSet &patterns, const AttentionToBlockSparseOptions &options);

/// sparse-attn-attention-to-block-sparse with a filter (which the textual
/// options cannot carry).
std::unique_ptr<Pass> createSparseAttnAttentionToBlockSparsePass(
    const AttentionToBlockSparseOptions &options);

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_TRANSFORMS_TRANSFORMS_H
