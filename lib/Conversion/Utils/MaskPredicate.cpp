//===- MaskPredicate.cpp - IR for "is (i, j) allowed" ---------------------===//
//
// Emits the per-pair predicate of each mask attribute, as docs/semantics.md
// states it, in `index` arithmetic.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Conversion/MaskPredicate.h"

#include "SparseAttn/IR/MaskUtils.h"
#include "SparseAttn/IR/SparseAttnAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {
/// Index arithmetic at one insertion point.
class IndexMath {
public:
  IndexMath(OpBuilder &builder, Location loc) : b(builder), loc(loc) {}

  Value c(int64_t value) { return arith::ConstantIndexOp::create(b, loc, value); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value div(Value x, int64_t y) {
    return arith::DivSIOp::create(b, loc, x, c(y));
  }
  Value rem(Value x, int64_t y) {
    return arith::RemSIOp::create(b, loc, x, c(y));
  }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, predicate, x, y);
  }
  Value le(Value x, Value y) { return cmp(arith::CmpIPredicate::sle, x, y); }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value eq(Value x, Value y) { return cmp(arith::CmpIPredicate::eq, x, y); }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value trueI1() { return arith::ConstantIntOp::create(b, loc, 1, 1); }

private:
  OpBuilder &b;
  Location loc;
};
} // namespace

/// NATTEN's rule in each grid dimension (docs/semantics.md, Neighborhood).
static Value buildNeighborhood(IndexMath &m, NeighborhoodAttr attr,
                               Value position, Value key) {
  ArrayRef<int64_t> grid = attr.getGrid();
  int64_t numTokens = attr.getNumTokens();
  // Operands are built one statement at a time so the IR order does not
  // depend on the C++ compiler's argument evaluation order.
  Value notBefore = m.le(m.c(0), position);
  Value notAfter = m.lt(position, m.c(numTokens));
  Value allowed = m.andI(notBefore, notAfter);
  // Coordinates of a clamped position keep the arithmetic in range; the
  // range check above decides the out-of-grid rows.
  Value nonNegative = m.max(position, m.c(0));
  Value p = m.min(nonNegative, m.c(numTokens - 1));
  int64_t stride = numTokens;
  for (size_t d = 0; d < grid.size(); ++d) {
    int64_t extent = grid[d], window = attr.getWindow()[d],
            dilation = attr.getDilation()[d];
    stride /= extent;
    Value pd = m.rem(m.div(p, stride), extent);
    Value jd = m.rem(m.div(key, stride), extent);
    Value group = m.rem(pd, dilation);
    Value keyGroup = m.rem(jd, dilation);
    Value sameGroup = m.eq(group, keyGroup);
    Value queryMember = m.div(pd, dilation);
    Value keyMember = m.div(jd, dilation);
    Value begin, end;
    if (attr.getCausal()[d]) {
      Value earliest = m.sub(queryMember, m.c(window - 1));
      begin = m.max(earliest, m.c(0));
      end = m.add(queryMember, m.c(1));
    } else {
      // The group has (extent - 1 - group) / dilation + 1 members; the
      // window starts window / 2 before the query, shifted inside them.
      Value lastOffset = m.sub(m.c(extent - 1), group);
      Value members = m.add(m.div(lastOffset, dilation), m.c(1));
      Value centered = m.sub(queryMember, m.c(window / 2));
      Value latestBegin = m.sub(members, m.c(window));
      begin = m.min(m.max(centered, m.c(0)), latestBegin);
      end = m.add(begin, m.c(window));
    }
    Value afterBegin = m.le(begin, keyMember);
    Value beforeEnd = m.lt(keyMember, end);
    Value inWindow = m.andI(afterBegin, beforeEnd);
    Value inDim = m.andI(sameGroup, inWindow);
    allowed = m.andI(allowed, inDim);
  }
  return allowed;
}

static FailureOr<Value> buildPredicate(OpBuilder &builder, Location loc,
                                       IndexMath &m, Attribute mask,
                                       const MaskPairValues &pair,
                                       Value position) {
  auto combine = [&](ArrayRef<Attribute> masks,
                     bool isUnion) -> FailureOr<Value> {
    Value result;
    for (Attribute element : masks) {
      FailureOr<Value> value =
          buildPredicate(builder, loc, m, element, pair, position);
      if (failed(value))
        return failure();
      result = !result ? *value : isUnion ? m.orI(result, *value)
                                          : m.andI(result, *value);
    }
    return result;
  };
  Value key = pair.keyRow;
  return TypeSwitch<Attribute, FailureOr<Value>>(mask)
      .Case([&](CausalAttr) { return m.le(key, position); })
      .Case([&](SlidingWindowAttr attr) {
        Value first = m.sub(position, m.c(clampWindow(attr.getLeft())));
        Value last = m.add(position, m.c(clampWindow(attr.getRight())));
        Value afterFirst = m.le(first, key);
        Value beforeLast = m.le(key, last);
        return m.andI(afterFirst, beforeLast);
      })
      .Case([&](SinkWindowAttr attr) {
        Value notFuture = m.le(key, position);
        Value inSink = m.lt(key, m.c(clampWindow(attr.getSink())));
        Value distance = m.sub(position, key);
        Value inWindow =
            m.lt(distance, m.c(clampWindow(attr.getWindow())));
        Value inSinkOrWindow = m.orI(inSink, inWindow);
        return m.andI(notFuture, inSinkOrWindow);
      })
      .Case([&](DocumentAttr) -> FailureOr<Value> {
        if (!pair.segmentIdsQ || !pair.segmentIdsKv)
          return failure();
        Value segmentQ = tensor::ExtractOp::create(
            builder, loc, pair.segmentIdsQ, ValueRange{pair.batch, pair.queryRow});
        Value segmentKv = tensor::ExtractOp::create(
            builder, loc, pair.segmentIdsKv, ValueRange{pair.batch, key});
        return Value(arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq,
                                           segmentQ, segmentKv));
      })
      .Case([&](NeighborhoodAttr attr) {
        return buildNeighborhood(m, attr, position, key);
      })
      .Case([&](IntersectAttr attr) { return combine(attr.getMasks(), false); })
      .Case([&](UnionAttr attr) { return combine(attr.getMasks(), true); })
      .Default([](Attribute) { return failure(); });
}

FailureOr<Value> sparse_attn::buildMaskPredicate(OpBuilder &builder,
                                                 Location loc, Attribute mask,
                                                 const MaskPairValues &pair) {
  IndexMath m(builder, loc);
  if (!mask)
    return m.trueI1();
  if (!isMaskLowerable(mask))
    return failure();
  // Bottom-right alignment: p = i + (Skv - Sq).
  Value offset = m.sub(pair.kvLen, pair.queryLen);
  Value position = m.add(pair.queryRow, offset);
  return buildPredicate(builder, loc, m, mask, pair, position);
}

bool sparse_attn::isMaskLowerable(Attribute mask) {
  if (auto intersect = dyn_cast<IntersectAttr>(mask))
    return llvm::all_of(intersect.getMasks(), isMaskLowerable);
  if (auto unionAttr = dyn_cast<UnionAttr>(mask))
    return llvm::all_of(unionAttr.getMasks(), isMaskLowerable);
  return isa<CausalAttr, SlidingWindowAttr, SinkWindowAttr, DocumentAttr,
             NeighborhoodAttr>(mask);
}
