//===- Patterns.h - the reference lowering's pattern sets ------*- C++ -*-===//
//
// The base of every lowering pattern of convert-sparse-attn-to-linalg and
// the pattern set of each file, which populateSparseAttnToLinalgConversion-
// Patterns combines.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOLINALG_PATTERNS_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOLINALG_PATTERNS_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::sparse_attn {

template <typename OpTy> struct LoweringPattern : OpRewritePattern<OpTy> {
  LoweringPattern(MLIRContext *context, bool runtimeChecks)
      : OpRewritePattern<OpTy>(context), runtimeChecks(runtimeChecks) {}
  bool runtimeChecks;
};

/// attention, block_sparse_attention, token_sparse_attention.
void populateAttentionToLinalgPatterns(RewritePatternSet &patterns,
                                       bool runtimeChecks);
/// block_mask, pool, block_scores.
void populateBlockListsToLinalgPatterns(RewritePatternSet &patterns,
                                        bool runtimeChecks);
/// select_topk, lightning_indexer.
void populateSelectionToLinalgPatterns(RewritePatternSet &patterns,
                                       bool runtimeChecks);
void populateVerticalSlashToLinalgPatterns(RewritePatternSet &patterns,
                                           bool runtimeChecks);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOLINALG_PATTERNS_H
