//===- AttentionKernel.cpp - the tensor-core attention kernel -------------===//
//
// The skeleton of the kernel body: the launch's thread and block roles, the
// query block's list (vetted and compacted into shared memory), the K/V
// copies and their pipeline stages, and the walk over query tiles (one per
// block, or several in turn). Masking and the online softmax are in
// OnlineSoftmax.cpp; the matrix products in the flavours' files.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernel.h"
#include "SegmentBounds.h"

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

std::unique_ptr<AttentionKernel>
AttentionKernel::create(KernelBuilder &emit, const MmaKernelConfig &config,
                        const KernelOperands &operands, gpu::LaunchOp launch) {
  if (config.simt)
    return createSimtKernel(emit, config, operands, launch);
  if (config.warpgroup)
    return createWgmmaKernel(emit, config, operands, launch);
  return createMmaSyncKernel(emit, config, operands, launch);
}

SmallVector<Value>
AttentionKernel::probabilityOperands(ArrayRef<SmallVector<Value>> scores,
                                     int64_t rowTile, int64_t keyStep) {
  int64_t nTiles = config.blockKv / 8;
  const auto &lo = scores[rowTile * nTiles + 2 * keyStep];
  const auto &hi = scores[rowTile * nTiles + 2 * keyStep + 1];
  return {emit.packPair(lo[0], lo[1]), emit.packPair(lo[2], lo[3]),
          emit.packPair(hi[0], hi[1]), emit.packPair(hi[2], hi[3])};
}

void AttentionKernel::setUpShared() {
  OpBuilder &builder = emit.builder;
  Operation *dynamicShared = emit.dynamicSharedMemory().getDefiningOp();
  // Outlining keeps this op's attributes (not the launch's):
  // sparse-attn-kernel-limits moves the register cap and the configuration
  // to the kernel function.
  MLIRContext *context = builder.getContext();
  if (config.maxRegisters)
    SparseAttnDialect::MaxRegistersAttrHelper(context).setAttr(
        dynamicShared, builder.getI32IntegerAttr(config.maxRegisters));
  SparseAttnDialect::MmaKernelAttrHelper(context).setAttr(
      dynamicShared, config.toAttr(builder));
  Value base = dynamicShared->getResult(0);
  sharedBase = base;
  setUpTiles(base);
  if (grouped()) {
    // [blockQ] queries, [blockQ] slots, [least, greatest] query.
    int64_t at = config.tileBytes();
    Type i32 = builder.getI32Type();
    groupQueries = emit.sharedView(base, emit.index(at), {config.blockQ}, i32);
    groupSlots = emit.sharedView(base, emit.index(at + 4 * config.blockQ),
                                 {config.blockQ}, i32);
    groupBounds =
        emit.sharedView(base, emit.index(at + 8 * config.blockQ), {2}, i32);
  }
  if (!usesLists())
    return;
  if (rowLists()) {
    // [union count], the union, its bitmap and the rows' bitmaps.
    int64_t at = config.tileBytes();
    listCount =
        emit.sharedView(base, emit.index(at), {1}, builder.getI32Type());
    at += listHeaderBytes(false);
    list = emit.sharedView(base, emit.index(at), {config.rowListBlocks},
                           builder.getI32Type());
    at += 4 * config.rowListBlocks;
    listBits =
        emit.sharedView(base, emit.index(at),
                        {(config.rowListRows + 1) * config.rowListWords()},
                        builder.getI32Type());
    return;
  }
  // [kept blocks, kept full blocks], then the combined list.
  int64_t headerBytes =
      listHeaderBytes(static_cast<bool>(operands.fullBlockIndices));
  listCount = emit.sharedView(base, emit.index(config.tileBytes()),
                              {headerBytes / 4}, builder.getI32Type());
  list = emit.sharedView(
      base, emit.index(config.tileBytes() + headerBytes),
      {ShapedType::kDynamic}, builder.getI32Type(),
      ValueRange{emit.add(operands.capacity, operands.fullCapacity)});
  if (!selects())
    return;
  // The selection's scratch after the list (a static capacity).
  const FusedSelection &selection = operands.selection;
  int64_t at = config.tileBytes() + headerBytes + 4 * selection.capacity;
  Type i32 = builder.getI32Type();
  selectionKeys =
      emit.sharedView(base, emit.index(at), {selection.kvBlocks}, i32);
  at += 4 * selection.kvBlocks;
  selectionMarks =
      emit.sharedView(base, emit.index(at), {selection.kvBlocks}, i32);
  at += 4 * selection.kvBlocks;
  selectionQuery = emit.sharedView(base, emit.index(at), {selection.pooledDim},
                                   builder.getF32Type());
}

void AttentionKernel::setUpSegments() {
  if (!readsSegments())
    return;
  segments = SegmentBounds{};
  segments.sorted = buildKeysSortedFlag(emit, lane, batch, operands.keysSorted,
                                        operands.kvLen);
  Value tile = emit.udiv(queryStart, config.blockQ);
  auto bound = [&](int64_t slot) {
    return emit.loadI32(operands.tileBounds, {batch, tile, emit.index(slot)});
  };
  segments.queryMin = bound(0);
  segments.queryMax = bound(1);
  if (!usesLists()) {
    segments.keyLo = bound(2);
    segments.keyHi = bound(3);
  }
}

SegmentBounds AttentionKernel::tileSegmentBounds(KernelBuilder &tileEmit,
                                                 Value kvStart) {
  SegmentBounds bounds = segments;
  Value lastKey = tileEmit.sub(operands.kvLen, tileEmit.index(1));
  bounds.firstKeyId = tileEmit.loadI32(operands.segmentIdsKv,
                                       {batch, tileEmit.min(kvStart, lastKey)});
  bounds.lastKeyId = tileEmit.loadI32(
      operands.segmentIdsKv,
      {batch,
       tileEmit.min(tileEmit.add(kvStart, config.blockKv - 1), lastKey)});
  return bounds;
}

void AttentionKernel::setUpList() {
  setUpSegments();
  if (!usesLists()) {
    // The kv tiles holding the key hull of the tile's rows (positions
    // bottom-right aligned; with segment ids, their documents' keys),
    // clamped to the keys.
    Value lastRow = emit.sub(
        emit.min(emit.add(queryStart, config.blockQ), rowLimit), emit.index(1));
    auto [firstQuery, lastQuery] = queryRange(queryStart, lastRow);
    Value offset = emit.sub(operands.kvLen, operands.queryLen);
    KeyHull hull =
        buildKeyRanges(emit, operands.rules.mask, emit.add(firstQuery, offset),
                       emit.add(lastQuery, offset), operands.kvLen,
                       readsSegments() ? &segments : nullptr);
    // The keys of the block: all, its split's, or its kv block's.
    Value keysLo = emit.index(0), keysHi = operands.kvLen;
    if (grouped()) {
      keysLo = groupKeysLo;
      keysHi = groupKeysHi;
    }
    if (split) {
      keysLo = emit.min(emit.mul(split, operands.splitKeys), operands.kvLen);
      keysHi = emit.min(emit.add(keysLo, operands.splitKeys), operands.kvLen);
    }
    auto clampKey = [&](Value key, Value least) {
      return emit.min(emit.max(key, least), keysHi);
    };
    auto tilesTo = [&](Value key) {
      return emit.udiv(emit.add(key, config.blockKv - 1), config.blockKv);
    };
    Value lo = clampKey(hull.lo, keysLo);
    Value hi = clampKey(hull.hi, lo);
    kvFirstTile = emit.udiv(lo, config.blockKv);
    listEntries = emit.sub(tilesTo(hi), kvFirstTile);
    kvPrefixTiles = kvPrefixFirstTile = nullptr;
    if (hull.prefixEnd) {
      // The prefix's tiles (inside the block's keys) before the range's
      // first (a tile holding both is the range's).
      kvPrefixFirstTile = emit.udiv(keysLo, config.blockKv);
      Value prefixEnd = tilesTo(clampKey(hull.prefixEnd, keysLo));
      kvPrefixTiles = emit.sub(
          emit.max(emit.min(prefixEnd, kvFirstTile), kvPrefixFirstTile),
          kvPrefixFirstTile);
      listEntries = emit.add(listEntries, kvPrefixTiles);
    }
    fullEntries = emit.index(0);
    return;
  }
  setUpListHead();
  queryBlock = emit.udiv(queryStart, config.listBlockQ);
  if (selects()) {
    if (!listSelected) {
      selectList();
      listSelected = true;
    }
    listEntries = emit.loadI32(listCount, {emit.index(0)});
    fullEntries = emit.index(0);
    return;
  }
  if (rowLists()) {
    // Each list row's count is read with its entries (buildRowLists).
    listEntries = fullEntries = emit.index(0);
    return;
  }
  Value count =
      emit.loadI32(operands.numBlocks, {listBatchIndex, listHead, queryBlock});
  listEntries = emit.min(emit.max(count, emit.index(0)), operands.capacity);
  if (hasColumns()) {
    Value columns = emit.loadI32(operands.numColumns,
                                 {listBatchIndex, listHead, queryBlock});
    columnEntries =
        emit.min(emit.max(columns, emit.index(0)), operands.columnCapacity);
  }
  fullEntries = emit.index(0);
  if (operands.fullNumBlocks) {
    Value full = emit.loadI32(operands.fullNumBlocks,
                              {listBatchIndex, listHead, queryBlock});
    fullEntries =
        emit.min(emit.max(full, emit.index(0)), operands.fullCapacity);
  }
}

void AttentionKernel::setUpListHead() {
  listBatchIndex =
      operands.listBatch
          ? emit.select(emit.cmp(arith::CmpIPredicate::eq, operands.listBatch,
                                 emit.index(1)),
                        emit.index(0), batch)
          : emit.index(0);
  listHead = emit.udiv(head, operands.queryHeads / operands.listHeads);
}

Value AttentionKernel::listEntry(KernelBuilder &nestedEmit, Value slot) {
  if (selects())
    return nestedEmit.loadI32(list, {slot});
  if (!operands.fullBlockIndices)
    return nestedEmit.loadI32(operands.blockIndices,
                              {listBatchIndex, listHead, queryBlock, slot});
  Value inFull = nestedEmit.lt(slot, fullEntries);
  auto ifFull = scf::IfOp::create(nestedEmit.builder, nestedEmit.loc,
                                  nestedEmit.builder.getIndexType(), inFull,
                                  /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(nestedEmit.builder);
  nestedEmit.builder.setInsertionPointToStart(ifFull.thenBlock());
  scf::YieldOp::create(
      nestedEmit.builder, nestedEmit.loc,
      nestedEmit.loadI32(operands.fullBlockIndices,
                         {listBatchIndex, listHead, queryBlock, slot}));
  nestedEmit.builder.setInsertionPointToStart(ifFull.elseBlock());
  scf::YieldOp::create(nestedEmit.builder, nestedEmit.loc,
                       nestedEmit.loadI32(operands.blockIndices,
                                          {listBatchIndex, listHead, queryBlock,
                                           nestedEmit.sub(slot, fullEntries)}));
  return ifFull.getResult(0);
}

Value AttentionKernel::namesKvBlock(KernelBuilder &nestedEmit, Value entry) {
  return nestedEmit.andI(
      nestedEmit.cmp(arith::CmpIPredicate::sge, entry, nestedEmit.index(0)),
      nestedEmit.lt(entry, operands.kvBlocks));
}

std::pair<Value, Value> AttentionKernel::groupPositions() {
  int64_t rows = testsTilesPerGroup() ? rowsPerGroup() : config.blockQ;
  Value first =
      testsTilesPerGroup()
          ? emit.add(queryStart, emit.mul(groupOfWarp(uniformWarp), rows))
          : queryStart;
  Value last = emit.sub(emit.min(emit.add(first, emit.index(rows)), rowLimit),
                        emit.index(1));
  auto [firstQuery, lastQuery] = queryRange(first, last);
  Value offset = emit.sub(operands.kvLen, operands.queryLen);
  return {emit.add(firstQuery, offset), emit.add(lastQuery, offset)};
}

std::pair<Value, Value> AttentionKernel::headAndQuery(KernelBuilder &rowEmit,
                                                      Value row) {
  if (grouped())
    return {head, rowEmit.loadI32(
                      groupQueries,
                      {rowEmit.min(row, rowEmit.index(config.blockQ - 1))})};
  if (!packed())
    return {head, row};
  Value group = rowEmit.udiv(row, config.packedQueries);
  return {rowEmit.add(rowEmit.mul(kvHead, config.groupSize), group),
          gathers() ? tokenQuery : rowEmit.urem(row, config.packedQueries)};
}

std::pair<Value, Value> AttentionKernel::queryRange(Value firstRow,
                                                    Value lastRow) {
  if (gathers())
    return {tokenQuery, tokenQuery};
  if (grouped())
    return {emit.loadI32(groupBounds, {emit.index(0)}),
            emit.loadI32(groupBounds, {emit.index(1)})};
  if (!packed())
    return {firstRow, lastRow};
  int64_t queries = config.packedQueries;
  Value sameHead =
      emit.eq(emit.udiv(firstRow, queries), emit.udiv(lastRow, queries));
  return {emit.select(sameHead, emit.urem(firstRow, queries), emit.index(0)),
          emit.select(sameHead, emit.urem(lastRow, queries),
                      emit.index(queries - 1))};
}

/// cp.async of `rows` rows of `source[batch, sourceHead, firstRow + r, :]`
/// into `slot`, 16 bytes per copy spread over the threads; rows at or past
/// `rowLimit` are zero-filled and never read.
void AttentionKernel::copyRows(
    Value source, Value sourceHead, const TileSlot &slot, Value firstRow,
    Value rowLimit, int64_t rows, int64_t dim, SmallVector<Value> &tokens,
    function_ref<std::pair<Value, Value>(KernelBuilder &, Value)> locate,
    bool gather, Value sourceColumn) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  int64_t copyElements = config.copyElements();
  int64_t chunksPerRow = dim / copyElements;
  int64_t chunks = rows * chunksPerRow;
  Value lastRow = emit.sub(rowLimit, emit.index(1));
  for (int64_t first = 0; first < chunks; first += config.threads()) {
    auto emitCopy = [&](OpBuilder &) {
      Value chunk = emit.add(tid, first);
      Value row = emit.udiv(chunk, chunksPerRow);
      Value col = emit.mul(emit.urem(chunk, chunksPerRow), copyElements);
      Value sourceRow = emit.add(firstRow, row);
      Value exists = emit.lt(sourceRow, rowLimit);
      Value clamped = emit.max(emit.min(sourceRow, lastRow), emit.index(0));
      Value elements =
          emit.select(exists, emit.index(copyElements), emit.index(0));
      Value head = sourceHead;
      if (locate)
        std::tie(head, clamped) = locate(emit, clamped);
      if (gather) {
        // The slot's key row: an invalid entry is zero-filled, never read.
        auto [token, valid] = listedToken(emit, clamped);
        clamped = token;
        elements = emit.select(emit.andI(exists, valid),
                               emit.index(copyElements), emit.index(0));
      }
      tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
          builder, loc, slot.memref, slotIndices(slot, row, col), source,
          ValueRange{batch, head, clamped,
                     sourceColumn ? emit.add(col, sourceColumn) : col},
          builder.getIndexAttr(copyElements), elements, builder.getUnitAttr()));
    };
    if (first + config.threads() <= chunks) {
      emitCopy(builder);
      continue;
    }
    // The last round: fewer chunks than threads.
    Value active = emit.lt(emit.add(tid, first), emit.index(chunks));
    auto ifOp =
        scf::IfOp::create(builder, loc, active, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(ifOp.thenBlock());
    emitCopy(builder);
  }
}

std::pair<Value, Value> AttentionKernel::listedToken(KernelBuilder &at,
                                                     Value slot) {
  // A token list's slots (n = kvLen of them, naming keys below tokenKeys)
  // or, while readingColumns, the query block's column slots
  // (columnEntries of them, in a list of columnCapacity, naming keys below
  // kvLen).
  // A selected list: its count's slots, in shared memory.
  Value slots = readingColumns    ? columnEntries
                : selectsTokens() ? tokenCount
                                  : operands.kvLen;
  Value keys = readingColumns ? operands.kvLen : operands.tokenKeys;
  Value lastSlot = at.sub(
      readingColumns ? operands.columnCapacity : operands.kvLen, at.index(1));
  Value clamped = at.min(slot, lastSlot);
  Value token =
      readingColumns
          ? at.loadI32(operands.columnIndices,
                       {listBatchIndex, listHead, queryBlock, clamped})
      : selectsTokens()
          ? at.loadI32(tokenLists, {tokenItem, clamped})
          : at.loadI32(operands.tokenIndices, {batch, tokenQuery, clamped});
  Value valid =
      at.andI(at.andI(at.lt(slot, slots),
                      at.cmp(arith::CmpIPredicate::sge, token, at.index(0))),
              at.lt(token, keys));
  return {at.select(valid, token, at.index(0)), valid};
}

void AttentionKernel::loadKvTile(Value kvStart, Value stage, Value columnTile) {
  SmallVector<Value> tokens;
  auto copyTile = [&](bool gather, Value rowLimit) {
    copyRows(operands.key, kvHead, keySlot(stage), kvStart, rowLimit,
             config.blockKv, config.headDim, tokens, nullptr, gather);
    copyRows(operands.value, kvHead, valueSlot(stage), kvStart, rowLimit,
             config.blockKv, config.valueDim, tokens, nullptr, gather,
             valueFirstColumn);
  };
  if (columnTile) {
    // Column slots gather the key rows they name; the others are keys.
    auto ifColumns = scf::IfOp::create(emit.builder, emit.loc, columnTile,
                                       /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(emit.builder);
    emit.builder.setInsertionPointToStart(ifColumns.thenBlock());
    readingColumns = true;
    copyTile(/*gather=*/true, columnEntries);
    readingColumns = false;
    emit.builder.setInsertionPointToStart(ifColumns.elseBlock());
    copyTile(gathers(), operands.kvLen);
  } else {
    copyTile(gathers(), operands.kvLen);
  }
  // Copies issued under an scf.if have tokens that do not dominate here;
  // commit_group does not need them (it closes every pending copy).
  SmallVector<Value> visible;
  for (Value token : tokens)
    if (token.getParentBlock() == emit.builder.getInsertionBlock())
      visible.push_back(token);
  nvgpu::DeviceAsyncCreateGroupOp::create(
      emit.builder, emit.loc,
      nvgpu::DeviceAsyncTokenType::get(emit.builder.getContext()), visible);
}

/// The query block's listed kv blocks, each once, in list order, into
/// shared memory: the threads vet the entries (in range, not listed at an
/// earlier slot; the earlier slots' loads hit L1), and warp 0 compacts the
/// survivors 32 slots at a time (a ballot, then each lane's rank). No raw
/// copy in shared memory: it would cost blocks per multiprocessor.
void AttentionKernel::buildList() {
  // A selected list is built (in range, each block once, ascending).
  if (!usesLists() || selects())
    return;
  if (rowLists()) {
    buildRowLists();
    return;
  }
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Value count = emit.add(fullEntries, listEntries);
  auto forSlots = [&](function_ref<void(KernelBuilder &, Value)> body) {
    emit.forRange(tid, count, emit.index(config.threads()), body);
  };
  forSlots([&](KernelBuilder &nestedEmit, Value slot) {
    OpBuilder &nestedBuilder = nestedEmit.builder;
    Location nestedLoc = nestedEmit.loc;
    Value block = listEntry(nestedEmit, slot);
    Value inRange = namesKvBlock(nestedEmit, block);
    Value fresh = nestedEmit.notI(nestedEmit.repeatsEarlier(
        slot, block, [&](KernelBuilder &scanEmit, Value previous) {
          return listEntry(scanEmit, previous);
        }));
    Value keep =
        arith::AndIOp::create(nestedBuilder, nestedLoc, inRange, fresh);
    nestedEmit.storeI32(nestedEmit.select(keep, block, nestedEmit.index(-1)),
                        list, {slot});
  });
  gpu::BarrierOp::create(builder, loc);
  auto ifWarp0 = scf::IfOp::create(
      builder, loc, emit.cmp(arith::CmpIPredicate::eq, warp, emit.index(0)),
      /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(ifWarp0.thenBlock());
    Type i32 = builder.getI32Type();
    auto i32Constant = [&](OpBuilder &constantBuilder, int64_t value) -> Value {
      return arith::ConstantIntOp::create(constantBuilder, loc, value, 32);
    };
    Value lane32 = arith::IndexCastOp::create(builder, loc, i32, lane);
    Value below = arith::SubIOp::create(
        builder, loc,
        arith::ShLIOp::create(builder, loc, i32Constant(builder, 1), lane32),
        i32Constant(builder, 1));
    // Kept entries, and kept entries of the full list (the first slots).
    auto compact = scf::ForOp::create(
        builder, loc, emit.index(0), count, emit.index(kWarpSize),
        ValueRange{emit.index(0), emit.index(0)},
        [&](OpBuilder &nestedBuilder, Location nestedLoc, Value base,
            ValueRange kept) {
          KernelBuilder nestedEmit(nestedBuilder, nestedLoc, emit.element);
          Value slot = nestedEmit.add(base, lane);
          Value inList = nestedEmit.lt(slot, count);
          Value block = nestedEmit.select(
              inList,
              nestedEmit.loadI32(
                  list, {nestedEmit.min(
                            slot, nestedEmit.sub(count, nestedEmit.index(1)))}),
              nestedEmit.index(-1));
          Value keep = nestedEmit.cmp(arith::CmpIPredicate::sge, block,
                                      nestedEmit.index(0));
          Value mask = NVVM::VoteSyncOp::create(
              nestedBuilder, nestedLoc, i32, i32Constant(nestedBuilder, -1),
              keep, NVVM::VoteSyncKind::ballot);
          Value rank = LLVM::CtPopOp::create(
              nestedBuilder, nestedLoc,
              arith::AndIOp::create(nestedBuilder, nestedLoc, mask, below));
          Value total = LLVM::CtPopOp::create(nestedBuilder, nestedLoc, mask);
          // Every lane has read its entry before any lane writes: the
          // compaction is in place, and a rank may reach a slot another lane
          // read this round. The ballot converges the warp but orders no
          // memory; bar.warp.sync does (PTX ISA; compute-sanitizer's
          // racecheck flagged the ballot-only version). A round's writes
          // stay below the next round's slots.
          nestedEmit.syncWarp();
          auto ifKeep = scf::IfOp::create(nestedBuilder, nestedLoc, keep,
                                          /*withElseRegion=*/false);
          {
            OpBuilder::InsertionGuard inner(nestedBuilder);
            nestedBuilder.setInsertionPointToStart(ifKeep.thenBlock());
            nestedEmit.storeI32(
                block, list,
                {nestedEmit.add(kept[0],
                                arith::IndexCastOp::create(
                                    nestedBuilder, nestedLoc,
                                    nestedBuilder.getIndexType(), rank))});
          }
          Value next = nestedEmit.add(
              kept[0],
              arith::IndexCastOp::create(nestedBuilder, nestedLoc,
                                         nestedBuilder.getIndexType(), total));
          Value nextFull = kept[1];
          if (operands.fullBlockIndices) {
            Value keepFull =
                arith::AndIOp::create(nestedBuilder, nestedLoc, keep,
                                      nestedEmit.lt(slot, fullEntries));
            Value fullMask = NVVM::VoteSyncOp::create(
                nestedBuilder, nestedLoc, i32, i32Constant(nestedBuilder, -1),
                keepFull, NVVM::VoteSyncKind::ballot);
            nextFull = nestedEmit.add(
                kept[1],
                arith::IndexCastOp::create(
                    nestedBuilder, nestedLoc, nestedBuilder.getIndexType(),
                    LLVM::CtPopOp::create(nestedBuilder, nestedLoc, fullMask)));
          }
          scf::YieldOp::create(nestedBuilder, nestedLoc,
                               ValueRange{next, nextFull});
        });
    auto ifLane0 = scf::IfOp::create(
        builder, loc, emit.cmp(arith::CmpIPredicate::eq, lane, emit.index(0)),
        /*withElseRegion=*/false);
    builder.setInsertionPointToStart(ifLane0.thenBlock());
    emit.storeI32(compact.getResult(0), listCount, {emit.index(0)});
    if (operands.fullBlockIndices)
      emit.storeI32(compact.getResult(1), listCount, {emit.index(1)});
  }
  gpu::BarrierOp::create(builder, loc);
}

/// Row lists: the threads clear the bitmaps, then set, for each entry of
/// the list rows the tile's rows read (in range, below the row's clamped
/// count), its block's bit in its row's bitmap and in the union's (shared
/// atomics: a block listed twice sets a bit twice). Warp 0 then writes the
/// union's blocks in ascending order, 32 blocks a step (a ballot, then each
/// lane's rank).
void AttentionKernel::buildRowLists() {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Type i32 = builder.getI32Type();
  int64_t words = config.rowListWords();
  auto forThreads = [&](Value count,
                        function_ref<void(KernelBuilder &, Value)> body) {
    emit.forRange(tid, count, emit.index(config.threads()), body);
  };
  forThreads(emit.index((config.rowListRows + 1) * words),
             [&](KernelBuilder &at, Value word) {
               memref::StoreOp::create(
                   at.builder, at.loc,
                   arith::ConstantIntOp::create(at.builder, at.loc, 0, 32),
                   listBits, ValueRange{word});
             });
  gpu::BarrierOp::create(builder, loc);
  Value listRows = emit.udiv(emit.add(operands.queryLen, config.listBlockQ - 1),
                             config.listBlockQ);
  Value tileEnd = emit.min(emit.add(queryStart, config.blockQ), rowLimit);
  forThreads(
      emit.mul(emit.index(config.rowListRows), operands.capacity),
      [&](KernelBuilder &at, Value slot) {
        Value row =
            arith::DivUIOp::create(at.builder, at.loc, slot, operands.capacity)
                .getResult();
        Value entrySlot =
            arith::RemUIOp::create(at.builder, at.loc, slot, operands.capacity)
                .getResult();
        Value listRow = at.add(queryBlock, row);
        Value rowExists =
            at.andI(at.lt(listRow, listRows),
                    at.lt(at.mul(listRow, config.listBlockQ), tileEnd));
        Value clampedRow = at.min(listRow, at.sub(listRows, at.index(1)));
        Value count =
            at.min(at.max(at.loadI32(operands.numBlocks,
                                     {listBatchIndex, listHead, clampedRow}),
                          at.index(0)),
                   operands.capacity);
        Value block =
            at.loadI32(operands.blockIndices,
                       {listBatchIndex, listHead, clampedRow, entrySlot});
        Value keep = at.andI(at.andI(rowExists, at.lt(entrySlot, count)),
                             namesKvBlock(at, block));
        auto ifKeep = scf::IfOp::create(at.builder, at.loc, keep,
                                        /*withElseRegion=*/false);
        OpBuilder::InsertionGuard guard(at.builder);
        at.builder.setInsertionPointToStart(ifKeep.thenBlock());
        Value bit = arith::ShLIOp::create(
            at.builder, at.loc,
            arith::ConstantIntOp::create(at.builder, at.loc, 1, 32),
            arith::IndexCastOp::create(at.builder, at.loc, i32,
                                       at.urem(block, 32)));
        Value word = at.udiv(block, 32);
        for (Value index : {word, at.add(at.mul(at.add(row, 1), words), word)})
          memref::AtomicRMWOp::create(at.builder, at.loc,
                                      arith::AtomicRMWKind::ori, bit, listBits,
                                      ValueRange{index});
      });
  gpu::BarrierOp::create(builder, loc);
  auto ifWarp0 = scf::IfOp::create(
      builder, loc, emit.cmp(arith::CmpIPredicate::eq, warp, emit.index(0)),
      /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(ifWarp0.thenBlock());
    int64_t blocks = config.rowListBlocks;
    auto compact = scf::ForOp::create(
        builder, loc, emit.index(0), emit.index(blocks), emit.index(kWarpSize),
        ValueRange{emit.index(0)},
        [&](OpBuilder &nestedBuilder, Location nestedLoc, Value first,
            ValueRange kept) {
          KernelBuilder at(nestedBuilder, nestedLoc, emit.element);
          Value block = at.add(first, lane);
          Value listed =
              at.andI(at.lt(block, at.index(blocks)),
                      rowListsBlock(at, at.index(-1),
                                    at.min(block, at.index(blocks - 1))));
          Value rank = at.laneRank(lane, listed);
          Value total = at.ballotCount(listed);
          auto ifListed = scf::IfOp::create(nestedBuilder, nestedLoc, listed,
                                            /*withElseRegion=*/false);
          {
            OpBuilder::InsertionGuard inner(nestedBuilder);
            nestedBuilder.setInsertionPointToStart(ifListed.thenBlock());
            at.storeI32(block, list, {at.add(kept[0], rank)});
          }
          scf::YieldOp::create(nestedBuilder, nestedLoc,
                               ValueRange{at.add(kept[0], total)});
        });
    auto ifLane0 = scf::IfOp::create(
        builder, loc, emit.cmp(arith::CmpIPredicate::eq, lane, emit.index(0)),
        /*withElseRegion=*/false);
    builder.setInsertionPointToStart(ifLane0.thenBlock());
    emit.storeI32(compact.getResult(0), listCount, {emit.index(0)});
  }
  gpu::BarrierOp::create(builder, loc);
}

void AttentionKernel::setUpGroup(Value chunk, Value kvBlock) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  auto start = [&](Value buffer, Value j) {
    return emit.loadI32(buffer, {listBatchIndex, listHead, j});
  };
  Value next = emit.add(kvBlock, 1);
  Value firstPair = emit.add(
      start(operands.groupPairStarts, kvBlock),
      emit.mul(emit.sub(chunk, start(operands.groupChunkStarts, kvBlock)),
               config.blockQ));
  rowLimit =
      emit.min(emit.sub(start(operands.groupPairStarts, next), firstPair),
               emit.index(config.blockQ));
  queryStart = emit.index(0);
  groupKeysLo = emit.mul(kvBlock, config.listBlockKv);
  groupKeysHi =
      emit.min(emit.add(groupKeysLo, config.listBlockKv), operands.kvLen);
  // Each row's pair (rows past the chunk repeat its first), then the least
  // and greatest query by shared atomics.
  emit.ifThen(emit.eq(tid, emit.index(0)), [&] {
    emit.storeI32(emit.index(INT32_MAX), groupBounds, {emit.index(0)});
    emit.storeI32(emit.index(-1), groupBounds, {emit.index(1)});
  });
  gpu::BarrierOp::create(builder, loc);
  emit.forRange(
      tid, emit.index(config.blockQ), emit.index(config.threads()),
      [&](KernelBuilder &at, Value row) {
        OpBuilder &rowBuilder = at.builder;
        Location rowLoc = at.loc;
        Value inChunk = at.lt(row, rowLimit);
        Value pair = at.loadI32(
            operands.groupPairs,
            {listBatchIndex, listHead,
             at.add(firstPair, at.select(inChunk, row, at.index(0)))});
        Value query =
            arith::DivUIOp::create(rowBuilder, rowLoc, pair, operands.capacity);
        Value slot =
            arith::RemUIOp::create(rowBuilder, rowLoc, pair, operands.capacity);
        at.storeI32(query, groupQueries, {row});
        at.storeI32(slot, groupSlots, {row});
        Type i32 = rowBuilder.getI32Type();
        Value query32 =
            arith::IndexCastOp::create(rowBuilder, rowLoc, i32, query);
        for (auto [kind, index] : {std::pair{arith::AtomicRMWKind::mins, 0},
                                   std::pair{arith::AtomicRMWKind::maxs, 1}})
          memref::AtomicRMWOp::create(rowBuilder, rowLoc, kind, query32,
                                      groupBounds, ValueRange{at.index(index)});
      });
  gpu::BarrierOp::create(builder, loc);
}

Value AttentionKernel::groupSlot(KernelBuilder &at, Value row) {
  return at.loadI32(groupSlots, {at.min(row, at.index(config.blockQ - 1))});
}

Value AttentionKernel::rowListsBlock(KernelBuilder &at, Value listRow,
                                     Value block) {
  int64_t words = config.rowListWords();
  Value word =
      at.loadI32(listBits, {at.add(at.mul(at.add(listRow, at.index(1)), words),
                                   at.udiv(block, 32))});
  Value bit = arith::AndIOp::create(
      at.builder, at.loc,
      arith::ShRUIOp::create(at.builder, at.loc, word, at.urem(block, 32)),
      at.index(1));
  return at.cmp(arith::CmpIPredicate::ne, bit, at.index(0));
}

SmallVector<Value> AttentionKernel::threadRowsListed(KernelBuilder &at,
                                                     Value kvStart) {
  Value block = at.udiv(kvStart, config.listBlockKv);
  Value lastRow = at.sub(rowLimit, at.index(1));
  SmallVector<Value> listed;
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    Value row = at.min(threadRow(r), lastRow);
    listed.push_back(rowListsBlock(
        at, at.sub(at.udiv(row, config.listBlockQ), queryBlock), block));
  }
  return listed;
}

Value AttentionKernel::groupListsNone(KernelBuilder &at, Value kvStart) {
  Value block = at.udiv(kvStart, config.listBlockKv);
  int64_t rows = rowsPerGroup();
  Value groupStart = at.add(
      queryStart, at.mul(groupOfWarp(uniformWarp ? uniformWarp : warp), rows));
  Value lastRow = at.sub(rowLimit, at.index(1));
  Value any = arith::ConstantIntOp::create(at.builder, at.loc, 0, 1);
  for (int64_t first = 0; first < rows; first += kWarpSize) {
    // Lanes past the group's rows read its last row (their list row stays
    // inside the tile's bitmaps) and count for nothing.
    Value offset = at.add(lane, first);
    Value inGroup = at.lt(offset, at.index(rows));
    Value row = at.add(groupStart, at.min(offset, at.index(rows - 1)));
    inGroup = at.andI(inGroup, at.lt(row, rowLimit));
    Value listRow =
        at.sub(at.udiv(at.min(row, lastRow), config.listBlockQ), queryBlock);
    any = arith::OrIOp::create(
        at.builder, at.loc, any,
        at.andI(inGroup, rowListsBlock(at, listRow, block)));
  }
  return at.cmp(arith::CmpIPredicate::eq, at.ballotCount(any), at.index(0));
}

LogicalResult AttentionKernel::build() {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  gpu::KernelDim3 blockIds = launch.getBlockIds();
  gpu::KernelDim3 threadIds = launch.getThreadIds();
  tid = threadIds.x;
  warp = emit.udiv(tid, kWarpSize);
  if (testsTilesPerGroup()) {
    Type i32 = builder.getI32Type();
    Value word = arith::IndexCastOp::create(builder, loc, i32, warp);
    Value first =
        gpu::ShuffleOp::create(builder, loc, word, int32_t(0),
                               int32_t(kWarpSize), gpu::ShuffleMode::IDX)
            .getShuffleResult();
    uniformWarp =
        arith::IndexCastOp::create(builder, loc, builder.getIndexType(), first);
  }
  lane = emit.urem(tid, kWarpSize);
  group = emit.udiv(lane, 4);
  quad = emit.urem(lane, 4);
  setUpLanes();
  batch = blockIds.z;
  if (packed()) {
    // A block per kv head: its query heads' rows share the tile (`head`
    // is then per row, headAndQuery).
    kvHead = blockIds.y;
    head = nullptr;
    rowLimit = emit.index(config.packedQueries * config.groupSize);
  } else if (operands.headsPerBlock > 1) {
    // A block per `headsPerBlock` query heads of one kv head, in turn.
    head = emit.mul(blockIds.y, operands.headsPerBlock);
    kvHead = emit.udiv(head, operands.queryHeads / operands.kvHeads);
    rowLimit = operands.queryLen;
  } else {
    head = blockIds.y;
    kvHead = emit.udiv(head, operands.queryHeads / operands.kvHeads);
    rowLimit = operands.queryLen;
  }
  queryOffset = emit.index(0);
  setUpShared();
  // With the value columns sliced, block x is slice x % slices of block
  // x / slices of the grid without slices.
  Value blockX = blockIds.x;
  Value gridX = launch.getGridSize().x;
  valueFirstColumn = emit.index(0);
  if (config.valueSlices > 1) {
    valueFirstColumn =
        emit.mul(emit.urem(blockX, config.valueSlices), config.valueDim);
    blockX = emit.udiv(blockX, config.valueSlices);
    gridX = emit.udiv(gridX, config.valueSlices);
  }

  if (grouped()) {
    // Block x: chunk x of the list head's kv blocks' pairs; past the last
    // chunk, nothing (uniform over the block).
    setUpListHead();
    int64_t kvBlocks = config.rowListBlocks;
    Value chunks =
        emit.loadI32(operands.groupChunkStarts,
                     {listBatchIndex, listHead, emit.index(kvBlocks)});
    auto ifChunk = scf::IfOp::create(builder, loc, emit.lt(blockX, chunks),
                                     /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(ifChunk.thenBlock());
    // The kv block: the last whose chunks start at or before x (a binary
    // search over the kvBlocks + 1 starts; blocks without pairs have no
    // chunks and are passed over).
    Value lo = emit.index(0), hi = emit.index(kvBlocks);
    for (int64_t span = kvBlocks; span > 0; span /= 2) {
      Value mid = emit.udiv(emit.add(lo, hi), 2);
      Value start = emit.loadI32(operands.groupChunkStarts,
                                 {listBatchIndex, listHead, mid});
      Value atOrBefore = emit.cmp(arith::CmpIPredicate::sle, start, blockX);
      lo = emit.select(atOrBefore, mid, lo);
      hi = emit.select(atOrBefore, hi, mid);
    }
    setUpGroup(blockX, lo);
    if (failed(buildItem(ItemInput{})))
      return failure();
    asyncWait(builder, loc, 0);
    return success();
  }
  if (operands.splits) {
    // Block x: query tile x / splits, its keys' part x % splits.
    split = arith::RemUIOp::create(builder, loc, blockX, operands.splits);
    queryStart =
        emit.mul(arith::DivUIOp::create(builder, loc, blockX, operands.splits),
                 config.blockQ);
    if (failed(buildItem(ItemInput{})))
      return failure();
    asyncWait(builder, loc, 0);
    return success();
  }
  if (selectsTokens())
    return buildSelectedTokenItems(blockX);
  if (gathers()) {
    // Block x: query x / rowTiles, its tile x % rowTiles of the group's
    // query heads.
    Value rowTiles = emit.index(llvm::divideCeil(
        config.packedQueries * config.groupSize, config.blockQ));
    tokenQuery = arith::DivUIOp::create(builder, loc, blockX, rowTiles);
    queryStart = emit.mul(
        arith::RemUIOp::create(builder, loc, blockX, rowTiles), config.blockQ);
    if (failed(buildItem(ItemInput{})))
      return failure();
    asyncWait(builder, loc, 0);
    return success();
  }
  if (config.itemsPerBlock == 1 && operands.headsPerBlock > 1) {
    // One list, selected once, for the kv head's query heads in turn: each
    // head's item starts after every thread has left the previous one's
    // tiles.
    Value reversed = emit.sub(emit.sub(gridX, blockX), emit.index(1));
    queryStart = emit.mul(reversed, config.blockQ);
    setUpList();
    Value firstHead = head;
    bool failedItem = false;
    emit.forRange(emit.index(0), emit.index(operands.headsPerBlock),
                  emit.index(1), [&](KernelBuilder &at, Value turn) {
                    gpu::BarrierOp::create(at.builder, at.loc);
                    head = at.add(firstHead, turn);
                    // (`at` builds with the launch's builder: buildItem's
                    // ops land in the loop.)
                    failedItem |= failed(buildItem(ItemInput{}));
                    asyncWait(at.builder, at.loc, 0);
                  });
    return failure(failedItem);
  }
  if (config.itemsPerBlock == 1) {
    // Later query tiles usually list more kv blocks (causal masks): they
    // start first, so the last wave is of short tiles.
    Value reversed = emit.sub(emit.sub(gridX, blockX), emit.index(1));
    queryStart = emit.mul(reversed, config.blockQ);
    if (failed(buildItem(ItemInput{})))
      return failure();
    // An empty list never waited for Q; nothing reads it then, but no copy
    // may be left in flight when the block exits.
    asyncWait(builder, loc, 0);
    return success();
  }

  // Query tiles j = x, x + gridDim.x, ... (of at most itemsPerBlock) in turn,
  // tile j being query tile queryTiles - 1 - j (the long ones of a causal
  // mask first). Carried: the stage of the next item's first kv tile, and
  // whether the last kv tile issued the next item's Q and first kv tile.
  Value queryTiles =
      emit.udiv(emit.add(rowLimit, config.blockQ - 1), config.blockQ);
  Value falseValue = arith::ConstantIntOp::create(builder, loc, 0, 1);
  bool failedItem = false;
  auto items = scf::ForOp::create(
      builder, loc, emit.index(0), emit.index(config.itemsPerBlock),
      emit.index(1), ValueRange{emit.index(0), falseValue, falseValue},
      [&](OpBuilder &itemBuilder, Location itemLoc, Value turn,
          ValueRange carried) {
        KernelBuilder itemEmit(itemBuilder, itemLoc, emit.element);
        Value item = itemEmit.add(blockX, itemEmit.mul(turn, gridX));
        auto ifActive =
            scf::IfOp::create(itemBuilder, itemLoc, carried.getTypes(),
                              itemEmit.lt(item, queryTiles),
                              /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard guard(itemBuilder);
          itemBuilder.setInsertionPointToStart(ifActive.thenBlock());
          auto tileOf = [&](Value j) {
            return itemEmit.mul(
                itemEmit.sub(itemEmit.sub(queryTiles, itemEmit.index(1)), j),
                config.blockQ);
          };
          Value nextItem = itemEmit.add(item, gridX);
          ItemInput input;
          input.stageBase = carried[0];
          input.queryIssued = carried[1];
          input.firstFetched = carried[2];
          input.nextExists = arith::AndIOp::create(
              itemBuilder, itemLoc,
              itemEmit.lt(itemEmit.add(turn, 1),
                          itemEmit.index(config.itemsPerBlock)),
              itemEmit.lt(nextItem, queryTiles));
          input.nextQueryStart = tileOf(nextItem);
          Value buffer = itemEmit.urem(turn, 2);
          input.nextQueryOffset = itemEmit.mul(
              itemEmit.sub(itemEmit.index(1), buffer), config.queryBytes());
          queryStart = tileOf(item);
          queryOffset = itemEmit.mul(buffer, config.queryBytes());
          FailureOr<ItemOutput> output = buildItem(input);
          if (failed(output)) {
            failedItem = true;
            scf::YieldOp::create(itemBuilder, itemLoc, carried);
          } else {
            scf::YieldOp::create(itemBuilder, itemLoc,
                                 ValueRange{output->nextStageBase,
                                            output->nextIssued,
                                            output->nextFirstFetched});
          }
          itemBuilder.setInsertionPointToStart(ifActive.elseBlock());
          scf::YieldOp::create(itemBuilder, itemLoc, carried);
        }
        scf::YieldOp::create(itemBuilder, itemLoc, ifActive.getResults());
      });
  (void)items;
  if (failedItem)
    return failure();
  asyncWait(builder, loc, 0);
  return success();
}

void AttentionKernel::asyncWait(OpBuilder &builder, Location loc,
                                int32_t pending) {
  KernelBuilder(builder, loc, emit.element).asyncWait(pending);
}

void AttentionKernel::issueQuery(Value start) {
  SmallVector<Value> queryTokens;
  copyRows(operands.query, head, querySlot(), start, rowLimit, config.blockQ,
           config.headDim, queryTokens,
           packed() || grouped()
               ? function_ref<std::pair<Value, Value>(KernelBuilder &, Value)>(
                     [&](KernelBuilder &rowEmit, Value row) {
                       return headAndQuery(rowEmit, row);
                     })
               : nullptr);
  nvgpu::DeviceAsyncCreateGroupOp::create(
      emit.builder, emit.loc,
      nvgpu::DeviceAsyncTokenType::get(emit.builder.getContext()),
      ValueRange{});
}

std::pair<Value, Value>
AttentionKernel::firstTileStart(KernelBuilder &nestedEmit) {
  // Row lists: the union's first block is known once it is built.
  if (rowLists())
    return {
        arith::ConstantIntOp::create(nestedEmit.builder, nestedEmit.loc, 0, 1),
        nestedEmit.index(0)};
  if (!usesLists())
    return {nestedEmit.lt(nestedEmit.index(0), listEntries),
            nestedEmit.mul(
                kvPrefixTiles
                    ? nestedEmit.select(
                          nestedEmit.lt(nestedEmit.index(0), kvPrefixTiles),
                          kvPrefixFirstTile, kvFirstTile)
                    : kvFirstTile,
                config.blockKv)};
  Value any = nestedEmit.lt(nestedEmit.index(0),
                            nestedEmit.add(fullEntries, listEntries));
  auto ifAny = scf::IfOp::create(nestedEmit.builder, nestedEmit.loc,
                                 TypeRange{nestedEmit.builder.getI1Type(),
                                           nestedEmit.builder.getIndexType()},
                                 any, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(nestedEmit.builder);
  nestedEmit.builder.setInsertionPointToStart(ifAny.thenBlock());
  Value first = listEntry(nestedEmit, nestedEmit.index(0));
  Value inRange = namesKvBlock(nestedEmit, first);
  scf::YieldOp::create(
      nestedEmit.builder, nestedEmit.loc,
      ValueRange{inRange, nestedEmit.mul(first, config.listBlockKv)});
  nestedEmit.builder.setInsertionPointToStart(ifAny.elseBlock());
  scf::YieldOp::create(nestedEmit.builder, nestedEmit.loc,
                       ValueRange{any, nestedEmit.index(0)});
  return {ifAny.getResult(0), ifAny.getResult(1)};
}

FailureOr<AttentionKernel::ItemOutput>
AttentionKernel::buildItem(const ItemInput &input) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Value trueValue = arith::ConstantIntOp::create(builder, loc, 1, 1);
  auto negate = [&](Value x) {
    return arith::XOrIOp::create(builder, loc, x, trueValue).getResult();
  };
  // The stage of the item's kv tile `tile`.
  auto stageOf = [&](KernelBuilder &stageEmit, Value tile) {
    return stageEmit.urem(
        input.stageBase ? stageEmit.add(tile, input.stageBase) : tile, 2);
  };

  // Q (its own copy group), the list, then the kv tiles.
  if (!input.queryIssued)
    issueQuery(queryStart);
  else
    emit.ifThen(negate(input.queryIssued), [&] { issueQuery(queryStart); });
  setUpList();
  // The list's first slot, when in range, is its first block whatever the
  // rest holds: its tile is fetched before the list is vetted (here, or by
  // the block's previous item).
  Value firstFetched = input.firstFetched;
  if (config.stages == 2) {
    Value fetchNow =
        input.firstFetched ? negate(input.firstFetched) : trueValue;
    auto ifFetch = scf::IfOp::create(builder, loc, builder.getI1Type(),
                                     fetchNow, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifFetch.thenBlock());
      auto [inRange, first] = firstTileStart(emit);
      emit.ifThen(inRange,
                  [&] { loadKvTile(first, stageOf(emit, emit.index(0))); });
      scf::YieldOp::create(builder, loc, inRange);
      builder.setInsertionPointToStart(ifFetch.elseBlock());
      scf::YieldOp::create(builder, loc, trueValue);
    }
    firstFetched = ifFetch.getResult(0);
  }
  buildList();
  Value blocks =
      usesLists() ? emit.loadI32(listCount, {emit.index(0)}) : listEntries;
  Value fullBlocks = operands.fullBlockIndices
                         ? emit.loadI32(listCount, {emit.index(1)})
                         : Value();
  // Without lists a "block" is a kv tile (for `attention` listBlockKv ==
  // blockKv; grouped row lists walk kv tiles too).
  int64_t subTiles = usesLists() ? config.listBlockKv / config.blockKv : 1;
  Value tiles = emit.mul(blocks, subTiles);
  // Columns: after the blocks' tiles, ceil(columns / blockKv) tiles of
  // column slots (`tileStart` is then the tile's first slot).
  Value blockTiles = tiles;
  auto isColumnTile = [&](KernelBuilder &tileEmit, Value tile) -> Value {
    return hasColumns()
               ? tileEmit.cmp(arith::CmpIPredicate::sge, tile, blockTiles)
               : Value();
  };
  if (hasColumns())
    tiles =
        emit.add(tiles, emit.udiv(emit.add(columnEntries, config.blockKv - 1),
                                  config.blockKv));
  Value firstTile = kvFirstTile, prefixTiles = kvPrefixTiles,
        prefixFirstTile = kvPrefixFirstTile;
  auto tileStart = [&](KernelBuilder &tileEmit, Value tile) {
    if (!usesLists() && !prefixTiles)
      return tileEmit.mul(tileEmit.add(firstTile, tile), config.blockKv);
    if (!usesLists())
      return tileEmit.mul(
          tileEmit.select(
              tileEmit.lt(tile, prefixTiles),
              tileEmit.add(prefixFirstTile, tile),
              tileEmit.add(firstTile, tileEmit.sub(tile, prefixTiles))),
          config.blockKv);
    Value columnTile = isColumnTile(tileEmit, tile);
    Value blockTile = columnTile
                          ? tileEmit.select(columnTile, tileEmit.index(0), tile)
                          : tile;
    Value block = tileEmit.loadI32(list, {tileEmit.udiv(blockTile, subTiles)});
    Value start = tileEmit.add(
        tileEmit.mul(block, config.listBlockKv),
        tileEmit.mul(tileEmit.urem(blockTile, subTiles), config.blockKv));
    if (!columnTile)
      return start;
    return tileEmit.select(
        columnTile,
        tileEmit.mul(tileEmit.sub(tile, blockTiles), config.blockKv), start);
  };

  // The next item's first kv tile, read now (its loads' latency hides
  // behind this item's tiles); its count and list are vetted in its turn.
  Value nextFirstInRange, nextFirst;
  if (input.nextExists) {
    auto ifNext = scf::IfOp::create(
        builder, loc, TypeRange{builder.getI1Type(), builder.getIndexType()},
        input.nextExists, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifNext.thenBlock());
      // setUpList's values for the next item live in this region only.
      std::array<Value *, 9> place = {
          &queryStart,  &listBatchIndex, &listHead,
          &queryBlock,  &listEntries,    &fullEntries,
          &kvFirstTile, &kvPrefixTiles,  &kvPrefixFirstTile};
      std::array<Value, 9> saved;
      for (auto [slot, value] : llvm::zip_equal(saved, place))
        slot = *value;
      SegmentBounds savedSegments = segments;
      queryStart = input.nextQueryStart;
      setUpList();
      auto [inRange, first] = firstTileStart(emit);
      for (auto [slot, value] : llvm::zip_equal(saved, place))
        *value = slot;
      segments = savedSegments;
      scf::YieldOp::create(builder, loc, ValueRange{inRange, first});
      builder.setInsertionPointToStart(ifNext.elseBlock());
      scf::YieldOp::create(
          builder, loc,
          ValueRange{
              arith::ConstantIntOp::create(builder, loc, 0, 1).getResult(),
              emit.index(0)});
    }
    nextFirstInRange = ifNext.getResult(0);
    nextFirst = ifNext.getResult(1);
  }

  State initial;
  for (int64_t r = 0; r < rowsPerThread(); ++r) {
    initial.rowMax.push_back(emit.f32(-INFINITY));
    initial.rowSum.push_back(emit.f32(0.0));
  }
  initial.acc.assign(config.rowTiles * accPerRowTile(), emit.f32(0.0));

  if (config.stages == 2) {
    // Prefetch the first tile; each iteration then waits for its tile and
    // issues the next one before its own math.
    Value fetch = arith::AndIOp::create(
        builder, loc, emit.lt(emit.index(0), tiles), negate(firstFetched));
    emit.ifThen(fetch, [&] {
      loadKvTile(tileStart(emit, emit.index(0)), stageOf(emit, emit.index(0)),
                 isColumnTile(emit, emit.index(0)));
    });
  }
  bool failedTile = false;
  auto loop = scf::ForOp::create(
      builder, loc, emit.index(0), tiles, emit.index(1), values(initial),
      [&](OpBuilder &loopBuilder, Location loopLoc, Value tile,
          ValueRange args) {
        KernelBuilder loopEmit(loopBuilder, loopLoc, emit.element);
        Value stage =
            config.stages == 2 ? stageOf(loopEmit, tile) : loopEmit.index(0);
        Value kvStart = tileStart(loopEmit, tile);
        // The tile's first and last key ids, read before the wait so that
        // their latency hides behind it.
        SegmentBounds tileSegments;
        if (readsSegments())
          tileSegments = tileSegmentBounds(loopEmit, kvStart);
        const SegmentBounds *tileSegmentsOrNull =
            readsSegments() ? &tileSegments : nullptr;
        Value columnTile = isColumnTile(loopEmit, tile);
        if (config.stages == 1) {
          gpu::BarrierOp::create(loopBuilder, loopLoc);
          loadKvTile(kvStart, stage, columnTile);
        }
        asyncWait(loopBuilder, loopLoc, 0);
        fenceCopiesForMma(loopBuilder, loopLoc);
        gpu::BarrierOp::create(loopBuilder, loopLoc);
        if (config.stages == 2) {
          Value nextTile = loopEmit.add(tile, 1);
          auto ifNext = scf::IfOp::create(
              loopBuilder, loopLoc, loopEmit.lt(nextTile, tiles),
              /*withElseRegion=*/static_cast<bool>(input.nextExists));
          OpBuilder::InsertionGuard guard(loopBuilder);
          loopBuilder.setInsertionPointToStart(ifNext.thenBlock());
          KernelBuilder nestedEmit(loopBuilder, loopLoc, emit.element);
          loadKvTile(tileStart(nestedEmit, nextTile),
                     stageOf(nestedEmit, nextTile),
                     isColumnTile(nestedEmit, nextTile));
          if (input.nextExists) {
            // The last tile: the next item's Q (the other buffer) and its
            // first kv tile (the stage after this one) go in flight now.
            loopBuilder.setInsertionPointToStart(ifNext.elseBlock());
            auto ifItem =
                scf::IfOp::create(loopBuilder, loopLoc, input.nextExists,
                                  /*withElseRegion=*/false);
            loopBuilder.setInsertionPointToStart(ifItem.thenBlock());
            Value saved = queryOffset;
            queryOffset = input.nextQueryOffset;
            issueQuery(input.nextQueryStart);
            queryOffset = saved;
            auto ifFirst =
                scf::IfOp::create(loopBuilder, loopLoc, nextFirstInRange,
                                  /*withElseRegion=*/false);
            loopBuilder.setInsertionPointToStart(ifFirst.thenBlock());
            loadKvTile(nextFirst, stageOf(nestedEmit, tiles));
          }
        }
        Value listedFull =
            fullBlocks ? loopEmit.lt(loopEmit.udiv(tile, subTiles), fullBlocks)
                       : Value();
        // A tile that contributes nothing to this group's rows (the masked
        // quarter of a band's edge block, keys past the end) is skipped: its
        // products too, under a branch uniform over the group.
        scf::IfOp ifSkip;
        Value skipped =
            tileSkipped(loopEmit, kvStart, listedFull, tileSegmentsOrNull);
        if (skipped && columnTile) {
          // (A column tile's slots name keys anywhere: never skipped.)
          skipped =
              loopEmit.andI(skipped, loopEmit.cmp(arith::CmpIPredicate::slt,
                                                  tile, blockTiles));
        }
        if (skipped) {
          ifSkip = scf::IfOp::create(loopBuilder, loopLoc, args.getTypes(),
                                     skipped, /*withElseRegion=*/true);
          loopBuilder.setInsertionPointToStart(ifSkip.thenBlock());
          scf::YieldOp::create(loopBuilder, loopLoc, args);
          loopBuilder.setInsertionPointToStart(ifSkip.elseBlock());
        }
        FailureOr<State> updated =
            processTile(kvStart, stage, listedFull, tileSegmentsOrNull,
                        fromValues(args), columnTile);
        failedTile |= failed(updated);
        scf::YieldOp::create(loopBuilder, loopLoc,
                             succeeded(updated) ? values(*updated)
                                                : SmallVector<Value>(args));
        if (ifSkip) {
          loopBuilder.setInsertionPointAfter(ifSkip);
          scf::YieldOp::create(loopBuilder, loopLoc, ifSkip.getResults());
        }
      });
  if (failedTile)
    return failure();
  ItemOutput output;
  if (input.nextExists) {
    // An empty list never waited for this item's Q, which a later item's
    // copy into the same buffer must not race.
    emit.ifThen(emit.cmp(arith::CmpIPredicate::eq, tiles, emit.index(0)),
                [&] { asyncWait(builder, loc, 0); });
    Value any = emit.lt(emit.index(0), tiles);
    output.nextStageBase = stageOf(emit, tiles);
    output.nextIssued =
        arith::AndIOp::create(builder, loc, input.nextExists, any);
    output.nextFirstFetched = arith::AndIOp::create(
        builder, loc, output.nextIssued, nextFirstInRange);
  }
  writeResults(fromValues(loop.getResults()));
  return output;
}
