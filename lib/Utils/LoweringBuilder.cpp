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
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

using namespace mlir;
using namespace mlir::sparse_attn;

/// Loop induction values of the enclosing linalg.generic.
SmallVector<Value> sparse_attn::loopIndices(OpBuilder &builder, Location loc,
                                            unsigned count) {
  SmallVector<Value> indices;
  for (unsigned d = 0; d < count; ++d)
    indices.push_back(linalg::IndexOp::create(builder, loc, d));
  return indices;
}

/// `cond ? thenValues : elseValues` as an scf.if whose branches are built
/// lazily, so a branch's reads happen only when it is taken.
ValueRange
sparse_attn::buildIf(OpBuilder &builder, Location loc, TypeRange types,
                     Value cond,
                     function_ref<SmallVector<Value>(OpBuilder &)> thenFn,
                     function_ref<SmallVector<Value>(OpBuilder &)> elseFn) {
  auto ifOp =
      scf::IfOp::create(builder, loc, types, cond, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(builder, loc, thenFn(builder));
    builder.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(builder, loc, elseFn(builder));
  }
  return ifOp.getResults();
}

/// One scf.forall iteration per row: each row's slices of `inits`, the
/// body's new rows written back in place.
SmallVector<Value> sparse_attn::buildRowForall(
    OpBuilder &builder, Location loc, ValueRange bounds, ValueRange inits,
    function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange,
                                    ValueRange)>
        body) {
  SmallVector<OpFoldResult> upperBounds = getAsOpFoldResult(bounds);
  auto forall =
      scf::ForallOp::create(builder, loc, upperBounds, inits, std::nullopt);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  SmallVector<SmallVector<OpFoldResult>> offsets, sizes, strides;
  SmallVector<Value> rows;
  for (Value shared : forall.getRegionIterArgs()) {
    auto type = cast<RankedTensorType>(shared.getType());
    SmallVector<OpFoldResult> rowOffsets(ivs.begin(), ivs.end());
    SmallVector<OpFoldResult> rowSizes(ivs.size(), builder.getIndexAttr(1));
    int64_t rowLength = 1;
    if (type.getRank() > static_cast<int64_t>(ivs.size())) {
      rowOffsets.push_back(builder.getIndexAttr(0));
      rowLength = type.getDimSize(type.getRank() - 1);
      rowSizes.push_back(
          type.isDynamicDim(type.getRank() - 1)
              ? OpFoldResult(tensor::DimOp::create(builder, loc, shared,
                                                   type.getRank() - 1)
                                 .getResult())
              : OpFoldResult(builder.getIndexAttr(rowLength)));
    }
    SmallVector<OpFoldResult> rowStrides(rowSizes.size(),
                                         builder.getIndexAttr(1));
    auto rowType = RankedTensorType::get({rowLength}, type.getElementType());
    rows.push_back(tensor::ExtractSliceOp::create(
        builder, loc, rowType, shared, rowOffsets, rowSizes, rowStrides));
    offsets.push_back(rowOffsets);
    sizes.push_back(rowSizes);
    strides.push_back(rowStrides);
  }
  SmallVector<Value> newRows = body(builder, loc, ivs, rows);
  builder.setInsertionPointToStart(forall.getTerminator().getBody());
  for (auto [position, shared] : llvm::enumerate(forall.getRegionIterArgs()))
    tensor::ParallelInsertSliceOp::create(builder, loc, newRows[position],
                                          shared, offsets[position],
                                          sizes[position], strides[position]);
  return SmallVector<Value>(forall.getResults());
}

/// Clones the single block of a mask_mod/score_mod region at `builder`, with
/// its arguments bound to `arguments`; returns the yielded value.
Value sparse_attn::inlineModRegion(OpBuilder &builder, Region &region,
                                   ValueRange arguments,
                                   const llvm::DenseMap<Value, Value> *buffers) {
  Block &block = region.front();
  IRMapping mapping;
  mapping.map(block.getArguments(), arguments);
  for (Operation &nested : block.without_terminator()) {
    auto extract = dyn_cast<tensor::ExtractOp>(nested);
    if (buffers && extract && buffers->count(extract.getTensor())) {
      SmallVector<Value> indices;
      for (Value index : extract.getIndices())
        indices.push_back(mapping.lookupOrDefault(index));
      Value loaded = memref::LoadOp::create(builder, extract.getLoc(),
                                            buffers->lookup(extract.getTensor()),
                                            indices);
      mapping.map(extract.getResult(), loaded);
      continue;
    }
    builder.clone(nested, mapping);
  }
  return mapping.lookupOrDefault(block.getTerminator()->getOperand(0));
}

FailureOr<SmallVector<Value>>
sparse_attn::getOuterTensorsReadByExtract(Region &region) {
  llvm::SetVector<Value> captured;
  getUsedValuesDefinedAbove(region, captured);
  SmallVector<Value> tensors;
  for (Value value : captured) {
    if (!isa<TensorType>(value.getType()))
      continue;
    for (OpOperand &use : value.getUses()) {
      if (!region.isAncestor(use.getOwner()->getParentRegion()))
        continue;
      auto extract = dyn_cast<tensor::ExtractOp>(use.getOwner());
      if (!extract || use.getOperandNumber() != 0)
        return failure();
    }
    tensors.push_back(value);
  }
  return tensors;
}

/// The scale attribute, or 1/sqrt(D) rounded to f32.
double sparse_attn::getScaleValue(FloatAttr scale, int64_t headDim) {
  if (scale)
    return scale.getValueAsDouble();
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
}

std::pair<Value, Value> sparse_attn::getVerticalSlashCapacities(
    LoweringBuilder &emit, RankedTensorType blockIndicesType,
    RankedTensorType columnIndicesType, int64_t vertical, int64_t slash,
    int64_t blockQ, int64_t blockKv, Value kvLen, Value kvBlocks) {
  auto capacityOf = [&](RankedTensorType type, Value fallback) {
    return type.isDynamicDim(3) ? fallback : emit.index(type.getDimSize(3));
  };
  Value blockCapacity = capacityOf(blockIndicesType, kvBlocks);
  Value columnCapacity =
      capacityOf(columnIndicesType, emit.min(kvLen, emit.index(vertical)));
  int64_t perDiagonal = (blockQ + blockKv - 1) / blockKv + 1;
  emit.check(
      emit.le(emit.min(kvBlocks, emit.mul(emit.min(kvLen, emit.index(slash)),
                                          perDiagonal)),
              blockCapacity),
      "block_indices capacity below min(NK, min(slash, Skv) * "
      "(ceil(block_q / block_kv) + 1))");
  emit.check(emit.le(emit.min(kvLen, emit.index(vertical)), columnCapacity),
             "column_indices capacity below min(vertical, Skv)");
  return {blockCapacity, columnCapacity};
}

void sparse_attn::checkFullListShapes(LoweringBuilder &emit, Value numBlocks,
                                      Value fullNumBlocks,
                                      Value fullBlockIndices, Value queryBlocks,
                                      StringRef numName,
                                      StringRef indicesName) {
  emit.checkEq(emit.dim(fullNumBlocks, 0), emit.dim(numBlocks, 0),
               numName + " and num_blocks batch differ");
  emit.checkEq(emit.dim(fullNumBlocks, 2), queryBlocks,
               numName + " does not have ceil(Sq / block_q) query blocks");
  emit.commonDim({{fullNumBlocks, 0}, {fullBlockIndices, 0}},
                 numName + " and " + indicesName + " batch differ");
  emit.commonDim({{fullNumBlocks, 2}, {fullBlockIndices, 2}},
                 numName + " and " + indicesName + " query blocks differ");
}

AttentionShape sparse_attn::getAttentionShape(LoweringBuilder &emit,
                                              Value query, Value key,
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
  shape.batch = emit.commonDim(batchPlaces, "the batch sizes of q, k, v (and "
                                            "segment ids) differ");
  shape.queryLen = emit.commonDim(
      queryLenPlaces, "the query lengths of q and segment ids differ");
  shape.kvLen = emit.commonDim(
      kvLenPlaces, "the key lengths of k, v (and segment ids) differ");
  shape.queryHeads = queryType.getDimSize(1);
  shape.kvHeads = cast<RankedTensorType>(key.getType()).getDimSize(1);
  shape.headDim = queryType.getDimSize(3);
  shape.valueDim = valueType.getDimSize(3);
  return shape;
}

static Value f32Constant(OpBuilder &builder, Location loc, double value) {
  return arith::ConstantOp::create(builder, loc,
                                   builder.getF32FloatAttr(value));
}

static Value isNegInf(OpBuilder &builder, Location loc, Value value) {
  return arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OEQ, value,
                               f32Constant(builder, loc, -INFINITY));
}

FailureOr<std::pair<Value, Value>> sparse_attn::buildPairScore(
    OpBuilder &builder, Location loc, const PairScoreRules &rules, Value dot,
    Value batch, Value head, Value row, Value col, Value queryLen, Value kvLen,
    function_ref<Value(OpBuilder &, Location)> extraAllowed,
    function_ref<Value(OpBuilder &, Location)> forcedAllowed,
    ArrayRef<Value> segmentIds) {
  MaskPairValues pair{
      batch, row, col, queryLen, kvLen, rules.segmentIdsQ, rules.segmentIdsKv};
  if (!segmentIds.empty()) {
    pair.segmentQ = segmentIds[0];
    pair.segmentKv = segmentIds[1];
  }
  FailureOr<Value> allowed = buildMaskPredicate(builder, loc, rules.mask, pair);
  if (failed(allowed))
    return failure();
  Value isAllowed = *allowed;
  if (rules.maskMod)
    isAllowed = arith::AndIOp::create(
        builder, loc, isAllowed,
        inlineModRegion(builder, *rules.maskMod, {batch, head, row, col},
                        &rules.capturedBuffers));
  if (extraAllowed)
    isAllowed = arith::AndIOp::create(builder, loc, isAllowed,
                                      extraAllowed(builder, loc));
  if (forcedAllowed)
    isAllowed = arith::OrIOp::create(builder, loc, isAllowed,
                                     forcedAllowed(builder, loc));
  Value scaled = arith::MulFOp::create(builder, loc, dot,
                                       f32Constant(builder, loc, rules.scale));
  if (rules.scoreMod)
    scaled = inlineModRegion(builder, *rules.scoreMod,
                             {scaled, batch, head, row, col},
                             &rules.capturedBuffers);
  Value negInf = f32Constant(builder, loc, -INFINITY);
  Value score =
      arith::SelectOp::create(builder, loc, isAllowed, scaled, negInf);
  return std::make_pair(score, isAllowed);
}

void sparse_attn::yieldPairScore(OpBuilder &builder, Location loc,
                                 FailureOr<std::pair<Value, Value>> scored,
                                 ValueRange unchanged, bool &sawFailure) {
  if (failed(scored)) {
    sawFailure = true;
    linalg::YieldOp::create(builder, loc, unchanged);
    return;
  }
  linalg::YieldOp::create(builder, loc,
                          ValueRange{scored->first, scored->second});
}

Value sparse_attn::buildShiftedExp(OpBuilder &builder, Location loc,
                                   Value score, Value rowMax) {
  Value empty = isNegInf(builder, loc, rowMax);
  Value shifted = arith::SubFOp::create(builder, loc, score, rowMax);
  Value exp = math::ExpOp::create(builder, loc, shifted);
  return arith::SelectOp::create(builder, loc, empty,
                                 f32Constant(builder, loc, 0.0), exp);
}

Value sparse_attn::buildAllowedAccumulate(OpBuilder &builder, Location loc,
                                          Value probability, Value allowed,
                                          Value value, Value acc) {
  if (!value.getType().isF32())
    value = arith::ExtFOp::create(builder, loc, builder.getF32Type(), value);
  Value product = arith::MulFOp::create(builder, loc, probability, value);
  Value sum = arith::AddFOp::create(builder, loc, acc, product);
  return arith::SelectOp::create(builder, loc, allowed, sum, acc);
}

Value sparse_attn::buildNormalizedOutput(OpBuilder &builder, Location loc,
                                         Value acc, Value rowMax, Value rowSum,
                                         Type outElement) {
  Value empty = isNegInf(builder, loc, rowMax);
  Value normalized = arith::DivFOp::create(builder, loc, acc, rowSum);
  Value result = arith::SelectOp::create(
      builder, loc, empty, f32Constant(builder, loc, 0.0), normalized);
  if (outElement.isF32())
    return result;
  return arith::TruncFOp::create(builder, loc, outElement, result);
}

Value sparse_attn::buildLogSumExp(OpBuilder &builder, Location loc,
                                  Value rowMax, Value rowSum) {
  Value empty = isNegInf(builder, loc, rowMax);
  Value logSum = math::LogOp::create(builder, loc, rowSum);
  Value lse = arith::AddFOp::create(builder, loc, rowMax, logSum);
  return arith::SelectOp::create(builder, loc, empty,
                                 f32Constant(builder, loc, -INFINITY), lse);
}

std::pair<Value, Value> sparse_attn::getBlockMaskLengths(LoweringBuilder &emit,
                                                         IntegerAttr qLenAttr,
                                                         IntegerAttr kvLenAttr,
                                                         Value segmentIdsQ,
                                                         Value segmentIdsKv) {
  if (segmentIdsQ) {
    Value qLen = emit.dim(segmentIdsQ, 1);
    Value kvLen = emit.dim(segmentIdsKv, 1);
    if (qLenAttr)
      emit.checkEq(qLen, emit.index(qLenAttr.getInt()),
                   "q_len differs from the segment ids' length");
    if (kvLenAttr)
      emit.checkEq(kvLen, emit.index(kvLenAttr.getInt()),
                   "kv_len differs from the segment ids' length");
    return {qLen, kvLen};
  }
  return {qLenAttr ? emit.index(qLenAttr.getInt()) : Value(),
          kvLenAttr ? emit.index(kvLenAttr.getInt()) : Value()};
}

Value sparse_attn::getBlockMaskListBatch(LoweringBuilder &emit,
                                         RankedTensorType numType,
                                         Value segmentIdsQ) {
  Value batch = numType.isDynamicDim(0) ? emit.dim(segmentIdsQ, 0)
                                        : emit.index(numType.getDimSize(0));
  if (segmentIdsQ && !numType.isDynamicDim(0))
    emit.checkEq(batch, emit.dim(segmentIdsQ, 0),
                 "list batch differs from the segment ids' batch");
  return batch;
}

IndexerLengths sparse_attn::getIndexerLengths(LoweringBuilder &emit,
                                              Value query, Value key,
                                              Value weights, Value idsQ,
                                              Value idsKv) {
  SmallVector<std::pair<Value, int64_t>> batchPlaces = {
      {query, 0}, {key, 0}, {weights, 0}};
  SmallVector<std::pair<Value, int64_t>> queryLenPlaces = {{query, 2},
                                                           {weights, 1}};
  SmallVector<std::pair<Value, int64_t>> kvLenPlaces = {{key, 1}};
  if (idsQ) {
    batchPlaces.append({{idsQ, 0}, {idsKv, 0}});
    queryLenPlaces.push_back({idsQ, 1});
    kvLenPlaces.push_back({idsKv, 1});
  }
  return {emit.commonDim(batchPlaces, "batch sizes differ"),
          emit.commonDim(queryLenPlaces, "query lengths differ"),
          emit.commonDim(kvLenPlaces, "key lengths differ")};
}

SoftmaxParts sparse_attn::buildSoftmax(LoweringBuilder &emit, Value scores,
                                       ArrayRef<Value> rowSizes) {
  AffineMap rowMap = emit.map(4, {emit.d(0), emit.d(1), emit.d(2)});
  AffineMap allMap = emit.map(4, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)});
  Value rowMax = emit.generic(
      {scores}, {allMap}, emit.filled(rowSizes, emit.negInf()), rowMap,
      {kPar, kPar, kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return arith::MaximumFOp::create(builder, loc, args[1], args[0]);
      });
  // exp(t - m); an empty row (m = -inf) gets 0 instead of exp(NaN).
  Value probabilities = emit.generic(
      {rowMax}, {rowMap}, scores, allMap, {kPar, kPar, kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return buildShiftedExp(builder, loc, args[1], args[0]);
      });
  Value rowSum = emit.generic(
      {probabilities}, {allMap}, emit.filled(rowSizes, emit.f32Const(0)),
      rowMap, {kPar, kPar, kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return arith::AddFOp::create(builder, loc, args[1], args[0]);
      });
  return {probabilities, rowMax, rowSum};
}

std::pair<Value, Value> sparse_attn::buildCompactingScan(
    IndexArith &at, Value count, Value numRow, Value indicesRow,
    function_ref<std::pair<Value, Value>(IndexArith &, Value)> candidate) {
  OpBuilder &builder = at.builder;
  Location loc = at.loc;
  Value zero = at.index(0);
  Value capacity = tensor::DimOp::create(builder, loc, indicesRow, 0);
  auto scan = scf::ForOp::create(
      builder, loc, zero, count, at.index(1), ValueRange{zero, indicesRow},
      [&](OpBuilder &stepBuilder, Location stepLoc, Value position,
          ValueRange state) {
        IndexArith step(stepBuilder, stepLoc);
        Value kept = state[0], indices = state[1];
        auto [keep, entry] = candidate(step, position);
        Value store = step.andI(keep, step.lt(kept, capacity));
        Value updated = buildIf(
            stepBuilder, stepLoc, indices.getType(), store,
            [&](OpBuilder &thenBuilder) -> SmallVector<Value> {
              Value value = arith::IndexCastOp::create(
                  thenBuilder, stepLoc, thenBuilder.getI32Type(), entry);
              return {tensor::InsertOp::create(thenBuilder, stepLoc, value,
                                               indices, ValueRange{kept})};
            },
            [&](OpBuilder &) -> SmallVector<Value> { return {indices}; })[0];
        Value next = step.select(keep, step.add(kept, 1), kept);
        scf::YieldOp::create(stepBuilder, stepLoc, ValueRange{next, updated});
      });
  Value total = arith::IndexCastOp::create(builder, loc, builder.getI32Type(),
                                           scan.getResult(0));
  Value num =
      tensor::InsertOp::create(builder, loc, total, numRow, ValueRange{zero});
  return {num, scan.getResult(1)};
}
