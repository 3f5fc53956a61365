//===- VerticalSlashToLinalg.cpp - vertical_slash to linalg ---------------===//
//
// MInference's vertical-slash estimator: the causal softmax of the last
// queries against every key (linalg.generic), its column and diagonal sums,
// the top columns and diagonals by two select_topk (which lower in turn),
// then per query block the kv blocks the diagonals cross and the columns
// those blocks miss (scalar scans per row, as block_mask's lists).
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// The per-row probabilities `P [B, Hq, L, Skv]` (f32) of the last `L =
/// min(last_q, Sq)` queries: row r sits at p = Skv - L + r and sees j <= p;
/// a row that sees no key is 0.
static Value buildTailProbabilities(LoweringBuilder &emit, VerticalSlashOp op,
                                    Value batch, Value tail, Value kvLen,
                                    double scale) {
  Value query = op.getQuery(), key = op.getKey();
  RankedTensorType queryType = op.getQuery().getType();
  int64_t queryHeads = queryType.getDimSize(1),
          headDim = queryType.getDimSize(3);
  int64_t group = queryHeads / op.getKey().getType().getDimSize(1);
  OpBuilder &builder = emit.builder;
  Value qLen = emit.dim(query, 2);
  SmallVector<OpFoldResult> offsets = {
      builder.getIndexAttr(0), builder.getIndexAttr(0), emit.sub(qLen, tail),
      builder.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {batch, builder.getIndexAttr(queryHeads),
                                     tail, builder.getIndexAttr(headDim)};
  SmallVector<OpFoldResult> strides(4, builder.getIndexAttr(1));
  Value tailQuery = tensor::ExtractSliceOp::create(builder, emit.loc, query,
                                                   offsets, sizes, strides);
  SmallVector<Value> rowSizes = {batch, emit.index(queryHeads), tail};
  SmallVector<Value> allSizes = {batch, emit.index(queryHeads), tail, kvLen};
  AffineMap all4 = emit.map(4, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)});
  AffineMap row4 = emit.map(4, {emit.d(0), emit.d(1), emit.d(2)});
  // Scaled dot products, -inf where j > p.
  Value dots = emit.generic(
      {tailQuery, key},
      {emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(4)}),
       emit.map(5,
                {emit.d(0), emit.d(1).floorDiv(group), emit.d(3), emit.d(4)})},
      emit.filled(allSizes, emit.f32Const(0)),
      emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)}),
      {kPar, kPar, kPar, kPar, kRed},
      [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
        Value product = emit.mulF32(nested, loc, args[0], args[1]);
        return arith::AddFOp::create(nested, loc, args[2], product);
      });
  Value firstPosition = emit.sub(kvLen, tail);
  Value scores = emit.generic(
      {}, {}, dots, all4, {kPar, kPar, kPar, kPar},
      [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
        IndexArith at(nested, loc);
        Value row = linalg::IndexOp::create(nested, loc, 2);
        Value col = linalg::IndexOp::create(nested, loc, 3);
        Value seen = at.le(col, at.add(firstPosition, row));
        Value scaled = arith::MulFOp::create(
            nested, loc, args[0],
            arith::ConstantFloatOp::create(nested, loc, nested.getF32Type(),
                                           APFloat(static_cast<float>(scale))));
        return at.select(seen, scaled,
                         arith::ConstantFloatOp::create(nested, loc,
                                                        nested.getF32Type(),
                                                        APFloat(-INFINITY)));
      });
  SoftmaxParts softmax = buildSoftmax(emit, scores, rowSizes);
  // A seen row's sum is at least 1 (its maximum's weight); an empty row's 0.
  return emit.generic(
      {softmax.rowSum}, {row4}, softmax.probabilities, all4,
      {kPar, kPar, kPar, kPar},
      [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
        Value zero = arith::ConstantFloatOp::create(
            nested, loc, nested.getF32Type(), APFloat(0.0f));
        Value empty = arith::CmpFOp::create(
            nested, loc, arith::CmpFPredicate::OEQ, args[0], zero);
        Value normalized = arith::DivFOp::create(nested, loc, args[1], args[0]);
        return arith::SelectOp::create(nested, loc, empty, zero, normalized);
      });
}

/// Top `count` of `scores [B, Hq, 1, Skv]` by select_topk (ties to the
/// lower index; the forced entries are +inf): (num [B, Hq, 1], indices [B,
/// Hq, 1, count]).
static std::pair<Value, Value> selectTop(LoweringBuilder &emit, Value scores,
                                         int64_t count) {
  auto scoresType = cast<RankedTensorType>(scores.getType());
  Type i32 = emit.i32();
  int64_t batch = scoresType.getDimSize(0), heads = scoresType.getDimSize(1);
  auto select = SelectTopKOp::create(
      emit.builder, emit.loc, RankedTensorType::get({batch, heads, 1}, i32),
      RankedTensorType::get({batch, heads, 1, count}, i32), scores,
      emit.builder.getI64IntegerAttr(count), emit.builder.getI64IntegerAttr(0),
      emit.builder.getI64IntegerAttr(0));
  return {select.getNumBlocks(), select.getBlockIndices()};
}

/// Whether `slot` (index) is below the selection count `num` (i32).
static Value inSelection(IndexArith &at, Value slot, Value num) {
  Value count = arith::IndexCastOp::create(at.builder, at.loc,
                                           at.builder.getIndexType(), num);
  return at.lt(slot, count);
}

static Value toIndex(IndexArith &at, Value i32Value) {
  return arith::IndexCastOp::create(at.builder, at.loc,
                                    at.builder.getIndexType(), i32Value);
}

struct VerticalSlashOpLowering : LoweringPattern<VerticalSlashOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(VerticalSlashOp op,
                                PatternRewriter &rewriter) const override {
    LoweringBuilder emit(rewriter, op, runtimeChecks);
    Value query = op.getQuery(), key = op.getKey();
    int64_t queryHeads = op.getQuery().getType().getDimSize(1);
    int64_t headDim = op.getQuery().getType().getDimSize(3);
    auto [blockQ, blockKv] = op.getBlockSizes();
    Value batch = emit.commonDim({{query, 0}, {key, 0}},
                                 "query and key batch sizes differ");
    Value qLen = emit.dim(query, 2), kvLen = emit.dim(key, 2);
    Value heads = emit.index(queryHeads);
    Value tail = emit.min(qLen, emit.index(op.getLastQ()));
    double scale = getScaleValue(op.getScaleAttr(), headDim);
    Value probabilities =
        buildTailProbabilities(emit, op, batch, tail, kvLen, scale);

    // Column sums and diagonal sums [B, Hq, 1, Skv], the forced ones +inf.
    Value firstPosition = emit.sub(kvLen, tail);
    Value sumsInit =
        emit.filled({batch, heads, emit.index(1), kvLen}, emit.f32Const(0));
    AffineMap out5 = emit.map(5, {emit.d(0), emit.d(1), emit.d(2), emit.d(3)});
    auto forcedOr = [&](OpBuilder &nested, Location loc, int64_t forced,
                        Value sum) -> Value {
      IndexArith at(nested, loc);
      Value position = linalg::IndexOp::create(nested, loc, 3);
      Value isForced = at.lt(position, at.index(forced));
      return at.select(isForced,
                       arith::ConstantFloatOp::create(
                           nested, loc, nested.getF32Type(), APFloat(INFINITY)),
                       sum);
    };
    // col[j] = sum_r P[r, j].
    Value columns = emit.generic(
        {probabilities},
        {emit.map(5, {emit.d(0), emit.d(1), emit.d(4), emit.d(3)})}, sumsInit,
        out5, {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
          Value sum = arith::AddFOp::create(nested, loc, args[1], args[0]);
          return forcedOr(nested, loc, op.getSink(), sum);
        });
    // diag[d] = sum_r P[r, p_r - d] (the operand only sizes r and d).
    Value diagonals = emit.generic(
        {probabilities},
        {emit.map(5, {emit.d(0), emit.d(1), emit.d(4), emit.d(3)})}, sumsInit,
        out5, {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
          IndexArith at(nested, loc);
          SmallVector<Value> ivs = loopIndices(nested, loc, 5);
          Value keyIndex = at.sub(at.add(firstPosition, ivs[4]), ivs[3]);
          Value valid = at.le(at.index(0), keyIndex);
          Value clamped = at.max(keyIndex, at.index(0));
          Value p = tensor::ExtractOp::create(
              nested, loc, probabilities,
              ValueRange{ivs[0], ivs[1], ivs[4], clamped});
          Value zero = arith::ConstantFloatOp::create(
              nested, loc, nested.getF32Type(), APFloat(0.0f));
          Value term = at.select(valid, p, zero);
          Value sum = arith::AddFOp::create(nested, loc, args[1], term);
          return forcedOr(nested, loc, op.getLocal(), sum);
        });
    auto [columnNum, columnIndices] =
        selectTop(emit, columns, op.getVertical());
    auto [slashNum, slashIndices] = selectTop(emit, diagonals, op.getSlash());

    // Query block I's rows sit at [pLo, pHi] (p = i + Skv - Sq).
    Value queryBlocks = emit.ceilDiv(qLen, blockQ);
    Value kvBlocks = emit.ceilDiv(kvLen, blockKv);
    Value offset = emit.sub(kvLen, qLen);
    auto rowPositions = [&](IndexArith &at,
                            Value queryBlock) -> std::pair<Value, Value> {
      Value first = at.mul(queryBlock, blockQ);
      Value last = at.sub(at.min(at.add(first, blockQ), qLen), at.index(1));
      return {at.add(first, offset), at.add(last, offset)};
    };
    // crossed[b, h, I, J]: some selected diagonal d has a pair (i, j) in the
    // block: pLo - jHi <= d <= pHi - jLo.
    Value crossed = emit.generic(
        {slashNum, slashIndices},
        {emit.map(5, {emit.d(0), emit.d(1), emit.c(0)}),
         emit.map(5, {emit.d(0), emit.d(1), emit.c(0), emit.d(4)})},
        emit.filled({batch, heads, queryBlocks, kvBlocks}, emit.boolean(false)),
        out5, {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
          IndexArith at(nested, loc);
          SmallVector<Value> ivs = loopIndices(nested, loc, 5);
          auto [pLo, pHi] = rowPositions(at, ivs[2]);
          Value jLo = at.mul(ivs[3], blockKv);
          Value jHi = at.sub(at.min(at.add(jLo, blockKv), kvLen), at.index(1));
          Value d = toIndex(at, args[1]);
          Value hit = at.andI(
              inSelection(at, ivs[4], args[0]),
              at.andI(at.le(at.sub(pLo, jHi), d), at.le(d, at.sub(pHi, jLo))));
          return at.orI(args[2], hit);
        });

    // The row scans: the crossed blocks ascending, then the selected columns
    // (ascending already) that some row sees and no crossed block holds.
    RankedTensorType numType = op.getNumBlocks().getType();
    RankedTensorType indicesType = op.getBlockIndices().getType();
    RankedTensorType columnNumType = op.getNumColumns().getType();
    RankedTensorType columnIndicesType = op.getColumnIndices().getType();
    Value blockCapacity, columnCapacity;
    std::tie(blockCapacity, columnCapacity) = getVerticalSlashCapacities(
        emit, indicesType, columnIndicesType, op.getVertical(), op.getSlash(),
        blockQ, blockKv, kvLen, kvBlocks);
    SmallVector<Value> rows = {batch, heads, queryBlocks};
    SmallVector<Value> inits = {
        emit.emptyOfType(numType, rows, "num_blocks shape"),
        emit.fill(emit.i32Const(-1),
                  emit.emptyOfType(indicesType,
                                   {batch, heads, queryBlocks, blockCapacity},
                                   "block_indices shape")),
        emit.emptyOfType(columnNumType, rows, "num_columns shape"),
        emit.fill(emit.i32Const(-1),
                  emit.emptyOfType(columnIndicesType,
                                   {batch, heads, queryBlocks, columnCapacity},
                                   "column_indices shape"))};
    int64_t vertical = op.getVertical();
    SmallVector<Value> results = buildRowForall(
        rewriter, emit.loc, rows, inits,
        [&](OpBuilder &builder, Location loc, ValueRange ivs,
            ValueRange lists) -> SmallVector<Value> {
          IndexArith at(builder, loc);
          Value b = ivs[0], h = ivs[1], queryBlock = ivs[2];
          auto isCrossed = [&](IndexArith &step, Value kvBlock) -> Value {
            return tensor::ExtractOp::create(
                step.builder, step.loc, crossed,
                ValueRange{b, h, queryBlock, kvBlock});
          };
          auto [num, indices] = buildCompactingScan(
              at, kvBlocks, lists[0], lists[1],
              [&](IndexArith &step, Value kvBlock) -> std::pair<Value, Value> {
                return {isCrossed(step, kvBlock), kvBlock};
              });
          Value pHi = rowPositions(at, queryBlock).second;
          auto [columnCount, columnList] = buildCompactingScan(
              at, at.index(vertical), lists[2], lists[3],
              [&](IndexArith &step, Value slot) -> std::pair<Value, Value> {
                Value selected = inSelection(
                    step, slot,
                    tensor::ExtractOp::create(step.builder, step.loc, columnNum,
                                              ValueRange{b, h, step.index(0)}));
                Value column =
                    toIndex(step, tensor::ExtractOp::create(
                                      step.builder, step.loc, columnIndices,
                                      ValueRange{b, h, step.index(0), slot}));
                // Unselected slots hold -1: clamp before reading a block.
                Value clamped = step.max(column, step.index(0));
                Value keep =
                    step.andI(step.andI(selected, step.le(column, pHi)),
                              arith::XOrIOp::create(
                                  step.builder, step.loc,
                                  isCrossed(step, step.udiv(clamped, blockKv)),
                                  step.boolean(true)));
                return {keep, clamped};
              });
          return {num, indices, columnCount, columnList};
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void sparse_attn::populateVerticalSlashToLinalgPatterns(
    RewritePatternSet &patterns, bool runtimeChecks) {
  patterns.add<VerticalSlashOpLowering>(patterns.getContext(), runtimeChecks);
}
