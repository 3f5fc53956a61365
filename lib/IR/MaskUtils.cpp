//===- MaskUtils.cpp - compile-time analysis of masks -----------*- C++ -*-===//
//
// Key-range algebra, block lists of structural masks and mask
// simplification.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/IR/MaskUtils.h"

#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::sparse_attn;

ArrayRef<Attribute> mlir::sparse_attn::getCombinedMasks(Attribute mask) {
  if (auto intersect = dyn_cast_or_null<IntersectAttr>(mask))
    return intersect.getMasks();
  if (auto unite = dyn_cast_or_null<UnionAttr>(mask))
    return unite.getMasks();
  return {};
}

unsigned mlir::sparse_attn::getMaskNestingDepth(Attribute mask) {
  unsigned depth = 0;
  for (Attribute element : getCombinedMasks(mask))
    depth = std::max(depth, getMaskNestingDepth(element));
  return depth + 1;
}

void mlir::sparse_attn::appendClampedRange(int64_t begin, int64_t end,
                                           int64_t kvLen,
                                           SmallVectorImpl<KeyRange> &ranges) {
  begin = std::max<int64_t>(begin, 0);
  end = std::min(end, kvLen);
  if (begin < end)
    ranges.push_back({begin, end});
}

SmallVector<KeyRange>
mlir::sparse_attn::intersectKeyRanges(ArrayRef<KeyRange> lhs,
                                      ArrayRef<KeyRange> rhs) {
  SmallVector<KeyRange> result;
  size_t l = 0, r = 0;
  while (l < lhs.size() && r < rhs.size()) {
    int64_t begin = std::max(lhs[l].begin, rhs[r].begin);
    int64_t end = std::min(lhs[l].end, rhs[r].end);
    if (begin < end)
      result.push_back({begin, end});
    // Advance whichever range ends first.
    if (lhs[l].end < rhs[r].end)
      ++l;
    else
      ++r;
  }
  return result;
}

SmallVector<KeyRange>
mlir::sparse_attn::unionKeyRanges(ArrayRef<KeyRange> lhs,
                                  ArrayRef<KeyRange> rhs) {
  SmallVector<KeyRange> merged;
  merged.reserve(lhs.size() + rhs.size());
  std::merge(
      lhs.begin(), lhs.end(), rhs.begin(), rhs.end(),
      std::back_inserter(merged),
      [](const KeyRange &a, const KeyRange &b) { return a.begin < b.begin; });
  SmallVector<KeyRange> result;
  for (const KeyRange &range : merged) {
    if (!result.empty() && range.begin <= result.back().end)
      result.back().end = std::max(result.back().end, range.end);
    else
      result.push_back(range);
  }
  return result;
}

FailureOr<BlockLists>
mlir::sparse_attn::computeBlockLists(MaskAttrInterface mask, int64_t qLen,
                                     int64_t kvLen, int64_t blockQ,
                                     int64_t blockKv, int64_t maxRows) {
  if (qLen < 0 || kvLen < 0 || blockQ < 1 || blockKv < 1 || qLen > maxRows)
    return failure();
  if (mask && mask.usesSegmentIds())
    return failure();

  BlockLists lists;
  lists.numQueryBlocks = ceilDiv(qLen, blockQ);
  lists.numKvBlocks = ceilDiv(kvLen, blockKv);
  if (lists.numQueryBlocks * lists.numKvBlocks > kMaxBlockPairs)
    return failure();
  lists.kvBlocks.resize(lists.numQueryBlocks);
  lists.fullKvBlocks.resize(lists.numQueryBlocks);
  lists.partialKvBlocks.resize(lists.numQueryBlocks);
  llvm::BitVector touched(lists.numKvBlocks), full(lists.numKvBlocks),
      covered(lists.numKvBlocks);
  int64_t rangeBudget = kMaxAnalyzedRanges;
  SmallVector<KeyRange> ranges;
  for (int64_t queryBlock = 0; queryBlock < lists.numQueryBlocks;
       ++queryBlock) {
    touched.reset();
    full.set();
    int64_t rowEnd = std::min(qLen, (queryBlock + 1) * blockQ);
    for (int64_t row = queryBlock * blockQ; row < rowEnd; ++row) {
      ranges.clear();
      int64_t queryPos = row + (kvLen - qLen);
      if (!mask)
        appendClampedRange(0, kvLen, kvLen, ranges);
      else if (failed(mask.appendAllowedKeys(queryPos, kvLen, ranges)))
        return failure();
      rangeBudget -= static_cast<int64_t>(ranges.size());
      if (rangeBudget < 0)
        return failure();
      // The ranges are disjoint and not adjacent: a block is covered for
      // this row iff one range holds all its keys (up to kvLen).
      covered.reset();
      for (const KeyRange &range : ranges) {
        touched.set(range.begin / blockKv, (range.end - 1) / blockKv + 1);
        int64_t first = ceilDiv(range.begin, blockKv);
        int64_t last =
            range.end == kvLen ? lists.numKvBlocks : range.end / blockKv;
        if (first < last)
          covered.set(first, last);
      }
      full &= covered;
    }
    for (unsigned kvBlock : touched.set_bits()) {
      auto block = static_cast<int32_t>(kvBlock);
      lists.kvBlocks[queryBlock].push_back(block);
      (full.test(kvBlock) ? lists.fullKvBlocks
                          : lists.partialKvBlocks)[queryBlock]
          .push_back(block);
    }
    lists.maxCount =
        std::max<int64_t>(lists.maxCount, lists.kvBlocks[queryBlock].size());
    lists.maxFullCount = std::max<int64_t>(
        lists.maxFullCount, lists.fullKvBlocks[queryBlock].size());
    lists.maxPartialCount = std::max<int64_t>(
        lists.maxPartialCount, lists.partialKvBlocks[queryBlock].size());
  }
  return lists;
}

//===----------------------------------------------------------------------===//
// Simplification
//===----------------------------------------------------------------------===//

/// Elements of `mask` if it is a combinator of kind `CombinatorAttr`.
template <typename CombinatorAttr>
static std::optional<ArrayRef<Attribute>> getElementsIf(Attribute mask) {
  if (auto combinator = dyn_cast<CombinatorAttr>(mask))
    return combinator.getMasks();
  return std::nullopt;
}

/// Within an intersection: causal and sliding windows meet in one sliding
/// window; causal is implied by a sink window.
static void mergeIntersectedWindows(MLIRContext *context,
                                    SmallVectorImpl<Attribute> &masks) {
  bool hasCausal = false, hasSinkWindow = false;
  std::optional<int64_t> left, right;
  for (Attribute mask : masks) {
    if (isa<CausalAttr>(mask))
      hasCausal = true;
    else if (isa<SinkWindowAttr>(mask))
      hasSinkWindow = true;
    else if (auto window = dyn_cast<SlidingWindowAttr>(mask)) {
      left = std::min(left.value_or(window.getLeft()), window.getLeft());
      right = std::min(right.value_or(window.getRight()), window.getRight());
    }
  }
  int numWindows = llvm::count_if(
      masks, [](Attribute mask) { return isa<SlidingWindowAttr>(mask); });
  bool mergeCausal = hasCausal && (left || hasSinkWindow);
  if (!mergeCausal && numWindows < 2)
    return;

  Attribute merged;
  if (left)
    merged = SlidingWindowAttr::get(context, *left, hasCausal ? 0 : *right);
  SmallVector<Attribute> result;
  for (Attribute mask : masks) {
    if (isa<SlidingWindowAttr>(mask) ||
        (mergeCausal && isa<CausalAttr>(mask))) {
      // The merged window takes the place of the first window or causal.
      if (merged) {
        result.push_back(merged);
        merged = {};
      }
      continue;
    }
    result.push_back(mask);
  }
  masks.assign(result.begin(), result.end());
}

template <typename CombinatorAttr>
static MaskAttrInterface simplifyCombinator(CombinatorAttr combinator) {
  MLIRContext *context = combinator.getContext();
  // Flatten nested combinators of the same kind (their elements were
  // simplified first) and drop duplicates, keeping the first occurrence.
  llvm::SetVector<Attribute> unique;
  for (Attribute element : combinator.getMasks()) {
    Attribute simplified = simplifyMask(cast<MaskAttrInterface>(element));
    if (auto nested = getElementsIf<CombinatorAttr>(simplified))
      unique.insert(nested->begin(), nested->end());
    else
      unique.insert(simplified);
  }
  SmallVector<Attribute> masks(unique.begin(), unique.end());
  if constexpr (std::is_same_v<CombinatorAttr, IntersectAttr>)
    mergeIntersectedWindows(context, masks);
  if (masks.size() == 1)
    return cast<MaskAttrInterface>(masks.front());
  if (ArrayRef<Attribute>(masks) == combinator.getMasks())
    return combinator;
  return CombinatorAttr::get(context, masks);
}

MaskAttrInterface mlir::sparse_attn::simplifyMask(MaskAttrInterface mask) {
  if (auto intersect = dyn_cast<IntersectAttr>(mask))
    return simplifyCombinator(intersect);
  if (auto unite = dyn_cast<UnionAttr>(mask))
    return simplifyCombinator(unite);
  return mask;
}
