//===- BlockScoresKernel.cpp - block_scores on tensor cores ---------------===//
//
// block_scores as one launch of 64 x 64 result tiles (a thread block of four
// warps per tile, result head and batch):
//   1. the tile's query rows, each the f32 sum of its result head's query
//      heads (the GQA group sum moves in front of the product: every head of
//      a group meets the same keys), and its 64 key rows go to shared memory
//      as f32, zero past the head dim up to a multiple of 8;
//   2. with a mask, each warp classifies its 16 rows' 64 block pairs with
//      block_mask's tile tests (classifyKvBlock) into flags in shared
//      memory; a tile with no occupied pair skips its product;
//   3. S = Q K^T by mma.sync m16n8k8 in tf32, three products per step
//      (hi*hi + hi*lo + lo*hi, each operand split into a tf32 head and its
//      remainder, as CUTLASS's 3xTF32): f32 accuracy at tensor-core speed.
//      Operands that are f16/bf16 and not summed are exact in tf32 and lose
//      their remainder's product. A tile with an inf or NaN operand
//      multiplies the group's heads one by one into the same accumulators
//      instead (infinities then meet as in the definition's sum of dots);
//   4. scale and -inf by the flags, then the tile is written through shared
//      memory by rows (128-byte stores).
// MoBA's block_q = 1 (raw queries against pooled keys) is the same kernel
// with a query block per row.
//
//===----------------------------------------------------------------------===//

#include "BlockScoresKernel.h"

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
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// Rows and columns of a result tile; its warps take 16 rows each.
constexpr int64_t kTile = 64;
constexpr int64_t kWarps = kTile / 16;
constexpr int64_t kThreads = kWarps * kWarpSize;
/// Head dims the kernel takes (its two f32 tiles stay in shared memory).
constexpr int64_t kMaxHeadDim = 256;

/// Where the kernel's pieces live in shared memory (bytes).
struct ScoresLayout {
  int64_t paddedDim, stride;
  int64_t keysOffset, flagsOffset, anyOffset, nonFiniteOffset, bytes;
  /// Columns of the staged output tile (one more than the tile: rows start
  /// on different banks).
  static constexpr int64_t outStride = kTile + 1;

  ScoresLayout(int64_t headDim, bool masked, bool grouped) {
    paddedDim = llvm::alignTo(headDim, 8);
    // A multiple of 4 but not of 8: the eight rows a fragment load reads
    // start on eight different 4-bank groups.
    stride = paddedDim + 4;
    keysOffset = kTile * stride * 4;
    int64_t tiles = 2 * keysOffset;
    int64_t staged = kTile * outStride * 4;
    flagsOffset = std::max(tiles, staged);
    anyOffset = flagsOffset + (masked ? kTile * kTile : 0);
    nonFiniteOffset = anyOffset + (masked ? kWarps * 4 : 0);
    bytes = nonFiniteOffset + (grouped ? 4 : 0);
  }
};

struct BlockScoresGpuLowering : public OpRewritePattern<BlockScoresOp> {
  BlockScoresGpuLowering(MLIRContext *context,
                         const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  /// What the body needs to know of the op.
  struct Problem {
    Value queries, keys, result;
    Value queryBlocks, kvBlocks, colTiles;
    int64_t headDim, resultGroup, kvGroup;
    Type queryElement, keyElement;
    double scale;
    // The mask's classification (null mask: none).
    Attribute mask;
    BlockSizes block;
    Value qLen, kvLen;
    bool perBatch = false;
    Value idsQ, idsKv;
    SegmentBoundsBuffers bounds;
  };

  LogicalResult matchAndRewrite(BlockScoresOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType queryType = op.getQueryPooled().getType();
    RankedTensorType keyType = op.getKeyPooled().getType();
    RankedTensorType scoresType = op.getScores().getType();
    int64_t headDim = queryType.getDimSize(3);
    if (headDim > kMaxHeadDim)
      return rewriter.notifyMatchFailure(op, "head dim above 256");
    Attribute maskAttr = op.getMaskAttr();
    if (maskAttr && !hasMaskLowering(maskAttr))
      return rewriter.notifyMatchFailure(op, "the mask has no lowering");
    bool grouped = queryType.getDimSize(1) != scoresType.getDimSize(1);
    ScoresLayout layout(headDim, static_cast<bool>(maskAttr), grouped);
    if (layout.bytes > options.chip.sharedMemoryPerBlock)
      return rewriter.notifyMatchFailure(op, "tiles exceed shared memory");

    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    Problem p;
    p.headDim = headDim;
    p.queryElement = queryType.getElementType();
    p.keyElement = keyType.getElementType();
    int64_t queryHeads = queryType.getDimSize(1);
    int64_t resultHeads = scoresType.getDimSize(1);
    p.resultGroup = queryHeads / resultHeads;
    p.kvGroup = queryHeads / keyType.getDimSize(1);
    p.scale = getScaleValue(op.getScaleAttr(), headDim);
    p.block = op.getBlockSizes();
    p.mask = maskAttr;

    Value idsQ = op.getSegmentIdsQ(), idsKv = op.getSegmentIdsKv();
    SmallVector<std::pair<Value, int64_t>> batchPlaces = {
        {op.getQueryPooled(), 0}, {op.getKeyPooled(), 0}};
    if (idsQ)
      batchPlaces.append({{idsQ, 0}, {idsKv, 0}});
    Value batch = emit.commonDim(batchPlaces, "batch sizes differ");
    p.queryBlocks = emit.dim(op.getQueryPooled(), 2);
    p.kvBlocks = emit.dim(op.getKeyPooled(), 2);
    if (maskAttr) {
      auto [qLen, kvLen] =
          getBlockScoresLengths(emit, op, p.queryBlocks, p.kvBlocks);
      p.qLen = qLen;
      p.kvLen = kvLen;
      auto mask = cast<MaskAttrInterface>(maskAttr);
      p.perBatch = mask.usesSegmentIds();
      if (p.perBatch) {
        p.idsQ = toReadOnlyBuffer(rewriter, loc, idsQ);
        p.idsKv = toReadOnlyBuffer(rewriter, loc, idsKv);
        p.bounds = buildSegmentBoundsLaunch(rewriter, loc, p.idsQ, p.idsKv,
                                            batch, qLen, kvLen, p.block.query);
      }
    }
    p.queries = toKernelBuffer(rewriter, loc, op.getQueryPooled());
    p.keys = toKernelBuffer(rewriter, loc, op.getKeyPooled());
    p.result = emit.allocOfType(
        scoresType, {batch, emit.index(resultHeads), p.queryBlocks, p.kvBlocks},
        "scores shape");
    Value rowTiles = emit.ceilDiv(p.queryBlocks, kTile);
    p.colTiles = emit.ceilDiv(p.kvBlocks, kTile);
    Value one = emit.index(1);
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, emit.mul(rowTiles, p.colTiles), emit.index(resultHeads),
        batch, emit.index(kThreads), one, one,
        arith::ConstantIntOp::create(rewriter, loc, layout.bytes, 32));
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder kernel(rewriter, loc, rewriter.getF32Type());
      buildBody(kernel, launch, p, layout);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    replaceByWrittenBuffers(rewriter, op, p.result);
    return success();
  }

  /// Rows `base` .. `base` + 63 of `source` ([B, H, N, D]) into the f32
  /// tile `tile` (zero past `count` rows and past the head dim); a row is
  /// the f32 sum of heads `firstHead` .. `firstHead` + `heads` - 1. Each
  /// thread takes fixed chunks of the tile (unrolled, so that its loads of
  /// one head are in flight together) and sums the heads over a loop.
  /// Returns whether this thread stored a value that is not finite (an i1).
  static Value loadTile(KernelBuilder &emit, Value tid, Value source,
                        Type element, Value b, Value firstHead, int64_t heads,
                        Value base, Value count, Value tile, const Problem &p,
                        const ScoresLayout &layout) {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    int64_t bytes = element.getIntOrFloatBitWidth() / 8;
    int64_t vector = 16 / bytes;
    while (p.headDim % vector != 0)
      vector /= 2;
    int64_t chunks = p.headDim / vector;
    int64_t total = kTile * chunks;
    int64_t perThread = llvm::divideCeil(total, kThreads);
    auto vectorType = VectorType::get({vector}, element);
    auto wideType = VectorType::get({vector}, builder.getF32Type());
    Value zeros = arith::ConstantOp::create(
        builder, loc, wideType, DenseElementsAttr::get(wideType, 0.0f));
    // This thread's chunks: rows, columns, and whether they hold data.
    SmallVector<Value> rows, columns, exists, inTile;
    for (int64_t n = 0; n < perThread; ++n) {
      Value idx = emit.add(tid, n * kThreads);
      Value r = emit.udiv(idx, chunks);
      columns.push_back(emit.mul(emit.urem(idx, chunks), vector));
      inTile.push_back(emit.lt(idx, emit.index(total)));
      Value row = emit.add(base, r);
      exists.push_back(emit.andI(inTile.back(), emit.lt(row, count)));
      rows.push_back(emit.select(exists.back(), row, emit.index(0)));
    }
    auto loadHead = [&](KernelBuilder &at, Value head, ValueRange sums) {
      SmallVector<Value> next;
      for (int64_t n = 0; n < perThread; ++n) {
        Value loaded =
            vector::LoadOp::create(at.builder, at.loc, vectorType, source,
                                   ValueRange{b, head, rows[n], columns[n]});
        if (!element.isF32())
          loaded = arith::ExtFOp::create(at.builder, at.loc, wideType, loaded);
        next.push_back(
            arith::AddFOp::create(at.builder, at.loc, sums[n], loaded));
      }
      return next;
    };
    SmallVector<Value> sums(perThread, zeros);
    if (heads == 1) {
      sums = loadHead(emit, firstHead, sums);
    } else {
      auto loop = scf::ForOp::create(
          builder, loc, emit.index(0), emit.index(heads), emit.index(1), sums,
          [&](OpBuilder &b2, Location l, Value h, ValueRange carried) {
            KernelBuilder at(b2, l, emit.element);
            scf::YieldOp::create(b2, l,
                                 loadHead(at, at.add(firstHead, h), carried));
          });
      sums.assign(loop.getResults().begin(), loop.getResults().end());
    }
    Value nonFinite = emit.boolean(false);
    for (int64_t n = 0; n < perThread; ++n) {
      Value sum =
          arith::SelectOp::create(builder, loc, exists[n], sums[n], zeros);
      // x - x is 0 exactly when x is finite.
      Value notFinite = arith::CmpFOp::create(
          builder, loc, arith::CmpFPredicate::UNE,
          arith::SubFOp::create(builder, loc, sum, sum), zeros);
      nonFinite = emit.orI(
          nonFinite, vector::ReductionOp::create(
                         builder, loc, vector::CombiningKind::OR, notFinite));
      Value r = emit.udiv(emit.add(tid, n * kThreads), chunks);
      auto ifIn = scf::IfOp::create(builder, loc, inTile[n], false);
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifIn.thenBlock());
      vector::StoreOp::create(builder, loc, sum, tile,
                              ValueRange{r, columns[n]});
    }
    if (layout.paddedDim > p.headDim)
      emit.zeroColumns(tid, kThreads, tile, kTile, p.headDim, layout.paddedDim,
                       emit.f32(0.0));
    return nonFinite;
  }

  /// An f32 operand as tf32 registers: its head (the top 19 bits; NaN kept
  /// NaN), and with `withRemainder` the remainder (0 when not finite).
  struct Split {
    Value head, rest;
    /// The head for the products with the other operand's remainder: 0
    /// when not finite (inf times a zero remainder would be NaN where the
    /// product is inf).
    Value crossHead;
  };
  static Split split(KernelBuilder &emit, Value x, bool withRemainder,
                     bool withCross) {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type i32 = builder.getI32Type();
    Value bits = arith::BitcastOp::create(builder, loc, i32, x);
    Value headBits = arith::AndIOp::create(
        builder, loc, bits,
        arith::ConstantIntOp::create(builder, loc, int64_t(int32_t(0xFFFFE000)),
                                     32));
    Value isNaN =
        arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::UNO, x, x);
    headBits = arith::SelectOp::create(
        builder, loc, isNaN,
        arith::ConstantIntOp::create(builder, loc, 0x7FC00000, 32), headBits);
    Split result{headBits, Value(), Value()};
    if (withCross) {
      // x - x is 0 exactly when x is finite.
      Value finite =
          arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OEQ,
                                emit.fsub(x, x), emit.f32(0.0));
      result.crossHead = arith::SelectOp::create(
          builder, loc, finite, headBits,
          arith::ConstantIntOp::create(builder, loc, 0, 32));
    }
    if (!withRemainder)
      return result;
    Value head =
        arith::BitcastOp::create(builder, loc, builder.getF32Type(), headBits);
    Value rest = emit.fsub(x, head);
    Value restNaN = arith::CmpFOp::create(
        builder, loc, arith::CmpFPredicate::UNO, rest, rest);
    rest = arith::SelectOp::create(builder, loc, restNaN, emit.f32(0.0), rest);
    result.rest = arith::BitcastOp::create(builder, loc, i32, rest);
    return result;
  }

  void buildBody(KernelBuilder &emit, gpu::LaunchOp launch, const Problem &p,
                 const ScoresLayout &layout) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type f32 = builder.getF32Type();
    Type i8 = builder.getI8Type();
    Value tid = launch.getThreadIds().x;
    Value warp = emit.udiv(tid, kWarpSize), lane = emit.urem(tid, kWarpSize);
    Value group = emit.udiv(lane, 4), quad = emit.urem(lane, 4);
    Value tileIndex = launch.getBlockIds().x;
    Value rowTile = arith::DivUIOp::create(builder, loc, tileIndex, p.colTiles);
    Value colTile = arith::RemUIOp::create(builder, loc, tileIndex, p.colTiles);
    Value rowBase = emit.mul(rowTile, kTile),
          colBase = emit.mul(colTile, kTile);
    Value head = launch.getBlockIds().y, b = launch.getBlockIds().z;

    Value shared = emit.dynamicSharedMemory();
    Value queryTile =
        emit.sharedView(shared, emit.index(0), {kTile, layout.stride}, f32);
    Value keyTile = emit.sharedView(shared, emit.index(layout.keysOffset),
                                    {kTile, layout.stride}, f32);
    Value staged = emit.sharedView(shared, emit.index(0),
                                   {kTile, ScoresLayout::outStride}, f32);
    Value firstQueryHead = emit.mul(head, p.resultGroup);
    Value kvHead = emit.udiv(firstQueryHead, p.kvGroup);
    // With a group sum, whether the tile holds an operand that is not
    // finite: the group's heads are then multiplied one by one (summing
    // their rows first could turn the dots' inf - inf into +-inf).
    bool grouped = p.resultGroup > 1;
    Value nonFiniteFlag;
    if (grouped) {
      nonFiniteFlag =
          emit.sharedView(shared, emit.index(layout.nonFiniteOffset), {1},
                          builder.getI32Type());
      auto ifFirst =
          scf::IfOp::create(builder, loc, emit.eq(tid, emit.index(0)),
                            /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifFirst.thenBlock());
      memref::StoreOp::create(builder, loc,
                              arith::ConstantIntOp::create(builder, loc, 0, 32),
                              nonFiniteFlag, ValueRange{emit.index(0)});
    }
    if (grouped)
      gpu::BarrierOp::create(builder, loc);
    Value queryNonFinite =
        loadTile(emit, tid, p.queries, p.queryElement, b, firstQueryHead,
                 p.resultGroup, rowBase, p.queryBlocks, queryTile, p, layout);
    Value keyNonFinite = loadTile(emit, tid, p.keys, p.keyElement, b, kvHead, 1,
                                  colBase, p.kvBlocks, keyTile, p, layout);
    if (grouped) {
      auto ifSeen = scf::IfOp::create(builder, loc,
                                      emit.orI(queryNonFinite, keyNonFinite),
                                      /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifSeen.thenBlock());
      memref::StoreOp::create(builder, loc,
                              arith::ConstantIntOp::create(builder, loc, 1, 32),
                              nonFiniteFlag, ValueRange{emit.index(0)});
    }

    // The block pairs' flags (1: some pair allowed), and whether the tile
    // has any.
    Value flags, anyOccupied = emit.boolean(true);
    if (p.mask) {
      flags = emit.sharedView(shared, emit.index(layout.flagsOffset),
                              {kTile, kTile}, i8);
      Value anyFlags = emit.sharedView(shared, emit.index(layout.anyOffset),
                                       {kWarps}, builder.getI32Type());
      // Whether the batch's key ids are sorted: read once, for every row.
      Value keysSorted =
          p.perBatch
              ? buildKeysSortedFlag(emit, lane, b, p.bounds.keysSorted, p.kvLen)
              : Value();
      auto rows = scf::ForOp::create(
          builder, loc, emit.index(0), emit.index(16), emit.index(1),
          ValueRange{emit.boolean(false)},
          [&](OpBuilder &b2, Location l, Value rr, ValueRange carried) {
            KernelBuilder at(b2, l, emit.element);
            Value r = at.add(at.mul(warp, 16), rr);
            Value queryBlock = at.add(rowBase, r);
            // Rows past the result: flags stay unwritten and unread.
            auto ifRow = scf::IfOp::create(b2, l, TypeRange{b2.getI1Type()},
                                           at.lt(queryBlock, p.queryBlocks),
                                           /*withElseRegion=*/true);
            {
              OpBuilder::InsertionGuard guard(b2);
              b2.setInsertionPointToStart(ifRow.thenBlock());
              QueryBlockContext context =
                  setUpQueryBlock(at, p.mask, p.block, p.qLen, p.kvLen,
                                  p.kvBlocks, b, lane, queryBlock, p.perBatch,
                                  p.idsQ, p.idsKv, p.bounds, keysSorted);
              Value any = carried[0];
              for (int64_t round = 0; round < kTile / kWarpSize; ++round) {
                Value column = at.add(lane, round * kWarpSize);
                BlockClass cls =
                    classifyKvBlock(at, context, at.add(colBase, column));
                Value flag = arith::ExtUIOp::create(b2, l, i8, cls.occupied);
                memref::StoreOp::create(b2, l, flag, flags,
                                        ValueRange{r, column});
                any = at.orI(any,
                             at.lt(at.index(0), at.ballotCount(cls.occupied)));
              }
              scf::YieldOp::create(b2, l, any);
              b2.setInsertionPointToStart(ifRow.elseBlock());
              scf::YieldOp::create(b2, l, carried[0]);
            }
            scf::YieldOp::create(b2, l, ifRow.getResult(0));
          });
      auto ifLeader =
          scf::IfOp::create(builder, loc, emit.eq(lane, emit.index(0)),
                            /*withElseRegion=*/false);
      {
        OpBuilder::InsertionGuard guard(builder);
        builder.setInsertionPointToStart(ifLeader.thenBlock());
        memref::StoreOp::create(builder, loc,
                                arith::ExtUIOp::create(builder, loc,
                                                       builder.getI32Type(),
                                                       rows.getResult(0)),
                                anyFlags, ValueRange{warp});
      }
      gpu::BarrierOp::create(builder, loc);
      anyOccupied = emit.boolean(false);
      for (int64_t w = 0; w < kWarps; ++w)
        anyOccupied =
            emit.orI(anyOccupied,
                     arith::CmpIOp::create(
                         builder, loc, arith::CmpIPredicate::ne,
                         memref::LoadOp::create(builder, loc, anyFlags,
                                                ValueRange{emit.index(w)}),
                         arith::ConstantIntOp::create(builder, loc, 0, 32)));
    } else {
      gpu::BarrierOp::create(builder, loc);
    }

    // S = Q K^T: the warp's 16 rows against the tile's 8 column tiles.
    constexpr int64_t nTiles = kTile / 8;
    bool queryExact =
        p.resultGroup == 1 && p.queryElement.getIntOrFloatBitWidth() == 16;
    bool keyExact = p.keyElement.getIntOrFloatBitWidth() == 16;
    SmallVector<Value> zeros(nTiles * 4, emit.f32(0.0));
    auto ifAny = scf::IfOp::create(
        builder, loc, SmallVector<Type>(nTiles * 4, f32), anyOccupied,
        /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(ifAny.thenBlock());
      Value row0 = emit.add(emit.mul(warp, 16), group);
      Value row8 = emit.add(row0, 8);
      // acc + the product of the tiles in shared memory.
      auto product = [&](OpBuilder &pb, Location pl, ValueRange init) {
        auto steps = scf::ForOp::create(
            pb, pl, emit.index(0), emit.index(layout.paddedDim / 8),
            emit.index(1), init,
            [&](OpBuilder &b2, Location l, Value step, ValueRange acc) {
              KernelBuilder at(b2, l, emit.element);
              Value k0 = at.add(at.mul(step, 8), quad), k4 = at.add(k0, 4);
              auto load = [&](Value tile, Value r, Value c) -> Value {
                return memref::LoadOp::create(b2, l, tile, ValueRange{r, c});
              };
              // A's head meets B's remainder when B has one, and so on.
              SmallVector<Value> aHead, aRest, aCross;
              for (auto [r, c] : {std::pair{row0, k0}, std::pair{row8, k0},
                                  std::pair{row0, k4}, std::pair{row8, k4}}) {
                Split parts =
                    split(at, load(queryTile, r, c), !queryExact, !keyExact);
                aHead.push_back(parts.head);
                aRest.push_back(parts.rest);
                aCross.push_back(parts.crossHead);
              }
              SmallVector<Value> next;
              for (int64_t nt = 0; nt < nTiles; ++nt) {
                Value key = at.add(group, nt * 8);
                SmallVector<Value> bHead, bRest, bCross;
                for (Value c : {k0, k4}) {
                  Split parts =
                      split(at, load(keyTile, key, c), !keyExact, !queryExact);
                  bHead.push_back(parts.head);
                  bRest.push_back(parts.rest);
                  bCross.push_back(parts.crossHead);
                }
                SmallVector<Value> sum(acc.begin() + nt * 4,
                                       acc.begin() + nt * 4 + 4);
                // The small products first.
                if (!queryExact)
                  sum = at.mmaSync(aRest, bCross, sum, /*tf32=*/true);
                if (!keyExact)
                  sum = at.mmaSync(aCross, bRest, sum, /*tf32=*/true);
                sum = at.mmaSync(aHead, bHead, sum, /*tf32=*/true);
                next.append(sum);
              }
              scf::YieldOp::create(b2, l, next);
            });
        return SmallVector<Value>(steps.getResults());
      };
      if (!grouped) {
        scf::YieldOp::create(builder, loc, product(builder, loc, zeros));
      } else {
        Value nonFinite = arith::CmpIOp::create(
            builder, loc, arith::CmpIPredicate::ne,
            memref::LoadOp::create(builder, loc, nonFiniteFlag,
                                   ValueRange{emit.index(0)}),
            arith::ConstantIntOp::create(builder, loc, 0, 32));
        auto ifNonFinite =
            scf::IfOp::create(builder, loc, SmallVector<Type>(nTiles * 4, f32),
                              nonFinite, /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard inner(builder);
          builder.setInsertionPointToStart(ifNonFinite.thenBlock());
          // Head by head into the same accumulators: a sum of all the
          // products, whose infinities meet as the dots' would.
          auto heads = scf::ForOp::create(
              builder, loc, emit.index(0), emit.index(p.resultGroup),
              emit.index(1), zeros,
              [&](OpBuilder &hb, Location hl, Value h, ValueRange acc) {
                KernelBuilder at(hb, hl, emit.element);
                gpu::BarrierOp::create(hb, hl);
                loadTile(at, tid, p.queries, p.queryElement, b,
                         at.add(firstQueryHead, h), 1, rowBase, p.queryBlocks,
                         queryTile, p, layout);
                gpu::BarrierOp::create(hb, hl);
                scf::YieldOp::create(hb, hl, product(hb, hl, acc));
              });
          scf::YieldOp::create(builder, loc, heads.getResults());
          builder.setInsertionPointToStart(ifNonFinite.elseBlock());
          scf::YieldOp::create(builder, loc, product(builder, loc, zeros));
        }
        scf::YieldOp::create(builder, loc, ifNonFinite.getResults());
      }
      builder.setInsertionPointToStart(ifAny.elseBlock());
      scf::YieldOp::create(builder, loc, zeros);
    }

    // Scaled, -inf where the pair is empty, staged by rows.
    gpu::BarrierOp::create(builder, loc);
    Value scale = emit.f32(p.scale);
    Value negInf = flags ? emit.f32(-INFINITY) : Value();
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = 0; e < 4; ++e) {
        Value r = emit.add(emit.add(emit.mul(warp, 16), group), e / 2 * 8);
        Value c = emit.add(emit.mul(quad, 2), nt * 8 + e % 2);
        Value value = emit.fmul(ifAny.getResult(nt * 4 + e), scale);
        if (flags) {
          Value flag =
              memref::LoadOp::create(builder, loc, flags, ValueRange{r, c});
          value =
              emit.select(arith::CmpIOp::create(
                              builder, loc, arith::CmpIPredicate::ne, flag,
                              arith::ConstantIntOp::create(builder, loc, 0, 8)),
                          value, negInf);
        }
        memref::StoreOp::create(builder, loc, value, staged, ValueRange{r, c});
      }
    gpu::BarrierOp::create(builder, loc);
    scf::ForOp::create(
        builder, loc, tid, emit.index(kTile * kTile), emit.index(kThreads),
        ValueRange{}, [&](OpBuilder &b2, Location l, Value idx, ValueRange) {
          KernelBuilder at(b2, l, emit.element);
          Value r = at.udiv(idx, kTile), c = at.urem(idx, kTile);
          Value row = at.add(rowBase, r), column = at.add(colBase, c);
          auto ifInside = scf::IfOp::create(
              b2, l,
              at.andI(at.lt(row, p.queryBlocks), at.lt(column, p.kvBlocks)),
              /*withElseRegion=*/false);
          {
            OpBuilder::InsertionGuard guard(b2);
            b2.setInsertionPointToStart(ifInside.thenBlock());
            memref::StoreOp::create(
                b2, l, memref::LoadOp::create(b2, l, staged, ValueRange{r, c}),
                p.result, ValueRange{b, head, row, column});
          }
          scf::YieldOp::create(b2, l);
        });
  }

  MmaAttentionOptions options;
};

} // namespace

std::pair<Value, Value> sparse_attn::getBlockScoresLengths(
    LoweringBuilder &emit, BlockScoresOp op, Value queryBlocks,
    Value kvBlocks) {
  auto [qLen, kvLen] =
      getBlockMaskLengths(emit, op.getQLenAttr(), op.getKvLenAttr(),
                          op.getSegmentIdsQ(), op.getSegmentIdsKv());
  BlockSizes block = op.getBlockSizes();
  emit.checkEq(queryBlocks, emit.ceilDiv(qLen, block.query),
               "query_pooled does not have ceil(q_len / block_q) blocks");
  emit.checkEq(kvBlocks, emit.ceilDiv(kvLen, block.kv),
               "key_pooled does not have ceil(kv_len / block_kv) blocks");
  return {qLen, kvLen};
}

void sparse_attn::populateBlockScoresKernelPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  patterns.add<BlockScoresGpuLowering>(patterns.getContext(), options);
}
