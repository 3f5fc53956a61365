//===- Tile.cpp - tile attention for a thread block -----------------------===//
//
// sparse-attn-tile: attention and block_sparse_attention become an
// scf.forall over (batch, query head, query tile) with an online-softmax loop
// over kv tiles, on statically shaped (padded) tiles.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "SparseAttn/IR/MaskUtils.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Transforms/TileConfig.h"
#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNTILEPASS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

using utils::IteratorType;
constexpr double kNegInf = -INFINITY;

//===----------------------------------------------------------------------===//
// One attention op, tiled
//===----------------------------------------------------------------------===//

/// What every tile of one op reads.
struct TileProblem {
  AttentionShape shape;
  AttentionTileConfig config;
  Value query, key, value;
  Attribute mask;
  Value segmentIdsQ, segmentIdsKv;
  Region *maskMod = nullptr;
  Region *scoreMod = nullptr;
  double scale;
  Operation *op;
  bool runtimeChecks;
  // block_sparse_attention: its block sizes (tiles divide them).
  int64_t listBlockQ = 0, listBlockKv = 0;
};

/// The online-softmax state of a query tile: running max, running sum and
/// unnormalized output, all f32.
struct SoftmaxState {
  Value rowMax, rowSum, acc;
};

/// A [rows, dim] tile of `source [B, H, S, dim]` at (b, h, start), padded
/// with zeros to [tileRows, dim]: a generic whose reads are predicated on the
/// row existing, as a kernel's loads into shared memory are (and no copy is
/// needed once bufferized).
static Value extractPaddedTile(LoweringBuilder &emit, Value source, Value batch,
                               Value head, Value start, Value rows,
                               int64_t tileRows) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  int64_t dim = sourceType.getDimSize(3);
  Type elementType = sourceType.getElementType();
  Value init = emit.empty({emit.index(tileRows), emit.index(dim)}, elementType);
  return emit.generic(
      {}, {}, init, emit.map(2, {emit.d(0), emit.d(1)}), {kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange) -> Value {
        SmallVector<Value> ivs = loopIndices(builder, loc, 2);
        Value exists = arith::CmpIOp::create(
            builder, loc, arith::CmpIPredicate::slt, ivs[0], rows);
        Value row = arith::AddIOp::create(builder, loc, start, ivs[0]);
        Value zero = arith::ConstantOp::create(
            builder, loc, builder.getZeroAttr(elementType));
        return buildIf(
            builder, loc, elementType, exists,
            [&](OpBuilder &thenBuilder) -> SmallVector<Value> {
              return {tensor::ExtractOp::create(
                  thenBuilder, loc, source,
                  ValueRange{batch, head, row, ivs[1]})};
            },
            [&](OpBuilder &) -> SmallVector<Value> { return {zero}; })[0];
      });
}

/// The block lists of a block_sparse_attention: both pairs (the full lists
/// may be null) and how their batch is read.
struct BlockListOperands {
  Value numBlocks, blockIndices, fullNumBlocks, fullBlockIndices;
  bool listBatchIsOne = false;
  Value listBatch; // the dynamic list batch, or null
};

/// Folds the kv tile starting at key `kvStart` into `state`; a tile of a
/// full block allows every in-bounds pair without the mask or mask_mod.
static FailureOr<SoftmaxState>
buildKvTileUpdate(LoweringBuilder &emit, const TileProblem &tiled, Value batch,
                  Value head, Value queryStart, Value queryRows,
                  Value queryTile, Value kvStart, bool fullBlock,
                  const SoftmaxState &state) {
  const AttentionShape &shape = tiled.shape;
  int64_t blockQ = tiled.config.blockQ, blockKv = tiled.config.blockKv;
  Value remaining =
      arith::SubIOp::create(emit.builder, emit.loc, shape.kvLen, kvStart);
  Value kvRows = arith::MinSIOp::create(emit.builder, emit.loc,
                                        emit.index(blockKv), remaining);
  Value kvHead = arith::DivUIOp::create(emit.builder, emit.loc, head,
                                        emit.index(shape.groupSize()));
  Value keyTile = extractPaddedTile(emit, tiled.key, batch, kvHead, kvStart,
                                    kvRows, blockKv);
  Value valueTile = extractPaddedTile(emit, tiled.value, batch, kvHead, kvStart,
                                      kvRows, blockKv);

  // s[r, c] = <q[r], k[c]> in f32.
  Value dots = emit.generic(
      {queryTile, keyTile},
      {emit.map(3, {emit.d(0), emit.d(2)}),
       emit.map(3, {emit.d(1), emit.d(2)})},
      emit.filled({emit.index(blockQ), emit.index(blockKv)}, emit.f32Const(0)),
      emit.map(3, {emit.d(0), emit.d(1)}), {kPar, kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        Value product = emit.mulF32(builder, loc, args[0], args[1]);
        return arith::AddFOp::create(builder, loc, args[2], product);
      });

  // Masked, scaled, score_mod'ed scores and the allowed pairs. Rows past
  // the sequence ends are not allowed; their indices are clamped so the
  // mask and the mods only ever read in bounds.
  AffineMap all2 = emit.map(2, {emit.d(0), emit.d(1)});
  Value allowedInit =
      emit.empty({emit.index(blockQ), emit.index(blockKv)}, emit.i1());
  bool failedMask = false;
  auto masked = linalg::GenericOp::create(
      emit.builder, emit.loc, TypeRange{dots.getType(), allowedInit.getType()},
      ValueRange{}, ValueRange{dots, allowedInit},
      SmallVector<AffineMap>{all2, all2}, SmallVector<IteratorType>{kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        SmallVector<Value> ivs = loopIndices(builder, loc, 2);
        Value one = arith::ConstantIndexOp::create(builder, loc, 1);
        Value rowValid = arith::CmpIOp::create(
            builder, loc, arith::CmpIPredicate::slt, ivs[0], queryRows);
        Value colValid = arith::CmpIOp::create(
            builder, loc, arith::CmpIPredicate::slt, ivs[1], kvRows);
        Value inBounds =
            arith::AndIOp::create(builder, loc, rowValid, colValid);
        Value row = arith::AddIOp::create(builder, loc, queryStart, ivs[0]);
        Value lastRow =
            arith::SubIOp::create(builder, loc, shape.queryLen, one);
        row = arith::MinSIOp::create(builder, loc, row, lastRow);
        Value col = arith::AddIOp::create(builder, loc, kvStart, ivs[1]);
        Value lastCol = arith::SubIOp::create(builder, loc, shape.kvLen, one);
        col = arith::MinSIOp::create(builder, loc, col, lastCol);
        PairScoreRules rules{tiled.mask,         tiled.segmentIdsQ,
                             tiled.segmentIdsKv, tiled.maskMod,
                             tiled.scoreMod,     tiled.scale};
        if (fullBlock)
          rules = PairScoreRules{nullptr, nullptr,        nullptr,
                                 nullptr, tiled.scoreMod, tiled.scale};
        FailureOr<std::pair<Value, Value>> scored = buildPairScore(
            builder, loc, rules, args[0], batch, head, row, col, shape.queryLen,
            shape.kvLen, [&](OpBuilder &, Location) { return inBounds; });
        yieldPairScore(builder, loc, scored, {args[0], args[1]}, failedMask);
      });
  if (failedMask)
    return failure();
  Value scores = masked.getResult(0), allowed = masked.getResult(1);

  AffineMap rowOf2 = emit.map(2, {emit.d(0)});
  AffineMap row1 = emit.map(1, {emit.d(0)});
  Value tileMax = emit.generic(
      {scores}, {all2},
      emit.filled({emit.index(blockQ)}, emit.f32Const(kNegInf)), rowOf2,
      {kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return arith::MaximumFOp::create(builder, loc, args[1], args[0]);
      });
  // The running state is updated in place (destination-passing into the
  // loop's iter_args), as a kernel keeps it in registers.
  // alpha = exp(m - m'): 0 when nothing was seen yet, 1 while still empty.
  Value alpha = emit.generic(
      {state.rowMax, tileMax}, {row1, row1},
      emit.empty({emit.index(blockQ)}, emit.f32()), row1, {kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        Value negInf = arith::ConstantOp::create(
            builder, loc, builder.getF32FloatAttr(kNegInf));
        Value one = arith::ConstantOp::create(builder, loc,
                                              builder.getF32FloatAttr(1.0));
        Value zero = arith::ConstantOp::create(builder, loc,
                                               builder.getF32FloatAttr(0.0));
        Value newMax =
            arith::MaximumFOp::create(builder, loc, args[0], args[1]);
        Value stillEmpty = arith::CmpFOp::create(
            builder, loc, arith::CmpFPredicate::OEQ, newMax, negInf);
        Value nothingBefore = arith::CmpFOp::create(
            builder, loc, arith::CmpFPredicate::OEQ, args[0], negInf);
        Value shift = arith::SubFOp::create(builder, loc, args[0], newMax);
        Value rescale = math::ExpOp::create(builder, loc, shift);
        Value fromNothing =
            arith::SelectOp::create(builder, loc, nothingBefore, zero, rescale);
        return arith::SelectOp::create(builder, loc, stillEmpty, one,
                                       fromNothing);
      });
  Value rowMax = emit.generic(
      {tileMax}, {row1}, state.rowMax, row1, {kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return arith::MaximumFOp::create(builder, loc, args[1], args[0]);
      });
  // p = exp(s - m'), 0 for -inf scores and on still-empty rows.
  Value probabilities = emit.generic(
      {rowMax}, {rowOf2}, scores, all2, {kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return buildShiftedExp(builder, loc, args[1], args[0]);
      });
  // l' = alpha * l + sum_c p.
  Value scaledSum = emit.generic(
      {alpha}, {row1}, state.rowSum, row1, {kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return arith::MulFOp::create(builder, loc, args[0], args[1]);
      });
  Value rowSum = emit.generic(
      {probabilities}, {all2}, scaledSum, rowOf2, {kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return arith::AddFOp::create(builder, loc, args[1], args[0]);
      });
  // acc' = alpha * acc + sum over allowed c of p * v.
  Value scaledAcc = emit.generic(
      {alpha}, {rowOf2}, state.acc, all2, {kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return arith::MulFOp::create(builder, loc, args[0], args[1]);
      });
  Value acc = emit.generic(
      {probabilities, allowed, valueTile},
      {emit.map(3, {emit.d(0), emit.d(2)}), emit.map(3, {emit.d(0), emit.d(2)}),
       emit.map(3, {emit.d(2), emit.d(1)})},
      scaledAcc, emit.map(3, {emit.d(0), emit.d(1)}), {kPar, kPar, kRed},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return buildAllowedAccumulate(builder, loc, args[0], args[1], args[2],
                                      args[3]);
      });
  return SoftmaxState{rowMax, rowSum, acc};
}

/// Rewrites one attention op; `visitKvTiles` emits the loop over its kv
/// tiles, calling `update` for each.
using TileUpdateFn = function_ref<FailureOr<SoftmaxState>(
    LoweringBuilder &, Value kvStart, bool fullBlock, const SoftmaxState &)>;
using KvLoopFn = function_ref<FailureOr<SoftmaxState>(
    LoweringBuilder &, Value batch, Value head, Value queryTileIndex,
    Value queryStart, Value queryRows, const SoftmaxState &, TileUpdateFn)>;

static LogicalResult tileAttention(RewriterBase &rewriter, TileProblem &tiled,
                                   RankedTensorType outputType,
                                   RankedTensorType lseType, KvLoopFn kvLoop) {
  LoweringBuilder emit(rewriter, tiled.op, tiled.runtimeChecks);
  const AttentionShape &shape = tiled.shape;
  int64_t blockQ = tiled.config.blockQ;
  Value queryTiles = emit.ceilDiv(shape.queryLen, blockQ);
  Value outInit = emit.emptyOfType(outputType,
                                   {shape.batch, emit.index(shape.queryHeads),
                                    shape.queryLen, emit.index(shape.valueDim)},
                                   "output shape");
  Value lseInit = emit.emptyOfType(
      lseType, {shape.batch, emit.index(shape.queryHeads), shape.queryLen},
      "lse shape");

  SmallVector<OpFoldResult> upperBounds = {
      getAsOpFoldResult(shape.batch), rewriter.getIndexAttr(shape.queryHeads),
      getAsOpFoldResult(queryTiles)};
  auto forall =
      scf::ForallOp::create(rewriter, emit.loc, upperBounds,
                            ValueRange{outInit, lseInit}, std::nullopt);
  MLIRContext *ctx = rewriter.getContext();
  auto integer = [&](StringRef name, int64_t value) {
    return rewriter.getNamedAttr(name, rewriter.getI64IntegerAttr(value));
  };
  SparseAttnDialect::TileAttrHelper(ctx).setAttr(
      forall,
      DictionaryAttr::get(ctx, {integer("block_q", tiled.config.blockQ),
                                integer("block_kv", tiled.config.blockKv),
                                integer("stages", tiled.config.stages),
                                integer("shared_memory_bytes",
                                        tiled.config.sharedMemoryBytes)}));

  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(forall.getBody());
  LoweringBuilder tileEmit(rewriter, tiled.op, tiled.runtimeChecks);
  SmallVector<Value> ivs = forall.getInductionVars();
  Value batch = ivs[0], head = ivs[1], queryTileIndex = ivs[2];
  Value queryStart = arith::MulIOp::create(
      rewriter, tileEmit.loc, queryTileIndex, tileEmit.index(blockQ));
  Value queryLeft =
      arith::SubIOp::create(rewriter, tileEmit.loc, shape.queryLen, queryStart);
  Value queryRows = arith::MinSIOp::create(rewriter, tileEmit.loc,
                                           tileEmit.index(blockQ), queryLeft);
  Value queryTile = extractPaddedTile(tileEmit, tiled.query, batch, head,
                                      queryStart, queryRows, blockQ);

  SoftmaxState initial{
      tileEmit.filled({tileEmit.index(blockQ)}, tileEmit.f32Const(kNegInf)),
      tileEmit.filled({tileEmit.index(blockQ)}, tileEmit.f32Const(0)),
      tileEmit.filled({tileEmit.index(blockQ), tileEmit.index(shape.valueDim)},
                      tileEmit.f32Const(0))};
  auto update = [&](LoweringBuilder &updateEmit, Value kvStart, bool fullBlock,
                    const SoftmaxState &state) -> FailureOr<SoftmaxState> {
    return buildKvTileUpdate(updateEmit, tiled, batch, head, queryStart,
                             queryRows, queryTile, kvStart, fullBlock, state);
  };
  FailureOr<SoftmaxState> final =
      kvLoop(tileEmit, batch, head, queryTileIndex, queryStart, queryRows,
             initial, update);
  if (failed(final))
    return failure();

  // out = acc / l (0 on empty rows), lse = m + log(l) (-inf on empty rows),
  // computed straight into the tile's rows of the results (in place once
  // bufferized: the insert below writes back the slice it extracted).
  ValueRange sharedOuts = forall.getRegionIterArgs();
  Type outElement = outputType.getElementType();
  SmallVector<OpFoldResult> outOffsets = {batch, head, queryStart,
                                          rewriter.getIndexAttr(0)};
  SmallVector<OpFoldResult> outSizes = {rewriter.getIndexAttr(1),
                                        rewriter.getIndexAttr(1), queryRows,
                                        rewriter.getIndexAttr(shape.valueDim)};
  SmallVector<OpFoldResult> lseOffsets = {batch, head, queryStart};
  SmallVector<OpFoldResult> lseSizes = {rewriter.getIndexAttr(1),
                                        rewriter.getIndexAttr(1), queryRows};
  auto outRowsType =
      RankedTensorType::get({ShapedType::kDynamic, shape.valueDim}, outElement);
  auto lseRowsType =
      RankedTensorType::get({ShapedType::kDynamic}, tileEmit.f32());
  Value outSlice = tensor::ExtractSliceOp::create(
      rewriter, tileEmit.loc, outRowsType, sharedOuts[0], outOffsets, outSizes,
      SmallVector<OpFoldResult>(4, rewriter.getIndexAttr(1)));
  Value lseSlice = tensor::ExtractSliceOp::create(
      rewriter, tileEmit.loc, lseRowsType, sharedOuts[1], lseOffsets, lseSizes,
      SmallVector<OpFoldResult>(3, rewriter.getIndexAttr(1)));
  // The state restricted to the existing rows, so every operand of the
  // generics below has the same (dynamic) row count.
  auto firstRows = [&](Value tile) -> Value {
    auto type = cast<RankedTensorType>(tile.getType());
    SmallVector<OpFoldResult> offsets(type.getRank(), rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = {queryRows};
    SmallVector<int64_t> shape = {ShapedType::kDynamic};
    for (int64_t d = 1; d < type.getRank(); ++d) {
      sizes.push_back(rewriter.getIndexAttr(type.getDimSize(d)));
      shape.push_back(type.getDimSize(d));
    }
    SmallVector<OpFoldResult> strides(type.getRank(), rewriter.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(
        rewriter, tileEmit.loc,
        RankedTensorType::get(shape, type.getElementType()), tile, offsets,
        sizes, strides);
  };
  Value accRows = firstRows(final->acc);
  Value maxRows = firstRows(final->rowMax);
  Value sumRows = firstRows(final->rowSum);
  AffineMap all2 = tileEmit.map(2, {tileEmit.d(0), tileEmit.d(1)});
  AffineMap rowOf2 = tileEmit.map(2, {tileEmit.d(0)});
  AffineMap row1 = tileEmit.map(1, {tileEmit.d(0)});
  Value outRows = tileEmit.generic(
      {accRows, maxRows, sumRows}, {all2, rowOf2, rowOf2}, outSlice, all2,
      {kPar, kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return buildNormalizedOutput(builder, loc, args[0], args[1], args[2],
                                     outElement);
      });
  Value lseRows = tileEmit.generic(
      {maxRows, sumRows}, {row1, row1}, lseSlice, row1, {kPar},
      [&](OpBuilder &builder, Location loc, ValueRange args) -> Value {
        return buildLogSumExp(builder, loc, args[0], args[1]);
      });
  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      rewriter, tileEmit.loc, outRows, sharedOuts[0], outOffsets, outSizes,
      SmallVector<OpFoldResult>(4, rewriter.getIndexAttr(1)));
  tensor::ParallelInsertSliceOp::create(
      rewriter, tileEmit.loc, lseRows, sharedOuts[1], lseOffsets, lseSizes,
      SmallVector<OpFoldResult>(3, rewriter.getIndexAttr(1)));
  rewriter.replaceOp(tiled.op, forall.getResults());
  return success();
}

/// The state's values, for loop iter_args.
static SmallVector<Value> stateValues(const SoftmaxState &state) {
  return {state.rowMax, state.rowSum, state.acc};
}

/// Dense attention: the kv tiles of the query tile's key range.
static FailureOr<SoftmaxState>
visitKeyRangeTiles(const TileProblem &tiled, LoweringBuilder &emit, Value,
                   Value, Value, Value queryStart, Value queryRows,
                   const SoftmaxState &initial, TileUpdateFn update) {
  OpBuilder &builder = emit.builder;
  const AttentionShape &shape = tiled.shape;
  int64_t blockKv = tiled.config.blockKv;
  // Positions of the tile's first and last rows (bottom-right aligned).
  Value offset =
      arith::SubIOp::create(builder, emit.loc, shape.kvLen, shape.queryLen);
  Value first = arith::AddIOp::create(builder, emit.loc, queryStart, offset);
  Value lastRow = arith::SubIOp::create(
      builder, emit.loc,
      arith::AddIOp::create(builder, emit.loc, queryStart, queryRows),
      emit.index(1));
  Value last = arith::AddIOp::create(builder, emit.loc, lastRow, offset);
  KeyHull hull = buildKeyHull(emit, tiled.mask, first, last, shape.kvLen);
  Value hullLo = hull.lo, hullHi = hull.hi;
  Value zero = emit.index(0);
  Value lo = arith::MinSIOp::create(
      builder, emit.loc,
      arith::MaxSIOp::create(builder, emit.loc, hullLo, zero), shape.kvLen);
  Value hi = arith::MinSIOp::create(
      builder, emit.loc, arith::MaxSIOp::create(builder, emit.loc, hullHi, lo),
      shape.kvLen);
  Value firstTile =
      arith::DivSIOp::create(builder, emit.loc, lo, emit.index(blockKv));
  Value endTile = emit.ceilDiv(hi, blockKv);
  bool failedUpdate = false;
  auto loop = scf::ForOp::create(
      builder, emit.loc, firstTile, endTile, emit.index(1),
      stateValues(initial),
      [&](OpBuilder &nested, Location loc, Value tile, ValueRange args) {
        LoweringBuilder nestedEmit(nested, tiled.op, tiled.runtimeChecks);
        Value kvStart =
            arith::MulIOp::create(nested, loc, tile, nestedEmit.index(blockKv));
        FailureOr<SoftmaxState> next =
            update(nestedEmit, kvStart, /*fullBlock=*/false,
                   SoftmaxState{args[0], args[1], args[2]});
        if (failed(next)) {
          failedUpdate = true;
          scf::YieldOp::create(nested, loc, args);
          return;
        }
        scf::YieldOp::create(nested, loc, stateValues(*next));
      });
  if (failedUpdate)
    return failure();
  return SoftmaxState{loop.getResult(0), loop.getResult(1), loop.getResult(2)};
}

/// Block-sparse attention: the listed kv blocks of the query block, each
/// once; entries outside [0, NK) and repeats are skipped. With full lists
/// their blocks come first and skip the mask; a block in both is full.
static FailureOr<SoftmaxState>
visitListedTiles(const TileProblem &tiled, const BlockListOperands &lists,
                 LoweringBuilder &emit, Value batch, Value head,
                 Value queryTileIndex, Value, Value,
                 const SoftmaxState &initial, TileUpdateFn update) {
  OpBuilder &builder = emit.builder;
  const AttentionShape &shape = tiled.shape;
  auto indicesType = cast<RankedTensorType>(lists.blockIndices.getType());
  int64_t listHeads = indicesType.getDimSize(1);
  int64_t blockKv = tiled.config.blockKv;
  Value listBatchIndex = batch;
  if (lists.listBatchIsOne) {
    listBatchIndex = emit.index(0);
  } else if (lists.listBatch) {
    Value isOne =
        arith::CmpIOp::create(builder, emit.loc, arith::CmpIPredicate::eq,
                              lists.listBatch, emit.index(1));
    listBatchIndex =
        arith::SelectOp::create(builder, emit.loc, isOne, emit.index(0), batch);
  }
  Value listHead = arith::DivUIOp::create(
      builder, emit.loc, head, emit.index(shape.queryHeads / listHeads));
  // The query block holding this query tile.
  Value queryBlock = arith::DivUIOp::create(
      builder, emit.loc, queryTileIndex,
      emit.index(tiled.listBlockQ / tiled.config.blockQ));
  SmallVector<Value> listIndex = {listBatchIndex, listHead, queryBlock};
  // The number of entries read: the count clamped to [0, capacity].
  auto entriesOf = [&](Value numBlocks, Value blockIndices) -> Value {
    Value count = arith::IndexCastOp::create(
        builder, emit.loc, builder.getIndexType(),
        tensor::ExtractOp::create(builder, emit.loc, numBlocks, listIndex));
    return arith::MinSIOp::create(
        builder, emit.loc,
        arith::MaxSIOp::create(builder, emit.loc, count, emit.index(0)),
        emit.dim(blockIndices, 3));
  };
  Value kvBlocks = emit.ceilDiv(shape.kvLen, tiled.listBlockKv);
  auto entryAt = [&](OpBuilder &entryBuilder, Location loc, Value blockIndices,
                     Value position) -> Value {
    SmallVector<Value> index(listIndex);
    index.push_back(position);
    Value entry =
        tensor::ExtractOp::create(entryBuilder, loc, blockIndices, index);
    return arith::IndexCastOp::create(entryBuilder, loc,
                                      entryBuilder.getIndexType(), entry);
  };
  // Whether `block` is among entries [0, end) of a list.
  auto listedBefore = [&](OpBuilder &entryBuilder, Location loc,
                          Value blockIndices, Value end, Value block) -> Value {
    auto scan = scf::ForOp::create(
        entryBuilder, loc, arith::ConstantIndexOp::create(entryBuilder, loc, 0),
        end, arith::ConstantIndexOp::create(entryBuilder, loc, 1),
        ValueRange{
            arith::ConstantIntOp::create(entryBuilder, loc, 0, 1).getResult()},
        [&](OpBuilder &stepBuilder, Location stepLoc, Value previous,
            ValueRange seen) {
          Value same = arith::CmpIOp::create(
              stepBuilder, stepLoc, arith::CmpIPredicate::eq,
              entryAt(stepBuilder, stepLoc, blockIndices, previous), block);
          scf::YieldOp::create(
              stepBuilder, stepLoc,
              ValueRange{
                  arith::OrIOp::create(stepBuilder, stepLoc, seen[0], same)
                      .getResult()});
        });
    return scan.getResult(0);
  };

  Value fullEntries;
  if (lists.fullBlockIndices)
    fullEntries = entriesOf(lists.fullNumBlocks, lists.fullBlockIndices);
  bool failedUpdate = false;
  // The tiles of one list's blocks, folded into `state`.
  auto visitList = [&](Value blockIndices, Value entries, bool full,
                       const SoftmaxState &state) -> SoftmaxState {
    auto loop = scf::ForOp::create(
        builder, emit.loc, emit.index(0), entries, emit.index(1),
        stateValues(state),
        [&](OpBuilder &nested, Location loc, Value slot, ValueRange args) {
          LoweringBuilder nestedEmit(nested, tiled.op, tiled.runtimeChecks);
          Value block = entryAt(nested, loc, blockIndices, slot);
          Value notNegative =
              arith::CmpIOp::create(nested, loc, arith::CmpIPredicate::sge,
                                    block, nestedEmit.index(0));
          Value inRange = arith::CmpIOp::create(
              nested, loc, arith::CmpIPredicate::slt, block, kvBlocks);
          Value valid =
              arith::AndIOp::create(nested, loc, notNegative, inRange);
          // A block listed at an earlier slot was already visited, and so
          // was a block of the full list.
          Value seen = listedBefore(nested, loc, blockIndices, slot, block);
          if (!full && fullEntries)
            seen = arith::OrIOp::create(nested, loc, seen,
                                        listedBefore(nested, loc,
                                                     lists.fullBlockIndices,
                                                     fullEntries, block));
          Value fresh = nestedEmit.notI(seen);
          Value visit = arith::AndIOp::create(nested, loc, valid, fresh);
          ValueRange results = buildIf(
              nested, loc, TypeRange(args), visit,
              [&](OpBuilder &thenBuilder) -> SmallVector<Value> {
                // The block's kv tiles that hold keys (the last block may be
                // partial).
                LoweringBuilder tileEmit(thenBuilder, tiled.op,
                                         tiled.runtimeChecks);
                Value blockStart = arith::MulIOp::create(
                    thenBuilder, loc, block, tileEmit.index(tiled.listBlockKv));
                Value keysLeft = arith::SubIOp::create(thenBuilder, loc,
                                                       shape.kvLen, blockStart);
                Value tiles = arith::MinSIOp::create(
                    thenBuilder, loc,
                    tileEmit.index(tiled.listBlockKv / blockKv),
                    tileEmit.ceilDiv(keysLeft, blockKv));
                auto subTiles = scf::ForOp::create(
                    thenBuilder, loc, tileEmit.index(0), tiles,
                    tileEmit.index(1), ValueRange(args),
                    [&](OpBuilder &stepBuilder, Location stepLoc, Value subTile,
                        ValueRange state) {
                      LoweringBuilder subTileEmit(stepBuilder, tiled.op,
                                                  tiled.runtimeChecks);
                      Value offset =
                          arith::MulIOp::create(stepBuilder, stepLoc, subTile,
                                                subTileEmit.index(blockKv));
                      Value kvStart = arith::AddIOp::create(
                          stepBuilder, stepLoc, blockStart, offset);
                      FailureOr<SoftmaxState> next =
                          update(subTileEmit, kvStart, full,
                                 SoftmaxState{state[0], state[1], state[2]});
                      if (failed(next)) {
                        failedUpdate = true;
                        scf::YieldOp::create(stepBuilder, stepLoc, state);
                        return;
                      }
                      scf::YieldOp::create(stepBuilder, stepLoc,
                                           stateValues(*next));
                    });
                return SmallVector<Value>(subTiles.getResults());
              },
              [&](OpBuilder &) -> SmallVector<Value> {
                return SmallVector<Value>(args);
              });
          scf::YieldOp::create(nested, loc, results);
        });
    return SoftmaxState{loop.getResult(0), loop.getResult(1),
                        loop.getResult(2)};
  };
  SoftmaxState state = initial;
  if (fullEntries)
    state =
        visitList(lists.fullBlockIndices, fullEntries, /*full=*/true, state);
  state = visitList(lists.blockIndices,
                    entriesOf(lists.numBlocks, lists.blockIndices),
                    /*full=*/false, state);
  if (failedUpdate)
    return failure();
  return state;
}

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

static int64_t getElementBytes(Type type) {
  return (type.getIntOrFloatBitWidth() + 7) / 8;
}

static std::optional<int64_t> staticDim(Value tensor, int64_t dim) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.isDynamicDim(dim))
    return std::nullopt;
  return type.getDimSize(dim);
}

struct SparseAttnTilePass
    : sparse_attn::impl::SparseAttnTilePassBase<SparseAttnTilePass> {
  using Base::Base;

  void runOnOperation() override {
    std::optional<ChipInfo> chipInfo = getChipInfo(chip);
    if (!chipInfo) {
      getOperation()->emitError()
          << "sparse-attn-tile: unknown chip '" << chip << "' (expected "
          << getKnownChipNames() << ")";
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      // Column lists (vertical-slash) are not tiled: the reference
      // lowering takes them.
      auto blockSparse = dyn_cast<BlockSparseAttentionOp>(op);
      if (isa<AttentionOp>(op) || (blockSparse && !blockSparse.getNumColumns()))
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : ops) {
      rewriter.setInsertionPoint(op);
      LogicalResult result =
          TypeSwitch<Operation *, LogicalResult>(op)
              .Case([&](AttentionOp attention) {
                return tileOne(rewriter, attention, *chipInfo);
              })
              .Case([&](BlockSparseAttentionOp blockSparse) {
                return tileOne(rewriter, blockSparse, *chipInfo);
              });
      if (failed(result))
        return signalPassFailure();
    }
  }

  template <typename OpTy>
  LogicalResult tileOne(IRRewriter &rewriter, OpTy op,
                        const ChipInfo &chipInfo) {
    constexpr bool isBlockSparse = std::is_same_v<OpTy, BlockSparseAttentionOp>;
    MaskAttrInterface mask = op.getMaskAttr();
    if (!hasMaskLowering(mask))
      return op.emitOpError() << "mask " << mask << " cannot be tiled";
    auto queryType = op.getQuery().getType();
    AttentionTileProblem problem;
    problem.headDim = queryType.getDimSize(3);
    problem.valueDim = op.getValue().getType().getDimSize(3);
    problem.elementBytes = getElementBytes(queryType.getElementType());
    problem.queryLen = staticDim(op.getQuery(), 2);
    problem.kvLen = staticDim(op.getKey(), 2);
    problem.requestedBlockQ = blockQ;
    problem.requestedBlockKv = blockKv;
    problem.requestedStages = stages;
    if constexpr (isBlockSparse) {
      BlockSizes block = op.getBlockSizes();
      problem.fixedBlockQ = block.query;
      problem.fixedBlockKv = block.kv;
    }
    FailureOr<AttentionTileConfig> config = chooseAttentionTile(
        chipInfo, problem, [&] { return op.emitOpError(); });
    if (failed(config))
      return failure();

    LoweringBuilder emit(rewriter, op, runtimeChecks);
    TileProblem tiled;
    tiled.shape =
        getAttentionShape(emit, op.getQuery(), op.getKey(), op.getValue(),
                          op.getSegmentIdsQ(), op.getSegmentIdsKv());
    checkMaskLengths(emit, mask, tiled.shape.kvLen);
    tiled.config = *config;
    tiled.query = op.getQuery();
    tiled.key = op.getKey();
    tiled.value = op.getValue();
    tiled.mask = mask;
    tiled.segmentIdsQ = op.getSegmentIdsQ();
    tiled.segmentIdsKv = op.getSegmentIdsKv();
    if (!op.getMaskMod().empty())
      tiled.maskMod = &op.getMaskMod();
    if (!op.getScoreMod().empty())
      tiled.scoreMod = &op.getScoreMod();
    tiled.scale = getScaleValue(op.getScaleAttr(), tiled.shape.headDim);
    tiled.op = op;
    tiled.runtimeChecks = runtimeChecks;

    LogicalResult result = failure();
    if constexpr (isBlockSparse) {
      Value numBlocks = op.getNumBlocks(), blockIndices = op.getBlockIndices();
      BlockListOperands lists{numBlocks, blockIndices, op.getFullNumBlocks(),
                              op.getFullBlockIndices()};
      tiled.listBlockQ = *problem.fixedBlockQ;
      tiled.listBlockKv = *problem.fixedBlockKv;
      emit.checkEq(emit.dim(numBlocks, 2),
                   emit.ceilDiv(tiled.shape.queryLen, tiled.listBlockQ),
                   "block lists do not have ceil(Sq / block_q) query blocks");
      emit.commonDim({{numBlocks, 0}, {blockIndices, 0}},
                     "num_blocks and block_indices batch differ");
      emit.commonDim({{numBlocks, 2}, {blockIndices, 2}},
                     "num_blocks and block_indices query blocks differ");
      std::optional<int64_t> staticListBatch = staticDim(numBlocks, 0);
      if (!staticListBatch)
        staticListBatch = staticDim(blockIndices, 0);
      lists.listBatchIsOne = staticListBatch && *staticListBatch == 1;
      if (lists.fullNumBlocks)
        checkFullListShapes(
            emit, numBlocks, lists.fullNumBlocks, lists.fullBlockIndices,
            emit.ceilDiv(tiled.shape.queryLen, tiled.listBlockQ));
      if (!lists.listBatchIsOne) {
        Value listBatchDim = emit.dim(numBlocks, 0);
        Value isOne =
            arith::CmpIOp::create(rewriter, emit.loc, arith::CmpIPredicate::eq,
                                  listBatchDim, emit.index(1));
        Value isBatch =
            arith::CmpIOp::create(rewriter, emit.loc, arith::CmpIPredicate::eq,
                                  listBatchDim, tiled.shape.batch);
        emit.check(arith::OrIOp::create(rewriter, emit.loc, isOne, isBatch),
                   "block lists' batch is neither 1 nor the batch size");
        if (!staticListBatch)
          lists.listBatch = listBatchDim;
      }
      result = tileAttention(
          rewriter, tiled, op.getOutput().getType(), op.getLse().getType(),
          [&](LoweringBuilder &tileEmit, Value batch, Value head,
              Value queryTileIndex, Value queryStart, Value queryRows,
              const SoftmaxState &initial, TileUpdateFn update) {
            return visitListedTiles(tiled, lists, tileEmit, batch, head,
                                    queryTileIndex, queryStart, queryRows,
                                    initial, update);
          });
    } else {
      result = tileAttention(
          rewriter, tiled, op.getOutput().getType(), op.getLse().getType(),
          [&](LoweringBuilder &tileEmit, Value batch, Value head,
              Value queryTileIndex, Value queryStart, Value queryRows,
              const SoftmaxState &initial, TileUpdateFn update) {
            return visitKeyRangeTiles(tiled, tileEmit, batch, head,
                                      queryTileIndex, queryStart, queryRows,
                                      initial, update);
          });
    }
    if (failed(result))
      return op.emitOpError() << "could not be tiled";
    return success();
  }
};

} // namespace
