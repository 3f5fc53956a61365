//===- MaskLowering.cpp - how each mask attribute lowers ------------------===//
//
// One external model of MaskLoweringAttrInterface per mask attribute: its
// pair predicate as docs/semantics.md states it, its key hull, tile tests
// and row interval, in `index` arithmetic. The combinators fold their
// elements' answers.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Utils/MaskLowering.h"

#include "SparseAttn/IR/MaskUtils.h"
#include "SparseAttn/IR/SparseAttnAttrs.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/Utils/LoweringBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::sparse_attn;

#include "SparseAttn/Utils/MaskLoweringInterface.cpp.inc"

namespace {

using Predicate = arith::CmpIPredicate;

/// The lowering of `element`, an element of a verified combinator (whose
/// elements hasMaskLowering has vetted).
MaskLoweringAttrInterface loweringOf(Attribute element) {
  return cast<MaskLoweringAttrInterface>(element);
}

//===----------------------------------------------------------------------===//
// Leaves
//===----------------------------------------------------------------------===//

/// Key j is allowed iff j <= p.
struct CausalLowering
    : MaskLoweringAttrInterface::ExternalModel<CausalLowering, CausalAttr> {
  FailureOr<Value> buildPairAllowed(Attribute, IndexArith &arith,
                                    const MaskPairValues &pair,
                                    Value position) const {
    return arith.le(pair.keyRow, position);
  }
  KeyHull buildKeyHull(Attribute, IndexArith &arith, Value, Value lastPosition,
                       Value, const SegmentBounds *) const {
    Value zero = arith.index(0);
    return {zero, arith.add(lastPosition, arith.index(1))};
  }
  Value buildTileFullyAllowed(Attribute, IndexArith &arith,
                              const TileBounds &tile) const {
    return arith.cmp(Predicate::sle, tile.lastKey, tile.firstPosition);
  }
  Value buildTileWhollyMasked(Attribute, IndexArith &arith,
                              const TileBounds &tile) const {
    return arith.cmp(Predicate::sgt, tile.firstKey, tile.lastPosition);
  }
  std::optional<RowKeyInterval> getRowKeyInterval(Attribute) const {
    return RowKeyInterval{kWindowClamp, 0};
  }
  bool hasLowerEdge(Attribute) const { return false; }
  void buildLengthChecks(Attribute, LoweringBuilder &, Value) const {}
};

/// p - left <= j <= p + right.
struct SlidingWindowLowering
    : MaskLoweringAttrInterface::ExternalModel<SlidingWindowLowering,
                                               SlidingWindowAttr> {
  FailureOr<Value> buildPairAllowed(Attribute attr, IndexArith &arith,
                                    const MaskPairValues &pair,
                                    Value position) const {
    auto window = cast<SlidingWindowAttr>(attr);
    Value first =
        arith.sub(position, arith.index(clampWindow(window.getLeft())));
    Value last =
        arith.add(position, arith.index(clampWindow(window.getRight())));
    Value afterFirst = arith.le(first, pair.keyRow);
    Value beforeLast = arith.le(pair.keyRow, last);
    return arith.andI(afterFirst, beforeLast);
  }
  KeyHull buildKeyHull(Attribute attr, IndexArith &arith, Value firstPosition,
                       Value lastPosition, Value,
                       const SegmentBounds *) const {
    auto window = cast<SlidingWindowAttr>(attr);
    Value lo =
        arith.sub(firstPosition, arith.index(clampWindow(window.getLeft())));
    Value reach = arith.index(clampWindow(window.getRight()) + 1);
    return {lo, arith.add(lastPosition, reach)};
  }
  Value buildTileFullyAllowed(Attribute attr, IndexArith &arith,
                              const TileBounds &tile) const {
    auto window = cast<SlidingWindowAttr>(attr);
    return arith.andI(
        arith.cmp(
            Predicate::sle, tile.lastKey,
            arith.add(tile.firstPosition, clampWindow(window.getRight()))),
        arith.cmp(Predicate::sge, tile.firstKey,
                  arith.sub(tile.lastPosition,
                            arith.index(clampWindow(window.getLeft())))));
  }
  Value buildTileWhollyMasked(Attribute attr, IndexArith &arith,
                              const TileBounds &tile) const {
    auto window = cast<SlidingWindowAttr>(attr);
    return arith.orI(
        arith.cmp(Predicate::sgt, tile.firstKey,
                  arith.add(tile.lastPosition, clampWindow(window.getRight()))),
        arith.lt(tile.lastKey,
                 arith.sub(tile.firstPosition,
                           arith.index(clampWindow(window.getLeft())))));
  }
  std::optional<RowKeyInterval> getRowKeyInterval(Attribute attr) const {
    auto window = cast<SlidingWindowAttr>(attr);
    return RowKeyInterval{clampWindow(window.getLeft()),
                          clampWindow(window.getRight())};
  }
  bool hasLowerEdge(Attribute attr) const {
    return cast<SlidingWindowAttr>(attr).getLeft() < kWindowClamp;
  }
  void buildLengthChecks(Attribute, LoweringBuilder &, Value) const {}
};

/// j <= p and (j < sink or p - j < window).
struct SinkWindowLowering
    : MaskLoweringAttrInterface::ExternalModel<SinkWindowLowering,
                                               SinkWindowAttr> {
  FailureOr<Value> buildPairAllowed(Attribute attr, IndexArith &arith,
                                    const MaskPairValues &pair,
                                    Value position) const {
    auto sink = cast<SinkWindowAttr>(attr);
    Value key = pair.keyRow;
    Value notFuture = arith.le(key, position);
    Value inSink = arith.lt(key, arith.index(clampWindow(sink.getSink())));
    Value distance = arith.sub(position, key);
    Value inWindow =
        arith.lt(distance, arith.index(clampWindow(sink.getWindow())));
    Value inSinkOrWindow = arith.orI(inSink, inWindow);
    return arith.andI(notFuture, inSinkOrWindow);
  }
  /// The window's keys, with the sink as a prefix.
  KeyHull buildKeyHull(Attribute attr, IndexArith &arith, Value firstPosition,
                       Value lastPosition, Value,
                       const SegmentBounds *) const {
    auto sink = cast<SinkWindowAttr>(attr);
    Value lo = arith.sub(firstPosition,
                         arith.index(clampWindow(sink.getWindow()) - 1));
    return {lo, arith.add(lastPosition, arith.index(1)),
            arith.index(clampWindow(sink.getSink()))};
  }
  Value buildTileFullyAllowed(Attribute attr, IndexArith &arith,
                              const TileBounds &tile) const {
    auto sink = cast<SinkWindowAttr>(attr);
    Value inSink =
        arith.lt(tile.lastKey, arith.index(clampWindow(sink.getSink())));
    Value inWindow = arith.lt(arith.sub(tile.lastPosition, tile.firstKey),
                              arith.index(clampWindow(sink.getWindow())));
    return arith.andI(
        arith.cmp(Predicate::sle, tile.lastKey, tile.firstPosition),
        arith.orI(inSink, inWindow));
  }
  Value buildTileWhollyMasked(Attribute attr, IndexArith &arith,
                              const TileBounds &tile) const {
    // Causal, and past the sink and outside every row's window.
    auto sink = cast<SinkWindowAttr>(attr);
    Value pastSink = arith.cmp(Predicate::sge, tile.firstKey,
                               arith.index(clampWindow(sink.getSink())));
    Value outside =
        arith.cmp(Predicate::sge, arith.sub(tile.firstPosition, tile.lastKey),
                  arith.index(clampWindow(sink.getWindow())));
    return arith.orI(
        arith.cmp(Predicate::sgt, tile.firstKey, tile.lastPosition),
        arith.andI(pastSink, outside));
  }
  std::optional<RowKeyInterval> getRowKeyInterval(Attribute) const {
    return std::nullopt;
  }
  bool hasLowerEdge(Attribute attr) const {
    return cast<SinkWindowAttr>(attr).getWindow() < kWindowClamp;
  }
  void buildLengthChecks(Attribute, LoweringBuilder &, Value) const {}
};

/// seg_q[b, i] == seg_kv[b, j]. Without a kernel's segment bounds every key
/// may be allowed and tiles are masked pair by pair; with them, sorted key
/// ids give each query tile its documents' key range and each kv tile a
/// test.
struct DocumentLowering
    : MaskLoweringAttrInterface::ExternalModel<DocumentLowering, DocumentAttr> {
  /// One id of `ids` (a tensor or, in a kernel, a memref).
  static Value readId(IndexArith &arith, Value ids, Value batch, Value row) {
    if (isa<MemRefType>(ids.getType()))
      return memref::LoadOp::create(arith.builder, arith.loc, ids,
                                    ValueRange{batch, row});
    return tensor::ExtractOp::create(arith.builder, arith.loc, ids,
                                     ValueRange{batch, row});
  }
  FailureOr<Value> buildPairAllowed(Attribute, IndexArith &arith,
                                    const MaskPairValues &pair, Value) const {
    if (pair.segmentQ && pair.segmentKv)
      return arith.eq(pair.segmentQ, pair.segmentKv);
    if (!pair.segmentIdsQ || !pair.segmentIdsKv)
      return failure();
    Value segmentQ =
        readId(arith, pair.segmentIdsQ, pair.batch, pair.queryRow);
    Value segmentKv =
        readId(arith, pair.segmentIdsKv, pair.batch, pair.keyRow);
    return arith.eq(segmentQ, segmentKv);
  }
  /// With sorted key ids, the keys of the rows' documents.
  KeyHull buildKeyHull(Attribute, IndexArith &arith, Value, Value, Value kvLen,
                       const SegmentBounds *segments) const {
    if (!segments || !segments->keyLo)
      return {arith.index(0), kvLen};
    return {arith.select(segments->sorted, segments->keyLo, arith.index(0)),
            arith.select(segments->sorted, segments->keyHi, kvLen)};
  }
  /// Sorted key ids, one document in the query rows and at both ends of the
  /// tile: every pair is in it.
  Value buildTileFullyAllowed(Attribute, IndexArith &arith,
                              const TileBounds &tile) const {
    const SegmentBounds *segments = tile.segments;
    if (!segments || !segments->firstKeyId)
      return nullptr;
    Value oneQuery = arith.eq(segments->queryMin, segments->queryMax);
    Value firstSame = arith.eq(segments->firstKeyId, segments->queryMin);
    Value lastSame = arith.eq(segments->lastKeyId, segments->queryMin);
    return arith.andI(arith.andI(segments->sorted, oneQuery),
                      arith.andI(firstSame, lastSame));
  }
  /// Sorted key ids all below or all above the query rows' ids.
  Value buildTileWhollyMasked(Attribute, IndexArith &arith,
                              const TileBounds &tile) const {
    const SegmentBounds *segments = tile.segments;
    if (!segments || !segments->firstKeyId)
      return nullptr;
    Value below = arith.lt(segments->lastKeyId, segments->queryMin);
    Value above = arith.lt(segments->queryMax, segments->firstKeyId);
    return arith.andI(segments->sorted, arith.orI(below, above));
  }
  std::optional<RowKeyInterval> getRowKeyInterval(Attribute) const {
    return std::nullopt;
  }
  bool hasLowerEdge(Attribute) const { return false; }
  void buildLengthChecks(Attribute, LoweringBuilder &, Value) const {}
};

/// NATTEN's window in grid dimension `d` for a query coordinate: the
/// query's dilation group and the members [begin, end) of that group
/// (coordinate = group + dilation * member) it sees.
struct NeighborhoodWindow {
  Value group, begin, end;
};
NeighborhoodWindow buildNeighborhoodWindow(IndexArith &arith,
                                           NeighborhoodAttr neighborhood,
                                           size_t d, Value queryCoord) {
  int64_t extent = neighborhood.getGrid()[d],
          window = neighborhood.getWindow()[d],
          dilation = neighborhood.getDilation()[d];
  Value group = arith.srem(queryCoord, dilation);
  Value queryMember = arith.sdiv(queryCoord, dilation);
  if (neighborhood.getCausal()[d]) {
    Value earliest = arith.sub(queryMember, arith.index(window - 1));
    Value begin = arith.max(earliest, arith.index(0));
    return {group, begin, arith.add(queryMember, arith.index(1))};
  }
  // The group has (extent - 1 - group) / dilation + 1 members; the window
  // starts window / 2 before the query, shifted inside them.
  Value lastOffset = arith.sub(arith.index(extent - 1), group);
  Value members = arith.add(arith.sdiv(lastOffset, dilation), arith.index(1));
  Value centered = arith.sub(queryMember, arith.index(window / 2));
  Value latestBegin = arith.sub(members, arith.index(window));
  Value begin = arith.min(arith.max(centered, arith.index(0)), latestBegin);
  return {group, begin, arith.add(begin, arith.index(window))};
}

/// The coordinate of a (clamped) position or key in grid dimension `d`.
Value gridCoord(IndexArith &arith, NeighborhoodAttr neighborhood, size_t d,
                Value token) {
  ArrayRef<int64_t> grid = neighborhood.getGrid();
  int64_t stride = 1;
  for (size_t inner = d + 1; inner < grid.size(); ++inner)
    stride *= grid[inner];
  return arith.srem(arith.sdiv(token, stride), grid[d]);
}

/// Whether `position` lies on the grid, and its clamped value (which keeps
/// the coordinate arithmetic in range).
std::pair<Value, Value> clampToGrid(IndexArith &arith,
                                    NeighborhoodAttr neighborhood,
                                    Value position) {
  int64_t numTokens = neighborhood.getNumTokens();
  // Operands are built one statement at a time so the IR order does not
  // depend on the C++ compiler's argument evaluation order.
  Value notBefore = arith.le(arith.index(0), position);
  Value notAfter = arith.lt(position, arith.index(numTokens));
  Value onGrid = arith.andI(notBefore, notAfter);
  Value nonNegative = arith.max(position, arith.index(0));
  return {onGrid, arith.min(nonNegative, arith.index(numTokens - 1))};
}

/// Whether the key at `keyCoord` of dimension `d` is in `window`.
Value inNeighborhoodWindow(IndexArith &arith, NeighborhoodAttr neighborhood,
                           size_t d, const NeighborhoodWindow &window,
                           Value keyCoord) {
  int64_t dilation = neighborhood.getDilation()[d];
  Value keyGroup = arith.srem(keyCoord, dilation);
  Value sameGroup = arith.eq(window.group, keyGroup);
  Value keyMember = arith.sdiv(keyCoord, dilation);
  Value afterBegin = arith.le(window.begin, keyMember);
  Value beforeEnd = arith.lt(keyMember, window.end);
  Value inWindow = arith.andI(afterBegin, beforeEnd);
  return arith.andI(sameGroup, inWindow);
}

/// NATTEN's rule in each grid dimension (docs/semantics.md, Neighborhood).
struct NeighborhoodLowering
    : MaskLoweringAttrInterface::ExternalModel<NeighborhoodLowering,
                                               NeighborhoodAttr> {
  FailureOr<Value> buildPairAllowed(Attribute attr, IndexArith &arith,
                                    const MaskPairValues &pair,
                                    Value position) const {
    auto neighborhood = cast<NeighborhoodAttr>(attr);
    auto [allowed, clamped] = clampToGrid(arith, neighborhood, position);
    for (size_t d = 0; d < neighborhood.getGrid().size(); ++d) {
      Value queryCoord = gridCoord(arith, neighborhood, d, clamped);
      Value keyCoord = gridCoord(arith, neighborhood, d, pair.keyRow);
      NeighborhoodWindow window =
          buildNeighborhoodWindow(arith, neighborhood, d, queryCoord);
      Value inDim =
          inNeighborhoodWindow(arith, neighborhood, d, window, keyCoord);
      allowed = arith.andI(allowed, inDim);
    }
    return allowed;
  }
  /// The rows of the outermost grid dimension the queries' windows reach
  /// (row-major keys: whole rows of the inner dimensions). Exact without
  /// dilation (the window's first row is monotone in the query's row);
  /// within (window - 1) * dilation rows of the queries' otherwise.
  KeyHull buildKeyHull(Attribute attr, IndexArith &arith, Value firstPosition,
                       Value lastPosition, Value,
                       const SegmentBounds *) const {
    auto neighborhood = cast<NeighborhoodAttr>(attr);
    int64_t numTokens = neighborhood.getNumTokens();
    int64_t extent = neighborhood.getGrid()[0];
    int64_t window = neighborhood.getWindow()[0];
    int64_t dilation = neighborhood.getDilation()[0];
    int64_t stride = numTokens / extent;
    auto rowOf = [&](Value position) {
      Value clamped = arith.min(arith.max(position, arith.index(0)),
                                arith.index(numTokens - 1));
      return arith.sdiv(clamped, stride);
    };
    Value firstRow = rowOf(firstPosition), lastRow = rowOf(lastPosition);
    int64_t reach = (window - 1) * dilation;
    Value lo, hi;
    if (neighborhood.getCausal()[0]) {
      lo = arith.max(arith.sub(firstRow, arith.index(reach)), arith.index(0));
      hi = arith.add(lastRow, arith.index(1));
    } else if (dilation == 1) {
      auto begin = [&](Value row) {
        Value centered = arith.sub(row, arith.index(window / 2));
        return arith.min(arith.max(centered, arith.index(0)),
                         arith.index(extent - window));
      };
      lo = begin(firstRow);
      hi = arith.add(begin(lastRow), arith.index(window));
    } else {
      lo = arith.max(arith.sub(firstRow, arith.index(reach)), arith.index(0));
      hi = arith.add(arith.min(arith.add(lastRow, arith.index(reach)),
                               arith.index(extent - 1)),
                     arith.index(1));
    }
    return {arith.mul(lo, stride), arith.mul(hi, stride)};
  }
  /// Decided pair by pair: no tile tests, no row interval.
  Value buildTileFullyAllowed(Attribute, IndexArith &,
                              const TileBounds &) const {
    return nullptr;
  }
  Value buildTileWhollyMasked(Attribute, IndexArith &,
                              const TileBounds &) const {
    return nullptr;
  }
  std::optional<RowKeyInterval> getRowKeyInterval(Attribute) const {
    return std::nullopt;
  }
  bool hasLowerEdge(Attribute) const { return false; }
  void buildLengthChecks(Attribute attr, LoweringBuilder &builder,
                         Value kvLen) const {
    int64_t numTokens = cast<NeighborhoodAttr>(attr).getNumTokens();
    builder.checkEq(kvLen, builder.index(numTokens),
                    "the key length differs from the neighborhood grid's " +
                        Twine(numTokens) + " tokens");
  }
};

//===----------------------------------------------------------------------===//
// Combinators
//===----------------------------------------------------------------------===//

/// An intersection (`isUnion` false) or a union of masks.
template <typename CombinatorAttr, bool isUnion>
struct CombinatorLowering
    : MaskLoweringAttrInterface::ExternalModel<
          CombinatorLowering<CombinatorAttr, isUnion>, CombinatorAttr> {
  static ArrayRef<Attribute> elements(Attribute attr) {
    return cast<CombinatorAttr>(attr).getMasks();
  }

  FailureOr<Value> buildPairAllowed(Attribute attr, IndexArith &arith,
                                    const MaskPairValues &pair,
                                    Value position) const {
    Value result;
    for (Attribute element : elements(attr)) {
      FailureOr<Value> allowed =
          loweringOf(element).buildPairAllowed(arith, pair, position);
      if (failed(allowed))
        return failure();
      result = !result   ? *allowed
               : isUnion ? arith.orI(result, *allowed)
                         : arith.andI(result, *allowed);
    }
    return result;
  }

  /// The elements' hulls: their hull for a union (with the longest
  /// prefix), their overlap for an intersection (an element's prefix joined
  /// to its range: the overlap of two prefixed sets has no such form).
  KeyHull buildKeyHull(Attribute attr, IndexArith &arith, Value firstPosition,
                       Value lastPosition, Value kvLen,
                       const SegmentBounds *segments) const {
    std::optional<KeyHull> hull;
    for (Attribute element : elements(attr)) {
      KeyHull next = loweringOf(element).buildKeyHull(
          arith, firstPosition, lastPosition, kvLen, segments);
      if (!isUnion && next.prefixEnd)
        next = KeyHull{arith.min(next.lo, arith.index(0)),
                       arith.max(next.hi, next.prefixEnd)};
      if (!hull) {
        hull = next;
        continue;
      }
      if (!isUnion) {
        hull = KeyHull{arith.max(hull->lo, next.lo),
                       arith.min(hull->hi, next.hi)};
        continue;
      }
      Value prefix = hull->prefixEnd;
      if (next.prefixEnd)
        prefix = prefix ? arith.max(prefix, next.prefixEnd) : next.prefixEnd;
      hull = KeyHull{arith.min(hull->lo, next.lo), arith.max(hull->hi, next.hi),
                     prefix};
    }
    return *hull;
  }

  /// A tile test from the elements' tests: `disjunctive`, the or of those
  /// that have one (null if none has); otherwise the and of all (null if
  /// one has none).
  static Value combineTileTests(IndexArith &arith, Attribute attr,
                                bool disjunctive,
                                function_ref<Value(Attribute)> test) {
    Value result;
    for (Attribute element : elements(attr)) {
      Value holds = test(element);
      if (!holds) {
        if (disjunctive)
          continue;
        return nullptr;
      }
      result = !result       ? holds
               : disjunctive ? arith.orI(result, holds)
                             : arith.andI(result, holds);
    }
    return result;
  }

  /// A union is fully allowed if one element is; an intersection needs all.
  Value buildTileFullyAllowed(Attribute attr, IndexArith &arith,
                              const TileBounds &tile) const {
    return combineTileTests(
        arith, attr, /*disjunctive=*/isUnion, [&](Attribute element) {
          return loweringOf(element).buildTileFullyAllowed(arith, tile);
        });
  }

  /// An intersection is wholly masked if one element is; a union needs all.
  Value buildTileWhollyMasked(Attribute attr, IndexArith &arith,
                              const TileBounds &tile) const {
    return combineTileTests(
        arith, attr, /*disjunctive=*/!isUnion, [&](Attribute element) {
          return loweringOf(element).buildTileWhollyMasked(arith, tile);
        });
  }

  /// Every element's interval holds its row's position, so the union of
  /// intervals is the interval of the largest reaches, and the intersection
  /// that of the smallest.
  std::optional<RowKeyInterval> getRowKeyInterval(Attribute attr) const {
    std::optional<RowKeyInterval> result;
    for (Attribute element : elements(attr)) {
      std::optional<RowKeyInterval> interval =
          loweringOf(element).getRowKeyInterval();
      if (!interval)
        return std::nullopt;
      if (!result)
        result = interval;
      else if (isUnion)
        result = RowKeyInterval{std::max(result->left, interval->left),
                                std::max(result->right, interval->right)};
      else
        result = RowKeyInterval{std::min(result->left, interval->left),
                                std::min(result->right, interval->right)};
    }
    return result;
  }

  bool hasLowerEdge(Attribute attr) const {
    return llvm::any_of(elements(attr), [](Attribute element) {
      return loweringOf(element).hasLowerEdge();
    });
  }

  void buildLengthChecks(Attribute attr, LoweringBuilder &builder,
                         Value kvLen) const {
    for (Attribute element : elements(attr))
      loweringOf(element).buildLengthChecks(builder, kvLen);
  }
};

} // namespace

void sparse_attn::registerMaskLoweringInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, SparseAttnDialect *) {
    CausalAttr::attachInterface<CausalLowering>(*context);
    SlidingWindowAttr::attachInterface<SlidingWindowLowering>(*context);
    SinkWindowAttr::attachInterface<SinkWindowLowering>(*context);
    DocumentAttr::attachInterface<DocumentLowering>(*context);
    NeighborhoodAttr::attachInterface<NeighborhoodLowering>(*context);
    IntersectAttr::attachInterface<
        CombinatorLowering<IntersectAttr, /*isUnion=*/false>>(*context);
    UnionAttr::attachInterface<CombinatorLowering<UnionAttr, /*isUnion=*/true>>(
        *context);
  });
}

bool sparse_attn::hasMaskLowering(Attribute mask) {
  if (!mask)
    return true;
  if (!isa<MaskLoweringAttrInterface>(mask))
    return false;
  return llvm::all_of(getCombinedMasks(mask), hasMaskLowering);
}

FailureOr<Value> sparse_attn::buildMaskPredicate(OpBuilder &builder,
                                                 Location loc, Attribute mask,
                                                 const MaskPairValues &pair) {
  IndexArith arith(builder, loc);
  if (!mask)
    return arith.boolean(true);
  if (!hasMaskLowering(mask))
    return failure();
  // Bottom-right alignment: p = i + (Skv - Sq).
  Value offset = arith.sub(pair.kvLen, pair.queryLen);
  Value position = arith.add(pair.queryRow, offset);
  return loweringOf(mask).buildPairAllowed(arith, pair, position);
}

KeyHull sparse_attn::buildKeyRanges(IndexArith &arith, Attribute mask,
                                    Value firstPosition, Value lastPosition,
                                    Value kvLen,
                                    const SegmentBounds *segments) {
  if (!mask)
    return {arith.index(0), kvLen};
  return loweringOf(mask).buildKeyHull(arith, firstPosition, lastPosition,
                                       kvLen, segments);
}

KeyHull sparse_attn::buildKeyHull(IndexArith &arith, Attribute mask,
                                  Value firstPosition, Value lastPosition,
                                  Value kvLen,
                                  const SegmentBounds *segments) {
  KeyHull ranges = buildKeyRanges(arith, mask, firstPosition, lastPosition,
                                  kvLen, segments);
  if (!ranges.prefixEnd)
    return ranges;
  return {arith.min(ranges.lo, arith.index(0)),
          arith.max(ranges.hi, ranges.prefixEnd)};
}

Value sparse_attn::buildTileFullyAllowed(IndexArith &arith, Attribute mask,
                                         const TileBounds &tile) {
  if (!mask)
    return arith.boolean(true);
  return loweringOf(mask).buildTileFullyAllowed(arith, tile);
}

Value sparse_attn::buildTileWhollyMasked(IndexArith &arith, Attribute mask,
                                         const TileBounds &tile) {
  if (!mask)
    return nullptr;
  return loweringOf(mask).buildTileWhollyMasked(arith, tile);
}

std::optional<RowKeyInterval> sparse_attn::getRowKeyInterval(Attribute mask) {
  if (!mask)
    return std::nullopt;
  return loweringOf(mask).getRowKeyInterval();
}

/// A neighborhood's keys inside a tile within one innermost row of its
/// grid: the outer dimensions' windows decide whether the row sees that
/// grid row at all; the innermost window, undilated, is one interval.
static std::optional<TileRowKeys>
buildNeighborhoodRowKeys(IndexArith &arith, NeighborhoodAttr neighborhood,
                         const TileBounds &tile, ArrayRef<Value> positions) {
  size_t inner = neighborhood.getGrid().size() - 1;
  if (neighborhood.getDilation()[inner] != 1)
    return std::nullopt;
  int64_t extent = neighborhood.getGrid()[inner];
  TileRowKeys keys;
  keys.condition = arith.eq(arith.sdiv(tile.firstKey, extent),
                            arith.sdiv(tile.lastKey, extent));
  Value rowBase = arith.sub(tile.firstKey, arith.srem(tile.firstKey, extent));
  for (Value position : positions) {
    auto [allowed, clamped] = clampToGrid(arith, neighborhood, position);
    for (size_t d = 0; d < inner; ++d) {
      Value queryCoord = gridCoord(arith, neighborhood, d, clamped);
      Value keyCoord = gridCoord(arith, neighborhood, d, tile.firstKey);
      NeighborhoodWindow window =
          buildNeighborhoodWindow(arith, neighborhood, d, queryCoord);
      allowed = arith.andI(
          allowed,
          inNeighborhoodWindow(arith, neighborhood, d, window, keyCoord));
    }
    NeighborhoodWindow window = buildNeighborhoodWindow(
        arith, neighborhood, inner,
        gridCoord(arith, neighborhood, inner, clamped));
    Value lo = arith.add(rowBase, window.begin);
    Value hi = arith.add(rowBase, window.end);
    keys.rows.push_back({arith.select(allowed, lo, rowBase),
                         arith.select(allowed, hi, rowBase)});
  }
  return keys;
}

std::optional<TileRowKeys>
sparse_attn::buildTileRowKeys(IndexArith &arith, Attribute mask,
                              const TileBounds &tile,
                              ArrayRef<Value> positions) {
  if (!mask)
    return std::nullopt;
  if (std::optional<RowKeyInterval> interval = getRowKeyInterval(mask)) {
    TileRowKeys keys;
    keys.condition = arith.boolean(true);
    for (Value position : positions)
      keys.rows.push_back(
          {arith.sub(position, arith.index(interval->left)),
           arith.add(position, arith.index(interval->right + 1))});
    return keys;
  }
  if (auto neighborhood = dyn_cast<NeighborhoodAttr>(mask))
    return buildNeighborhoodRowKeys(arith, neighborhood, tile, positions);
  auto intersect = dyn_cast<IntersectAttr>(mask);
  if (!intersect)
    return std::nullopt;
  std::optional<TileRowKeys> keys;
  Value condition;
  for (Attribute element : intersect.getMasks()) {
    if (std::optional<TileRowKeys> own =
            buildTileRowKeys(arith, element, tile, positions)) {
      if (!keys) {
        keys = std::move(own);
        continue;
      }
      for (auto [row, ownRow] : llvm::zip_equal(keys->rows, own->rows))
        row = {arith.max(row.lo, ownRow.lo), arith.min(row.hi, ownRow.hi)};
      keys->condition = arith.andI(keys->condition, own->condition);
      continue;
    }
    Value allowed = buildTileFullyAllowed(arith, element, tile);
    if (!allowed)
      return std::nullopt;
    condition = condition ? arith.andI(condition, allowed) : allowed;
  }
  if (keys && condition)
    keys->condition = arith.andI(keys->condition, condition);
  return keys;
}

bool sparse_attn::hasLowerEdge(Attribute mask) {
  return mask && loweringOf(mask).hasLowerEdge();
}

void sparse_attn::checkMaskLengths(LoweringBuilder &builder, Attribute mask,
                                   Value kvLen) {
  if (mask)
    loweringOf(mask).buildLengthChecks(builder, kvLen);
}
