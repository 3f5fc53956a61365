//===- SelectionToLinalg.cpp - block and token selection to linalg
//----------===//
//
// select_topk and lightning_indexer as scalar scf loops over each row
// (one RowSelection, without scratch memory): sink and local blocks forced,
// the top k by (score descending, index ascending), emitted ascending.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>
#include <functional>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

using utils::IteratorType;

/// select_threshold's stopping rule (RowSelection::findThreshold): each
/// pick's weight, the sum it starts from, the sum that stops the picks.
struct MassRule {
  std::function<Value(OpBuilder &, Location, Value)> weight;
  Value initial, target;
};

/// Selection in one row of `count` candidates without scratch memory (a GPU
/// thread runs it in registers): boundaries of the sink and local blocks
/// from counting scans, the k-th best remaining candidate by repeated
/// "next best after the previous one" scans, then one ascending scan that
/// emits whatever falls inside those bounds. The order of candidates is
/// (score descending, index ascending), so ties go to the lower index.
struct RowSelection {
  using PositionFn = function_ref<Value(OpBuilder &, Location, Value)>;

  /// Ascending: the smallest end with `limit` eligible positions before it
  /// (0 when limit = 0, count when fewer exist). Descending: the largest
  /// begin with `limit` eligible positions from it on (count when
  /// limit = 0, 0 when fewer exist).
  static Value findBoundary(OpBuilder &builder, Location loc, Value count,
                            int64_t limit, bool descending,
                            PositionFn eligible) {
    Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
    Value one = arith::ConstantIndexOp::create(builder, loc, 1);
    Value limitValue = arith::ConstantIndexOp::create(builder, loc, limit);
    Value none =
        limit == 0 ? (descending ? count : zero) : (descending ? zero : count);
    auto loop = scf::ForOp::create(
        builder, loc, zero, count, one, ValueRange{zero, none},
        [&](OpBuilder &loopBuilder, Location loopLoc, Value step,
            ValueRange state) {
          Value position = step;
          if (descending) {
            Value last =
                arith::SubIOp::create(loopBuilder, loopLoc, count, one);
            position = arith::SubIOp::create(loopBuilder, loopLoc, last, step);
          }
          Value isEligible = eligible(loopBuilder, loopLoc, position);
          Value increment = arith::SelectOp::create(loopBuilder, loopLoc,
                                                    isEligible, one, zero);
          Value seen =
              arith::AddIOp::create(loopBuilder, loopLoc, state[0], increment);
          // The limit-th eligible position sets the boundary.
          Value reached = arith::AndIOp::create(
              loopBuilder, loopLoc, isEligible,
              arith::CmpIOp::create(loopBuilder, loopLoc,
                                    arith::CmpIPredicate::eq, seen,
                                    limitValue));
          Value boundary =
              descending
                  ? position
                  : arith::AddIOp::create(loopBuilder, loopLoc, position, one)
                        .getResult();
          Value next = arith::SelectOp::create(loopBuilder, loopLoc, reached,
                                               boundary, state[1]);
          scf::YieldOp::create(loopBuilder, loopLoc, ValueRange{seen, next});
        });
    return loop.getResult(1);
  }

  /// Whether (score, position) comes after (bound score, bound position) in
  /// the selection order.
  static Value comesAfter(OpBuilder &builder, Location loc, Value score,
                          Value position, Value boundScore,
                          Value boundPosition) {
    Value lower = arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OLT,
                                        score, boundScore);
    Value tied = arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OEQ,
                                       score, boundScore);
    Value later = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::sgt,
                                        position, boundPosition);
    Value tiedLater = arith::AndIOp::create(builder, loc, tied, later);
    return arith::OrIOp::create(builder, loc, lower, tiedLater);
  }

  /// After `rounds` scans, the last of the best candidates in order:
  /// (found, score, position); the selected candidates are the ones not
  /// after it. With a `mass` rule, a round picks only while the picks'
  /// weights plus `mass.initial` stay below `mass.target` (f32 sums, in
  /// pick order).
  struct Threshold {
    Value found, score, position;
  };
  static Threshold findThreshold(OpBuilder &builder, Location loc, Value count,
                                 Value rounds, PositionFn candidate,
                                 PositionFn score,
                                 const MassRule &mass = MassRule()) {
    Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
    Value one = arith::ConstantIndexOp::create(builder, loc, 1);
    Value notFound = arith::ConstantIntOp::create(builder, loc, 0, 1);
    Value noScore =
        arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0.0));
    SmallVector<Value> init{notFound, noScore, zero};
    if (mass.weight)
      init.push_back(mass.initial);
    auto roundsLoop = scf::ForOp::create(
        builder, loc, zero, rounds, one, init,
        [&](OpBuilder &rowBuilder, Location rowLoc, Value,
            ValueRange previous) {
          Value none = arith::ConstantIntOp::create(rowBuilder, rowLoc, 0, 1);
          auto scan = scf::ForOp::create(
              rowBuilder, rowLoc, zero, count, one,
              ValueRange{none, noScore, zero},
              [&](OpBuilder &stepBuilder, Location stepLoc, Value position,
                  ValueRange best) {
                Value value = score(stepBuilder, stepLoc, position);
                Value isCandidate = candidate(stepBuilder, stepLoc, position);
                // Only candidates after the previous round's pick.
                Value after = comesAfter(stepBuilder, stepLoc, value, position,
                                         previous[1], previous[2]);
                Value fresh = arith::OrIOp::create(
                    stepBuilder, stepLoc,
                    arith::XOrIOp::create(stepBuilder, stepLoc, previous[0],
                                          arith::ConstantIntOp::create(
                                              stepBuilder, stepLoc, 1, 1)),
                    after);
                Value open = arith::AndIOp::create(stepBuilder, stepLoc,
                                                   isCandidate, fresh);
                // Scanning upwards, a strictly higher score wins: ties keep
                // the lower index.
                Value higher = arith::CmpFOp::create(stepBuilder, stepLoc,
                                                     arith::CmpFPredicate::OGT,
                                                     value, best[1]);
                Value noBest = arith::XOrIOp::create(
                    stepBuilder, stepLoc, best[0],
                    arith::ConstantIntOp::create(stepBuilder, stepLoc, 1, 1));
                Value better = arith::AndIOp::create(
                    stepBuilder, stepLoc, open,
                    arith::OrIOp::create(stepBuilder, stepLoc, noBest, higher));
                Value hasBest =
                    arith::OrIOp::create(stepBuilder, stepLoc, best[0], better);
                Value bestScore = arith::SelectOp::create(
                    stepBuilder, stepLoc, better, value, best[1]);
                Value bestPosition = arith::SelectOp::create(
                    stepBuilder, stepLoc, better, position, best[2]);
                scf::YieldOp::create(
                    stepBuilder, stepLoc,
                    ValueRange{hasBest, bestScore, bestPosition});
              });
          // A round that finds nothing (or, with a mass rule, starts at
          // the target) keeps the previous pick.
          Value found = scan.getResult(0);
          if (mass.weight)
            found = arith::AndIOp::create(
                rowBuilder, rowLoc, found,
                arith::CmpFOp::create(rowBuilder, rowLoc,
                                      arith::CmpFPredicate::OLT, previous[3],
                                      mass.target));
          Value anyFound =
              arith::OrIOp::create(rowBuilder, rowLoc, previous[0], found);
          Value nextScore = arith::SelectOp::create(
              rowBuilder, rowLoc, found, scan.getResult(1), previous[1]);
          Value nextPosition = arith::SelectOp::create(
              rowBuilder, rowLoc, found, scan.getResult(2), previous[2]);
          SmallVector<Value> next{anyFound, nextScore, nextPosition};
          if (mass.weight) {
            Value added = arith::AddFOp::create(
                rowBuilder, rowLoc, previous[3],
                mass.weight(rowBuilder, rowLoc, scan.getResult(2)));
            next.push_back(arith::SelectOp::create(rowBuilder, rowLoc, found,
                                                   added, previous[3]));
          }
          scf::YieldOp::create(rowBuilder, rowLoc, next);
        });
    return {roundsLoop.getResult(0), roundsLoop.getResult(1),
            roundsLoop.getResult(2)};
  }

  /// Whether a candidate is among the best ones up to `threshold`.
  static Value withinThreshold(OpBuilder &builder, Location loc,
                               const Threshold &threshold, Value score,
                               Value position) {
    Value after = comesAfter(builder, loc, score, position, threshold.score,
                             threshold.position);
    Value notAfter = arith::XOrIOp::create(
        builder, loc, after, arith::ConstantIntOp::create(builder, loc, 1, 1));
    return arith::AndIOp::create(builder, loc, threshold.found, notAfter);
  }

  /// Writes the selected positions in ascending order to the row
  /// `list[0 : n]` and returns (list, n as index).
  static std::pair<Value, Value> emitAscending(OpBuilder &builder, Location loc,
                                               Value count, Value list,
                                               Value capacity,
                                               PositionFn selected) {
    Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
    Value one = arith::ConstantIndexOp::create(builder, loc, 1);
    auto loop = scf::ForOp::create(
        builder, loc, zero, count, one, ValueRange{zero, list},
        [&](OpBuilder &loopBuilder, Location loopLoc, Value position,
            ValueRange state) {
          Value isSelected = selected(loopBuilder, loopLoc, position);
          Value fits = arith::CmpIOp::create(loopBuilder, loopLoc,
                                             arith::CmpIPredicate::slt,
                                             state[0], capacity);
          Value store =
              arith::AndIOp::create(loopBuilder, loopLoc, isSelected, fits);
          Value updated = buildIf(
              loopBuilder, loopLoc, state[1].getType(), store,
              [&](OpBuilder &thenBuilder) -> SmallVector<Value> {
                Value entry = arith::IndexCastOp::create(
                    thenBuilder, loopLoc, thenBuilder.getI32Type(), position);
                return {tensor::InsertOp::create(thenBuilder, loopLoc, entry,
                                                 state[1],
                                                 ValueRange{state[0]})};
              },
              [&](OpBuilder &) -> SmallVector<Value> { return {state[1]}; })[0];
          Value increment = arith::SelectOp::create(loopBuilder, loopLoc,
                                                    isSelected, one, zero);
          scf::YieldOp::create(
              loopBuilder, loopLoc,
              ValueRange{arith::AddIOp::create(loopBuilder, loopLoc, state[0],
                                               increment)
                             .getResult(),
                         updated});
        });
    return {loop.getResult(1), loop.getResult(0)};
  }
};

/// select_threshold's rule over one row: the softmax weights of the
/// selectable scores, w_j = exp(s_j - m) with m their maximum (when m is
/// +inf: 1 for the +inf scores, 0 for the others); the forced blocks'
/// weights start the sum, and a pick is taken while the sum is below
/// `mass` times the row's total (f32, sums in position order).
static MassRule buildMassRule(OpBuilder &builder, Location loc, Value count,
                              APFloat massAttr,
                              RowSelection::PositionFn selectable,
                              RowSelection::PositionFn fixed,
                              RowSelection::PositionFn score) {
  Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
  Value one = arith::ConstantIndexOp::create(builder, loc, 1);
  auto f32 = [&](OpBuilder &b, Location l, double value) -> Value {
    return arith::ConstantOp::create(b, l, b.getF32FloatAttr(value));
  };
  // Folds `combine(position, accumulators)` over the row.
  auto foldRow = [&](ValueRange init,
                     function_ref<SmallVector<Value>(OpBuilder &, Location,
                                                     Value, ValueRange)>
                         combine) {
    return scf::ForOp::create(builder, loc, zero, count, one, init,
                              [&](OpBuilder &b, Location l, Value position,
                                  ValueRange acc) {
                                scf::YieldOp::create(
                                    b, l, combine(b, l, position, acc));
                              })
        .getResults();
  };
  Value largest = foldRow(
      f32(builder, loc, -INFINITY),
      [&](OpBuilder &b, Location l, Value position,
          ValueRange acc) -> SmallVector<Value> {
        Value value = arith::SelectOp::create(b, l, selectable(b, l, position),
                                              score(b, l, position),
                                              f32(b, l, -INFINITY));
        return {arith::MaximumFOp::create(b, l, acc[0], value)};
      })[0];
  Value infinite =
      arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OEQ, largest,
                            f32(builder, loc, INFINITY));
  MassRule rule;
  rule.weight = [=](OpBuilder &b, Location l, Value position) -> Value {
    Value value = score(b, l, position);
    Value shifted =
        math::ExpOp::create(b, l, arith::SubFOp::create(b, l, value, largest));
    Value atInfinity = arith::SelectOp::create(
        b, l,
        arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, value,
                              f32(b, l, INFINITY)),
        f32(b, l, 1.0), f32(b, l, 0.0));
    Value weight = arith::SelectOp::create(b, l, infinite, atInfinity, shifted);
    return arith::SelectOp::create(b, l, selectable(b, l, position), weight,
                                   f32(b, l, 0.0));
  };
  // The row's total weight and its forced blocks' (one exp per position).
  ValueRange sums = foldRow(
      {f32(builder, loc, 0.0), f32(builder, loc, 0.0)},
      [&](OpBuilder &b, Location l, Value position,
          ValueRange acc) -> SmallVector<Value> {
        Value weight = rule.weight(b, l, position);
        Value forced = arith::SelectOp::create(b, l, fixed(b, l, position),
                                               weight, f32(b, l, 0.0));
        return {arith::AddFOp::create(b, l, acc[0], weight),
                arith::AddFOp::create(b, l, acc[1], forced)};
      });
  Value total = sums[0];
  rule.initial = sums[1];
  rule.target = arith::MulFOp::create(
      builder, loc, f32(builder, loc, massAttr.convertToFloat()), total);
  return rule;
}

/// select_topk and select_threshold: per row the forced sink / local
/// blocks, then up to `k` (select_threshold: max_blocks) of the others by
/// descending score, all of them (select_topk) or while the mass of the
/// selected blocks stays below the target (select_threshold).
template <typename OpTy> struct BlockSelectionLowering : LoweringPattern<OpTy> {
  using LoweringPattern<OpTy>::LoweringPattern;
  static int64_t getCount(SelectTopKOp op) { return op.getK(); }
  static int64_t getCount(SelectThresholdOp op) { return op.getMaxBlocks(); }
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder emit(rewriter, op, this->runtimeChecks);
    Value scores = op.getScores();
    SmallVector<Value> rows = {emit.dim(scores, 0), emit.dim(scores, 1),
                               emit.dim(scores, 2)};
    Value kvBlocks = emit.dim(scores, 3);
    int64_t k = getCount(op), sink = op.getSink(), local = op.getLocal();
    RankedTensorType indicesType = op.getBlockIndices().getType();
    Value capacity = indicesType.isDynamicDim(3)
                         ? emit.index(k + sink + local)
                         : emit.index(indicesType.getDimSize(3));
    Value numInit =
        emit.emptyOfType(op.getNumBlocks().getType(), rows, "num_blocks shape");
    SmallVector<Value> indexSizes(rows);
    indexSizes.push_back(capacity);
    Value indicesInit =
        emit.fill(emit.i32Const(-1), emit.emptyOfType(indicesType, indexSizes,
                                                      "block_indices shape"));
    Value rounds =
        arith::MinSIOp::create(rewriter, emit.loc, emit.index(k), kvBlocks);
    SmallVector<Value> results = buildRowForall(
        rewriter, emit.loc, rows, {numInit, indicesInit},
        [&](OpBuilder &builder, Location loc, ValueRange ivs,
            ValueRange lists) -> SmallVector<Value> {
          auto scoreAt = [&](OpBuilder &stepBuilder, Location stepLoc,
                             Value position) -> Value {
            return tensor::ExtractOp::create(
                stepBuilder, stepLoc, scores,
                ValueRange{ivs[0], ivs[1], ivs[2], position});
          };
          auto selectable = [&](OpBuilder &stepBuilder, Location stepLoc,
                                Value position) -> Value {
            Value negInf = arith::ConstantOp::create(
                stepBuilder, stepLoc, stepBuilder.getF32FloatAttr(-INFINITY));
            return arith::CmpFOp::create(
                stepBuilder, stepLoc, arith::CmpFPredicate::OGT,
                scoreAt(stepBuilder, stepLoc, position), negInf);
          };
          Value sinkEnd =
              RowSelection::findBoundary(builder, loc, kvBlocks, sink,
                                         /*descending=*/false, selectable);
          Value localBegin =
              RowSelection::findBoundary(builder, loc, kvBlocks, local,
                                         /*descending=*/true, selectable);
          auto isFixed = [&](OpBuilder &stepBuilder, Location stepLoc,
                             Value position) -> Value {
            Value inSink = arith::CmpIOp::create(stepBuilder, stepLoc,
                                                 arith::CmpIPredicate::slt,
                                                 position, sinkEnd);
            Value inLocal = arith::CmpIOp::create(stepBuilder, stepLoc,
                                                  arith::CmpIPredicate::sge,
                                                  position, localBegin);
            return arith::OrIOp::create(stepBuilder, stepLoc, inSink, inLocal);
          };
          auto candidate = [&](OpBuilder &stepBuilder, Location stepLoc,
                               Value position) -> Value {
            Value isSelectable = selectable(stepBuilder, stepLoc, position);
            Value fixed = isFixed(stepBuilder, stepLoc, position);
            Value free = arith::XOrIOp::create(
                stepBuilder, stepLoc, fixed,
                arith::ConstantIntOp::create(stepBuilder, stepLoc, 1, 1));
            return arith::AndIOp::create(stepBuilder, stepLoc, isSelectable,
                                         free);
          };
          MassRule mass;
          if constexpr (std::is_same_v<OpTy, SelectThresholdOp>)
            mass = buildMassRule(builder, loc, kvBlocks, op.getMass(),
                                 selectable, isFixed, scoreAt);
          RowSelection::Threshold threshold = RowSelection::findThreshold(
              builder, loc, kvBlocks, rounds, candidate, scoreAt, mass);
          auto selected = [&](OpBuilder &stepBuilder, Location stepLoc,
                              Value position) -> Value {
            Value isSelectable = selectable(stepBuilder, stepLoc, position);
            Value fixed = isFixed(stepBuilder, stepLoc, position);
            Value best = RowSelection::withinThreshold(
                stepBuilder, stepLoc, threshold,
                scoreAt(stepBuilder, stepLoc, position), position);
            Value chosen =
                arith::OrIOp::create(stepBuilder, stepLoc, fixed, best);
            return arith::AndIOp::create(stepBuilder, stepLoc, isSelectable,
                                         chosen);
          };
          auto [indices, count] = RowSelection::emitAscending(
              builder, loc, kvBlocks, lists[1], capacity, selected);
          Value count32 = arith::IndexCastOp::create(
              builder, loc, builder.getI32Type(), count);
          Value num = tensor::InsertOp::create(
              builder, loc, count32, lists[0],
              ValueRange{arith::ConstantIndexOp::create(builder, loc, 0)});
          return {num, indices};
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct LightningIndexerOpLowering : LoweringPattern<LightningIndexerOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(LightningIndexerOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder emit(rewriter, op, runtimeChecks);
    Value query = op.getIndexQuery(), key = op.getIndexKey(),
          weights = op.getWeights();
    Value segmentIdsQ = op.getSegmentIdsQ(),
          segmentIdsKv = op.getSegmentIdsKv();
    auto [batch, queryLen, kvLen] = getIndexerLengths(
        emit, query, key, weights, segmentIdsQ, segmentIdsKv);
    int64_t heads = op.getIndexQuery().getType().getDimSize(1);
    int64_t topk = op.getTopk();

    // dots[b, h, i, j] = <qi[b, h, i], ki[b, j]>
    Value dots = emit.generic(
        {query, key},
        {emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(4)}),
         emit.map(5, {emit.d(0), emit.d(3), emit.d(4)})},
        emit.filled({batch, emit.index(heads), queryLen, kvLen},
                    emit.f32Const(0)),
        emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)}),
        {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
          Value product = emit.mulF32(builder, loc, args[0], args[1]);
          return arith::AddFOp::create(builder, loc, args[2], product);
        });
    // index[b, i, j] = sum_h w[b, i, h] * relu(dots[b, h, i, j])
    Value index = emit.generic(
        {dots, weights},
        {emit.map(4, {emit.d(0), emit.d(3), emit.d(1), emit.d(2)}),
         emit.map(4, {emit.d(0), emit.d(1), emit.d(3)})},
        emit.filled({batch, queryLen, kvLen}, emit.f32Const(0)),
        emit.map(4, {emit.d(0), emit.d(1), emit.d(2)}),
        {kPar, kPar, kPar, kRed},
        [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
          Value zero = arith::ConstantOp::create(builder, loc,
                                                 builder.getF32FloatAttr(0));
          Value relu = arith::MaximumFOp::create(builder, loc, args[0], zero);
          Value product = arith::MulFOp::create(
              builder, loc, emit.toF32(builder, loc, args[1]), relu);
          return arith::AddFOp::create(builder, loc, args[2], product);
        });

    Value listInit = emit.fill(
        emit.i32Const(-1), emit.emptyOfType(op.getTokenIndices().getType(),
                                            {batch, queryLen, emit.index(topk)},
                                            "token_indices shape"));
    Value rounds =
        arith::MinSIOp::create(rewriter, emit.loc, emit.index(topk), kvLen);
    Attribute mask = op.getMaskAttr();
    checkMaskLengths(emit, mask, kvLen);
    bool failedMask = false;
    SmallVector<Value> results = buildRowForall(
        rewriter, emit.loc, {batch, queryLen}, {listInit},
        [&](OpBuilder &builder, Location loc, ValueRange ivs,
            ValueRange lists) -> SmallVector<Value> {
          auto allowed = [&](OpBuilder &stepBuilder, Location stepLoc,
                             Value key) -> Value {
            MaskPairValues pair{ivs[0], ivs[1],      key,         queryLen,
                                kvLen,  segmentIdsQ, segmentIdsKv};
            FailureOr<Value> result =
                buildMaskPredicate(stepBuilder, stepLoc, mask, pair);
            if (failed(result)) {
              failedMask = true;
              return arith::ConstantIntOp::create(stepBuilder, stepLoc, 0, 1);
            }
            return *result;
          };
          auto scoreAt = [&](OpBuilder &stepBuilder, Location stepLoc,
                             Value key) -> Value {
            return tensor::ExtractOp::create(stepBuilder, stepLoc, index,
                                             ValueRange{ivs[0], ivs[1], key});
          };
          RowSelection::Threshold threshold = RowSelection::findThreshold(
              builder, loc, kvLen, rounds, allowed, scoreAt);
          auto selected = [&](OpBuilder &stepBuilder, Location stepLoc,
                              Value key) -> Value {
            Value isAllowed = allowed(stepBuilder, stepLoc, key);
            Value best = RowSelection::withinThreshold(
                stepBuilder, stepLoc, threshold,
                scoreAt(stepBuilder, stepLoc, key), key);
            return arith::AndIOp::create(stepBuilder, stepLoc, isAllowed, best);
          };
          Value list =
              RowSelection::emitAscending(
                  builder, loc, kvLen, lists[0],
                  arith::ConstantIndexOp::create(builder, loc, topk), selected)
                  .first;
          return {list};
        });
    if (failedMask)
      return rewriter.notifyMatchFailure(op, "mask has no lowering");
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void sparse_attn::populateSelectionToLinalgPatterns(RewritePatternSet &patterns,
                                                    bool runtimeChecks) {
  patterns.add<BlockSelectionLowering<SelectTopKOp>,
               BlockSelectionLowering<SelectThresholdOp>,
               LightningIndexerOpLowering>(patterns.getContext(),
                                           runtimeChecks);
}
