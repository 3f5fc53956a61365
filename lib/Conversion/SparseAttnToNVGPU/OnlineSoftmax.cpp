//===- OnlineSoftmax.cpp - masking and softmax of a kernel tile -----------===//
//
// One kv tile's step of the kernel body: scores masked (by row intervals,
// per pair, or not at all on tiles the mask wholly allows), the online
// softmax in log2 units, the rescaled accumulator; the per-group tile skip;
// and the normalized output and log-sum-exp at the end.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernel.h"

#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace mlir::sparse_attn;

SmallVector<Value> AttentionKernel::values(const State &state) {
  SmallVector<Value> all(state.rowMax);
  all.append(state.rowSum);
  all.append(state.acc);
  return all;
}

AttentionKernel::State AttentionKernel::fromValues(ValueRange all) {
  State state;
  int64_t rows = rowsPerThread();
  state.rowMax.assign(all.begin(), all.begin() + rows);
  state.rowSum.assign(all.begin() + rows, all.begin() + 2 * rows);
  state.acc.assign(all.begin() + 2 * rows, all.end());
  return state;
}

FailureOr<AttentionKernel::State>
AttentionKernel::processTile(Value kvStart, Value stage, Value listedFull,
                             const SegmentBounds *tileSegments,
                             const State &state, Value columnTile) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  int64_t nTiles = config.blockKv / 8;
  // S = Q K^T: scores[rowTile][nTile][4], f32.
  SmallVector<SmallVector<Value>> scores = computeScores(stage);
  Value zero = emit.f32(0.0);

  // Masked scores. Element e of a fragment is at row group (+8 for e >= 2)
  // and key 2 * quad + (e % 2) of its 8-key tile. Without a score_mod (and
  // with a positive scale) they stay unscaled: the row maximum is taken
  // before scaling and each exponent is one fma, exp2(s * c - max * c);
  // otherwise they are scaled to log2 units here.
  double log2e = 1.4426950408889634;
  bool rawScores = !operands.rules.scoreMod && operands.rules.scale > 0;
  Value scaleLog2 = emit.f32(operands.rules.scale * log2e);
  Value log2eValue = emit.f32(log2e);
  Value negInf = emit.f32(-INFINITY);
  // The query head and query of each of the thread's rows (a row past the
  // end stands for the last row).
  Value lastRow = emit.sub(rowLimit, emit.index(1));
  SmallVector<Value> rowHeads, rowQueries;
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    auto [rowHead, query] = headAndQuery(emit, emit.min(threadRow(r), lastRow));
    rowHeads.push_back(rowHead);
    rowQueries.push_back(query);
  }
  Value lastKey = emit.sub(operands.kvLen, emit.index(1));
  SmallVector<Value> flat;
  for (auto &fragment : scores)
    flat.append(fragment);
  // A column tile (columnTile) masks pair by pair at the keys its slots
  // name (the then branch, built after the others' masking below).
  scf::IfOp ifColumns;
  std::optional<OpBuilder::InsertionGuard> columnsGuard;
  if (columnTile) {
    SmallVector<Type> types(flat.size(), builder.getF32Type());
    ifColumns = scf::IfOp::create(builder, loc, types, columnTile,
                                  /*withElseRegion=*/true);
    columnsGuard.emplace(builder);
    builder.setInsertionPointToStart(ifColumns.elseBlock());
  }
  // Tiles inside the keys and wholly allowed (by a structural mask without
  // mods, or as a listed full block without a score_mod) skip the per-pair
  // rules; the branch is uniform over the group of rows (warpgroup or
  // warp) whose tensor-core ops run together. `listedFull` (null without
  // full lists) also lets the per-pair rules allow every in-bounds pair.
  Value lastTileKey = emit.add(kvStart, config.blockKv - 1);
  Value fullTile = emit.lt(lastTileKey, operands.kvLen);
  if (operands.rules.scoreMod || gathers()) {
    // (A token list's slots are each valid or not.)
    fullTile = nullptr;
  } else if (operands.rules.mask || operands.rules.maskMod) {
    Value allowed;
    if (operands.rules.mask && !operands.rules.maskMod) {
      // Over the rows of this thread's group: the branch is uniform there.
      auto [firstPosition, lastPosition] = groupPositions();
      allowed =
          buildTileFullyAllowed(emit, operands.rules.mask,
                                TileBounds{firstPosition, lastPosition, kvStart,
                                           lastTileKey, tileSegments});
    }
    if (listedFull)
      allowed = allowed
                    ? arith::OrIOp::create(builder, loc, allowed, listedFull)
                          .getResult()
                    : listedFull;
    fullTile =
        allowed
            ? arith::AndIOp::create(builder, loc, fullTile, allowed).getResult()
            : nullptr;
  }
  // A mask that allows each row one interval of keys (causal, a sliding
  // window, and their combinations): its bounds are computed once per row,
  // relative to the thread's first key, and each score costs two i32
  // compares against a constant column.
  std::optional<RowKeyInterval> window = getRowKeyInterval(operands.rules.mask);
  bool intervalMask = window && !operands.rules.maskMod && rawScores;
  std::optional<TileRowKeys> rowKeys;
  auto maskScoresByInterval = [&]() -> SmallVector<Value> {
    Type i32 = builder.getI32Type();
    Value offset = emit.sub(operands.kvLen, operands.queryLen);
    // Keys relative to this thread's first key of the tile.
    Value base = emit.add(kvStart, emit.mul(quad, 2));
    Value lastRel = emit.sub(lastKey, base);
    SmallVector<Value> lo, hi;
    for (int64_t r = 0; r < rowsPerThread(); ++r) {
      Value position = emit.add(rowQueries[r], offset);
      Value first, last;
      if (rowKeys) {
        first = emit.sub(rowKeys->rows[r].lo, base);
        last = emit.min(
            emit.sub(emit.sub(rowKeys->rows[r].hi, emit.index(1)), base),
            lastRel);
      } else {
        first = emit.sub(emit.sub(position, emit.index(window->left)), base);
        last = emit.min(
            emit.sub(emit.add(position, emit.index(window->right)), base),
            lastRel);
      }
      if (listedFull) {
        // A full block's tile allows every key inside the lengths.
        first = emit.select(listedFull, emit.index(-1), first);
        last = emit.select(listedFull, lastRel, last);
      }
      // Clamped to the tile's columns, so the i32 values cannot wrap.
      first =
          emit.max(emit.min(first, emit.index(config.blockKv)), emit.index(-1));
      last =
          emit.max(emit.min(last, emit.index(config.blockKv)), emit.index(-1));
      lo.push_back(arith::IndexCastOp::create(builder, loc, i32, first));
      hi.push_back(arith::IndexCastOp::create(builder, loc, i32, last));
    }
    SmallVector<Value> masked;
    for (auto [position, score] : llvm::enumerate(flat)) {
      int64_t rt = position / (4 * nTiles), nt = position / 4 % nTiles,
              e = position % 4;
      int64_t r = 2 * rt + e / 2;
      Value column =
          arith::ConstantIntOp::create(builder, loc, nt * 8 + e % 2, 32);
      Value allowed = arith::AndIOp::create(
          builder, loc,
          arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::sle, lo[r],
                                column),
          arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::sle, column,
                                hi[r]));
      masked.push_back(emit.select(allowed, score, negInf));
    }
    return masked;
  };
  // Otherwise, masks whose rows see one interval of keys inside this tile
  // provided a tile-level condition holds (a neighborhood on a tile inside
  // one grid row; causal inside one document): the interval path under
  // that condition, pair by pair otherwise.
  Value intervalCondition;
  if (!intervalMask && operands.rules.mask && !operands.rules.maskMod &&
      rawScores) {
    auto [firstPosition, lastPosition] = groupPositions();
    Value offset = emit.sub(operands.kvLen, operands.queryLen);
    SmallVector<Value> positions;
    for (Value query : rowQueries)
      positions.push_back(emit.add(query, offset));
    rowKeys = buildTileRowKeys(emit, operands.rules.mask,
                               TileBounds{firstPosition, lastPosition, kvStart,
                                          lastTileKey, tileSegments},
                               positions);
    if (rowKeys)
      intervalCondition = rowKeys->condition;
  }
  auto maskScoresPerPair = [&]() -> FailureOr<SmallVector<Value>> {
    if (intervalMask && !readingColumns)
      return maskScoresByInterval();
    ArrayRef<Value> rows = rowQueries;
    // The thread's keys (two per 8-key tile) and, with segment ids, the ids
    // of its rows and keys, read once for all their pairs.
    SmallVector<Value> keys, rowIds, keyIds;
    for (int64_t column = 0; column < 2 * nTiles; ++column)
      keys.push_back(emit.add(emit.add(kvStart, column / 2 * 8 + column % 2),
                              emit.mul(quad, 2)));
    // A token list's (or column list's) slots: valid iff they name a key;
    // a column's pairs are masked at the key it names.
    SmallVector<Value> keyValid;
    if (gathers() || readingColumns)
      for (Value &key : keys) {
        auto [token, valid] = listedToken(emit, key);
        keyValid.push_back(valid);
        if (readingColumns)
          key = token;
      }
    Value pairFull = readingColumns ? Value() : listedFull;
    if (readsSegments()) {
      for (Value row : rows)
        rowIds.push_back(emit.loadI32(operands.segmentIdsQ, {batch, row}));
      for (Value key : keys)
        keyIds.push_back(emit.loadI32(operands.segmentIdsKv,
                                      {batch, emit.min(key, lastKey)}));
    }
    SmallVector<Value> masked;
    for (auto [position, score] : llvm::enumerate(flat)) {
      int64_t rt = position / (4 * nTiles), nt = position / 4 % nTiles,
              e = position % 4;
      int64_t column = 2 * nt + e % 2;
      Value key = keys[column];
      Value inBounds = (gathers() || readingColumns)
                           ? keyValid[column]
                           : emit.lt(key, operands.kvLen);
      if (!operands.hasPairRules) {
        masked.push_back(emit.select(
            inBounds, rawScores ? score : emit.fmul(score, scaleLog2), negInf));
        continue;
      }
      FailureOr<std::pair<Value, Value>> scored = buildPairScore(
          builder, loc, operands.rules, score, batch, rowHeads[2 * rt + e / 2],
          rows[2 * rt + e / 2], emit.min(key, lastKey), operands.queryLen,
          operands.kvLen, [&](OpBuilder &, Location) { return inBounds; },
          pairFull
              ? function_ref<Value(OpBuilder &, Location)>(
                    [&](OpBuilder &fullBuilder, Location fullLoc) -> Value {
                      return arith::AndIOp::create(fullBuilder, fullLoc,
                                                   pairFull, inBounds);
                    })
              : nullptr,
          readsSegments()
              ? SmallVector<Value>{rowIds[2 * rt + e / 2], keyIds[column]}
              : SmallVector<Value>{});
      if (failed(scored))
        return failure();
      masked.push_back(rawScores ? emit.select(scored->second, score, negInf)
                                 : emit.fmul(scored->first, log2eValue));
    }
    return masked;
  };
  auto maskScores = [&](OpBuilder &) -> FailureOr<SmallVector<Value>> {
    if (!intervalCondition)
      return maskScoresPerPair();
    SmallVector<Type> types(flat.size(), builder.getF32Type());
    auto ifInterval = scf::IfOp::create(builder, loc, types, intervalCondition,
                                        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(ifInterval.thenBlock());
    scf::YieldOp::create(builder, loc, maskScoresByInterval());
    builder.setInsertionPointToStart(ifInterval.elseBlock());
    FailureOr<SmallVector<Value>> masked = maskScoresPerPair();
    if (failed(masked))
      return failure();
    scf::YieldOp::create(builder, loc, *masked);
    return SmallVector<Value>(ifInterval.getResults());
  };
  SmallVector<Value> final;
  if (!fullTile) {
    FailureOr<SmallVector<Value>> masked = maskScores(builder);
    if (failed(masked))
      return failure();
    final = *masked;
  } else {
    SmallVector<Type> types(flat.size(), builder.getF32Type());
    auto ifFull = scf::IfOp::create(builder, loc, types, fullTile,
                                    /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifFull.thenBlock());
      SmallVector<Value> scaled;
      for (Value score : flat)
        scaled.push_back(rawScores ? score : emit.fmul(score, scaleLog2));
      scf::YieldOp::create(builder, loc, scaled);
      builder.setInsertionPointToStart(ifFull.elseBlock());
      FailureOr<SmallVector<Value>> masked = maskScores(builder);
      if (failed(masked))
        return failure();
      scf::YieldOp::create(builder, loc, *masked);
    }
    final.assign(ifFull.getResults().begin(), ifFull.getResults().end());
  }
  if (columnTile) {
    scf::YieldOp::create(builder, loc, final);
    builder.setInsertionPointToStart(ifColumns.thenBlock());
    readingColumns = true;
    FailureOr<SmallVector<Value>> masked = maskScoresPerPair();
    readingColumns = false;
    if (failed(masked))
      return failure();
    scf::YieldOp::create(builder, loc, *masked);
    columnsGuard.reset();
    final.assign(ifColumns.getResults().begin(), ifColumns.getResults().end());
  }
  if (rowLists()) {
    // Each row sees the tile only when its own list has the block.
    SmallVector<Value> listed = threadRowsListed(emit, kvStart);
    for (size_t position = 0; position < final.size(); ++position) {
      int64_t rt = position / (4 * nTiles), e = position % 4;
      final[position] =
          emit.select(listed[2 * rt + e / 2], final[position], negInf);
    }
  }
  for (auto [position, score] : llvm::enumerate(final))
    scores[position / 4][position % 4] = score;

  // Online softmax per row (in log2 units); the four lanes of a quad share
  // a row. Maxima and sums are pairwise trees: short dependency chains.
  auto tree = [&](ArrayRef<Value> input,
                  function_ref<Value(Value, Value)> combine) {
    SmallVector<Value> values(input);
    while (values.size() > 1) {
      SmallVector<Value> next;
      for (size_t i = 0; i + 1 < values.size(); i += 2)
        next.push_back(combine(values[i], values[i + 1]));
      if (values.size() % 2)
        next.push_back(values.back());
      values = std::move(next);
    }
    return values.front();
  };
  auto fmax = [&](Value x, Value y) { return emit.fmax(x, y); };
  auto fadd = [&](Value x, Value y) { return emit.fadd(x, y); };
  State next;
  SmallVector<Value> rowScale;
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    int64_t rt = r / 2, e0 = (r % 2) * 2;
    SmallVector<Value> rowScores;
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = e0; e < e0 + 2; ++e)
        rowScores.push_back(scores[rt * nTiles + nt][e]);
    Value tileMax = emit.quadReduce(tree(rowScores, fmax), fmax);
    if (rawScores)
      tileMax = emit.fmul(tileMax, scaleLog2);
    Value newMax = emit.fmax(state.rowMax[r], tileMax);
    // Shift by 0 while the row has seen no allowed key: exp2(-inf) = 0.
    Value shift = emit.select(emit.isNegInf(newMax), zero, newMax);
    Value alpha = emit.exp2(emit.fsub(state.rowMax[r], shift));
    SmallVector<Value> terms{emit.fmul(state.rowSum[r], alpha)};
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = e0; e < e0 + 2; ++e) {
        Value &score = scores[rt * nTiles + nt][e];
        // llvm.intr.fma: math.fma would become a libdevice call.
        Value exponent = rawScores
                             ? Value(LLVM::FMAOp::create(
                                   builder, loc, score, scaleLog2,
                                   arith::NegFOp::create(builder, loc, shift)))
                             : emit.fsub(score, shift);
        score = emit.exp2(exponent);
        terms.push_back(score);
      }
    Value sum = tree(terms, fadd);
    next.rowMax.push_back(newMax);
    next.rowSum.push_back(sum);
    rowScale.push_back(alpha);
  }
  next.acc = state.acc;
  for (int64_t rt = 0; rt < config.rowTiles; ++rt)
    for (int64_t i = 0; i < accPerRowTile(); ++i) {
      Value &acc = next.acc[rt * accPerRowTile() + i];
      acc = emit.fmul(acc, rowScale[2 * rt + (i % 4) / 2]);
    }

  next.acc = accumulateValues(stage, scores, next.acc);
  return next;
}

Value AttentionKernel::tileSkipped(KernelBuilder &tileEmit, Value kvStart,
                                   Value listedFull,
                                   const SegmentBounds *tileSegments) {
  // Row lists: a tile none of the group's rows lists is skipped (the
  // union's blocks each serve some row of the tile, not of every group).
  Value unlisted = rowLists() ? groupListsNone(tileEmit, kvStart) : Value();
  if (!testsTilesPerGroup())
    return unlisted;
  if (unlisted)
    return tileEmit.orI(unlisted, tileSkippedByMask(tileEmit, kvStart,
                                                    listedFull, tileSegments));
  return tileSkippedByMask(tileEmit, kvStart, listedFull, tileSegments);
}

Value AttentionKernel::tileSkippedByMask(KernelBuilder &tileEmit, Value kvStart,
                                         Value listedFull,
                                         const SegmentBounds *tileSegments) {
  Value pastKeys =
      tileEmit.cmp(arith::CmpIPredicate::sge, kvStart, operands.kvLen);
  if (!operands.rules.mask)
    return pastKeys;
  auto [firstPosition, lastPosition] = groupPositions();
  Value lastKey = tileEmit.add(kvStart, config.blockKv - 1);
  Value masked = buildTileWhollyMasked(
      tileEmit, operands.rules.mask,
      TileBounds{firstPosition, lastPosition, kvStart, lastKey, tileSegments});
  if (!masked)
    return pastKeys;
  // A listed full block's pairs are allowed whatever the mask says.
  if (listedFull)
    masked = tileEmit.andI(masked, tileEmit.notI(listedFull));
  return arith::OrIOp::create(tileEmit.builder, tileEmit.loc, pastKeys, masked);
}

void AttentionKernel::writeResults(const State &state) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  double ln2 = 0.6931471805599453;
  Value zero = emit.f32(0.0);
  Value one = emit.f32(1.0);
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    int64_t rt = r / 2, e0 = (r % 2) * 2;
    Value tileRow = threadRow(r);
    Value sum = emit.quadReduce(
        state.rowSum[r], [&](Value x, Value y) { return emit.fadd(x, y); });
    Value empty = emit.isNegInf(state.rowMax[r]);
    Value inverse = arith::DivFOp::create(builder, loc, one, sum);
    auto ifRow = scf::IfOp::create(builder, loc, emit.lt(tileRow, rowLimit),
                                   /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(ifRow.thenBlock());
    auto [rowHead, row] = headAndQuery(emit, tileRow);
    // With the keys split, the block's normalized part and its log-sum-exp
    // (f32) go to the partial buffers the combine launch reads.
    SmallVector<Value> outputIndices{batch, rowHead, row};
    // Grouped row lists: the row's slot is its part.
    Value part = grouped() ? groupSlot(emit, tileRow) : split;
    if (part)
      outputIndices.insert(outputIndices.begin() + 2, part);
    for (int64_t dt = 0; dt < config.valueDim / 8; ++dt) {
      int64_t base = rt * accPerRowTile() + dt * 4 + e0;
      Value lo = emit.select(empty, zero, emit.fmul(state.acc[base], inverse));
      Value hi =
          emit.select(empty, zero, emit.fmul(state.acc[base + 1], inverse));
      Value wide = vector::FromElementsOp::create(
          builder, loc, VectorType::get({2}, builder.getF32Type()),
          ValueRange{lo, hi});
      Value col = emit.add(valueColumn(dt), valueFirstColumn);
      SmallVector<Value> indices(outputIndices);
      indices.push_back(col);
      if (part) {
        auto store = vector::StoreOp::create(builder, loc, wide,
                                             operands.partialOutput, indices);
        store.setAlignmentAttr(builder.getI64IntegerAttr(8));
        continue;
      }
      // The output's element type (the inputs'; f32 is stored unrounded).
      Type outputElement =
          cast<MemRefType>(operands.output.getType()).getElementType();
      Value pair = wide;
      if (!outputElement.isF32())
        pair = arith::TruncFOp::create(
            builder, loc, VectorType::get({2}, outputElement), wide);
      auto store =
          vector::StoreOp::create(builder, loc, pair, operands.output, indices);
      store.setAlignmentAttr(builder.getI64IntegerAttr(
          2 * outputElement.getIntOrFloatBitWidth() / 8));
    }
    Value lse =
        emit.fmul(emit.fadd(state.rowMax[r], emit.log2(sum)), emit.f32(ln2));
    lse = emit.select(empty, emit.f32(-INFINITY), lse);
    // One lane of the quad, of slice 0 (every slice has the same).
    Value writesLse = emit.cmp(arith::CmpIPredicate::eq, quad, emit.index(0));
    if (config.valueSlices > 1)
      writesLse =
          emit.andI(writesLse, emit.eq(valueFirstColumn, emit.index(0)));
    auto ifQuad = scf::IfOp::create(builder, loc, writesLse,
                                    /*withElseRegion=*/false);
    builder.setInsertionPointToStart(ifQuad.thenBlock());
    memref::StoreOp::create(builder, loc, lse,
                            part ? operands.partialLse : operands.lse,
                            outputIndices);
  }
}
