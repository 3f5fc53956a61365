//===- SegmentBounds.cpp - what the kernel knows of segment ids -----------===//
//
// The launch before a tensor-core kernel whose mask reads segment ids. The
// kernel trusts the document key ranges and the tile tests only for a batch
// whose key ids this launch found sorted; every pair is still compared, so
// unsorted or negative ids stay exact (just slower).
//
//===----------------------------------------------------------------------===//

#include "SegmentBounds.h"

#include "KernelBuilder.h"
#include "KernelConfig.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

constexpr int64_t kThreads = 256;
constexpr int64_t kTilesPerBlock = kThreads / kWarpSize;
constexpr int64_t kPairsPerThread = 8;
static_assert(kChunkPairs == kThreads * kPairsPerThread,
              "an order-check block takes one chunk");

/// Block-wide: whether the key ids never decrease over the pairs (j, j + 1)
/// with j in chunk `chunk` (kChunkPairs of them, kPairsPerThread per
/// thread, their loads independent), into sorted[batch, chunk]. The
/// threads clear a shared flag (atomically); thread 0 writes it out.
void buildSortedCheck(KernelBuilder &emit, Value tid, Value batch,
                      Value chunk, Value ids, Value kvLen, Value sorted) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Value shared = emit.dynamicSharedMemory();
  Value flag = memref::ViewOp::create(
      builder, loc,
      MemRefType::get({1}, builder.getI32Type(), MemRefLayoutAttrInterface{},
                      cast<MemRefType>(shared.getType()).getMemorySpace()),
      shared, emit.index(0), ValueRange{});
  Value first = emit.eq(tid, emit.index(0));
  emit.ifThen(first,
         [&] { emit.storeI32(emit.index(1), flag, {emit.index(0)}); });
  gpu::BarrierOp::create(builder, loc);
  // Pairs j = chunk * kChunkPairs + tid + e * kThreads: each load is
  // coalesced over the block.
  Value lastKey = emit.sub(kvLen, emit.index(1));
  Value base = emit.add(emit.mul(chunk, kChunkPairs), tid);
  Value descent;
  for (int64_t e = 0; e < kPairsPerThread; ++e) {
    Value key = emit.add(base, e * kThreads);
    Value inside = emit.lt(key, lastKey);
    Value here = emit.loadI32(ids, {batch, emit.min(key, lastKey)});
    Value next = emit.loadI32(
        ids, {batch, emit.min(emit.add(key, 1), lastKey)});
    Value down = emit.andI(inside, emit.lt(next, here));
    descent = descent ? emit.orI(descent, down) : down;
  }
  emit.ifThen(descent, [&] {
    memref::AtomicRMWOp::create(
        builder, loc, arith::AtomicRMWKind::mins,
        arith::ConstantIntOp::create(builder, loc, 0, 32), flag,
        ValueRange{emit.index(0)});
  });
  gpu::BarrierOp::create(builder, loc);
  emit.ifThen(first, [&] {
    emit.storeI32(emit.loadI32(flag, {emit.index(0)}), sorted,
                  {batch, chunk});
  });
}

/// The first key whose id is at least `least` and the first whose id
/// exceeds `greatest`, assuming sorted ids: two searches in step over the
/// warp. Each keeps [lo, hi] holding its answer (the keys before lo satisfy
/// its predicate; hi is kvLen or a key that does not); a round probes 32
/// keys `step` apart, and sorted ids make the satisfied probes a prefix,
/// whose length (a ballot) moves lo. Unsorted ids end the searches too.
std::pair<Value, Value> searchKeyRange(KernelBuilder &emit, Value lane,
                                       Value batch, Value ids, Value kvLen,
                                       Value least, Value greatest) {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Type index = builder.getIndexType();
  Value zero = emit.index(0);
  Value lastKey = emit.sub(kvLen, emit.index(1));
  auto whileOp = scf::WhileOp::create(
      builder, loc, TypeRange{index, index, index, index},
      ValueRange{zero, kvLen, zero, kvLen},
      [&](OpBuilder &beforeBuilder, Location beforeLoc, ValueRange range) {
        IndexArith before(beforeBuilder, beforeLoc);
        Value open = before.orI(before.lt(range[0], range[1]),
                                before.lt(range[2], range[3]));
        scf::ConditionOp::create(beforeBuilder, beforeLoc, open, range);
      },
      [&](OpBuilder &afterBuilder, Location afterLoc, ValueRange range) {
        KernelBuilder round(afterBuilder, afterLoc, emit.element);
        SmallVector<Value> next;
        for (int search = 0; search < 2; ++search) {
          Value lo = range[2 * search], hi = range[2 * search + 1];
          Value step = round.max(
              round.udiv(round.add(round.sub(hi, lo), kWarpSize - 1),
                         kWarpSize),
              round.index(1));
          Value probe = round.sub(
              round.add(lo, round.mul(round.add(lane, 1), step)),
              round.index(1));
          Value id =
              round.loadI32(ids, {batch, round.min(probe, lastKey)});
          Value before = search == 0 ? round.lt(id, least)
                                     : round.le(id, greatest);
          Value count =
              round.ballotCount(round.andI(round.lt(probe, hi), before));
          Value newLo = round.add(lo, round.mul(count, step));
          next.push_back(newLo);
          next.push_back(round.min(
              hi, round.sub(round.add(newLo, step), round.index(1))));
        }
        scf::YieldOp::create(afterBuilder, afterLoc, next);
      });
  return {whileOp.getResult(0), whileOp.getResult(2)};
}

} // namespace

Value sparse_attn::getSortedChunks(OpBuilder &builder, Location loc,
                                   Value kvLen) {
  IndexArith arith(builder, loc);
  // The pairs (j, j + 1) for j < kvLen - 1, in chunks.
  Value pairs = arith.max(arith.sub(kvLen, arith.index(1)), arith.index(0));
  return arith.udiv(arith.add(pairs, kChunkPairs - 1), kChunkPairs);
}

Value sparse_attn::buildKeysSortedFlag(KernelBuilder &emit, Value lane,
                                      Value batch, Value keysSorted,
                                      Value kvLen) {
  // Each lane ands its chunks' flags, a ballot the lanes'.
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  Value chunks = getSortedChunks(builder, loc, kvLen);
  auto loop = scf::ForOp::create(
      builder, loc, lane, chunks, emit.index(kWarpSize),
      ValueRange{emit.boolean(true)},
      [&](OpBuilder &loopBuilder, Location loopLoc, Value chunk,
          ValueRange carried) {
        KernelBuilder loopEmit(loopBuilder, loopLoc, emit.element);
        Value flag = loopEmit.loadI32(keysSorted, {batch, chunk});
        scf::YieldOp::create(
            loopBuilder, loopLoc,
            loopEmit.andI(carried[0], loopEmit.cmp(arith::CmpIPredicate::ne,
                                                   flag, loopEmit.index(0))));
      });
  return emit.eq(emit.ballotCount(loop.getResult(0)), emit.index(kWarpSize));
}

SegmentBoundsBuffers sparse_attn::buildSegmentBoundsLaunch(
    OpBuilder &builder, Location loc, Value idsQ, Value idsKv, Value batch,
    Value queryLen, Value kvLen, int64_t blockQ) {
  IndexArith host(builder, loc);
  Type i32 = builder.getI32Type();
  Value queryTiles = host.udiv(host.add(queryLen, blockQ - 1), blockQ);
  SegmentBoundsBuffers buffers;
  Value chunks = getSortedChunks(builder, loc, kvLen);
  buffers.keysSorted = memref::AllocOp::create(
      builder, loc,
      MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic}, i32),
      ValueRange{batch, chunks});
  buffers.tileBounds = memref::AllocOp::create(
      builder, loc,
      MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic, 4}, i32),
      ValueRange{batch, queryTiles});
  Value tileBlocks =
      host.udiv(host.add(queryTiles, kTilesPerBlock - 1), kTilesPerBlock);
  Value one = host.index(1);
  auto launch = gpu::LaunchOp::create(
      builder, loc, host.add(tileBlocks, chunks), batch, one,
      host.index(kThreads), one, one,
      arith::ConstantIntOp::create(builder, loc, 4, 32));
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  KernelBuilder emit(builder, loc, i32);
  Value tid = launch.getThreadIds().x;
  Value block = launch.getBlockIds().x, b = launch.getBlockIds().y;
  // The first blocks of each batch bound eight query tiles each, the others
  // check the order of a chunk of keys each. The branch is uniform over the
  // block.
  auto ifOrder = scf::IfOp::create(
      builder, loc, emit.cmp(arith::CmpIPredicate::uge, block, tileBlocks),
      /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard inner(builder);
    builder.setInsertionPointToStart(ifOrder.thenBlock());
    buildSortedCheck(emit, tid, b, emit.sub(block, tileBlocks), idsKv, kvLen,
                     buffers.keysSorted);
    builder.setInsertionPointToStart(ifOrder.elseBlock());
    Value lane = emit.urem(tid, kWarpSize);
    Value tile = emit.add(emit.mul(block, kTilesPerBlock),
                          emit.udiv(tid, kWarpSize));
    emit.ifThen(emit.lt(tile, queryTiles), [&] {
      // The ids of the tile's rows, 32 a round over the lanes; a row past
      // the tile or the queries reads the tile's last row.
      Value firstRow = emit.mul(tile, blockQ);
      Value lastQuery = emit.sub(
          emit.min(emit.add(firstRow, blockQ), queryLen), emit.index(1));
      Value least, greatest;
      for (int64_t first = 0; first < blockQ; first += kWarpSize) {
        Value row = emit.min(emit.add(firstRow, emit.add(lane, first)),
                             lastQuery);
        Value id = emit.loadI32(idsQ, {b, row});
        least = least ? emit.min(least, id) : id;
        greatest = greatest ? emit.max(greatest, id) : id;
      }
      least = emit.warpReduceI32(
          least, [&](Value x, Value y) { return emit.min(x, y); });
      greatest = emit.warpReduceI32(
          greatest, [&](Value x, Value y) { return emit.max(x, y); });
      auto [lo, hi] =
          searchKeyRange(emit, lane, b, idsKv, kvLen, least, greatest);
      emit.ifThen(emit.eq(lane, emit.index(0)), [&] {
        for (auto [slot, value] : llvm::enumerate(
                 SmallVector<Value>{least, greatest, lo, hi}))
          emit.storeI32(value, buffers.tileBounds,
                        {b, tile, emit.index(slot)});
      });
    });
  }
  gpu::TerminatorOp::create(builder, loc);
  return buffers;
}
