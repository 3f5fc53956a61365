//===- BlockListsToLinalg.cpp - block lists and scores to linalg
//------------===//
//
// block_mask (the block lists of a mask, from per-pair occupancy), pool and
// block_scores (pooled queries against pooled keys under the block mask).
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

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

using utils::IteratorType;

/// occupied[b, I, J] (i1, batch 1 unless the mask reads segment ids):
/// whether query block I and kv block J hold an allowed pair.
/// Block occupancy `[B or 1, NQ, NK]` of a mask: whether some pair of the
/// block is allowed, and (with `withFull`, else null) whether every pair
/// inside the lengths is.
struct BlockOccupancy {
  Value occupied, full;
};

static FailureOr<BlockOccupancy>
buildBlockOccupancy(LoweringBuilder &emit, Attribute mask, Value segmentIdsQ,
                    Value segmentIdsKv, Value qLen, Value kvLen, int64_t blockQ,
                    int64_t blockKv, Value queryBlocks, Value kvBlocks,
                    bool withFull) {
  Value batch = segmentIdsQ
                    ? emit.commonDim({{segmentIdsQ, 0}, {segmentIdsKv, 0}},
                                     "segment ids batch sizes differ")
                    : emit.index(1);
  checkMaskLengths(emit, mask, kvLen);
  Value init = emit.empty({batch, queryBlocks, kvBlocks}, emit.i1());
  AffineMap all3 = emit.map(3, {emit.d(0), emit.d(1), emit.d(2)});
  bool failedMask = false;
  int64_t results = withFull ? 2 : 1;
  auto generic = linalg::GenericOp::create(
      emit.builder, emit.loc, SmallVector<Type>(results, init.getType()),
      ValueRange{}, SmallVector<Value>(results, init),
      SmallVector<AffineMap>(results, all3),
      SmallVector<IteratorType>{kPar, kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange) {
        SmallVector<Value> ivs = loopIndices(builder, loc, 3);
        Value one = arith::ConstantIndexOp::create(builder, loc, 1);
        auto blockRange = [&](Value blockIndex, int64_t size, Value length) {
          Value sizeValue = arith::ConstantIndexOp::create(builder, loc, size);
          Value begin =
              arith::MulIOp::create(builder, loc, blockIndex, sizeValue);
          Value end = arith::MinSIOp::create(
              builder, loc,
              arith::AddIOp::create(builder, loc, begin, sizeValue), length);
          return std::make_pair(begin, end);
        };
        auto [rowBegin, rowEnd] = blockRange(ivs[1], blockQ, qLen);
        auto [colBegin, colEnd] = blockRange(ivs[2], blockKv, kvLen);
        // (some pair allowed, every pair allowed) over the block's pairs.
        Value none = arith::ConstantIntOp::create(builder, loc, 0, 1);
        SmallVector<Value> inits = {none};
        if (withFull)
          inits.push_back(arith::ConstantIntOp::create(builder, loc, 1, 1));
        auto rows = scf::ForOp::create(
            builder, loc, rowBegin, rowEnd, one, inits,
            [&](OpBuilder &rowBuilder, Location rowLoc, Value row,
                ValueRange rowArgs) {
              auto cols = scf::ForOp::create(
                  rowBuilder, rowLoc, colBegin, colEnd, one, rowArgs,
                  [&](OpBuilder &colBuilder, Location colLoc, Value col,
                      ValueRange colArgs) {
                    MaskPairValues pair{ivs[0], row,         col,         qLen,
                                        kvLen,  segmentIdsQ, segmentIdsKv};
                    FailureOr<Value> allowed =
                        buildMaskPredicate(colBuilder, colLoc, mask, pair);
                    if (failed(allowed)) {
                      failedMask = true;
                      allowed = colArgs[0];
                    }
                    SmallVector<Value> next = {arith::OrIOp::create(
                        colBuilder, colLoc, colArgs[0], *allowed)};
                    if (withFull)
                      next.push_back(arith::AndIOp::create(
                          colBuilder, colLoc, colArgs[1], *allowed));
                    scf::YieldOp::create(colBuilder, colLoc, next);
                  });
              scf::YieldOp::create(rowBuilder, rowLoc, cols.getResults());
            });
        linalg::YieldOp::create(builder, loc, rows.getResults());
      });
  if (failedMask)
    return failure();
  return BlockOccupancy{generic.getResult(0),
                        withFull ? generic.getResult(1) : Value()};
}

struct BlockMaskOpLowering : LoweringPattern<BlockMaskOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(BlockMaskOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder emit(rewriter, op, runtimeChecks);
    RankedTensorType numType = op.getNumBlocks().getType();
    RankedTensorType indicesType = op.getBlockIndices().getType();
    Value segmentIdsQ = op.getSegmentIdsQ(),
          segmentIdsKv = op.getSegmentIdsKv();
    if (numType.isDynamicDim(0) && !segmentIdsQ)
      return rewriter.notifyMatchFailure(
          op, "dynamic list batch without segment ids to define it");
    auto [qLen, kvLen] = getBlockMaskLengths(
        emit, op.getQLenAttr(), op.getKvLenAttr(), segmentIdsQ, segmentIdsKv);
    BlockSizes block = op.getBlockSizes();
    int64_t blockQ = block.query, blockKv = block.kv;
    Value queryBlocks = emit.ceilDiv(qLen, blockQ);
    Value kvBlocks = emit.ceilDiv(kvLen, blockKv);

    MaskAttrInterface mask = op.getMaskAttr();
    bool perBatch = mask && mask.usesSegmentIds();
    Value batch = getBlockMaskListBatch(emit, numType, segmentIdsQ);
    Value heads = emit.index(numType.getDimSize(1));

    bool withFull = static_cast<bool>(op.getFullNumBlocks());
    BlockOccupancy occupancy;
    if (mask) {
      FailureOr<BlockOccupancy> result =
          buildBlockOccupancy(emit, mask, perBatch ? segmentIdsQ : Value(),
                              perBatch ? segmentIdsKv : Value(), qLen, kvLen,
                              blockQ, blockKv, queryBlocks, kvBlocks, withFull);
      if (failed(result))
        return rewriter.notifyMatchFailure(op, "mask has no lowering");
      occupancy = *result;
    } else {
      occupancy.occupied = emit.filled({emit.index(1), queryBlocks, kvBlocks},
                                       emit.boolean(true));
      occupancy.full = occupancy.occupied;
    }

    // One pair of lists per (kind of block, result pair): every occupied
    // block, or with full results the partial and the full ones.
    struct ListKind {
      RankedTensorType numType, indicesType;
      bool full;
    };
    SmallVector<ListKind> kinds = {{numType, indicesType, false}};
    if (withFull)
      kinds.push_back({op.getFullNumBlocks().getType(),
                       op.getFullBlockIndices().getType(), true});
    SmallVector<Value> inits;
    for (const ListKind &kind : kinds) {
      Value capacity = kind.indicesType.isDynamicDim(3)
                           ? kvBlocks
                           : emit.index(kind.indicesType.getDimSize(3));
      inits.push_back(emit.emptyOfType(
          kind.numType, {batch, heads, queryBlocks}, "num_blocks shape"));
      inits.push_back(
          emit.fill(emit.i32Const(-1),
                    emit.emptyOfType(kind.indicesType,
                                     {batch, heads, queryBlocks, capacity},
                                     "block_indices shape")));
    }
    Value zero = emit.index(0);
    SmallVector<Value> results = buildRowForall(
        rewriter, emit.loc, {batch, heads, queryBlocks}, inits,
        [&](OpBuilder &builder, Location loc, ValueRange ivs,
            ValueRange lists) -> SmallVector<Value> {
          Value occupancyBatch = perBatch ? ivs[0] : zero;
          SmallVector<Value> rowResults;
          for (auto [position, kind] : llvm::enumerate(kinds))
            llvm::append_range(rowResults,
                               buildListRow(builder, loc, occupancy, withFull,
                                            kind.full, {occupancyBatch, ivs[2]},
                                            kvBlocks, lists[2 * position],
                                            lists[2 * position + 1]));
          return rowResults;
        });
    rewriter.replaceOp(op, results);
    return success();
  }

  /// The row's list of the blocks of one kind in ascending order (as many
  /// as fit) and its full count.
  static SmallVector<Value> buildListRow(OpBuilder &builder, Location loc,
                                         const BlockOccupancy &occupancy,
                                         bool withFull, bool full,
                                         ArrayRef<Value> place, Value kvBlocks,
                                         Value numRow, Value indicesRow) {
    IndexArith at(builder, loc);
    auto [num, indices] = buildCompactingScan(
        at, kvBlocks, numRow, indicesRow,
        [&](IndexArith &step, Value kvBlock) -> std::pair<Value, Value> {
          auto occupiedAt = [&](Value tensor) -> Value {
            return tensor::ExtractOp::create(
                step.builder, step.loc, tensor,
                ValueRange{place[0], place[1], kvBlock});
          };
          Value isOccupied = occupiedAt(occupancy.occupied);
          if (full) {
            isOccupied = occupiedAt(occupancy.full);
          } else if (withFull) {
            Value partial = arith::XOrIOp::create(step.builder, step.loc,
                                                  occupiedAt(occupancy.full),
                                                  step.boolean(true));
            isOccupied = step.andI(isOccupied, partial);
          }
          return {isOccupied, kvBlock};
        });
    return {num, indices};
  }
};

//===----------------------------------------------------------------------===//
// Indexers
//===----------------------------------------------------------------------===//

struct PoolOpLowering : LoweringPattern<PoolOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(PoolOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder emit(rewriter, op, runtimeChecks);
    Value input = op.getInput();
    int64_t block = op.getBlock();
    Value length = emit.dim(input, 2);
    Value init =
        emit.emptyOfType(op.getResult().getType(),
                         {emit.dim(input, 0), emit.dim(input, 1),
                          emit.ceilDiv(length, block), emit.dim(input, 3)},
                         "result shape");
    bool isMax = op.getKind() == PoolKind::Max;
    Value result = emit.generic(
        {}, {}, init, emit.map(4, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)}),
        {kPar, kPar, kPar, kPar},
        [&](OpBuilder &builder, Location loc, ValueRange) -> Value {
          SmallVector<Value> ivs = loopIndices(builder, loc, 4);
          Value blockSize = arith::ConstantIndexOp::create(builder, loc, block);
          Value begin = arith::MulIOp::create(builder, loc, ivs[2], blockSize);
          Value end = arith::MinSIOp::create(
              builder, loc,
              arith::AddIOp::create(builder, loc, begin, blockSize), length);
          Value start = arith::ConstantOp::create(
              builder, loc, builder.getF32FloatAttr(isMax ? -INFINITY : 0.0));
          Value one = arith::ConstantIndexOp::create(builder, loc, 1);
          auto loop = scf::ForOp::create(
              builder, loc, begin, end, one, ValueRange{start},
              [&](OpBuilder &foldBuilder, Location foldLoc, Value row,
                  ValueRange acc) {
                Value element =
                    emit.toF32(foldBuilder, foldLoc,
                               tensor::ExtractOp::create(
                                   foldBuilder, foldLoc, input,
                                   ValueRange{ivs[0], ivs[1], row, ivs[3]}));
                Value next = isMax ? arith::MaximumFOp::create(
                                         foldBuilder, foldLoc, acc[0], element)
                                         .getResult()
                                   : arith::AddFOp::create(foldBuilder, foldLoc,
                                                           acc[0], element)
                                         .getResult();
                scf::YieldOp::create(foldBuilder, foldLoc, next);
              });
          if (isMax)
            return loop.getResult(0);
          Value count = arith::SubIOp::create(builder, loc, end, begin);
          Value countF = arith::UIToFPOp::create(
              builder, loc, builder.getF32Type(),
              arith::IndexCastOp::create(builder, loc, builder.getI64Type(),
                                         count));
          return arith::DivFOp::create(builder, loc, loop.getResult(0), countF);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct BlockScoresOpLowering : LoweringPattern<BlockScoresOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(BlockScoresOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder emit(rewriter, op, runtimeChecks);
    Value queryPooled = op.getQueryPooled(), keyPooled = op.getKeyPooled();
    RankedTensorType queryType = op.getQueryPooled().getType();
    RankedTensorType scoresType = op.getScores().getType();
    Value segmentIdsQ = op.getSegmentIdsQ(),
          segmentIdsKv = op.getSegmentIdsKv();
    SmallVector<std::pair<Value, int64_t>> batchPlaces = {{queryPooled, 0},
                                                          {keyPooled, 0}};
    if (segmentIdsQ)
      batchPlaces.append({{segmentIdsQ, 0}, {segmentIdsKv, 0}});
    Value batch = emit.commonDim(batchPlaces, "batch sizes differ");
    Value queryBlocks = emit.dim(queryPooled, 2),
          kvBlocks = emit.dim(keyPooled, 2);
    int64_t queryHeads = queryType.getDimSize(1);
    int64_t kvHeads = op.getKeyPooled().getType().getDimSize(1);
    int64_t resultHeads = scoresType.getDimSize(1);
    int64_t headDim = queryType.getDimSize(3);
    int64_t resultGroup = queryHeads / resultHeads,
            kvGroup = queryHeads / kvHeads;
    BlockSizes block = op.getBlockSizes();
    int64_t blockQ = block.query, blockKv = block.kv;

    Value occupied;
    MaskAttrInterface mask = op.getMaskAttr();
    bool perBatch = mask && mask.usesSegmentIds();
    if (mask) {
      auto [qLen, kvLen] = getBlockMaskLengths(
          emit, op.getQLenAttr(), op.getKvLenAttr(), segmentIdsQ, segmentIdsKv);
      emit.checkEq(queryBlocks, emit.ceilDiv(qLen, blockQ),
                   "query_pooled does not have ceil(q_len / block_q) blocks");
      emit.checkEq(kvBlocks, emit.ceilDiv(kvLen, blockKv),
                   "key_pooled does not have ceil(kv_len / block_kv) blocks");
      FailureOr<BlockOccupancy> result = buildBlockOccupancy(
          emit, mask, perBatch ? segmentIdsQ : Value(),
          perBatch ? segmentIdsKv : Value(), qLen, kvLen, blockQ, blockKv,
          queryBlocks, kvBlocks, /*withFull=*/false);
      if (failed(result))
        return rewriter.notifyMatchFailure(op, "mask has no lowering");
      occupied = result->occupied;
    }

    // [B, Hq, NQ, D] -> [B, Hr, G', NQ, D]: the result head's query heads.
    SmallVector<int64_t> expandedShape = {queryType.getDimSize(0), resultHeads,
                                          resultGroup, queryType.getDimSize(2),
                                          headDim};
    auto expandedType =
        RankedTensorType::get(expandedShape, queryType.getElementType());
    SmallVector<OpFoldResult> expandedSizes = {
        getAsOpFoldResult(emit.dim(queryPooled, 0)),
        rewriter.getIndexAttr(resultHeads), rewriter.getIndexAttr(resultGroup),
        getAsOpFoldResult(queryBlocks), rewriter.getIndexAttr(headDim)};
    Value grouped = tensor::ExpandShapeOp::create(
        rewriter, emit.loc, expandedType, queryPooled,
        SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}},
        expandedSizes);

    Value dotsInit =
        emit.filled({batch, emit.index(resultHeads), queryBlocks, kvBlocks},
                    emit.f32Const(0));
    // dims: b, hr, g, I, J, d
    AffineExpr queryHead = emit.d(1) * resultGroup + emit.d(2);
    Value dots = emit.generic(
        {grouped, keyPooled},
        {emit.map(6, {emit.d(0), emit.d(1), emit.d(2), emit.d(3), emit.d(5)}),
         emit.map(6, {emit.d(0), queryHead.floorDiv(kvGroup), emit.d(4),
                      emit.d(5)})},
        dotsInit, emit.map(6, {emit.d(0), emit.d(1), emit.d(3), emit.d(4)}),
        {kPar, kPar, kRed, kPar, kPar, kRed},
        [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
          Value product = emit.mulF32(builder, loc, args[0], args[1]);
          return arith::AddFOp::create(builder, loc, args[2], product);
        });

    double scale = getScaleValue(op.getScaleAttr(), headDim);
    Value init = emit.emptyOfType(
        scoresType, {batch, emit.index(resultHeads), queryBlocks, kvBlocks},
        "scores shape");
    SmallVector<Value> inputs = {dots};
    AffineMap all4 = emit.map(4, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)});
    SmallVector<AffineMap> maps = {all4};
    if (occupied) {
      inputs.push_back(occupied);
      maps.push_back(emit.map(
          4, {perBatch ? emit.d(0) : emit.c(0), emit.d(2), emit.d(3)}));
    }
    Value scores = emit.generic(
        inputs, maps, init, all4, {kPar, kPar, kPar, kPar},
        [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
          Value scaled = arith::MulFOp::create(
              builder, loc, args[0],
              arith::ConstantOp::create(builder, loc,
                                        builder.getF32FloatAttr(scale)));
          if (!occupied)
            return scaled;
          Value negInf = arith::ConstantOp::create(
              builder, loc, builder.getF32FloatAttr(-INFINITY));
          return arith::SelectOp::create(builder, loc, args[1], scaled, negInf);
        });
    rewriter.replaceOp(op, scores);
    return success();
  }
};

} // namespace

void sparse_attn::populateBlockListsToLinalgPatterns(
    RewritePatternSet &patterns, bool runtimeChecks) {
  patterns.add<BlockMaskOpLowering, PoolOpLowering, BlockScoresOpLowering>(
      patterns.getContext(), runtimeChecks);
}
