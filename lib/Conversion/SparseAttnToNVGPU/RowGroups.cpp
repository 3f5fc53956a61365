//===- RowGroups.cpp - per-token lists grouped by kv block ----------------===//
//
// The grouping launch of lists finer than a query tile (RowGroups.h). One
// block per list head and list batch: two passes over the rows' slots with
// shared-memory counters (count, then place), a serial scan between them
// (one counter per kv block: MoBA's 64).
//
//===----------------------------------------------------------------------===//

#include "RowGroups.h"

#include "KernelBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

constexpr int64_t kThreads = 512;

} // namespace

RowGroupBuffers sparse_attn::buildRowGroupsLaunch(
    OpBuilder &builder, Location loc, Value numBlocks, Value blockIndices,
    Value listBatch, Value listHeads, Value queryLen, Value capacity,
    int64_t kvBlocks, int64_t chunkRows) {
  IndexArith host(builder, loc);
  Type i32 = builder.getI32Type();
  int64_t dynamic = ShapedType::kDynamic;
  auto type = MemRefType::get({dynamic, dynamic, dynamic}, i32);
  RowGroupBuffers buffers;
  buffers.pairs = memref::AllocOp::create(
      builder, loc, type,
      ValueRange{listBatch, listHeads, host.mul(queryLen, capacity)});
  Value starts = host.index(kvBlocks + 1);
  buffers.pairStarts = memref::AllocOp::create(
      builder, loc, type, ValueRange{listBatch, listHeads, starts});
  buffers.chunkStarts = memref::AllocOp::create(
      builder, loc, type, ValueRange{listBatch, listHeads, starts});
  Value one = host.index(1);
  auto launch = gpu::LaunchOp::create(
      builder, loc, listHeads, listBatch, one, host.index(kThreads), one, one,
      arith::ConstantIntOp::create(builder, loc, 4 * kvBlocks, 32));
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&launch.getBody().front());
  KernelBuilder emit(builder, loc, i32);
  Value tid = launch.getThreadIds().x;
  Value head = launch.getBlockIds().x, batch = launch.getBlockIds().y;
  Value counters = emit.sharedView(emit.dynamicSharedMemory(), emit.index(0),
                                   {kvBlocks}, i32);
  Value threads = emit.index(kThreads);
  emit.forRange(tid, emit.index(kvBlocks), threads,
                [&](KernelBuilder &at, Value j) {
                  at.storeI32(at.index(0), counters, {j});
                });
  gpu::BarrierOp::create(builder, loc);

  // Each pair of the list head's rows, a thread per row: a slot below the
  // clamped count, naming a kv block in range that no earlier slot names.
  auto forEachPair =
      [&](function_ref<void(KernelBuilder &, Value, Value, Value)> body) {
        emit.forRange(
            tid, queryLen, threads, [&](KernelBuilder &at, Value row) {
              Value count =
                  at.min(at.max(at.loadI32(numBlocks, {batch, head, row}),
                                at.index(0)),
                         capacity);
              at.forRange(
                  at.index(0), count, at.index(1),
                  [&](KernelBuilder &slotAt, Value slot) {
                    Value block =
                        slotAt.loadI32(blockIndices, {batch, head, row, slot});
                    Value inRange =
                        slotAt.andI(slotAt.cmp(arith::CmpIPredicate::sge, block,
                                               slotAt.index(0)),
                                    slotAt.lt(block, slotAt.index(kvBlocks)));
                    Value earlier = slotAt.repeatsEarlier(
                        slot, block, [&](KernelBuilder &scan, Value t) {
                          return scan.loadI32(blockIndices,
                                              {batch, head, row, t});
                        });
                    slotAt.ifThen(slotAt.andI(inRange, slotAt.notI(earlier)),
                                  [&] { body(slotAt, row, slot, block); });
                  });
            });
      };
  auto addOne = [&](KernelBuilder &at, Value block) -> Value {
    Value old = memref::AtomicRMWOp::create(
        at.builder, at.loc, arith::AtomicRMWKind::addi,
        arith::ConstantIntOp::create(at.builder, at.loc, 1, 32), counters,
        ValueRange{block});
    return arith::IndexCastOp::create(at.builder, at.loc,
                                      at.builder.getIndexType(), old);
  };
  forEachPair(
      [&](KernelBuilder &at, Value, Value, Value block) { addOne(at, block); });
  gpu::BarrierOp::create(builder, loc);

  // Thread 0 scans the counts into the starts; the counters become each kv
  // block's cursor.
  emit.ifThen(emit.eq(tid, emit.index(0)), [&] {
    auto scan = scf::ForOp::create(
        builder, loc, emit.index(0), emit.index(kvBlocks), emit.index(1),
        ValueRange{emit.index(0), emit.index(0)},
        [&](OpBuilder &loopBuilder, Location loopLoc, Value j, ValueRange run) {
          KernelBuilder at(loopBuilder, loopLoc, emit.element);
          Value count = at.loadI32(counters, {j});
          at.storeI32(run[0], buffers.pairStarts, {batch, head, j});
          at.storeI32(run[1], buffers.chunkStarts, {batch, head, j});
          at.storeI32(run[0], counters, {j});
          scf::YieldOp::create(
              loopBuilder, loopLoc,
              ValueRange{at.add(run[0], count),
                         at.add(run[1], at.udiv(at.add(count, chunkRows - 1),
                                                chunkRows))});
        });
    Value last = emit.index(kvBlocks);
    emit.storeI32(scan.getResult(0), buffers.pairStarts, {batch, head, last});
    emit.storeI32(scan.getResult(1), buffers.chunkStarts, {batch, head, last});
  });
  gpu::BarrierOp::create(builder, loc);
  forEachPair([&](KernelBuilder &at, Value row, Value slot, Value block) {
    at.storeI32(at.add(at.mul(row, capacity), slot), buffers.pairs,
                {batch, head, addOne(at, block)});
  });
  gpu::TerminatorOp::create(builder, loc);
  return buffers;
}
