//===- RaiseAttentionScores.cpp - the score chain per element -------------===//
//
// sparse-attn-raise-attention's view of what the scores go through: the
// chain rematerialized as scalar code per (b, h, i, j), and the analysis of
// its mask predicates (bands on j - i, dense constants) into mask
// attributes.
//
//===----------------------------------------------------------------------===//

#include "RaiseAttentionUtils.h"
#include "SparseAttn/Utils/IndexArith.h"

#include "SparseAttn/IR/SparseAttnAttrs.h"
#include "SparseAttn/IR/SparseAttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <map>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace mlir::sparse_attn::raise_attention {

//===----------------------------------------------------------------------===//
// Rematerializing the scores per element
//===----------------------------------------------------------------------===//

/// Builds, in a block with index arguments (b, h, i, j) (and the score %s),
/// the scalar a tensor on the score chain holds at given indices.
namespace {
class Rematerializer {
public:
  /// `score` stands for `scores` at `scoreIndices` (null: the scores may
  /// not be read).
  Rematerializer(OpBuilder &builder, Location loc, Value scores, Value score,
                 ArrayRef<Value> scoreIndices)
      : builder(builder), loc(loc), ia(builder, loc), scores(scores),
        score(score), scoreIndices(scoreIndices) {}

  /// The element of `tensor` at `indices`, or failure.
  FailureOr<Value> at(Value tensor, ArrayRef<Value> indices) {
    SmallVector<const void *> key{tensor.getAsOpaquePointer()};
    for (Value index : indices)
      key.push_back(index.getAsOpaquePointer());
    auto it = cache.find(key);
    if (it != cache.end())
      return it->second;
    FailureOr<Value> result = compute(tensor, indices);
    if (succeeded(result))
      cache[key] = *result;
    return result;
  }

private:
  FailureOr<Value> compute(Value tensor, ArrayRef<Value> indices) {
    if (tensor == scores) {
      // The scores only where the op computes them: at (b, h, i, j).
      if (!score || !llvm::equal(indices, scoreIndices))
        return failure();
      return score;
    }
    auto type = dyn_cast<RankedTensorType>(tensor.getType());
    if (!type)
      return failure();
    if (std::optional<double> splat = getFloatConstant(tensor);
        splat && isa<FloatType>(type.getElementType()))
      return arith::ConstantOp::create(
                 builder, loc,
                 builder.getFloatAttr(type.getElementType(), *splat))
          .getResult();
    DenseElementsAttr dense;
    if (matchPattern(tensor, m_Constant(&dense)) && dense.isSplat())
      return arith::ConstantOp::create(builder, loc,
                                       dense.getSplatValue<TypedAttr>())
          .getResult();
    Operation *def = tensor.getDefiningOp();
    if (auto generic = dyn_cast_or_null<linalg::GenericOp>(def);
        generic && generic.getNumLoops() == generic.getNumParallelLoops())
      return inlineGeneric(generic, cast<OpResult>(tensor).getResultNumber(),
                           indices);
    if (auto broadcast = dyn_cast_or_null<linalg::BroadcastOp>(def)) {
      SmallVector<Value> inner;
      for (auto [d, index] : llvm::enumerate(indices))
        if (!llvm::is_contained(broadcast.getDimensions(),
                                static_cast<int64_t>(d)))
          inner.push_back(index);
      return at(broadcast.getInput(), inner);
    }
    if (auto transpose = dyn_cast_or_null<linalg::TransposeOp>(def)) {
      SmallVector<Value> inner(indices.size());
      for (auto [p, source] : llvm::enumerate(transpose.getPermutation()))
        inner[source] = indices[p];
      return at(transpose.getInput(), inner);
    }
    if (auto cast = dyn_cast_or_null<tensor::CastOp>(def))
      return at(cast.getSource(), indices);
    if (auto collapse = dyn_cast_or_null<tensor::CollapseShapeOp>(def))
      if (collapse.getSrcType().hasStaticShape()) {
        SmallVector<Value> inner;
        for (auto [group, index] :
             llvm::zip(collapse.getReassociationIndices(), indices)) {
          SmallVector<int64_t> sizes;
          for (int64_t d : group)
            sizes.push_back(collapse.getSrcType().getDimSize(d));
          llvm::append_range(inner, delinearize(index, sizes));
        }
        return at(collapse.getSrc(), inner);
      }
    if (auto expand = dyn_cast_or_null<tensor::ExpandShapeOp>(def))
      if (expand.getResultType().hasStaticShape()) {
        SmallVector<Value> inner;
        for (ReassociationIndices group : expand.getReassociationIndices()) {
          Value linear = ia.index(0);
          for (int64_t d : group) {
            int64_t size = expand.getResultType().getDimSize(d);
            if (size != 1)
              linear = ia.add(ia.mul(linear, size), indices[d]);
          }
          inner.push_back(linear);
        }
        return at(expand.getSrc(), inner);
      }
    // Anything else (function arguments, dense constants, other ops' results)
    // is read where it is.
    return tensor::ExtractOp::create(builder, loc, tensor, indices).getResult();
  }

  SmallVector<Value> delinearize(Value index, ArrayRef<int64_t> sizes) {
    SmallVector<Value> result(sizes.size());
    // Unit dims around one real dim (a kept or added unit dim): 0s and the
    // index itself.
    if (llvm::count_if(sizes, [](int64_t size) { return size != 1; }) <= 1) {
      for (auto [d, size] : llvm::enumerate(sizes))
        result[d] = size == 1 ? ia.index(0) : index;
      if (llvm::all_of(sizes, [](int64_t size) { return size == 1; }))
        result.back() = index;
      return result;
    }
    Value rest = index;
    for (int64_t d = sizes.size() - 1; d >= 0; --d) {
      if (d == 0) {
        result[d] = rest;
        break;
      }
      result[d] = ia.urem(rest, sizes[d]);
      rest = ia.udiv(rest, sizes[d]);
    }
    return result;
  }

  /// Clones the body of an all-parallel generic for the element at
  /// `indices` of its result `resultNumber`.
  FailureOr<Value> inlineGeneric(linalg::GenericOp op, unsigned resultNumber,
                                 ArrayRef<Value> indices) {
    AffineMap outMap =
        op.getMatchingIndexingMap(op.getDpsInitOperand(resultNumber));
    if (!outMap.isPermutation())
      return failure();
    // Loop index d = the output index at the position its dim takes.
    SmallVector<Value> loops(op.getNumLoops());
    for (auto [p, expr] : llvm::enumerate(outMap.getResults()))
      loops[cast<AffineDimExpr>(expr).getPosition()] = indices[p];
    Block &body = op.getRegion().front();
    IRMapping mapping;
    for (OpOperand &operand : op->getOpOperands()) {
      BlockArgument arg = body.getArgument(operand.getOperandNumber());
      if (arg.use_empty())
        continue;
      if (op.isDpsInit(&operand))
        return failure();
      AffineMap map = op.getMatchingIndexingMap(&operand);
      SmallVector<Value> inner;
      for (AffineExpr expr : map.getResults()) {
        if (auto dim = dyn_cast<AffineDimExpr>(expr))
          inner.push_back(loops[dim.getPosition()]);
        else if (auto constant = dyn_cast<AffineConstantExpr>(expr))
          inner.push_back(ia.index(constant.getValue()));
        else
          return failure();
      }
      FailureOr<Value> element = at(operand.get(), inner);
      if (failed(element))
        return failure();
      mapping.map(arg, *element);
    }
    for (Operation &inner : body.without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
        mapping.map(index.getResult(), loops[index.getDim()]);
        continue;
      }
      if (inner.getNumRegions() != 0)
        return failure();
      builder.clone(inner, mapping);
    }
    return mapping.lookupOrDefault(
        cast<linalg::YieldOp>(body.getTerminator()).getOperand(resultNumber));
  }

  OpBuilder &builder;
  Location loc;
  IndexArith ia;
  Value scores, score;
  SmallVector<Value> scoreIndices;
  /// (tensor, indices...) -> the element already built.
  std::map<SmallVector<const void *>, Value> cache;
};
} // namespace

FailureOr<Value> rematerialize(OpBuilder &builder, Location loc, Value scores,
                               Value score, ArrayRef<Value> scoreIndices,
                               Value tensor) {
  Rematerializer remat(builder, loc, scores, score, scoreIndices);
  return remat.at(tensor, scoreIndices);
}

//===----------------------------------------------------------------------===//
// Masks
//===----------------------------------------------------------------------===//

/// c_i * i + c_j * j + c over the region's index arguments.
struct LinearForm {
  int64_t ci = 0, cj = 0, c = 0;
};

std::optional<LinearForm> getLinearForm(Value value, Value i, Value j) {
  if (value == i)
    return LinearForm{1, 0, 0};
  if (value == j)
    return LinearForm{0, 1, 0};
  APInt constant;
  if (matchPattern(value, m_ConstantInt(&constant)))
    return LinearForm{0, 0, constant.getSExtValue()};
  Operation *op = value.getDefiningOp();
  if (!op)
    return std::nullopt;
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
          arith::ExtUIOp, arith::TruncIOp>(op))
    return getLinearForm(op->getOperand(0), i, j);
  if (!isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(op))
    return std::nullopt;
  std::optional<LinearForm> lhs = getLinearForm(op->getOperand(0), i, j);
  std::optional<LinearForm> rhs = getLinearForm(op->getOperand(1), i, j);
  if (!lhs || !rhs)
    return std::nullopt;
  if (isa<arith::AddIOp>(op))
    return LinearForm{lhs->ci + rhs->ci, lhs->cj + rhs->cj, lhs->c + rhs->c};
  if (isa<arith::SubIOp>(op))
    return LinearForm{lhs->ci - rhs->ci, lhs->cj - rhs->cj, lhs->c - rhs->c};
  if (lhs->ci == 0 && lhs->cj == 0)
    std::swap(lhs, rhs);
  if (rhs->ci != 0 || rhs->cj != 0)
    return std::nullopt;
  return LinearForm{lhs->ci * rhs->c, lhs->cj * rhs->c, lhs->c * rhs->c};
}

std::optional<Band> intersectBands(Band a, Band b) {
  if (a.sink || b.sink) {
    // A sink term only with a plain upper bound beside it.
    if (a.sink && b.sink)
      return std::nullopt;
    Band &sink = a.sink ? a : b;
    Band &other = a.sink ? b : a;
    if (other.lower || other.sink || sink.upper)
      return std::nullopt;
    sink.upper = other.upper;
    return sink;
  }
  Band result;
  result.upper = a.upper && b.upper ? std::min(*a.upper, *b.upper)
                                    : (a.upper ? a.upper : b.upper);
  result.lower = a.lower && b.lower ? std::max(*a.lower, *b.lower)
                                    : (a.lower ? a.lower : b.lower);
  return result;
}

/// The band of `lhs kind rhs` over the indices.
std::optional<Band> getCmpBand(arith::CmpIPredicate kind, Value lhsValue,
                               Value rhsValue, Value i, Value j) {
  std::optional<LinearForm> lhs = getLinearForm(lhsValue, i, j);
  std::optional<LinearForm> rhs = getLinearForm(rhsValue, i, j);
  if (!lhs || !rhs)
    return std::nullopt;
  // d = lhs - rhs = k * (j - i) + c with k = +-1.
  LinearForm d{lhs->ci - rhs->ci, lhs->cj - rhs->cj, lhs->c - rhs->c};
  if (d.cj == 0 || d.ci != -d.cj || (d.cj != 1 && d.cj != -1))
    return std::nullopt;
  // Unsigned compares only of plain indices plus non-negative constants
  // (no wrap-around).
  bool isUnsigned =
      kind == arith::CmpIPredicate::ult || kind == arith::CmpIPredicate::ule ||
      kind == arith::CmpIPredicate::ugt || kind == arith::CmpIPredicate::uge;
  if (isUnsigned &&
      (lhs->c < 0 || rhs->c < 0 || std::abs(lhs->ci) + std::abs(lhs->cj) > 1 ||
       std::abs(rhs->ci) + std::abs(rhs->cj) > 1 || lhs->ci < 0 ||
       lhs->cj < 0 || rhs->ci < 0 || rhs->cj < 0))
    return std::nullopt;
  // Normalize to x REL -c with x = j - i (flip when k = -1).
  int64_t bound = -d.c;
  bool flip = d.cj == -1;
  if (flip)
    bound = -bound;
  Band band;
  auto lessEq = [&](int64_t value) { band.upper = value; };
  auto greaterEq = [&](int64_t value) { band.lower = value; };
  switch (kind) {
  case arith::CmpIPredicate::slt:
  case arith::CmpIPredicate::ult:
    flip ? greaterEq(bound + 1) : lessEq(bound - 1);
    break;
  case arith::CmpIPredicate::sle:
  case arith::CmpIPredicate::ule:
    flip ? greaterEq(bound) : lessEq(bound);
    break;
  case arith::CmpIPredicate::sgt:
  case arith::CmpIPredicate::ugt:
    flip ? lessEq(bound - 1) : greaterEq(bound + 1);
    break;
  case arith::CmpIPredicate::sge:
  case arith::CmpIPredicate::uge:
    flip ? lessEq(bound) : greaterEq(bound);
    break;
  default:
    return std::nullopt;
  }
  return band;
}

std::optional<Band> getOrBand(Value x, Value y, Value i, Value j);

/// `x` when `value` is `x` or `not x` in another form (xori with true,
/// x == true / false, x != true / false, select(x, false, true)), with
/// `negated` saying which; or null.
Value getBooleanOperand(Value value, bool &negated) {
  if (auto xorOp = value.getDefiningOp<arith::XOrIOp>()) {
    for (auto [one, x] : {std::pair(xorOp.getRhs(), xorOp.getLhs()),
                          std::pair(xorOp.getLhs(), xorOp.getRhs())})
      if (matchPattern(one, m_One())) {
        negated = true;
        return x;
      }
  }
  if (auto cmp = value.getDefiningOp<arith::CmpIOp>();
      cmp && cmp.getLhs().getType().isInteger(1) &&
      (cmp.getPredicate() == arith::CmpIPredicate::eq ||
       cmp.getPredicate() == arith::CmpIPredicate::ne)) {
    // x == c is x when c is true; x != c when c is false.
    APInt constant;
    if (matchPattern(cmp.getRhs(), m_ConstantInt(&constant))) {
      negated =
          constant.isOne() != (cmp.getPredicate() == arith::CmpIPredicate::eq);
      return cmp.getLhs();
    }
  }
  if (auto select = value.getDefiningOp<arith::SelectOp>();
      select && select.getType().isInteger(1) &&
      matchPattern(select.getTrueValue(), m_Zero()) &&
      matchPattern(select.getFalseValue(), m_One())) {
    negated = true;
    return select.getCondition();
  }
  return nullptr;
}

/// The band of `predicate` (of its negation with `negate`).
std::optional<Band> getBand(Value predicate, Value i, Value j, bool negate) {
  APInt constant;
  if (matchPattern(predicate, m_ConstantInt(&constant))) {
    if (constant.isOne() != negate)
      return Band{};
    return std::nullopt;
  }
  bool negated = false;
  if (Value inner = getBooleanOperand(predicate, negated))
    return getBand(inner, i, j, negate != negated);
  // and: andi, or select(c, x, false) (JAX's); or: ori, select(c, true, x).
  Value andLhs, andRhs, orLhs, orRhs;
  if (auto andOp = predicate.getDefiningOp<arith::AndIOp>()) {
    andLhs = andOp.getLhs();
    andRhs = andOp.getRhs();
  } else if (auto orOp = predicate.getDefiningOp<arith::OrIOp>()) {
    orLhs = orOp.getLhs();
    orRhs = orOp.getRhs();
  } else if (auto select = predicate.getDefiningOp<arith::SelectOp>();
             select && select.getType().isInteger(1)) {
    if (matchPattern(select.getFalseValue(), m_Zero())) {
      andLhs = select.getCondition();
      andRhs = select.getTrueValue();
    } else if (matchPattern(select.getTrueValue(), m_One())) {
      orLhs = select.getCondition();
      orRhs = select.getFalseValue();
    }
  }
  // Negated conjunctions and disjunctions are not bands.
  if (andLhs && !negate) {
    std::optional<Band> lhs = getBand(andLhs, i, j);
    std::optional<Band> rhs = getBand(andRhs, i, j);
    if (!lhs || !rhs)
      return std::nullopt;
    return intersectBands(*lhs, *rhs);
  }
  if (orLhs && !negate)
    return getOrBand(orLhs, orRhs, i, j);
  if (auto cmp = predicate.getDefiningOp<arith::CmpIOp>();
      cmp && !cmp.getLhs().getType().isInteger(1))
    return getCmpBand(negate ? arith::invertPredicate(cmp.getPredicate())
                             : cmp.getPredicate(),
                      cmp.getLhs(), cmp.getRhs(), i, j);
  return std::nullopt;
}

/// The band of `x or y`: j < sink or a lower band (sink_window's shape).
std::optional<Band> getOrBand(Value x, Value y, Value i, Value j) {
  {
    for (auto [first, second] : {std::pair(x, y), std::pair(y, x)}) {
      auto cmp = first.getDefiningOp<arith::CmpIOp>();
      if (!cmp)
        continue;
      std::optional<LinearForm> lhs = getLinearForm(cmp.getLhs(), i, j);
      std::optional<LinearForm> rhs = getLinearForm(cmp.getRhs(), i, j);
      if (!lhs || !rhs)
        continue;
      LinearForm d{lhs->ci - rhs->ci, lhs->cj - rhs->cj, lhs->c - rhs->c};
      // j + c < 0 or j + c <= 0 (from j < sink / j <= sink - 1).
      std::optional<int64_t> sink;
      if (d.ci == 0 && d.cj == 1) {
        if (cmp.getPredicate() == arith::CmpIPredicate::slt ||
            cmp.getPredicate() == arith::CmpIPredicate::ult)
          sink = -d.c;
        else if (cmp.getPredicate() == arith::CmpIPredicate::sle ||
                 cmp.getPredicate() == arith::CmpIPredicate::ule)
          sink = -d.c + 1;
      } else if (d.ci == 0 && d.cj == -1) {
        if (cmp.getPredicate() == arith::CmpIPredicate::sgt ||
            cmp.getPredicate() == arith::CmpIPredicate::ugt)
          sink = d.c;
        else if (cmp.getPredicate() == arith::CmpIPredicate::sge ||
                 cmp.getPredicate() == arith::CmpIPredicate::uge)
          sink = d.c + 1;
      }
      if (!sink || *sink < 0)
        continue;
      std::optional<Band> band = getBand(second, i, j);
      if (!band || band->upper || band->sink || !band->lower)
        continue;
      band->sink = sink;
      return band;
    }
    return std::nullopt;
  }
}

/// The mask attribute a band means for lengths (qLen, kvLen), or null.
Attribute getBandMask(MLIRContext *ctx, const Band &band, int64_t qLen,
                      int64_t kvLen) {
  // j - i <= u  <=>  j <= i' + (u - offset), i' = i + offset.
  int64_t offset = kvLen - qLen;
  std::optional<int64_t> right, left;
  if (band.upper)
    right = *band.upper - offset;
  if (band.lower)
    left = offset - *band.lower;
  if (band.sink) {
    if (!right || *right != 0 || !left || *left < 0)
      return nullptr;
    return SinkWindowAttr::get(ctx, *band.sink, *left + 1);
  }
  if (!right && !left)
    return nullptr;
  if (right && *right == 0 && !left)
    return CausalAttr::get(ctx);
  int64_t r = right ? *right : kvLen;
  int64_t l = left ? *left : kvLen;
  if (r < 0 || l < 0)
    return nullptr;
  return SlidingWindowAttr::get(ctx, l, r);
}

/// Whether `mask` allows exactly the pairs `allowed` (qLen x kvLen, row
/// major).
bool maskAllows(Attribute mask, ArrayRef<bool> allowed, int64_t qLen,
                int64_t kvLen) {
  auto maskAttr = cast<MaskAttrInterface>(mask);
  if (failed(maskAttr.verifyLengths(qLen, kvLen,
                                    [] { return InFlightDiagnostic(); })))
    return false;
  for (int64_t i = 0; i < qLen; ++i) {
    SmallVector<KeyRange> ranges;
    if (failed(maskAttr.appendAllowedKeys(i + kvLen - qLen, kvLen, ranges)))
      return false;
    int64_t next = 0;
    for (int64_t j = 0; j < kvLen; ++j) {
      bool inRange = false;
      while (next < static_cast<int64_t>(ranges.size()) &&
             ranges[next].end <= j)
        ++next;
      if (next < static_cast<int64_t>(ranges.size()))
        inRange = ranges[next].begin <= j && j < ranges[next].end;
      if (inRange != allowed[i * kvLen + j])
        return false;
    }
  }
  return true;
}

/// The structural mask a dense (qLen x kvLen) pattern is exactly, or null.
Attribute foldDenseMask(MLIRContext *ctx, ArrayRef<bool> allowed, int64_t qLen,
                        int64_t kvLen) {
  int64_t offset = kvLen - qLen;
  std::optional<int64_t> right, left;
  for (int64_t i = 0; i < qLen; ++i) {
    const bool *row = allowed.data() + i * kvLen;
    int64_t first = -1, last = -1;
    for (int64_t j = 0; j < kvLen; ++j)
      if (row[j]) {
        if (first < 0)
          first = j;
        last = j;
      }
    if (first < 0)
      continue;
    if (last < kvLen - 1)
      right = last - (i + offset);
    if (first > 0)
      left = (i + offset) - first;
  }
  SmallVector<Attribute> candidates{CausalAttr::get(ctx)};
  if (right && left && *right >= 0 && *left >= 0)
    candidates.push_back(SlidingWindowAttr::get(ctx, *left, *right));
  if (right && !left && *right >= 0)
    candidates.push_back(SlidingWindowAttr::get(ctx, kvLen, *right));
  // Sinks: the last row's keys are [0, sink) and (i' - window, i'].
  const bool *last = allowed.data() + (qLen - 1) * kvLen;
  int64_t sink = 0;
  while (sink < kvLen && last[sink])
    ++sink;
  int64_t start = sink;
  while (start < kvLen && !last[start])
    ++start;
  if (sink > 0 && start < kvLen)
    candidates.push_back(
        SinkWindowAttr::get(ctx, sink, (qLen - 1 + offset) - start + 1));
  for (Attribute candidate : candidates)
    if (maskAllows(candidate, allowed, qLen, kvLen))
      return candidate;
  return nullptr;
}

} // namespace mlir::sparse_attn::raise_attention
