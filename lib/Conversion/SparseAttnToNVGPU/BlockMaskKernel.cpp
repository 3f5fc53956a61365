//===- BlockMaskKernel.cpp - block_mask's lists on the GPU ----------------===//
//
// A block_mask the canonicalizer could not fold (dynamic lengths, segment
// ids) becomes one warp per (query block, batch): each lane classifies a kv
// block (none, partial, full) by the mask's tile tests; the blocks they
// cannot tell the whole warp scans, one at a time, 32 pairs a step, until
// an allowed and an excluded pair are seen; a ballot per round of 32 kv
// blocks writes the lists in ascending order. Masks reading segment ids get the
// segment-bounds launch first, so sorted documents decide most blocks by their
// tests. The classification of a query block's kv blocks (classifyKvBlock) is
// what a kernel needs to tell occupied block pairs from empty ones.
//
//===----------------------------------------------------------------------===//

#include "BlockMaskKernel.h"

#include "KernelBuilder.h"
#include "KernelConfig.h"
#include "SegmentBounds.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// One pair of result lists as buffers, and its capacity.
struct BlockList {
  Value num, indices, capacity;
};

} // namespace

QueryBlockContext sparse_attn::setUpQueryBlock(
    KernelBuilder &emit, Attribute mask, BlockSizes block, Value qLen,
    Value kvLen, Value kvBlocks, Value b, Value lane, Value queryBlock,
    bool perBatch, Value idsQ, Value idsKv, const SegmentBoundsBuffers &bounds,
    Value keysSorted) {
  QueryBlockContext c;
  c.mask = mask;
  c.block = block;
  c.qLen = qLen;
  c.kvLen = kvLen;
  c.kvBlocks = kvBlocks;
  c.b = b;
  c.lane = lane;
  c.perBatch = perBatch;
  c.idsQ = idsQ;
  c.idsKv = idsKv;
  Value offset = emit.sub(kvLen, qLen);
  c.firstRow = emit.mul(queryBlock, block.query);
  c.lastRow = emit.sub(emit.min(emit.add(c.firstRow, block.query), qLen),
                       emit.index(1));
  c.firstPosition = emit.add(c.firstRow, offset);
  c.lastPosition = emit.add(c.lastRow, offset);
  if (perBatch) {
    c.segments.sorted =
        keysSorted
            ? keysSorted
            : buildKeysSortedFlag(emit, lane, b, bounds.keysSorted, kvLen);
    c.segments.queryMin =
        emit.loadI32(bounds.tileBounds, {b, queryBlock, emit.index(0)});
    c.segments.queryMax =
        emit.loadI32(bounds.tileBounds, {b, queryBlock, emit.index(1)});
  }
  return c;
}

BlockClass sparse_attn::classifyKvBlock(KernelBuilder &round,
                                        const QueryBlockContext &c,
                                        Value kvBlock) {
  OpBuilder &builder = round.builder;
  Location loc = round.loc;
  Type index = builder.getIndexType();
  Type i1 = builder.getI1Type();
  Value exists = round.lt(kvBlock, c.kvBlocks);
  Value clampedBlock =
      round.min(kvBlock, round.sub(c.kvBlocks, round.index(1)));
  Value firstKey = round.mul(clampedBlock, c.block.kv);
  Value lastKey = round.sub(round.min(round.add(firstKey, c.block.kv), c.kvLen),
                            round.index(1));
  SegmentBounds tileSegments = c.segments;
  if (c.perBatch) {
    tileSegments.firstKeyId = round.loadI32(c.idsKv, {c.b, firstKey});
    tileSegments.lastKeyId = round.loadI32(c.idsKv, {c.b, lastKey});
  }
  // A mask allowing each row one interval [p - left, p + right] (causal,
  // sliding windows) decides every block in closed form: consecutive rows'
  // intervals (left + right >= 0, shifted by one a row) make one,
  // [firstPosition - left, lastPosition + right], that the block meets iff
  // occupied; full iff every row's interval holds the block.
  if (std::optional<RowKeyInterval> interval = getRowKeyInterval(c.mask)) {
    auto sle = [&](Value x, Value y) {
      return round.cmp(arith::CmpIPredicate::sle, x, y);
    };
    Value occupied = round.andI(
        exists,
        round.andI(sle(firstKey, round.add(c.lastPosition, interval->right)),
                   sle(round.sub(c.firstPosition, round.index(interval->left)),
                       lastKey)));
    Value full = round.andI(
        exists,
        round.andI(sle(round.sub(c.lastPosition, round.index(interval->left)),
                       firstKey),
                   sle(lastKey, round.add(c.firstPosition, interval->right))));
    return {exists, occupied, full};
  }
  TileBounds tile{c.firstPosition, c.lastPosition, firstKey, lastKey,
                  c.perBatch ? &tileSegments : nullptr};
  Value full = buildTileFullyAllowed(round, c.mask, tile);
  Value masked = buildTileWhollyMasked(round, c.mask, tile);
  Value told = full ? (masked ? round.orI(full, masked) : full)
                    : (masked ? masked : round.boolean(false));
  Value toldFull = full ? full : round.boolean(false);
  // Blocks the tests cannot tell, one at a time by the whole warp:
  // 32 pairs a step, column by column (so a step spans 32 rows),
  // until an allowed and an excluded pair are seen.
  Type i32 = builder.getI32Type();
  auto i32Const = [&](int64_t value) -> Value {
    return arith::ConstantIntOp::create(builder, loc, value, 32);
  };
  Value pending = NVVM::VoteSyncOp::create(builder, loc, i32, i32Const(-1),
                                           round.andI(exists, round.notI(told)),
                                           NVVM::VoteSyncKind::ballot);
  Value rows = round.add(round.sub(c.lastRow, c.firstRow), 1);
  auto toI32 = [&](OpBuilder &at, Location atLoc, Value x) -> Value {
    return arith::IndexCastOp::create(at, atLoc, i32, x);
  };
  auto toIndex = [&](OpBuilder &at, Location atLoc, Value x) -> Value {
    return arith::IndexCastOp::create(at, atLoc, index, x);
  };
  auto blocks = scf::WhileOp::create(
      builder, loc, TypeRange{i32, i1, i1},
      ValueRange{pending, round.boolean(false), round.boolean(false)},
      [&](OpBuilder &before, Location beforeLoc, ValueRange state) {
        Value more = arith::CmpIOp::create(
            before, beforeLoc, arith::CmpIPredicate::ne, state[0],
            arith::ConstantIntOp::create(before, beforeLoc, 0, 32));
        scf::ConditionOp::create(before, beforeLoc, more, state);
      },
      [&](OpBuilder &after, Location afterLoc, ValueRange state) {
        KernelBuilder step(after, afterLoc, round.element);
        Value zero32 = arith::ConstantIntOp::create(after, afterLoc, 0, 32);
        Value one32 = arith::ConstantIntOp::create(after, afterLoc, 1, 32);
        // The lowest pending lane, and its block's keys.
        Value lowest = arith::AndIOp::create(
            after, afterLoc, state[0],
            arith::SubIOp::create(after, afterLoc, zero32, state[0]));
        Value source = LLVM::CtPopOp::create(
            after, afterLoc,
            arith::SubIOp::create(after, afterLoc, lowest, one32));
        auto broadcast = [&](Value x) -> Value {
          Value word = toI32(after, afterLoc, x);
          Value shuffled =
              gpu::ShuffleOp::create(
                  after, afterLoc, word, source,
                  arith::ConstantIntOp::create(after, afterLoc, kWarpSize, 32),
                  gpu::ShuffleMode::IDX)
                  .getShuffleResult();
          return toIndex(after, afterLoc, shuffled);
        };
        Value blockFirst = broadcast(firstKey);
        Value blockLast = broadcast(lastKey);
        Value pairs =
            step.mul(rows, step.add(step.sub(blockLast, blockFirst), 1));
        auto scan = scf::WhileOp::create(
            after, afterLoc, TypeRange{index, i1, i1},
            ValueRange{step.index(0), step.boolean(false), step.boolean(false)},
            [&](OpBuilder &scanBefore, Location scanLoc, ValueRange scanState) {
              IndexArith test(scanBefore, scanLoc);
              Value more =
                  test.andI(test.lt(scanState[0], pairs),
                            test.notI(test.andI(scanState[1], scanState[2])));
              scf::ConditionOp::create(scanBefore, scanLoc, more, scanState);
            },
            [&](OpBuilder &scanAfter, Location scanLoc, ValueRange scanState) {
              KernelBuilder pairEmit(scanAfter, scanLoc, round.element);
              Value k = pairEmit.add(scanState[0], c.lane);
              Value valid = pairEmit.lt(k, pairs);
              Value clamped =
                  pairEmit.min(k, pairEmit.sub(pairs, pairEmit.index(1)));
              Value row = pairEmit.add(
                  c.firstRow,
                  arith::RemUIOp::create(scanAfter, scanLoc, clamped, rows));
              Value key = pairEmit.add(
                  blockFirst,
                  arith::DivUIOp::create(scanAfter, scanLoc, clamped, rows));
              MaskPairValues pair{c.b,     row,    key,    c.qLen,
                                  c.kvLen, c.idsQ, c.idsKv};
              Value allowed =
                  *buildMaskPredicate(scanAfter, scanLoc, c.mask, pair);
              Value seenAllowed = pairEmit.lt(
                  pairEmit.index(0),
                  pairEmit.ballotCount(pairEmit.andI(valid, allowed)));
              Value seenMasked = pairEmit.lt(
                  pairEmit.index(0), pairEmit.ballotCount(pairEmit.andI(
                                         valid, pairEmit.notI(allowed))));
              scf::YieldOp::create(
                  scanAfter, scanLoc,
                  ValueRange{pairEmit.add(scanState[0], kWarpSize),
                             pairEmit.orI(scanState[1], seenAllowed),
                             pairEmit.orI(scanState[2], seenMasked)});
            });
        Value mine =
            arith::CmpIOp::create(after, afterLoc, arith::CmpIPredicate::eq,
                                  toI32(after, afterLoc, c.lane), source);
        scf::YieldOp::create(
            after, afterLoc,
            ValueRange{arith::XOrIOp::create(after, afterLoc, state[0], lowest),
                       step.select(mine, scan.getResult(1), state[1]),
                       step.select(mine, scan.getResult(2), state[2])});
      });
  Value scannedAllowed = blocks.getResult(1);
  Value scannedFull =
      round.andI(scannedAllowed, round.notI(blocks.getResult(2)));
  Value isFull = round.andI(exists, round.select(told, toldFull, scannedFull));
  Value occupied =
      round.andI(exists, round.select(told, toldFull, scannedAllowed));
  return {exists, occupied, isFull};
}

namespace {

struct BlockMaskGpuLowering : public OpRewritePattern<BlockMaskOp> {
  BlockMaskGpuLowering(MLIRContext *context, const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(BlockMaskOp op,
                                PatternRewriter &rewriter) const override {
    Attribute maskAttr = op.getMaskAttr();
    if (!hasMaskLowering(maskAttr))
      return rewriter.notifyMatchFailure(op, "the mask has no lowering");
    RankedTensorType numType = op.getNumBlocks().getType();
    Value idsQ = op.getSegmentIdsQ(), idsKv = op.getSegmentIdsKv();
    if (!idsQ)
      return rewriter.notifyMatchFailure(
          op, "static lengths and no segment ids: the op folds to constants");
    if (numType.isDynamicDim(0) && !idsQ)
      return rewriter.notifyMatchFailure(
          op, "dynamic list batch without segment ids to define it");
    Location loc = op.getLoc();
    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    auto [qLen, kvLen] = getBlockMaskLengths(emit, op.getQLenAttr(),
                                             op.getKvLenAttr(), idsQ, idsKv);
    if (!qLen || !kvLen)
      return rewriter.notifyMatchFailure(op, "lengths unknown");
    BlockSizes block = op.getBlockSizes();
    Value queryBlocks = emit.ceilDiv(qLen, block.query);
    Value kvBlocks = emit.ceilDiv(kvLen, block.kv);
    auto mask = cast_or_null<MaskAttrInterface>(maskAttr);
    bool perBatch = mask && mask.usesSegmentIds();
    Value batch = getBlockMaskListBatch(emit, numType, idsQ);
    int64_t heads = numType.getDimSize(1);

    // The result buffers, -1 where no entry goes (written by the kernel).
    bool withFull = static_cast<bool>(op.getFullNumBlocks());
    auto allocList = [&](Value numResult, Value indicesResult) {
      auto numTensor = cast<RankedTensorType>(numResult.getType());
      auto indicesTensor = cast<RankedTensorType>(indicesResult.getType());
      Value capacity = indicesTensor.isDynamicDim(3)
                           ? kvBlocks
                           : emit.index(indicesTensor.getDimSize(3));
      BlockList list;
      list.capacity = capacity;
      list.num =
          emit.allocOfType(numTensor, {batch, emit.index(heads), queryBlocks},
                           "block_mask result");
      list.indices = emit.allocOfType(
          indicesTensor, {batch, emit.index(heads), queryBlocks, capacity},
          "block_mask result");
      return list;
    };
    SmallVector<BlockList> lists = {
        allocList(op.getNumBlocks(), op.getBlockIndices())};
    if (withFull)
      lists.push_back(
          allocList(op.getFullNumBlocks(), op.getFullBlockIndices()));

    Value bufferQ, bufferKv;
    SegmentBoundsBuffers bounds;
    if (perBatch) {
      bufferQ = toReadOnlyBuffer(rewriter, loc, idsQ);
      bufferKv = toReadOnlyBuffer(rewriter, loc, idsKv);
      bounds = buildSegmentBoundsLaunch(rewriter, loc, bufferQ, bufferKv, batch,
                                        qLen, kvLen, block.query);
    }

    Value one = emit.index(1);
    auto launch = gpu::LaunchOp::create(rewriter, loc, queryBlocks, one,
                                        perBatch ? batch : one,
                                        emit.index(kWarpSize), one, one);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder kernel(rewriter, loc, rewriter.getI32Type());
      buildBody(kernel, launch, maskAttr, block, qLen, kvLen, kvBlocks, batch,
                heads, perBatch, bufferQ, bufferKv, bounds, lists, withFull);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    SmallVector<Value> buffers;
    for (const BlockList &list : lists)
      buffers.append({list.num, list.indices});
    replaceByWrittenBuffers(rewriter, op, buffers);
    return success();
  }

  void buildBody(KernelBuilder &emit, gpu::LaunchOp launch, Attribute mask,
                 BlockSizes block, Value qLen, Value kvLen, Value kvBlocks,
                 Value batch, int64_t heads, bool perBatch, Value idsQ,
                 Value idsKv, const SegmentBoundsBuffers &bounds,
                 ArrayRef<BlockList> lists, bool withFull) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Value lane = launch.getThreadIds().x;
    Value queryBlock = launch.getBlockIds().x;
    Value b = launch.getBlockIds().z;
    Value zero = emit.index(0);
    QueryBlockContext context =
        setUpQueryBlock(emit, mask, block, qLen, kvLen, kvBlocks, b, lane,
                        queryBlock, perBatch, idsQ, idsKv, bounds);
    auto rounds = scf::ForOp::create(
        builder, loc, zero, kvBlocks, emit.index(kWarpSize),
        ValueRange{zero, zero},
        [&](OpBuilder &roundBuilder, Location roundLoc, Value base,
            ValueRange counts) {
          KernelBuilder round(roundBuilder, roundLoc, emit.element);
          Value kvBlock = round.add(base, lane);
          BlockClass classified = classifyKvBlock(round, context, kvBlock);
          Value occupied = classified.occupied, isFull = classified.full;
          // The lists' entries of this round, in kv block order.
          SmallVector<Value> entries = {
              withFull ? round.andI(occupied, round.notI(isFull)) : occupied};
          if (withFull)
            entries.push_back(isFull);
          SmallVector<Value> nextCounts;
          for (auto [position, entry] : llvm::enumerate(entries)) {
            const BlockList &list = lists[position];
            Value rank = round.laneRank(lane, entry);
            Value slot = round.add(counts[position], rank);
            auto ifWrite = scf::IfOp::create(
                roundBuilder, roundLoc,
                round.andI(entry, round.lt(slot, list.capacity)),
                /*withElseRegion=*/false);
            {
              OpBuilder::InsertionGuard guard(roundBuilder);
              roundBuilder.setInsertionPointToStart(ifWrite.thenBlock());
              forEachOutput(round, b, batch, heads, perBatch,
                            [&](Value outBatch, Value head) {
                              round.storeI32(
                                  kvBlock, list.indices,
                                  {outBatch, head, queryBlock, slot});
                            });
            }
            nextCounts.push_back(
                round.add(counts[position], round.ballotCount(entry)));
          }
          if (!withFull)
            nextCounts.push_back(counts[1]);
          scf::YieldOp::create(roundBuilder, roundLoc, nextCounts);
        });
    // Counts, and -1 past them.
    for (auto [position, list] : llvm::enumerate(lists)) {
      Value count = rounds.getResult(position);
      scf::ForOp::create(
          builder, loc, emit.add(count, lane), list.capacity,
          emit.index(kWarpSize), ValueRange{},
          [&](OpBuilder &fillBuilder, Location fillLoc, Value slot,
              ValueRange) {
            KernelBuilder fill(fillBuilder, fillLoc, emit.element);
            forEachOutput(fill, b, batch, heads, perBatch,
                          [&](Value outBatch, Value head) {
                            fill.storeI32(fill.index(-1), list.indices,
                                          {outBatch, head, queryBlock, slot});
                          });
            scf::YieldOp::create(fillBuilder, fillLoc);
          });
      auto ifFirst = scf::IfOp::create(builder, loc, emit.eq(lane, zero),
                                       /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifFirst.thenBlock());
      forEachOutput(
          emit, b, batch, heads, perBatch, [&](Value outBatch, Value head) {
            emit.storeI32(count, list.num, {outBatch, head, queryBlock});
          });
    }
  }

  /// The (batch, head) entries a block's lists go to: its own batch (every
  /// batch when the lists do not depend on it) and every head.
  static void forEachOutput(KernelBuilder &emit, Value b, Value batch,
                            int64_t heads, bool perBatch,
                            function_ref<void(Value, Value)> body) {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    auto loop =
        scf::ForOp::create(builder, loc, perBatch ? b : emit.index(0),
                           perBatch ? emit.add(b, 1) : batch, emit.index(1));
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(loop.getBody());
    for (int64_t head = 0; head < heads; ++head)
      body(loop.getInductionVar(), emit.index(head));
  }

  MmaAttentionOptions options;
};

} // namespace

void sparse_attn::populateBlockMaskKernelPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  patterns.add<BlockMaskGpuLowering>(patterns.getContext(), options);
}
