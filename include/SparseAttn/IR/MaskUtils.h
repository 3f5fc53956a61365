//===- MaskUtils.h - compile-time analysis of masks -------------*- C++ -*-===//
//
// Key-range algebra, block-list computation and mask simplification: what
// the verifiers, the block_mask folder and canonicalization share.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_IR_MASKUTILS_H
#define SPARSE_ATTN_IR_MASKUTILS_H

#include "SparseAttn/IR/SparseAttnAttrs.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <algorithm>

namespace mlir::sparse_attn {

/// Combinators may nest at most this deep; deeper masks are rejected.
constexpr unsigned kMaxMaskNesting = 16;

/// Window parameters beyond this already cover every key of a legal length
/// (positions fit in 32 bits); clamping keeps `p - L` and `p + R` far from
/// overflow, and a larger window behaves the same.
constexpr int64_t kWindowClamp = int64_t(1) << 33;
inline int64_t clampWindow(int64_t value) {
  return std::min(value, kWindowClamp);
}

/// The element masks of an `intersect` or `union` (empty for any other mask).
ArrayRef<Attribute> getCombinedMasks(Attribute mask);

/// Nesting depth of a mask: 1 for a leaf, 1 + the deepest element for a
/// combinator. Bounded by kMaxMaskNesting for verified masks.
unsigned getMaskNestingDepth(Attribute mask);

/// Sorted, disjoint intersection of two sorted, disjoint range lists.
SmallVector<KeyRange> intersectKeyRanges(ArrayRef<KeyRange> lhs,
                                         ArrayRef<KeyRange> rhs);

/// Sorted, disjoint (and merged) union of two sorted, disjoint range lists.
SmallVector<KeyRange> unionKeyRanges(ArrayRef<KeyRange> lhs,
                                     ArrayRef<KeyRange> rhs);

/// Appends `[begin, end)` clamped to `[0, kvLen)` when non-empty.
void appendClampedRange(int64_t begin, int64_t end, int64_t kvLen,
                        SmallVectorImpl<KeyRange> &ranges);

/// Number of blocks of `blockSize` (>= 1) covering `length` (>= 0) items;
/// exact up to the largest int64 length (no `length + blockSize - 1`).
inline int64_t ceilDiv(int64_t length, int64_t blockSize) {
  return length / blockSize + (length % blockSize != 0);
}

/// For each query block, the ascending kv blocks that hold at least one
/// allowed pair (`kvBlocks`), split into those where every pair inside the
/// lengths is allowed (`fullKvBlocks`) and the rest (`partialKvBlocks`). A
/// null mask allows every pair.
struct BlockLists {
  int64_t numQueryBlocks = 0;
  int64_t numKvBlocks = 0;
  SmallVector<SmallVector<int32_t>> kvBlocks, fullKvBlocks, partialKvBlocks;
  int64_t maxCount = 0, maxFullCount = 0, maxPartialCount = 0;
};

/// Bounds on the compile-time work of computeBlockLists: block pairs, and
/// key ranges visited over all rows.
constexpr int64_t kMaxBlockPairs = int64_t(1) << 24;
constexpr int64_t kMaxAnalyzedRanges = int64_t(1) << 26;

/// Computes the block lists of a structural mask; fails when the mask reads
/// segment ids or cannot enumerate its keys, when `qLen` exceeds `maxRows`
/// (the work is one row scan per query), or past the bounds above.
FailureOr<BlockLists> computeBlockLists(MaskAttrInterface mask, int64_t qLen,
                                        int64_t kvLen, int64_t blockQ,
                                        int64_t blockKv,
                                        int64_t maxRows = int64_t(1) << 22);

/// Returns an equivalent, simpler mask (or `mask` itself): nested
/// combinators of the same kind are flattened, duplicates dropped, a
/// one-element combinator becomes its element, and within an intersection
/// causal and sliding windows merge into one sliding window, and causal is
/// dropped next to a sink window.
MaskAttrInterface simplifyMask(MaskAttrInterface mask);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_IR_MASKUTILS_H
