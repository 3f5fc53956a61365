//===- FusedSelection.cpp - a block selects its own list ------------------===//
//
// fused_block_sparse_attention on the attention kernel: before its walk,
// each block computes its query block's row of block scores and selects
// from it, all in shared memory (the scores and lists of the unfused chain
// never reach global memory):
//   1. the block's threads sum the query block's pooled rows over the
//      list's heads (one head, or the GQA group's: the scores' sum over
//      heads is a sum of dots with one kv row, so one dot with the summed
//      row gives it);
//   2. with a score mask, warp 0 classifies the kv blocks (block_mask's
//      tile tests, classifyKvBlock): unoccupied pairs score -inf;
//   3. each thread takes kv blocks in turn: the dot of the summed row with
//      the pooled key row (16-byte loads, two accumulators), scaled, as an
//      ordered key (0 for -inf, NaN and unoccupied blocks);
//   4. warp 0 selects (RowSelection.h: select_topk's or select_threshold's
//      rule) and writes the list, ascending, and its count.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernel.h"
#include "BlockMaskKernel.h"
#include "SegmentBounds.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::sparse_attn;

void AttentionKernel::selectList() {
  OpBuilder &builder = emit.builder;
  Location loc = emit.loc;
  const FusedSelection &selection = operands.selection;
  Type f32 = builder.getF32Type();
  Type i32 = builder.getI32Type();
  int64_t dim = selection.pooledDim;
  Value blocks = emit.index(selection.kvBlocks);
  Value threads = emit.index(config.threads());
  // The query heads whose scores the list sums: the block's own, or its
  // GQA group's (list_heads = Hkv).
  int64_t groupHeads = operands.listHeads == operands.queryHeads
                           ? 1
                           : operands.queryHeads / operands.kvHeads;
  Value firstHead = groupHeads == 1 ? head : emit.mul(listHead, groupHeads);
  auto toF32 = [&](KernelBuilder &at, Value x) -> Value {
    Type type = x.getType();
    Type want = f32;
    if (auto vector = dyn_cast<VectorType>(type))
      want = VectorType::get(vector.getShape(), f32);
    return type == want ? x
                        : arith::ExtFOp::create(at.builder, at.loc, want, x);
  };

  // 1. The summed pooled query row.
  emit.forRange(tid, emit.index(dim), threads, [&](KernelBuilder &at, Value d) {
    Value sum =
        scf::ForOp::create(
            at.builder, at.loc, at.index(0), at.index(groupHeads), at.index(1),
            ValueRange{at.f32(0.0)},
            [&](OpBuilder &b, Location l, Value h, ValueRange carried) {
              KernelBuilder in(b, l, emit.element);
              Value x = memref::LoadOp::create(
                  b, l, operands.queryPooled,
                  ValueRange{batch, in.add(firstHead, h), queryBlock, d});
              scf::YieldOp::create(b, l, in.fadd(carried[0], toF32(in, x)));
            })
            .getResult(0);
    memref::StoreOp::create(at.builder, at.loc, sum, selectionQuery, d);
  });

  // 2. The score mask's occupied block pairs, marked by warp 0.
  if (selection.scoreMask) {
    emit.ifThen(emit.eq(warp, emit.index(0)), [&] {
      QueryBlockContext context = setUpQueryBlock(
          emit, selection.scoreMask, {config.listBlockQ, config.listBlockKv},
          operands.queryLen, operands.kvLen, blocks, batch, lane, queryBlock,
          /*perBatch=*/false, nullptr, nullptr, SegmentBoundsBuffers{});
      emit.forRange(
          emit.index(0), blocks, emit.index(kWarpSize),
          [&](KernelBuilder &at, Value base) {
            Value block = at.add(base, lane);
            BlockClass cls = classifyKvBlock(at, context, block);
            at.ifThen(at.lt(block, blocks), [&] {
              memref::StoreOp::create(
                  at.builder, at.loc,
                  arith::ExtUIOp::create(at.builder, at.loc, i32, cls.occupied),
                  selectionMarks, block);
            });
          });
    });
  }
  gpu::BarrierOp::create(builder, loc);

  // 3. The row of scores, as ordered keys; the marks cleared.
  emit.forRange(tid, blocks, threads, [&](KernelBuilder &at, Value block) {
    OpBuilder &b = at.builder;
    Value zero = arith::ConstantIntOp::create(b, at.loc, 0, 32);
    Value occupied = at.boolean(true);
    if (selection.scoreMask)
      occupied = arith::CmpIOp::create(
          b, at.loc, arith::CmpIPredicate::ne,
          memref::LoadOp::create(b, at.loc, selectionMarks, block), zero);
    auto ifOccupied = scf::IfOp::create(b, at.loc, TypeRange{i32}, occupied,
                                        /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOccupied.thenBlock());
      auto vector4 = [&](Type element) {
        return VectorType::get({4}, element);
      };
      Type keyElement =
          cast<MemRefType>(operands.keyPooled.getType()).getElementType();
      Value acc[2] = {
          arith::ConstantOp::create(
              b, at.loc,
              DenseElementsAttr::get(vector4(f32), b.getF32FloatAttr(0.0))),
          nullptr};
      acc[1] = acc[0];
      for (int64_t d = 0; d < dim; d += 4) {
        Value column = at.index(d);
        Value query = vector::LoadOp::create(b, at.loc, vector4(f32),
                                             selectionQuery, column);
        Value key =
            toF32(at, vector::LoadOp::create(
                          b, at.loc, vector4(keyElement), operands.keyPooled,
                          ValueRange{batch, kvHead, block, column}));
        Value &sum = acc[(d / 4) % 2];
        sum = arith::AddFOp::create(
            b, at.loc, sum, arith::MulFOp::create(b, at.loc, query, key));
      }
      Value dot = vector::ReductionOp::create(
          b, at.loc, vector::CombiningKind::ADD,
          arith::AddFOp::create(b, at.loc, acc[0], acc[1]));
      Value score = at.fmul(dot, at.f32(selection.scoreScale));
      scf::YieldOp::create(b, at.loc, ValueRange{rowSelectionKey(at, score)});
      b.setInsertionPointToStart(ifOccupied.elseBlock());
      scf::YieldOp::create(b, at.loc, ValueRange{zero});
    }
    memref::StoreOp::create(b, at.loc, ifOccupied.getResult(0), selectionKeys,
                            block);
    memref::StoreOp::create(b, at.loc, zero, selectionMarks, block);
  });
  gpu::BarrierOp::create(builder, loc);

  // 4. Warp 0 selects and writes the list (ascending) and its count.
  emit.ifThen(emit.eq(warp, emit.index(0)), [&] {
    buildWarpRowSelection(emit, lane, selectionKeys, selectionMarks, blocks,
                          selection.rule);
    Value count =
        buildWarpMarkedList(emit, lane, selectionMarks, blocks,
                            [&](KernelBuilder &at, Value slot, Value block) {
                              at.storeI32(block, list, {slot});
                            });
    emit.ifThen(emit.eq(lane, emit.index(0)),
                [&] { emit.storeI32(count, listCount, {emit.index(0)}); });
  });
  gpu::BarrierOp::create(builder, loc);
  listEntries = emit.loadI32(listCount, {emit.index(0)});
  fullEntries = emit.index(0);
}
