//===- AttentionToLinalg.cpp - attention ops to linalg
//----------------------===//
//
// attention, block_sparse_attention and token_sparse_attention as the
// computation docs/semantics.md states: the [B, Hq, Sq, Skv] scores (masks,
// mods and list membership evaluated in one linalg.generic), a max, an
// exp-sum and the weighted sum of values, in f32.
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

/// s[b, h, i, j] = sum_d q[b, h, i, d] * k[b, h / G, j, d] in f32.
static Value buildQueryKeyDots(LoweringBuilder &emit,
                               const AttentionShape &shape, Value query,
                               Value key) {
  Value init = emit.filled(
      {shape.batch, emit.index(shape.queryHeads), shape.queryLen, shape.kvLen},
      emit.f32Const(0));
  int64_t group = shape.groupSize();
  return emit.generic(
      {query, key},
      {emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(4)}),
       emit.map(5,
                {emit.d(0), emit.d(1).floorDiv(group), emit.d(3), emit.d(4)})},
      init, emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)}),
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        Value product = emit.mulF32(builder, loc, args[0], args[1]);
        return arith::AddFOp::create(builder, loc, args[2], product);
      });
}

/// out = acc / l rounded to the output type (0 on empty rows), and
/// lse = m + log(l) (-inf on empty rows).
static std::pair<Value, Value>
buildAttentionResults(LoweringBuilder &emit, const AttentionShape &shape,
                      Value weighted, const SoftmaxParts &softmax,
                      RankedTensorType outputType, RankedTensorType lseType) {
  SmallVector<Value> outSizes = {shape.batch, emit.index(shape.queryHeads),
                                 shape.queryLen, emit.index(shape.valueDim)};
  Value outInit = emit.emptyOfType(outputType, outSizes, "output shape");
  Type outElement = outputType.getElementType();
  AffineMap rowOf4 = emit.map(4, {emit.d(0), emit.d(1), emit.d(2)});
  AffineMap all4 = emit.map(4, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)});
  Value output = emit.generic(
      {weighted, softmax.rowMax, softmax.rowSum}, {all4, rowOf4, rowOf4},
      outInit, all4, {kPar, kPar, kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return buildNormalizedOutput(builder, loc, args[0], args[1], args[2],
                                     outElement);
      });
  Value lseInit = emit.emptyOfType(
      lseType, ArrayRef<Value>(outSizes).take_front(3), "lse shape");
  AffineMap all3 = emit.map(3, {emit.d(0), emit.d(1), emit.d(2)});
  Value lse = emit.generic(
      {softmax.rowMax, softmax.rowSum}, {all3, all3}, lseInit, all3,
      {kPar, kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return buildLogSumExp(builder, loc, args[0], args[1]);
      });
  return {output, lse};
}

/// Block-list membership `[Bl, Hl, NQ, NK]` (i1) of block_sparse_attention.
static Value buildBlockMembership(LoweringBuilder &emit, Value numBlocks,
                                  Value blockIndices, Value queryBlocks,
                                  Value kvBlocks) {
  auto indicesType = cast<RankedTensorType>(blockIndices.getType());
  int64_t listHeads = indicesType.getDimSize(1);
  Value listBatch = emit.commonDim({{numBlocks, 0}, {blockIndices, 0}},
                                   "num_blocks and block_indices batch differ");
  emit.commonDim({{numBlocks, 2}, {blockIndices, 2}},
                 "num_blocks and block_indices query blocks differ");
  Value init =
      emit.filled({listBatch, emit.index(listHeads), queryBlocks, kvBlocks},
                  emit.boolean(false));
  // member |= t < clamp(num, 0, C) && block_indices[.., t] == J
  return emit.generic(
      {numBlocks, blockIndices},
      {emit.map(5, {emit.d(0), emit.d(1), emit.d(2)}),
       emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(4)})},
      init, emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)}),
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        Value slot = linalg::IndexOp::create(builder, loc, 4);
        Value kvBlock = linalg::IndexOp::create(builder, loc, 3);
        Value count = arith::IndexCastOp::create(
            builder, loc, builder.getIndexType(), args[0]);
        Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
        count = arith::MaxSIOp::create(builder, loc, count, zero);
        Value inList = arith::CmpIOp::create(
            builder, loc, arith::CmpIPredicate::slt, slot, count);
        Value entry = arith::IndexCastOp::create(
            builder, loc, builder.getIndexType(), args[1]);
        Value matches = arith::CmpIOp::create(
            builder, loc, arith::CmpIPredicate::eq, entry, kvBlock);
        Value hit = arith::AndIOp::create(builder, loc, inList, matches);
        return arith::OrIOp::create(builder, loc, args[2], hit);
      });
}

/// What an attention op contributes to the allowed predicate of a pair.
struct PairRules {
  Attribute mask;
  Value segmentIdsQ, segmentIdsKv;
  Region *maskMod = nullptr;
  Region *scoreMod = nullptr;
  // block_sparse_attention: membership [Bl, Hl, NQ, NK] in the lists and in
  // the full lists (null without them), and block sizes.
  Value membership, fullMembership;
  // Membership [Bl, Hl, NQ, Skv] of a key in its query block's columns
  // (null without them).
  Value columnMembership;
  bool listBatchIsOne = false;
  Value listBatch;
  int64_t listHeads = 1;
  int64_t blockQ = 1, blockKv = 1;
};

/// Masked, scaled, score_mod'ed scores of attention/block_sparse_attention
/// (-inf where not allowed), and the allowed pairs themselves (i1): the
/// weighted sum of values skips the keys outside A, so a NaN or inf in
/// their rows of v cannot reach the row through 0 * NaN.
struct MaskedScores {
  Value scores, allowed;
};

static FailureOr<MaskedScores> buildMaskedScores(LoweringBuilder &emit,
                                                 const AttentionShape &shape,
                                                 Value dots, double scale,
                                                 const PairRules &rules) {
  AffineMap all4 = emit.map(4, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)});
  bool failedMask = false;
  Value allowedInit = emit.empty(
      {shape.batch, emit.index(shape.queryHeads), shape.queryLen, shape.kvLen},
      emit.i1());
  auto generic = linalg::GenericOp::create(
      emit.builder, emit.loc, TypeRange{dots.getType(), allowedInit.getType()},
      ValueRange{}, ValueRange{dots, allowedInit},
      SmallVector<AffineMap>{all4, all4},
      SmallVector<IteratorType>{kPar, kPar, kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        SmallVector<Value> ivs = loopIndices(builder, loc, 4);
        Value batch = ivs[0], head = ivs[1], row = ivs[2], col = ivs[3];
        // The block lists' verdict: membership at (list batch, list head,
        // query block, kv block).
        auto listedIn = [&](Value membership, OpBuilder &memberBuilder,
                            Location memberLoc) -> Value {
          Value listBatchIndex = batch;
          if (rules.listBatchIsOne) {
            listBatchIndex =
                arith::ConstantIndexOp::create(memberBuilder, memberLoc, 0);
          } else if (rules.listBatch) {
            Value one =
                arith::ConstantIndexOp::create(memberBuilder, memberLoc, 1);
            Value zero =
                arith::ConstantIndexOp::create(memberBuilder, memberLoc, 0);
            Value isOne = arith::CmpIOp::create(memberBuilder, memberLoc,
                                                arith::CmpIPredicate::eq,
                                                rules.listBatch, one);
            listBatchIndex = arith::SelectOp::create(memberBuilder, memberLoc,
                                                     isOne, zero, batch);
          }
          Value listHead =
              arith::DivUIOp::create(memberBuilder, memberLoc, head,
                                     arith::ConstantIndexOp::create(
                                         memberBuilder, memberLoc,
                                         shape.queryHeads / rules.listHeads));
          Value queryBlock = arith::DivUIOp::create(
              memberBuilder, memberLoc, row,
              arith::ConstantIndexOp::create(memberBuilder, memberLoc,
                                             rules.blockQ));
          Value kvBlock = arith::DivUIOp::create(
              memberBuilder, memberLoc, col,
              arith::ConstantIndexOp::create(memberBuilder, memberLoc,
                                             rules.blockKv));
          Value listed = tensor::ExtractOp::create(
              memberBuilder, memberLoc, membership,
              ValueRange{listBatchIndex, listHead, queryBlock, kvBlock});
          if (membership != rules.membership || !rules.columnMembership)
            return listed;
          // Or the key is one of the query block's columns.
          Value column = tensor::ExtractOp::create(
              memberBuilder, memberLoc, rules.columnMembership,
              ValueRange{listBatchIndex, listHead, queryBlock, col});
          return arith::OrIOp::create(memberBuilder, memberLoc, listed, column);
        };
        auto listed = [&](OpBuilder &memberBuilder, Location memberLoc) {
          return listedIn(rules.membership, memberBuilder, memberLoc);
        };
        auto listedFull = [&](OpBuilder &memberBuilder, Location memberLoc) {
          return listedIn(rules.fullMembership, memberBuilder, memberLoc);
        };
        PairScoreRules scoreRules{rules.mask,         rules.segmentIdsQ,
                                  rules.segmentIdsKv, rules.maskMod,
                                  rules.scoreMod,     scale};
        FailureOr<std::pair<Value, Value>> scored = buildPairScore(
            builder, loc, scoreRules, args[0], batch, head, row, col,
            shape.queryLen, shape.kvLen,
            rules.membership
                ? function_ref<Value(OpBuilder &, Location)>(listed)
                : nullptr,
            rules.fullMembership
                ? function_ref<Value(OpBuilder &, Location)>(listedFull)
                : nullptr);
        yieldPairScore(builder, loc, scored, {args[0], args[1]}, failedMask);
      });
  if (failedMask)
    return failure();
  return MaskedScores{generic.getResult(0), generic.getResult(1)};
}

/// acc[b, h, i, e] = sum over allowed j of p[b, h, i, j] * v[b, h / G, j, e]
/// in f32.
static Value buildWeightedValues(LoweringBuilder &emit,
                                 const AttentionShape &shape,
                                 Value probabilities, Value allowed,
                                 Value value) {
  Value init = emit.filled({shape.batch, emit.index(shape.queryHeads),
                            shape.queryLen, emit.index(shape.valueDim)},
                           emit.f32Const(0));
  AffineMap pairMap = emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(4)});
  return emit.generic(
      {probabilities, allowed, value},
      {pairMap, pairMap,
       emit.map(5, {emit.d(0), emit.d(1).floorDiv(shape.groupSize()), emit.d(4),
                    emit.d(3)})},
      init, emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)}),
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return buildAllowedAccumulate(builder, loc, args[0], args[1], args[2],
                                      args[3]);
      });
}

/// A lowering pattern of one sparse_attn op; `runtimeChecks` says whether
/// the shape rules dynamic dims hide become cf.asserts.
/// attention and block_sparse_attention share everything but the rules.
template <typename OpTy>
static LogicalResult lowerDenseAttention(
    OpTy op, PatternRewriter &rewriter, bool runtimeChecks, PairRules rules,
    function_ref<LogicalResult(LoweringBuilder &, const AttentionShape &,
                               PairRules &)>
        addRules) {
  LoweringBuilder emit(rewriter, op, runtimeChecks);
  AttentionShape shape =
      getAttentionShape(emit, op.getQuery(), op.getKey(), op.getValue(),
                        op.getSegmentIdsQ(), op.getSegmentIdsKv());
  rules.mask = op.getMaskAttr();
  rules.segmentIdsQ = op.getSegmentIdsQ();
  rules.segmentIdsKv = op.getSegmentIdsKv();
  if (!op.getMaskMod().empty())
    rules.maskMod = &op.getMaskMod();
  if (!op.getScoreMod().empty())
    rules.scoreMod = &op.getScoreMod();
  if (addRules && failed(addRules(emit, shape, rules)))
    return failure();
  checkMaskLengths(emit, rules.mask, shape.kvLen);

  Value dots = buildQueryKeyDots(emit, shape, op.getQuery(), op.getKey());
  FailureOr<MaskedScores> masked =
      buildMaskedScores(emit, shape, dots,
                        getScaleValue(op.getScaleAttr(), shape.headDim), rules);
  if (failed(masked))
    return rewriter.notifyMatchFailure(op, "mask has no lowering");
  SoftmaxParts softmax =
      buildSoftmax(emit, masked->scores,
                   {shape.batch, emit.index(shape.queryHeads), shape.queryLen});
  Value weighted = buildWeightedValues(emit, shape, softmax.probabilities,
                                       masked->allowed, op.getValue());
  auto [output, lse] =
      buildAttentionResults(emit, shape, weighted, softmax,
                            op.getOutput().getType(), op.getLse().getType());
  rewriter.replaceOp(op, {output, lse});
  return success();
}

struct AttentionOpLowering : LoweringPattern<AttentionOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    return lowerDenseAttention(op, rewriter, runtimeChecks, PairRules(),
                               nullptr);
  }
};

struct BlockSparseAttentionOpLowering
    : LoweringPattern<BlockSparseAttentionOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(BlockSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    BlockSizes block = op.getBlockSizes();
    int64_t blockQ = block.query, blockKv = block.kv;
    auto addRules = [&](LoweringBuilder &emit, const AttentionShape &shape,
                        PairRules &rules) -> LogicalResult {
      Value numBlocks = op.getNumBlocks(), blockIndices = op.getBlockIndices();
      Value queryBlocks = emit.ceilDiv(shape.queryLen, blockQ);
      Value kvBlocks = emit.ceilDiv(shape.kvLen, blockKv);
      emit.checkEq(emit.dim(numBlocks, 2), queryBlocks,
                   "block lists do not have ceil(Sq / block_q) query blocks");
      rules.membership = buildBlockMembership(emit, numBlocks, blockIndices,
                                              queryBlocks, kvBlocks);
      if (Value fullNum = op.getFullNumBlocks()) {
        checkFullListShapes(emit, numBlocks, fullNum, op.getFullBlockIndices(),
                            queryBlocks);
        rules.fullMembership = buildBlockMembership(
            emit, fullNum, op.getFullBlockIndices(), queryBlocks, kvBlocks);
      }
      if (Value numColumns = op.getNumColumns()) {
        checkFullListShapes(emit, numBlocks, numColumns, op.getColumnIndices(),
                            queryBlocks, "num_columns", "column_indices");
        // A column's "block" is the key itself.
        rules.columnMembership = buildBlockMembership(
            emit, numColumns, op.getColumnIndices(), queryBlocks, shape.kvLen);
      }
      RankedTensorType numType = op.getNumBlocks().getType();
      rules.listHeads = numType.getDimSize(1);
      rules.blockQ = blockQ;
      rules.blockKv = blockKv;
      int64_t staticListBatch = numType.getDimSize(0);
      if (ShapedType::isDynamic(staticListBatch))
        staticListBatch = op.getBlockIndices().getType().getDimSize(0);
      if (staticListBatch == 1) {
        rules.listBatchIsOne = true;
        return success();
      }
      Value listBatch = emit.dim(numBlocks, 0);
      Value isOne =
          arith::CmpIOp::create(rewriter, emit.loc, arith::CmpIPredicate::eq,
                                listBatch, emit.index(1));
      Value isBatch = arith::CmpIOp::create(
          rewriter, emit.loc, arith::CmpIPredicate::eq, listBatch, shape.batch);
      emit.check(arith::OrIOp::create(rewriter, emit.loc, isOne, isBatch),
                 "block lists' batch is neither 1 nor the batch size");
      if (ShapedType::isDynamic(staticListBatch))
        rules.listBatch = listBatch;
      return success();
    };
    return lowerDenseAttention(op, rewriter, runtimeChecks, PairRules(),
                               addRules);
  }
};

/// A guarded read: `tensor[indices]` when `valid`, else `fallback`; the read
/// is not executed otherwise.
static Value extractIf(OpBuilder &builder, Location loc, Value valid,
                       Value tensor, ValueRange indices, Value fallback) {
  return buildIf(
      builder, loc, fallback.getType(), valid,
      [&](OpBuilder &thenBuilder) -> SmallVector<Value> {
        return {tensor::ExtractOp::create(thenBuilder, loc, tensor, indices)};
      },
      [&](OpBuilder &) -> SmallVector<Value> { return {fallback}; })[0];
}

/// Whether token list entry `entry` (i32) names a key: 0 <= entry < kvLen.
static std::pair<Value, Value> tokenEntry(OpBuilder &builder, Location loc,
                                          Value entry, Value kvLen) {
  Value position =
      arith::IndexCastOp::create(builder, loc, builder.getIndexType(), entry);
  Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
  Value notNegative = arith::CmpIOp::create(
      builder, loc, arith::CmpIPredicate::sle, zero, position);
  Value inRange = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::slt,
                                        position, kvLen);
  Value valid = arith::AndIOp::create(builder, loc, notNegative, inRange);
  return {valid, position};
}

struct TokenSparseAttentionOpLowering
    : LoweringPattern<TokenSparseAttentionOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(TokenSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder emit(rewriter, op, runtimeChecks);
    Value query = op.getQuery(), key = op.getKey(), value = op.getValue(),
          tokens = op.getTokenIndices();
    AttentionShape shape = getAttentionShape(emit, query, key, value, {}, {});
    emit.checkEq(emit.dim(tokens, 0), shape.batch,
                 "token_indices batch differs from the query batch");
    emit.checkEq(emit.dim(tokens, 1), shape.queryLen,
                 "token_indices length differs from the query length");
    Value slots = emit.dim(tokens, 2);
    int64_t group = shape.groupSize();
    double scale = getScaleValue(op.getScaleAttr(), shape.headDim);
    SmallVector<Value> rowSizes = {shape.batch, emit.index(shape.queryHeads),
                                   shape.queryLen};
    SmallVector<Value> scoreSizes = {shape.batch, emit.index(shape.queryHeads),
                                     shape.queryLen, slots};
    // Inside a 5-dim generic over (b, h, i, slot or column, ...): the
    // element of `source` (k or v) at the key `entry` names and column
    // `columnDim` of the loop, or 0 for an invalid entry.
    auto listedElement = [&](OpBuilder &builder, Location loc, Value source,
                             Value entry, unsigned columnDim) -> Value {
      SmallVector<Value> ivs = loopIndices(builder, loc, 5);
      auto [valid, position] = tokenEntry(builder, loc, entry, shape.kvLen);
      Value kvHead = arith::DivUIOp::create(
          builder, loc, ivs[1],
          arith::ConstantIndexOp::create(builder, loc, group));
      Value zero = arith::ConstantOp::create(
          builder, loc,
          builder.getZeroAttr(
              cast<ShapedType>(source.getType()).getElementType()));
      return extractIf(builder, loc, valid, source,
                       {ivs[0], kvHead, position, ivs[columnDim]}, zero);
    };

    // s[b, h, i, t] = <q[b, h, i], k[b, h / G, x_t]> over valid slots.
    Value dots = emit.generic(
        {query, tokens},
        {emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(4)}),
         emit.map(5, {emit.d(0), emit.d(2), emit.d(3)})},
        emit.filled(scoreSizes, emit.f32Const(0)),
        emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)}),
        {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
          Value keyValue = listedElement(builder, loc, key, args[1], 4);
          Value product = emit.mulF32(builder, loc, args[0], keyValue);
          return arith::AddFOp::create(builder, loc, args[2], product);
        });
    AffineMap all4 = emit.map(4, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)});
    Value scores = emit.generic(
        {tokens}, {emit.map(4, {emit.d(0), emit.d(2), emit.d(3)})}, dots, all4,
        {kPar, kPar, kPar, kPar},
        [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
          Value valid = tokenEntry(builder, loc, args[0], shape.kvLen).first;
          Value scaled = arith::MulFOp::create(
              builder, loc, args[1],
              arith::ConstantOp::create(builder, loc,
                                        builder.getF32FloatAttr(scale)));
          Value negInf = arith::ConstantOp::create(
              builder, loc, builder.getF32FloatAttr(-INFINITY));
          return arith::SelectOp::create(builder, loc, valid, scaled, negInf);
        });
    SoftmaxParts softmax = buildSoftmax(emit, scores, rowSizes);
    Value weighted = emit.generic(
        {softmax.probabilities, tokens},
        {emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(4)}),
         emit.map(5, {emit.d(0), emit.d(2), emit.d(4)})},
        emit.filled({shape.batch, emit.index(shape.queryHeads), shape.queryLen,
                     emit.index(shape.valueDim)},
                    emit.f32Const(0)),
        emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)}),
        {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
          Value valueElement = listedElement(builder, loc, value, args[1], 3);
          Value product = arith::MulFOp::create(
              builder, loc, args[0], emit.toF32(builder, loc, valueElement));
          return arith::AddFOp::create(builder, loc, args[2], product);
        });
    auto [output, lse] =
        buildAttentionResults(emit, shape, weighted, softmax,
                              op.getOutput().getType(), op.getLse().getType());
    rewriter.replaceOp(op, {output, lse});
    return success();
  }
};

} // namespace

void sparse_attn::populateAttentionToLinalgPatterns(RewritePatternSet &patterns,
                                                    bool runtimeChecks) {
  patterns.add<AttentionOpLowering, BlockSparseAttentionOpLowering,
               TokenSparseAttentionOpLowering>(patterns.getContext(),
                                               runtimeChecks);
}
