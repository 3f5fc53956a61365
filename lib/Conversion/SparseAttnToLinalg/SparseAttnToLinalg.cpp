//===- SparseAttnToLinalg.cpp - reference lowering of sparse_attn ---------===//
//
// Lowers every sparse_attn op to linalg/scf/arith/math/tensor, computing
// exactly what docs/semantics.md states. Attention materializes its scores;
// the selection ops are scalar scf loops. Correctness, not speed.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Conversion/Passes.h"

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_CONVERTSPARSEATTNTOLINALGPASS
#include "SparseAttn/Conversion/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

using utils::IteratorType;

/// s[b, h, i, j] = sum_d q[b, h, i, d] * k[b, h / G, j, d] in f32.
static Value buildQueryKeyDots(LoweringBuilder &l, const AttentionShape &shape,
                               Value query, Value key) {
  Value init = l.filled({shape.batch, l.index(shape.queryHeads), shape.queryLen,
                         shape.kvLen},
                        l.f32Const(0));
  int64_t group = shape.groupSize();
  return l.generic(
      {query, key},
      {l.map(5, {l.d(0), l.d(1), l.d(2), l.d(4)}),
       l.map(5, {l.d(0), l.d(1).floorDiv(group), l.d(3), l.d(4)})},
      init, l.map(5, {l.d(0), l.d(1), l.d(2), l.d(3)}),
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value product = l.mulF32(b, loc, args[0], args[1]);
        return arith::AddFOp::create(b, loc, args[2], product);
      });
}

/// Row statistics and normalization of masked scores `t [B, Hq, Sq, N]`
/// (-inf where not allowed): returns the unnormalized probabilities
/// `exp(t - m)` (0 on empty rows), the row max `m` and the sum `l`.
struct SoftmaxParts {
  Value probabilities, rowMax, rowSum;
};

static SoftmaxParts buildSoftmax(LoweringBuilder &l, Value scores,
                                 ArrayRef<Value> rowSizes) {
  AffineMap rowMap = l.map(4, {l.d(0), l.d(1), l.d(2)});
  AffineMap allMap = l.map(4, {l.d(0), l.d(1), l.d(2), l.d(3)});
  Value rowMax = l.generic(
      {scores}, {allMap}, l.filled(rowSizes, l.negInf()), rowMap,
      {kPar, kPar, kPar, kRed},
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return arith::MaximumFOp::create(b, loc, args[1], args[0]);
      });
  // exp(t - m); an empty row (m = -inf) gets 0 instead of exp(NaN).
  Value probabilities = l.generic(
      {rowMax}, {rowMap}, scores, allMap, {kPar, kPar, kPar, kPar},
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return buildShiftedExp(b, loc, args[1], args[0]);
      });
  Value rowSum = l.generic(
      {probabilities}, {allMap}, l.filled(rowSizes, l.f32Const(0)), rowMap,
      {kPar, kPar, kPar, kRed},
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return arith::AddFOp::create(b, loc, args[1], args[0]);
      });
  return {probabilities, rowMax, rowSum};
}

/// out = acc / l rounded to the output type (0 on empty rows), and
/// lse = m + log(l) (-inf on empty rows).
static std::pair<Value, Value>
buildAttentionResults(LoweringBuilder &l, const AttentionShape &shape, Value weighted,
                      const SoftmaxParts &softmax, RankedTensorType outputType,
                      RankedTensorType lseType) {
  SmallVector<Value> outSizes = {shape.batch, l.index(shape.queryHeads),
                                 shape.queryLen, l.index(shape.valueDim)};
  Value outInit = l.emptyOfType(outputType, outSizes, "output shape");
  Type outElement = outputType.getElementType();
  AffineMap rowOf4 = l.map(4, {l.d(0), l.d(1), l.d(2)});
  AffineMap all4 = l.map(4, {l.d(0), l.d(1), l.d(2), l.d(3)});
  Value output = l.generic(
      {weighted, softmax.rowMax, softmax.rowSum}, {all4, rowOf4, rowOf4},
      outInit, all4, {kPar, kPar, kPar, kPar},
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return buildNormalizedOutput(b, loc, args[0], args[1], args[2],
                                     outElement);
      });
  Value lseInit = l.emptyOfType(lseType, ArrayRef<Value>(outSizes).take_front(3),
                                "lse shape");
  AffineMap all3 = l.map(3, {l.d(0), l.d(1), l.d(2)});
  Value lse = l.generic(
      {softmax.rowMax, softmax.rowSum}, {all3, all3}, lseInit, all3,
      {kPar, kPar, kPar},
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return buildLogSumExp(b, loc, args[0], args[1]);
      });
  return {output, lse};
}

/// Block-list membership `[Bl, Hl, NQ, NK]` (i1) of block_sparse_attention.
static Value buildBlockMembership(LoweringBuilder &l, Value numBlocks,
                                  Value blockIndices, Value queryBlocks,
                                  Value kvBlocks) {
  auto indicesType = cast<RankedTensorType>(blockIndices.getType());
  int64_t listHeads = indicesType.getDimSize(1);
  Value listBatch = l.commonDim({{numBlocks, 0}, {blockIndices, 0}},
                                "num_blocks and block_indices batch differ");
  l.commonDim({{numBlocks, 2}, {blockIndices, 2}},
              "num_blocks and block_indices query blocks differ");
  Value init = l.filled({listBatch, l.index(listHeads), queryBlocks, kvBlocks},
                        l.boolean(false));
  // member |= t < clamp(num, 0, C) && block_indices[.., t] == J
  return l.generic(
      {numBlocks, blockIndices},
      {l.map(5, {l.d(0), l.d(1), l.d(2)}),
       l.map(5, {l.d(0), l.d(1), l.d(2), l.d(4)})},
      init, l.map(5, {l.d(0), l.d(1), l.d(2), l.d(3)}),
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value slot = linalg::IndexOp::create(b, loc, 4);
        Value kvBlock = linalg::IndexOp::create(b, loc, 3);
        Value count = arith::IndexCastOp::create(b, loc, b.getIndexType(), args[0]);
        Value zero = arith::ConstantIndexOp::create(b, loc, 0);
        count = arith::MaxSIOp::create(b, loc, count, zero);
        Value inList = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                             slot, count);
        Value entry = arith::IndexCastOp::create(b, loc, b.getIndexType(), args[1]);
        Value matches = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                              entry, kvBlock);
        Value hit = arith::AndIOp::create(b, loc, inList, matches);
        return arith::OrIOp::create(b, loc, args[2], hit);
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

static FailureOr<MaskedScores> buildMaskedScores(LoweringBuilder &l,
                                                 const AttentionShape &shape,
                                                 Value dots, double scale,
                                                 const PairRules &rules) {
  AffineMap all4 = l.map(4, {l.d(0), l.d(1), l.d(2), l.d(3)});
  bool failedMask = false;
  Value allowedInit = l.empty({shape.batch, l.index(shape.queryHeads),
                               shape.queryLen, shape.kvLen},
                              l.i1());
  auto generic = linalg::GenericOp::create(
      l.builder, l.loc, TypeRange{dots.getType(), allowedInit.getType()}, ValueRange{},
      ValueRange{dots, allowedInit}, SmallVector<AffineMap>{all4, all4},
      SmallVector<IteratorType>{kPar, kPar, kPar, kPar},
      [&](OpBuilder &b, Location loc, ValueRange args) {
        SmallVector<Value> ivs = loopIndices(b, loc, 4);
        Value batch = ivs[0], head = ivs[1], row = ivs[2], col = ivs[3];
        // The block lists' verdict: membership at (list batch, list head,
        // query block, kv block).
        auto listedIn = [&](Value membership, OpBuilder &mb, Location ml) -> Value {
          Value listBatchIndex = batch;
          if (rules.listBatchIsOne) {
            listBatchIndex = arith::ConstantIndexOp::create(mb, ml, 0);
          } else if (rules.listBatch) {
            Value one = arith::ConstantIndexOp::create(mb, ml, 1);
            Value zero = arith::ConstantIndexOp::create(mb, ml, 0);
            Value isOne = arith::CmpIOp::create(mb, ml, arith::CmpIPredicate::eq,
                                                rules.listBatch, one);
            listBatchIndex = arith::SelectOp::create(mb, ml, isOne, zero, batch);
          }
          Value listHead = arith::DivUIOp::create(
              mb, ml, head,
              arith::ConstantIndexOp::create(mb, ml,
                                             shape.queryHeads / rules.listHeads));
          Value queryBlock = arith::DivUIOp::create(
              mb, ml, row, arith::ConstantIndexOp::create(mb, ml, rules.blockQ));
          Value kvBlock = arith::DivUIOp::create(
              mb, ml, col, arith::ConstantIndexOp::create(mb, ml, rules.blockKv));
          return tensor::ExtractOp::create(
              mb, ml, membership,
              ValueRange{listBatchIndex, listHead, queryBlock, kvBlock});
        };
        auto listed = [&](OpBuilder &mb, Location ml) {
          return listedIn(rules.membership, mb, ml);
        };
        auto listedFull = [&](OpBuilder &mb, Location ml) {
          return listedIn(rules.fullMembership, mb, ml);
        };
        PairScoreRules scoreRules{rules.mask,    rules.segmentIdsQ,
                                  rules.segmentIdsKv, rules.maskMod,
                                  rules.scoreMod, scale};
        FailureOr<std::pair<Value, Value>> scored = buildPairScore(
            b, loc, scoreRules, args[0], batch, head, row, col, shape.queryLen,
            shape.kvLen,
            rules.membership ? function_ref<Value(OpBuilder &, Location)>(listed)
                             : nullptr,
            rules.fullMembership
                ? function_ref<Value(OpBuilder &, Location)>(listedFull)
                : nullptr);
        if (failed(scored)) {
          failedMask = true;
          linalg::YieldOp::create(b, loc, ValueRange{args[0], args[1]});
          return;
        }
        linalg::YieldOp::create(b, loc,
                                ValueRange{scored->first, scored->second});
      });
  if (failedMask)
    return failure();
  return MaskedScores{generic.getResult(0), generic.getResult(1)};
}

/// acc[b, h, i, e] = sum over allowed j of p[b, h, i, j] * v[b, h / G, j, e]
/// in f32.
static Value buildWeightedValues(LoweringBuilder &l, const AttentionShape &shape,
                                 Value probabilities, Value allowed,
                                 Value value) {
  Value init = l.filled({shape.batch, l.index(shape.queryHeads), shape.queryLen,
                         l.index(shape.valueDim)},
                        l.f32Const(0));
  AffineMap pairMap = l.map(5, {l.d(0), l.d(1), l.d(2), l.d(4)});
  return l.generic(
      {probabilities, allowed, value},
      {pairMap, pairMap,
       l.map(5, {l.d(0), l.d(1).floorDiv(shape.groupSize()), l.d(4), l.d(3)})},
      init, l.map(5, {l.d(0), l.d(1), l.d(2), l.d(3)}),
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return buildAllowedAccumulate(b, loc, args[0], args[1], args[2], args[3]);
      });
}

/// A lowering pattern of one sparse_attn op; `runtimeChecks` says whether
/// the shape rules dynamic dims hide become cf.asserts.
template <typename OpTy>
struct LoweringPattern : OpRewritePattern<OpTy> {
  LoweringPattern(MLIRContext *context, bool runtimeChecks)
      : OpRewritePattern<OpTy>(context), runtimeChecks(runtimeChecks) {}
  bool runtimeChecks;
};

/// attention and block_sparse_attention share everything but the rules.
template <typename OpTy>
static LogicalResult lowerDenseAttention(OpTy op, PatternRewriter &rewriter,
                                         bool runtimeChecks,
                                         PairRules rules,
                                         function_ref<LogicalResult(
                                             LoweringBuilder &, const AttentionShape &,
                                             PairRules &)> addRules) {
  LoweringBuilder l(rewriter, op, runtimeChecks);
  AttentionShape shape =
      getAttentionShape(l, op.getQuery(), op.getKey(), op.getValue(),
                        op.getSegmentIdsQ(), op.getSegmentIdsKv());
  rules.mask = op.getMaskAttr();
  rules.segmentIdsQ = op.getSegmentIdsQ();
  rules.segmentIdsKv = op.getSegmentIdsKv();
  if (!op.getMaskMod().empty())
    rules.maskMod = &op.getMaskMod();
  if (!op.getScoreMod().empty())
    rules.scoreMod = &op.getScoreMod();
  if (addRules && failed(addRules(l, shape, rules)))
    return failure();
  checkMaskLengths(l, rules.mask, shape.kvLen);

  Value dots = buildQueryKeyDots(l, shape, op.getQuery(), op.getKey());
  FailureOr<MaskedScores> masked = buildMaskedScores(
      l, shape, dots, getScaleValue(op.getScaleAttr(), shape.headDim), rules);
  if (failed(masked))
    return rewriter.notifyMatchFailure(op, "mask has no lowering");
  SoftmaxParts softmax = buildSoftmax(
      l, masked->scores, {shape.batch, l.index(shape.queryHeads), shape.queryLen});
  Value weighted = buildWeightedValues(l, shape, softmax.probabilities,
                                       masked->allowed, op.getValue());
  auto [output, lse] = buildAttentionResults(
      l, shape, weighted, softmax, op.getOutput().getType(), op.getLse().getType());
  rewriter.replaceOp(op, {output, lse});
  return success();
}

struct AttentionOpLowering : LoweringPattern<AttentionOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    return lowerDenseAttention(op, rewriter, runtimeChecks, PairRules(), nullptr);
  }
};

struct BlockSparseAttentionOpLowering : LoweringPattern<BlockSparseAttentionOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(BlockSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    BlockSizes block = op.getBlockSizes();
    int64_t blockQ = block.query, blockKv = block.kv;
    auto addRules = [&](LoweringBuilder &l, const AttentionShape &shape,
                        PairRules &rules) -> LogicalResult {
      Value numBlocks = op.getNumBlocks(), blockIndices = op.getBlockIndices();
      Value queryBlocks = l.ceilDiv(shape.queryLen, blockQ);
      Value kvBlocks = l.ceilDiv(shape.kvLen, blockKv);
      l.checkEq(l.dim(numBlocks, 2), queryBlocks,
                "block lists do not have ceil(Sq / block_q) query blocks");
      rules.membership =
          buildBlockMembership(l, numBlocks, blockIndices, queryBlocks, kvBlocks);
      if (Value fullNum = op.getFullNumBlocks()) {
        checkFullListShapes(l, numBlocks, fullNum, op.getFullBlockIndices(), queryBlocks);
        rules.fullMembership = buildBlockMembership(l, fullNum, op.getFullBlockIndices(),
                                                    queryBlocks, kvBlocks);
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
      Value listBatch = l.dim(numBlocks, 0);
      Value isOne = arith::CmpIOp::create(rewriter, l.loc, arith::CmpIPredicate::eq,
                                          listBatch, l.index(1));
      Value isBatch = arith::CmpIOp::create(
          rewriter, l.loc, arith::CmpIPredicate::eq, listBatch, shape.batch);
      l.check(arith::OrIOp::create(rewriter, l.loc, isOne, isBatch),
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
static Value extractIf(OpBuilder &b, Location loc, Value valid, Value tensor,
                       ValueRange indices, Value fallback) {
  return buildIf(
      b, loc, fallback.getType(), valid,
      [&](OpBuilder &thenBuilder) -> SmallVector<Value> {
        return {tensor::ExtractOp::create(thenBuilder, loc, tensor, indices)};
      },
      [&](OpBuilder &) -> SmallVector<Value> { return {fallback}; })[0];
}

/// Whether token list entry `entry` (i32) names a key: 0 <= entry < kvLen.
static std::pair<Value, Value> tokenEntry(OpBuilder &b, Location loc,
                                          Value entry, Value kvLen) {
  Value position = arith::IndexCastOp::create(b, loc, b.getIndexType(), entry);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value notNegative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, zero, position);
  Value inRange =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, position, kvLen);
  Value valid = arith::AndIOp::create(b, loc, notNegative, inRange);
  return {valid, position};
}

struct TokenSparseAttentionOpLowering : LoweringPattern<TokenSparseAttentionOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(TokenSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder l(rewriter, op, runtimeChecks);
    Value query = op.getQuery(), key = op.getKey(), value = op.getValue(),
          tokens = op.getTokenIndices();
    AttentionShape shape = getAttentionShape(l, query, key, value, {}, {});
    l.checkEq(l.dim(tokens, 0), shape.batch,
              "token_indices batch differs from the query batch");
    l.checkEq(l.dim(tokens, 1), shape.queryLen,
              "token_indices length differs from the query length");
    Value slots = l.dim(tokens, 2);
    int64_t group = shape.groupSize();
    double scale = getScaleValue(op.getScaleAttr(), shape.headDim);
    SmallVector<Value> rowSizes = {shape.batch, l.index(shape.queryHeads),
                                   shape.queryLen};
    SmallVector<Value> scoreSizes = {shape.batch, l.index(shape.queryHeads),
                                     shape.queryLen, slots};

    // s[b, h, i, t] = <q[b, h, i], k[b, h / G, x_t]> over valid slots.
    Value dots = l.generic(
        {query, tokens},
        {l.map(5, {l.d(0), l.d(1), l.d(2), l.d(4)}),
         l.map(5, {l.d(0), l.d(2), l.d(3)})},
        l.filled(scoreSizes, l.f32Const(0)),
        l.map(5, {l.d(0), l.d(1), l.d(2), l.d(3)}),
        {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          SmallVector<Value> ivs = loopIndices(b, loc, 5);
          auto [valid, position] = tokenEntry(b, loc, args[1], shape.kvLen);
          Value kvHead = arith::DivUIOp::create(
              b, loc, ivs[1], arith::ConstantIndexOp::create(b, loc, group));
          Value zero = arith::ConstantOp::create(
              b, loc, b.getZeroAttr(cast<ShapedType>(key.getType()).getElementType()));
          Value keyValue = extractIf(b, loc, valid, key,
                                     {ivs[0], kvHead, position, ivs[4]}, zero);
          Value product = l.mulF32(b, loc, args[0], keyValue);
          return arith::AddFOp::create(b, loc, args[2], product);
        });
    AffineMap all4 = l.map(4, {l.d(0), l.d(1), l.d(2), l.d(3)});
    Value scores = l.generic(
        {tokens}, {l.map(4, {l.d(0), l.d(2), l.d(3)})}, dots, all4,
        {kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          Value valid = tokenEntry(b, loc, args[0], shape.kvLen).first;
          Value scaled = arith::MulFOp::create(
              b, loc, args[1],
              arith::ConstantOp::create(b, loc, b.getF32FloatAttr(scale)));
          Value negInf =
              arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY));
          return arith::SelectOp::create(b, loc, valid, scaled, negInf);
        });
    SoftmaxParts softmax = buildSoftmax(l, scores, rowSizes);
    Value weighted = l.generic(
        {softmax.probabilities, tokens},
        {l.map(5, {l.d(0), l.d(1), l.d(2), l.d(4)}),
         l.map(5, {l.d(0), l.d(2), l.d(4)})},
        l.filled({shape.batch, l.index(shape.queryHeads), shape.queryLen,
                  l.index(shape.valueDim)},
                 l.f32Const(0)),
        l.map(5, {l.d(0), l.d(1), l.d(2), l.d(3)}),
        {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          SmallVector<Value> ivs = loopIndices(b, loc, 5);
          auto [valid, position] = tokenEntry(b, loc, args[1], shape.kvLen);
          Value kvHead = arith::DivUIOp::create(
              b, loc, ivs[1], arith::ConstantIndexOp::create(b, loc, group));
          Value zero = arith::ConstantOp::create(
              b, loc,
              b.getZeroAttr(cast<ShapedType>(value.getType()).getElementType()));
          Value valueElement = extractIf(
              b, loc, valid, value, {ivs[0], kvHead, position, ivs[3]}, zero);
          Value product = arith::MulFOp::create(b, loc, args[0],
                                                l.toF32(b, loc, valueElement));
          return arith::AddFOp::create(b, loc, args[2], product);
        });
    auto [output, lse] = buildAttentionResults(l, shape, weighted, softmax,
                                               op.getOutput().getType(),
                                               op.getLse().getType());
    rewriter.replaceOp(op, {output, lse});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Block lists
//===----------------------------------------------------------------------===//

/// Lengths a block_mask/block_scores analyzes: the attributes, or the
/// segment ids' extents for a mask that reads them (checked to agree).
static std::pair<Value, Value> getMaskLengths(LoweringBuilder &l, IntegerAttr qLenAttr,
                                              IntegerAttr kvLenAttr,
                                              Value segmentIdsQ,
                                              Value segmentIdsKv) {
  Value qLen, kvLen;
  if (segmentIdsQ) {
    qLen = l.dim(segmentIdsQ, 1);
    kvLen = l.dim(segmentIdsKv, 1);
    if (qLenAttr)
      l.checkEq(qLen, l.index(qLenAttr.getInt()),
                "q_len differs from the segment ids' length");
    if (kvLenAttr)
      l.checkEq(kvLen, l.index(kvLenAttr.getInt()),
                "kv_len differs from the segment ids' length");
    return {qLen, kvLen};
  }
  return {qLenAttr ? l.index(qLenAttr.getInt()) : Value(),
          kvLenAttr ? l.index(kvLenAttr.getInt()) : Value()};
}

/// occupied[b, I, J] (i1, batch 1 unless the mask reads segment ids):
/// whether query block I and kv block J hold an allowed pair.
/// Block occupancy `[B or 1, NQ, NK]` of a mask: whether some pair of the
/// block is allowed, and (with `withFull`, else null) whether every pair
/// inside the lengths is.
struct BlockOccupancy {
  Value occupied, full;
};

static FailureOr<BlockOccupancy>
buildBlockOccupancy(LoweringBuilder &l, Attribute mask, Value segmentIdsQ,
                    Value segmentIdsKv, Value qLen, Value kvLen, int64_t blockQ,
                    int64_t blockKv, Value queryBlocks, Value kvBlocks,
                    bool withFull) {
  Value batch = segmentIdsQ
                    ? l.commonDim({{segmentIdsQ, 0}, {segmentIdsKv, 0}},
                                  "segment ids batch sizes differ")
                    : l.index(1);
  checkMaskLengths(l, mask, kvLen);
  Value init = l.empty({batch, queryBlocks, kvBlocks}, l.i1());
  AffineMap all3 = l.map(3, {l.d(0), l.d(1), l.d(2)});
  bool failedMask = false;
  int64_t results = withFull ? 2 : 1;
  auto generic = linalg::GenericOp::create(
      l.builder, l.loc, SmallVector<Type>(results, init.getType()), ValueRange{},
      SmallVector<Value>(results, init), SmallVector<AffineMap>(results, all3),
      SmallVector<IteratorType>{kPar, kPar, kPar},
      [&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> ivs = loopIndices(b, loc, 3);
        Value one = arith::ConstantIndexOp::create(b, loc, 1);
        auto blockRange = [&](Value blockIndex, int64_t size, Value length) {
          Value sizeValue = arith::ConstantIndexOp::create(b, loc, size);
          Value begin = arith::MulIOp::create(b, loc, blockIndex, sizeValue);
          Value end = arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, begin, sizeValue), length);
          return std::make_pair(begin, end);
        };
        auto [rowBegin, rowEnd] = blockRange(ivs[1], blockQ, qLen);
        auto [colBegin, colEnd] = blockRange(ivs[2], blockKv, kvLen);
        // (some pair allowed, every pair allowed) over the block's pairs.
        Value none = arith::ConstantIntOp::create(b, loc, 0, 1);
        SmallVector<Value> inits = {none};
        if (withFull)
          inits.push_back(arith::ConstantIntOp::create(b, loc, 1, 1));
        auto rows = scf::ForOp::create(
            b, loc, rowBegin, rowEnd, one, inits,
            [&](OpBuilder &rb, Location rl, Value row, ValueRange rowArgs) {
              auto cols = scf::ForOp::create(
                  rb, rl, colBegin, colEnd, one, rowArgs,
                  [&](OpBuilder &cb, Location cl, Value col, ValueRange colArgs) {
                    MaskPairValues pair{ivs[0], row, col, qLen, kvLen,
                                        segmentIdsQ, segmentIdsKv};
                    FailureOr<Value> allowed =
                        buildMaskPredicate(cb, cl, mask, pair);
                    if (failed(allowed)) {
                      failedMask = true;
                      allowed = colArgs[0];
                    }
                    SmallVector<Value> next = {
                        arith::OrIOp::create(cb, cl, colArgs[0], *allowed)};
                    if (withFull)
                      next.push_back(arith::AndIOp::create(cb, cl, colArgs[1], *allowed));
                    scf::YieldOp::create(cb, cl, next);
                  });
              scf::YieldOp::create(rb, rl, cols.getResults());
            });
        linalg::YieldOp::create(b, loc, rows.getResults());
      });
  if (failedMask)
    return failure();
  return BlockOccupancy{generic.getResult(0),
                        withFull ? generic.getResult(1) : Value()};
}

/// One scf.forall iteration per row `ivs` in `bounds` (so rows become GPU
/// threads or blocks, and run in parallel on the CPU too). Each init has
/// either one dim per bound (the body gets the row's element as a
/// tensor<1xT>) or one more (the body gets the row as a 1-D tensor); the body
/// returns the rows' new values, which are written back in place.
static SmallVector<Value>
buildRowForall(OpBuilder &b, Location loc, ValueRange bounds, ValueRange inits,
               function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange,
                                               ValueRange)>
                   body) {
  SmallVector<OpFoldResult> upperBounds = getAsOpFoldResult(bounds);
  auto forall = scf::ForallOp::create(b, loc, upperBounds, inits, std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  SmallVector<SmallVector<OpFoldResult>> offsets, sizes, strides;
  SmallVector<Value> rows;
  for (Value shared : forall.getRegionIterArgs()) {
    auto type = cast<RankedTensorType>(shared.getType());
    SmallVector<OpFoldResult> rowOffsets(ivs.begin(), ivs.end());
    SmallVector<OpFoldResult> rowSizes(ivs.size(), b.getIndexAttr(1));
    int64_t rowLength = 1;
    if (type.getRank() > static_cast<int64_t>(ivs.size())) {
      rowOffsets.push_back(b.getIndexAttr(0));
      rowLength = type.getDimSize(type.getRank() - 1);
      rowSizes.push_back(type.isDynamicDim(type.getRank() - 1)
                             ? OpFoldResult(tensor::DimOp::create(
                                   b, loc, shared, type.getRank() - 1).getResult())
                             : OpFoldResult(b.getIndexAttr(rowLength)));
    }
    SmallVector<OpFoldResult> rowStrides(rowSizes.size(), b.getIndexAttr(1));
    auto rowType = RankedTensorType::get({rowLength}, type.getElementType());
    rows.push_back(tensor::ExtractSliceOp::create(b, loc, rowType, shared,
                                                  rowOffsets, rowSizes, rowStrides));
    offsets.push_back(rowOffsets);
    sizes.push_back(rowSizes);
    strides.push_back(rowStrides);
  }
  SmallVector<Value> newRows = body(b, loc, ivs, rows);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  for (auto [position, shared] : llvm::enumerate(forall.getRegionIterArgs()))
    tensor::ParallelInsertSliceOp::create(b, loc, newRows[position], shared,
                                          offsets[position], sizes[position],
                                          strides[position]);
  return SmallVector<Value>(forall.getResults());
}

struct BlockMaskOpLowering : LoweringPattern<BlockMaskOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(BlockMaskOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder l(rewriter, op, runtimeChecks);
    RankedTensorType numType = op.getNumBlocks().getType();
    RankedTensorType indicesType = op.getBlockIndices().getType();
    Value segmentIdsQ = op.getSegmentIdsQ(), segmentIdsKv = op.getSegmentIdsKv();
    if (numType.isDynamicDim(0) && !segmentIdsQ)
      return rewriter.notifyMatchFailure(
          op, "dynamic list batch without segment ids to define it");
    auto [qLen, kvLen] = getMaskLengths(l, op.getQLenAttr(), op.getKvLenAttr(),
                                        segmentIdsQ, segmentIdsKv);
    BlockSizes block = op.getBlockSizes();
    int64_t blockQ = block.query, blockKv = block.kv;
    Value queryBlocks = l.ceilDiv(qLen, blockQ);
    Value kvBlocks = l.ceilDiv(kvLen, blockKv);

    MaskAttrInterface mask = op.getMaskAttr();
    bool perBatch = mask && mask.usesSegmentIds();
    Value batch = numType.isDynamicDim(0) ? l.dim(segmentIdsQ, 0)
                                          : l.index(numType.getDimSize(0));
    if (segmentIdsQ && !numType.isDynamicDim(0))
      l.checkEq(batch, l.dim(segmentIdsQ, 0),
                "list batch differs from the segment ids' batch");
    Value heads = l.index(numType.getDimSize(1));

    bool withFull = static_cast<bool>(op.getFullNumBlocks());
    BlockOccupancy occupancy;
    if (mask) {
      FailureOr<BlockOccupancy> result =
          buildBlockOccupancy(l, mask, perBatch ? segmentIdsQ : Value(),
                              perBatch ? segmentIdsKv : Value(), qLen, kvLen,
                              blockQ, blockKv, queryBlocks, kvBlocks, withFull);
      if (failed(result))
        return rewriter.notifyMatchFailure(op, "mask has no lowering");
      occupancy = *result;
    } else {
      occupancy.occupied =
          l.filled({l.index(1), queryBlocks, kvBlocks}, l.boolean(true));
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
                           : l.index(kind.indicesType.getDimSize(3));
      inits.push_back(l.emptyOfType(kind.numType, {batch, heads, queryBlocks},
                                    "num_blocks shape"));
      inits.push_back(l.fill(
          l.i32Const(-1), l.emptyOfType(kind.indicesType,
                                        {batch, heads, queryBlocks, capacity},
                                        "block_indices shape")));
    }
    Value zero = l.index(0);
    SmallVector<Value> results = buildRowForall(
        rewriter, l.loc, {batch, heads, queryBlocks}, inits,
        [&](OpBuilder &b, Location loc, ValueRange ivs,
            ValueRange lists) -> SmallVector<Value> {
          Value occupancyBatch = perBatch ? ivs[0] : zero;
          SmallVector<Value> rowResults;
          for (auto [position, kind] : llvm::enumerate(kinds))
            llvm::append_range(
                rowResults, buildListRow(b, loc, occupancy, withFull, kind.full,
                                         {occupancyBatch, ivs[2]}, kvBlocks,
                                         lists[2 * position], lists[2 * position + 1]));
          return rowResults;
        });
    rewriter.replaceOp(op, results);
    return success();
  }

  /// The row's list of the blocks of one kind in ascending order (as many
  /// as fit) and its full count.
  static SmallVector<Value> buildListRow(OpBuilder &b, Location loc,
                                         const BlockOccupancy &occupancy,
                                         bool withFull, bool full,
                                         ArrayRef<Value> place, Value kvBlocks,
                                         Value numRow, Value indicesRow) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value capacity = tensor::DimOp::create(b, loc, indicesRow, 0);
    auto scan = scf::ForOp::create(
        b, loc, zero, kvBlocks, one, ValueRange{zero, indicesRow},
        [&](OpBuilder &sb, Location sl, Value kvBlock, ValueRange state) {
                Value count = state[0], indices = state[1];
                auto at = [&](Value tensor) -> Value {
                  return tensor::ExtractOp::create(
                      sb, sl, tensor, ValueRange{place[0], place[1], kvBlock});
                };
                Value isOccupied = at(occupancy.occupied);
                if (full) {
                  isOccupied = at(occupancy.full);
                } else if (withFull) {
                  Value partial = arith::XOrIOp::create(
                      sb, sl, at(occupancy.full),
                      arith::ConstantIntOp::create(sb, sl, 1, 1));
                  isOccupied = arith::AndIOp::create(sb, sl, isOccupied, partial);
                }
                Value fits = arith::CmpIOp::create(
                    sb, sl, arith::CmpIPredicate::slt, count, capacity);
                Value store = arith::AndIOp::create(sb, sl, isOccupied, fits);
                Value updated = buildIf(
                    sb, sl, indices.getType(), store,
                    [&](OpBuilder &tb) -> SmallVector<Value> {
                      Value entry = arith::IndexCastOp::create(
                          tb, sl, tb.getI32Type(), kvBlock);
                      return {tensor::InsertOp::create(tb, sl, entry, indices,
                                                       ValueRange{count})};
                    },
                    [&](OpBuilder &) -> SmallVector<Value> { return {indices}; })[0];
                Value increment = arith::IndexCastOp::create(
                    sb, sl, sb.getIndexType(),
                    arith::ExtUIOp::create(sb, sl, sb.getI64Type(), isOccupied));
                scf::YieldOp::create(
                    sb, sl,
                    ValueRange{arith::AddIOp::create(sb, sl, count, increment)
                                   .getResult(),
                               updated});
        });
    Value count = arith::IndexCastOp::create(b, loc, b.getI32Type(), scan.getResult(0));
    Value num = tensor::InsertOp::create(b, loc, count, numRow, ValueRange{zero});
    return {num, scan.getResult(1)};
  }
};

//===----------------------------------------------------------------------===//
// Indexers
//===----------------------------------------------------------------------===//

struct PoolOpLowering : LoweringPattern<PoolOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(PoolOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder l(rewriter, op, runtimeChecks);
    Value input = op.getInput();
    int64_t block = op.getBlock();
    Value length = l.dim(input, 2);
    Value init = l.emptyOfType(
        op.getResult().getType(),
        {l.dim(input, 0), l.dim(input, 1), l.ceilDiv(length, block), l.dim(input, 3)},
        "result shape");
    bool isMax = op.getKind() == PoolKind::Max;
    Value result = l.generic(
        {}, {}, init, l.map(4, {l.d(0), l.d(1), l.d(2), l.d(3)}),
        {kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location loc, ValueRange) -> Value {
          SmallVector<Value> ivs = loopIndices(b, loc, 4);
          Value blockSize = arith::ConstantIndexOp::create(b, loc, block);
          Value begin = arith::MulIOp::create(b, loc, ivs[2], blockSize);
          Value end = arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, begin, blockSize), length);
          Value start = arith::ConstantOp::create(
              b, loc, b.getF32FloatAttr(isMax ? -INFINITY : 0.0));
          Value one = arith::ConstantIndexOp::create(b, loc, 1);
          auto loop = scf::ForOp::create(
              b, loc, begin, end, one, ValueRange{start},
              [&](OpBuilder &fb, Location fl, Value row, ValueRange acc) {
                Value element = l.toF32(
                    fb, fl,
                    tensor::ExtractOp::create(fb, fl, input,
                                              ValueRange{ivs[0], ivs[1], row, ivs[3]}));
                Value next =
                    isMax ? arith::MaximumFOp::create(fb, fl, acc[0], element)
                                .getResult()
                          : arith::AddFOp::create(fb, fl, acc[0], element)
                                .getResult();
                scf::YieldOp::create(fb, fl, next);
              });
          if (isMax)
            return loop.getResult(0);
          Value count = arith::SubIOp::create(b, loc, end, begin);
          Value countF = arith::UIToFPOp::create(
              b, loc, b.getF32Type(),
              arith::IndexCastOp::create(b, loc, b.getI64Type(), count));
          return arith::DivFOp::create(b, loc, loop.getResult(0), countF);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct BlockScoresOpLowering : LoweringPattern<BlockScoresOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(BlockScoresOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder l(rewriter, op, runtimeChecks);
    Value queryPooled = op.getQueryPooled(), keyPooled = op.getKeyPooled();
    RankedTensorType queryType = op.getQueryPooled().getType();
    RankedTensorType scoresType = op.getScores().getType();
    Value segmentIdsQ = op.getSegmentIdsQ(), segmentIdsKv = op.getSegmentIdsKv();
    SmallVector<std::pair<Value, int64_t>> batchPlaces = {{queryPooled, 0},
                                                          {keyPooled, 0}};
    if (segmentIdsQ)
      batchPlaces.append({{segmentIdsQ, 0}, {segmentIdsKv, 0}});
    Value batch = l.commonDim(batchPlaces, "batch sizes differ");
    Value queryBlocks = l.dim(queryPooled, 2), kvBlocks = l.dim(keyPooled, 2);
    int64_t queryHeads = queryType.getDimSize(1);
    int64_t kvHeads = op.getKeyPooled().getType().getDimSize(1);
    int64_t resultHeads = scoresType.getDimSize(1);
    int64_t headDim = queryType.getDimSize(3);
    int64_t resultGroup = queryHeads / resultHeads, kvGroup = queryHeads / kvHeads;
    BlockSizes block = op.getBlockSizes();
    int64_t blockQ = block.query, blockKv = block.kv;

    Value occupied;
    MaskAttrInterface mask = op.getMaskAttr();
    bool perBatch = mask && mask.usesSegmentIds();
    if (mask) {
      auto [qLen, kvLen] = getMaskLengths(l, op.getQLenAttr(), op.getKvLenAttr(),
                                          segmentIdsQ, segmentIdsKv);
      l.checkEq(queryBlocks, l.ceilDiv(qLen, blockQ),
                "query_pooled does not have ceil(q_len / block_q) blocks");
      l.checkEq(kvBlocks, l.ceilDiv(kvLen, blockKv),
                "key_pooled does not have ceil(kv_len / block_kv) blocks");
      FailureOr<BlockOccupancy> result = buildBlockOccupancy(
          l, mask, perBatch ? segmentIdsQ : Value(),
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
        getAsOpFoldResult(l.dim(queryPooled, 0)), rewriter.getIndexAttr(resultHeads),
        rewriter.getIndexAttr(resultGroup), getAsOpFoldResult(queryBlocks),
        rewriter.getIndexAttr(headDim)};
    Value grouped = tensor::ExpandShapeOp::create(
        rewriter, l.loc, expandedType, queryPooled,
        SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}}, expandedSizes);

    Value dotsInit = l.filled({batch, l.index(resultHeads), queryBlocks, kvBlocks},
                              l.f32Const(0));
    // dims: b, hr, g, I, J, d
    AffineExpr queryHead = l.d(1) * resultGroup + l.d(2);
    Value dots = l.generic(
        {grouped, keyPooled},
        {l.map(6, {l.d(0), l.d(1), l.d(2), l.d(3), l.d(5)}),
         l.map(6, {l.d(0), queryHead.floorDiv(kvGroup), l.d(4), l.d(5)})},
        dotsInit, l.map(6, {l.d(0), l.d(1), l.d(3), l.d(4)}),
        {kPar, kPar, kRed, kPar, kPar, kRed},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          Value product = l.mulF32(b, loc, args[0], args[1]);
          return arith::AddFOp::create(b, loc, args[2], product);
        });

    double scale = getScaleValue(op.getScaleAttr(), headDim);
    Value init = l.emptyOfType(scoresType,
                               {batch, l.index(resultHeads), queryBlocks, kvBlocks},
                               "scores shape");
    SmallVector<Value> inputs = {dots};
    AffineMap all4 = l.map(4, {l.d(0), l.d(1), l.d(2), l.d(3)});
    SmallVector<AffineMap> maps = {all4};
    if (occupied) {
      inputs.push_back(occupied);
      maps.push_back(l.map(4, {perBatch ? l.d(0) : l.c(0), l.d(2), l.d(3)}));
    }
    Value scores = l.generic(
        inputs, maps, init, all4, {kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          Value scaled = arith::MulFOp::create(
              b, loc, args[0],
              arith::ConstantOp::create(b, loc, b.getF32FloatAttr(scale)));
          if (!occupied)
            return scaled;
          Value negInf =
              arith::ConstantOp::create(b, loc, b.getF32FloatAttr(-INFINITY));
          return arith::SelectOp::create(b, loc, args[1], scaled, negInf);
        });
    rewriter.replaceOp(op, scores);
    return success();
  }
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
  static Value findBoundary(OpBuilder &b, Location loc, Value count, int64_t limit,
                            bool descending, PositionFn eligible) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value limitValue = arith::ConstantIndexOp::create(b, loc, limit);
    Value none = limit == 0 ? (descending ? count : zero) : (descending ? zero : count);
    auto loop = scf::ForOp::create(
        b, loc, zero, count, one, ValueRange{zero, none},
        [&](OpBuilder &lb, Location ll, Value step, ValueRange state) {
          Value position = step;
          if (descending) {
            Value last = arith::SubIOp::create(lb, ll, count, one);
            position = arith::SubIOp::create(lb, ll, last, step);
          }
          Value isEligible = eligible(lb, ll, position);
          Value increment = arith::SelectOp::create(lb, ll, isEligible, one, zero);
          Value seen = arith::AddIOp::create(lb, ll, state[0], increment);
          // The limit-th eligible position sets the boundary.
          Value reached = arith::AndIOp::create(
              lb, ll, isEligible,
              arith::CmpIOp::create(lb, ll, arith::CmpIPredicate::eq, seen, limitValue));
          Value boundary =
              descending ? position : arith::AddIOp::create(lb, ll, position, one).getResult();
          Value next = arith::SelectOp::create(lb, ll, reached, boundary, state[1]);
          scf::YieldOp::create(lb, ll, ValueRange{seen, next});
        });
    return loop.getResult(1);
  }

  /// Whether (score, position) comes after (bound score, bound position) in
  /// the selection order.
  static Value comesAfter(OpBuilder &b, Location loc, Value score, Value position,
                          Value boundScore, Value boundPosition) {
    Value lower =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, score, boundScore);
    Value tied =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, score, boundScore);
    Value later = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, position,
                                        boundPosition);
    Value tiedLater = arith::AndIOp::create(b, loc, tied, later);
    return arith::OrIOp::create(b, loc, lower, tiedLater);
  }

  /// After `rounds` scans, the last of the best candidates in order:
  /// (found, score, position); the selected candidates are the ones not
  /// after it.
  struct Threshold {
    Value found, score, position;
  };
  static Threshold findThreshold(OpBuilder &b, Location loc, Value count,
                                 Value rounds, PositionFn candidate,
                                 PositionFn score) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value notFound = arith::ConstantIntOp::create(b, loc, 0, 1);
    Value noScore = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
    auto roundsLoop = scf::ForOp::create(
        b, loc, zero, rounds, one, ValueRange{notFound, noScore, zero},
        [&](OpBuilder &rb, Location rl, Value, ValueRange previous) {
          Value none = arith::ConstantIntOp::create(rb, rl, 0, 1);
          auto scan = scf::ForOp::create(
              rb, rl, zero, count, one, ValueRange{none, noScore, zero},
              [&](OpBuilder &sb, Location sl, Value position, ValueRange best) {
                Value value = score(sb, sl, position);
                Value isCandidate = candidate(sb, sl, position);
                // Only candidates after the previous round's pick.
                Value after = comesAfter(sb, sl, value, position, previous[1],
                                         previous[2]);
                Value fresh = arith::OrIOp::create(
                    sb, sl,
                    arith::XOrIOp::create(sb, sl, previous[0],
                                          arith::ConstantIntOp::create(sb, sl, 1, 1)),
                    after);
                Value open = arith::AndIOp::create(sb, sl, isCandidate, fresh);
                // Scanning upwards, a strictly higher score wins: ties keep
                // the lower index.
                Value higher = arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::OGT,
                                                     value, best[1]);
                Value noBest = arith::XOrIOp::create(
                    sb, sl, best[0], arith::ConstantIntOp::create(sb, sl, 1, 1));
                Value better = arith::AndIOp::create(
                    sb, sl, open, arith::OrIOp::create(sb, sl, noBest, higher));
                Value hasBest = arith::OrIOp::create(sb, sl, best[0], better);
                Value bestScore = arith::SelectOp::create(sb, sl, better, value, best[1]);
                Value bestPosition =
                    arith::SelectOp::create(sb, sl, better, position, best[2]);
                scf::YieldOp::create(sb, sl, ValueRange{hasBest, bestScore, bestPosition});
              });
          // A round that finds nothing keeps the previous pick.
          Value found = scan.getResult(0);
          Value anyFound = arith::OrIOp::create(rb, rl, previous[0], found);
          Value nextScore =
              arith::SelectOp::create(rb, rl, found, scan.getResult(1), previous[1]);
          Value nextPosition =
              arith::SelectOp::create(rb, rl, found, scan.getResult(2), previous[2]);
          scf::YieldOp::create(rb, rl, ValueRange{anyFound, nextScore, nextPosition});
        });
    return {roundsLoop.getResult(0), roundsLoop.getResult(1),
            roundsLoop.getResult(2)};
  }

  /// Whether a candidate is among the best ones up to `threshold`.
  static Value withinThreshold(OpBuilder &b, Location loc, const Threshold &threshold,
                               Value score, Value position) {
    Value after = comesAfter(b, loc, score, position, threshold.score,
                             threshold.position);
    Value notAfter =
        arith::XOrIOp::create(b, loc, after, arith::ConstantIntOp::create(b, loc, 1, 1));
    return arith::AndIOp::create(b, loc, threshold.found, notAfter);
  }

  /// Writes the selected positions in ascending order to the row
  /// `list[0 : n]` and returns (list, n as index).
  static std::pair<Value, Value> emitAscending(OpBuilder &b, Location loc,
                                               Value count, Value list,
                                               Value capacity, PositionFn selected) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    auto loop = scf::ForOp::create(
        b, loc, zero, count, one, ValueRange{zero, list},
        [&](OpBuilder &lb, Location ll, Value position, ValueRange state) {
          Value isSelected = selected(lb, ll, position);
          Value fits = arith::CmpIOp::create(lb, ll, arith::CmpIPredicate::slt,
                                             state[0], capacity);
          Value store = arith::AndIOp::create(lb, ll, isSelected, fits);
          Value updated = buildIf(
              lb, ll, state[1].getType(), store,
              [&](OpBuilder &tb) -> SmallVector<Value> {
                Value entry =
                    arith::IndexCastOp::create(tb, ll, tb.getI32Type(), position);
                return {tensor::InsertOp::create(tb, ll, entry, state[1],
                                                 ValueRange{state[0]})};
              },
              [&](OpBuilder &) -> SmallVector<Value> { return {state[1]}; })[0];
          Value increment = arith::SelectOp::create(lb, ll, isSelected, one, zero);
          scf::YieldOp::create(
              lb, ll,
              ValueRange{arith::AddIOp::create(lb, ll, state[0], increment)
                             .getResult(),
                         updated});
        });
    return {loop.getResult(1), loop.getResult(0)};
  }
};

struct SelectTopKOpLowering : LoweringPattern<SelectTopKOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(SelectTopKOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder l(rewriter, op, runtimeChecks);
    Value scores = op.getScores();
    SmallVector<Value> rows = {l.dim(scores, 0), l.dim(scores, 1), l.dim(scores, 2)};
    Value kvBlocks = l.dim(scores, 3);
    int64_t k = op.getK(), sink = op.getSink(), local = op.getLocal();
    RankedTensorType indicesType = op.getBlockIndices().getType();
    Value capacity = indicesType.isDynamicDim(3)
                         ? l.index(k + sink + local)
                         : l.index(indicesType.getDimSize(3));
    Value numInit = l.emptyOfType(op.getNumBlocks().getType(), rows,
                                  "num_blocks shape");
    SmallVector<Value> indexSizes(rows);
    indexSizes.push_back(capacity);
    Value indicesInit = l.fill(
        l.i32Const(-1),
        l.emptyOfType(indicesType, indexSizes, "block_indices shape"));
    Value rounds = arith::MinSIOp::create(rewriter, l.loc, l.index(k), kvBlocks);
    SmallVector<Value> results = buildRowForall(
        rewriter, l.loc, rows, {numInit, indicesInit},
        [&](OpBuilder &b, Location loc, ValueRange ivs,
            ValueRange lists) -> SmallVector<Value> {
          auto scoreAt = [&](OpBuilder &sb, Location sl, Value position) -> Value {
            return tensor::ExtractOp::create(
                sb, sl, scores, ValueRange{ivs[0], ivs[1], ivs[2], position});
          };
          auto selectable = [&](OpBuilder &sb, Location sl, Value position) -> Value {
            Value negInf =
                arith::ConstantOp::create(sb, sl, sb.getF32FloatAttr(-INFINITY));
            return arith::CmpFOp::create(sb, sl, arith::CmpFPredicate::OGT,
                                         scoreAt(sb, sl, position), negInf);
          };
          Value sinkEnd = RowSelection::findBoundary(b, loc, kvBlocks, sink,
                                                     /*descending=*/false, selectable);
          Value localBegin = RowSelection::findBoundary(b, loc, kvBlocks, local,
                                                        /*descending=*/true, selectable);
          auto isFixed = [&](OpBuilder &sb, Location sl, Value position) -> Value {
            Value inSink = arith::CmpIOp::create(sb, sl, arith::CmpIPredicate::slt,
                                                 position, sinkEnd);
            Value inLocal = arith::CmpIOp::create(sb, sl, arith::CmpIPredicate::sge,
                                                  position, localBegin);
            return arith::OrIOp::create(sb, sl, inSink, inLocal);
          };
          auto candidate = [&](OpBuilder &sb, Location sl, Value position) -> Value {
            Value isSelectable = selectable(sb, sl, position);
            Value fixed = isFixed(sb, sl, position);
            Value free = arith::XOrIOp::create(
                sb, sl, fixed, arith::ConstantIntOp::create(sb, sl, 1, 1));
            return arith::AndIOp::create(sb, sl, isSelectable, free);
          };
          RowSelection::Threshold threshold = RowSelection::findThreshold(
              b, loc, kvBlocks, rounds, candidate, scoreAt);
          auto selected = [&](OpBuilder &sb, Location sl, Value position) -> Value {
            Value isSelectable = selectable(sb, sl, position);
            Value fixed = isFixed(sb, sl, position);
            Value best = RowSelection::withinThreshold(
                sb, sl, threshold, scoreAt(sb, sl, position), position);
            Value chosen = arith::OrIOp::create(sb, sl, fixed, best);
            return arith::AndIOp::create(sb, sl, isSelectable, chosen);
          };
          auto [indices, count] = RowSelection::emitAscending(
              b, loc, kvBlocks, lists[1], capacity, selected);
          Value count32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), count);
          Value num = tensor::InsertOp::create(
              b, loc, count32, lists[0],
              ValueRange{arith::ConstantIndexOp::create(b, loc, 0)});
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
    LoweringBuilder l(rewriter, op, runtimeChecks);
    Value query = op.getIndexQuery(), key = op.getIndexKey(),
          weights = op.getWeights();
    Value segmentIdsQ = op.getSegmentIdsQ(), segmentIdsKv = op.getSegmentIdsKv();
    SmallVector<std::pair<Value, int64_t>> batchPlaces = {
        {query, 0}, {key, 0}, {weights, 0}};
    SmallVector<std::pair<Value, int64_t>> queryLenPlaces = {{query, 2},
                                                             {weights, 1}};
    SmallVector<std::pair<Value, int64_t>> kvLenPlaces = {{key, 1}};
    if (segmentIdsQ) {
      batchPlaces.append({{segmentIdsQ, 0}, {segmentIdsKv, 0}});
      queryLenPlaces.push_back({segmentIdsQ, 1});
      kvLenPlaces.push_back({segmentIdsKv, 1});
    }
    Value batch = l.commonDim(batchPlaces, "batch sizes differ");
    Value queryLen = l.commonDim(queryLenPlaces, "query lengths differ");
    Value kvLen = l.commonDim(kvLenPlaces, "key lengths differ");
    int64_t heads = op.getIndexQuery().getType().getDimSize(1);
    int64_t topk = op.getTopk();

    // dots[b, h, i, j] = <qi[b, h, i], ki[b, j]>
    Value dots = l.generic(
        {query, key},
        {l.map(5, {l.d(0), l.d(1), l.d(2), l.d(4)}),
         l.map(5, {l.d(0), l.d(3), l.d(4)})},
        l.filled({batch, l.index(heads), queryLen, kvLen}, l.f32Const(0)),
        l.map(5, {l.d(0), l.d(1), l.d(2), l.d(3)}),
        {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          Value product = l.mulF32(b, loc, args[0], args[1]);
          return arith::AddFOp::create(b, loc, args[2], product);
        });
    // index[b, i, j] = sum_h w[b, i, h] * relu(dots[b, h, i, j])
    Value index = l.generic(
        {dots, weights},
        {l.map(4, {l.d(0), l.d(3), l.d(1), l.d(2)}),
         l.map(4, {l.d(0), l.d(1), l.d(3)})},
        l.filled({batch, queryLen, kvLen}, l.f32Const(0)),
        l.map(4, {l.d(0), l.d(1), l.d(2)}), {kPar, kPar, kPar, kRed},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
          Value relu = arith::MaximumFOp::create(b, loc, args[0], zero);
          Value product =
              arith::MulFOp::create(b, loc, l.toF32(b, loc, args[1]), relu);
          return arith::AddFOp::create(b, loc, args[2], product);
        });

    Value listInit = l.fill(
        l.i32Const(-1),
        l.emptyOfType(op.getTokenIndices().getType(),
                      {batch, queryLen, l.index(topk)}, "token_indices shape"));
    Value rounds = arith::MinSIOp::create(rewriter, l.loc, l.index(topk), kvLen);
    Attribute mask = op.getMaskAttr();
    checkMaskLengths(l, mask, kvLen);
    bool failedMask = false;
    SmallVector<Value> results = buildRowForall(
        rewriter, l.loc, {batch, queryLen}, {listInit},
        [&](OpBuilder &b, Location loc, ValueRange ivs,
            ValueRange lists) -> SmallVector<Value> {
          auto allowed = [&](OpBuilder &sb, Location sl, Value key) -> Value {
            MaskPairValues pair{ivs[0], ivs[1], key, queryLen, kvLen,
                                segmentIdsQ, segmentIdsKv};
            FailureOr<Value> result = buildMaskPredicate(sb, sl, mask, pair);
            if (failed(result)) {
              failedMask = true;
              return arith::ConstantIntOp::create(sb, sl, 0, 1);
            }
            return *result;
          };
          auto scoreAt = [&](OpBuilder &sb, Location sl, Value key) -> Value {
            return tensor::ExtractOp::create(sb, sl, index,
                                             ValueRange{ivs[0], ivs[1], key});
          };
          RowSelection::Threshold threshold = RowSelection::findThreshold(
              b, loc, kvLen, rounds, allowed, scoreAt);
          auto selected = [&](OpBuilder &sb, Location sl, Value key) -> Value {
            Value isAllowed = allowed(sb, sl, key);
            Value best = RowSelection::withinThreshold(sb, sl, threshold,
                                                       scoreAt(sb, sl, key), key);
            return arith::AndIOp::create(sb, sl, isAllowed, best);
          };
          Value list = RowSelection::emitAscending(
                           b, loc, kvLen, lists[0],
                           arith::ConstantIndexOp::create(b, loc, topk), selected)
                           .first;
          return {list};
        });
    if (failedMask)
      return rewriter.notifyMatchFailure(op, "mask has no lowering");
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

struct ConvertSparseAttnToLinalgPass
    : sparse_attn::impl::ConvertSparseAttnToLinalgPassBase<ConvertSparseAttnToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    // Reject what the patterns cannot lower with a diagnostic that says why,
    // before any rewriting.
    WalkResult walk = getOperation()->walk([](Operation *op) {
      auto masked = dyn_cast<MaskedOpInterface>(op);
      if (masked && masked.getMaskAttr() && !hasMaskLowering(masked.getMaskAttr())) {
        op->emitOpError() << "mask " << masked.getMaskAttr()
                          << " has no lowering to linalg";
        return WalkResult::interrupt();
      }
      if (auto blockMask = dyn_cast<BlockMaskOp>(op);
          blockMask && blockMask.getNumBlocks().getType().isDynamicDim(0) &&
          !blockMask.getSegmentIdsQ()) {
        op->emitOpError() << "has a dynamic list batch but no segment ids to "
                             "give its extent";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    populateSparseAttnToLinalgConversionPatterns(patterns, runtimeChecks);
    ConversionTarget target(getContext());
    target.addIllegalDialect<SparseAttnDialect>();
    // Yields go away with the op whose region holds them.
    target.addLegalOp<YieldOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void sparse_attn::populateSparseAttnToLinalgConversionPatterns(
    RewritePatternSet &patterns, bool runtimeChecks) {
  patterns.add<
      // Attention over masks, block lists and token lists.
      AttentionOpLowering, BlockSparseAttentionOpLowering,
      TokenSparseAttentionOpLowering,
      // Block lists of a mask.
      BlockMaskOpLowering,
      // Indexers: pooling, block scores, selection.
      PoolOpLowering, BlockScoresOpLowering, SelectTopKOpLowering,
      LightningIndexerOpLowering>(patterns.getContext(), runtimeChecks);
}
