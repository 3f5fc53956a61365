//===- LoweringBuilder.cpp - IR building of sparse_attn lowerings ---------===//
//
// The helpers of LoweringBuilder.h that are not inline.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Utils/LoweringBuilder.h"

#include "SparseAttn/IR/SparseAttnAttrs.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::sparse_attn;

/// Loop induction values of the enclosing linalg.generic.
SmallVector<Value> sparse_attn::loopIndices(OpBuilder &b, Location loc,
                                      unsigned count) {
  SmallVector<Value> indices;
  for (unsigned d = 0; d < count; ++d)
    indices.push_back(linalg::IndexOp::create(b, loc, d));
  return indices;
}

/// `cond ? thenValues : elseValues` as an scf.if whose branches are built
/// lazily, so a branch's reads happen only when it is taken.
ValueRange sparse_attn::buildIf(OpBuilder &b, Location loc, TypeRange types,
                          Value cond,
                          function_ref<SmallVector<Value>(OpBuilder &)> thenFn,
                          function_ref<SmallVector<Value>(OpBuilder &)> elseFn) {
  auto ifOp = scf::IfOp::create(b, loc, types, cond, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(b, loc, thenFn(b));
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(b, loc, elseFn(b));
  }
  return ifOp.getResults();
}

/// Clones the single block of a mask_mod/score_mod region at `b`, with its
/// arguments bound to `arguments`; returns the yielded value.
Value sparse_attn::inlineModRegion(OpBuilder &b, Region &region,
                             ValueRange arguments) {
  Block &block = region.front();
  IRMapping mapping;
  mapping.map(block.getArguments(), arguments);
  for (Operation &nested : block.without_terminator())
    b.clone(nested, mapping);
  return mapping.lookupOrDefault(block.getTerminator()->getOperand(0));
}

/// The scale attribute, or 1/sqrt(D) rounded to f32.
double sparse_attn::getScaleValue(FloatAttr scale, int64_t headDim) {
  if (scale)
    return scale.getValueAsDouble();
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
}


void sparse_attn::checkFullListShapes(LoweringBuilder &l, Value numBlocks,
                                      Value fullNumBlocks, Value fullBlockIndices,
                                      Value queryBlocks) {
  l.checkEq(l.dim(fullNumBlocks, 0), l.dim(numBlocks, 0),
            "full_num_blocks and num_blocks batch differ");
  l.checkEq(l.dim(fullNumBlocks, 2), queryBlocks,
            "full block lists do not have ceil(Sq / block_q) query blocks");
  l.commonDim({{fullNumBlocks, 0}, {fullBlockIndices, 0}},
              "full_num_blocks and full_block_indices batch differ");
  l.commonDim({{fullNumBlocks, 2}, {fullBlockIndices, 2}},
              "full_num_blocks and full_block_indices query blocks differ");
}

AttentionShape sparse_attn::getAttentionShape(LoweringBuilder &l, Value query, Value key,
                                        Value value, Value segmentIdsQ,
                                        Value segmentIdsKv) {
  SmallVector<std::pair<Value, int64_t>> batchPlaces = {
      {query, 0}, {key, 0}, {value, 0}};
  SmallVector<std::pair<Value, int64_t>> queryLenPlaces = {{query, 2}};
  SmallVector<std::pair<Value, int64_t>> kvLenPlaces = {{key, 2}, {value, 2}};
  if (segmentIdsQ) {
    batchPlaces.append({{segmentIdsQ, 0}, {segmentIdsKv, 0}});
    queryLenPlaces.push_back({segmentIdsQ, 1});
    kvLenPlaces.push_back({segmentIdsKv, 1});
  }
  auto queryType = cast<RankedTensorType>(query.getType());
  auto valueType = cast<RankedTensorType>(value.getType());
  AttentionShape shape;
  shape.batch = l.commonDim(batchPlaces, "the batch sizes of q, k, v (and "
                                         "segment ids) differ");
  shape.queryLen =
      l.commonDim(queryLenPlaces, "the query lengths of q and segment ids differ");
  shape.kvLen = l.commonDim(kvLenPlaces,
                            "the key lengths of k, v (and segment ids) differ");
  shape.queryHeads = queryType.getDimSize(1);
  shape.kvHeads = cast<RankedTensorType>(key.getType()).getDimSize(1);
  shape.headDim = queryType.getDimSize(3);
  shape.valueDim = valueType.getDimSize(3);
  return shape;
}


static Value f32Constant(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

static Value isNegInf(OpBuilder &b, Location loc, Value value) {
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, value,
                               f32Constant(b, loc, -INFINITY));
}

FailureOr<std::pair<Value, Value>> sparse_attn::buildPairScore(
    OpBuilder &b, Location loc, const PairScoreRules &rules, Value dot,
    Value batch, Value head, Value row, Value col, Value queryLen, Value kvLen,
    function_ref<Value(OpBuilder &, Location)> extraAllowed,
    function_ref<Value(OpBuilder &, Location)> forcedAllowed) {
  MaskPairValues pair{batch,   row,   col, queryLen,
                      kvLen,   rules.segmentIdsQ, rules.segmentIdsKv};
  FailureOr<Value> allowed = buildMaskPredicate(b, loc, rules.mask, pair);
  if (failed(allowed))
    return failure();
  Value isAllowed = *allowed;
  if (rules.maskMod)
    isAllowed = arith::AndIOp::create(
        b, loc, isAllowed, inlineModRegion(b, *rules.maskMod, {batch, head, row, col}));
  if (extraAllowed)
    isAllowed = arith::AndIOp::create(b, loc, isAllowed, extraAllowed(b, loc));
  if (forcedAllowed)
    isAllowed = arith::OrIOp::create(b, loc, isAllowed, forcedAllowed(b, loc));
  Value scaled =
      arith::MulFOp::create(b, loc, dot, f32Constant(b, loc, rules.scale));
  if (rules.scoreMod)
    scaled = inlineModRegion(b, *rules.scoreMod, {scaled, batch, head, row, col});
  Value negInf = f32Constant(b, loc, -INFINITY);
  Value score = arith::SelectOp::create(b, loc, isAllowed, scaled, negInf);
  return std::make_pair(score, isAllowed);
}

Value sparse_attn::buildShiftedExp(OpBuilder &b, Location loc, Value score,
                                   Value rowMax) {
  Value empty = isNegInf(b, loc, rowMax);
  Value shifted = arith::SubFOp::create(b, loc, score, rowMax);
  Value exp = math::ExpOp::create(b, loc, shifted);
  return arith::SelectOp::create(b, loc, empty, f32Constant(b, loc, 0.0), exp);
}

Value sparse_attn::buildAllowedAccumulate(OpBuilder &b, Location loc,
                                          Value probability, Value allowed,
                                          Value value, Value acc) {
  if (!value.getType().isF32())
    value = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
  Value product = arith::MulFOp::create(b, loc, probability, value);
  Value sum = arith::AddFOp::create(b, loc, acc, product);
  return arith::SelectOp::create(b, loc, allowed, sum, acc);
}

Value sparse_attn::buildNormalizedOutput(OpBuilder &b, Location loc, Value acc,
                                         Value rowMax, Value rowSum,
                                         Type outElement) {
  Value empty = isNegInf(b, loc, rowMax);
  Value normalized = arith::DivFOp::create(b, loc, acc, rowSum);
  Value result = arith::SelectOp::create(b, loc, empty, f32Constant(b, loc, 0.0),
                                         normalized);
  if (outElement.isF32())
    return result;
  return arith::TruncFOp::create(b, loc, outElement, result);
}

Value sparse_attn::buildLogSumExp(OpBuilder &b, Location loc, Value rowMax,
                                  Value rowSum) {
  Value empty = isNegInf(b, loc, rowMax);
  Value logSum = math::LogOp::create(b, loc, rowSum);
  Value lse = arith::AddFOp::create(b, loc, rowMax, logSum);
  return arith::SelectOp::create(b, loc, empty, f32Constant(b, loc, -INFINITY),
                                 lse);
}
