//===- SparseAttnToNVGPU.cpp - block-sparse attention on tensor cores -----===//
//
// The patterns that rewrite a block_sparse_attention (over its lists) or an
// attention (over its mask's key hull, no lists) into a gpu.launch of the
// tensor-core kernel (AttentionKernel.h), with the segment-bounds launch
// before it (documents, SegmentBounds.h) and the combine launch after it
// (decode's split keys), and the pass that applies them.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

#include "AttentionKernel.h"
#include "BlockMaskKernel.h"
#include "BlockScoresKernel.h"
#include "FusedRowSelection.h"
#include "IndexerKernel.h"
#include "KernelConfig.h"
#include "RowGroups.h"
#include "SegmentBounds.h"
#include "SelectionKernels.h"
#include "VerticalSlashKernel.h"

#include "SparseAttn/Conversion/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/Remarks.h"
#include "mlir/Transforms/RegionUtils.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_CONVERTSPARSEATTNTONVGPUPASS
#include "SparseAttn/Conversion/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// Buffers for the outer tensors the mask_mod and score_mod regions read (an
/// ALiBi slope table, a bias), which the kernel body reads with memref.load;
/// fails when a region uses an outer tensor other than through
/// `tensor.extract` (such ops take the general path).
static FailureOr<llvm::DenseMap<Value, Value>>
getCapturedBuffers(Operation *op, PatternRewriter &rewriter) {
  SmallVector<Value> tensors;
  for (Region &region : op->getRegions()) {
    if (region.empty())
      continue;
    FailureOr<SmallVector<Value>> read = getOuterTensorsReadByExtract(region);
    if (failed(read))
      return failure();
    llvm::append_range(tensors, *read);
  }
  llvm::DenseMap<Value, Value> buffers;
  for (Value tensor : tensors) {
    if (buffers.count(tensor))
      continue;
    buffers[tensor] = toReadOnlyBuffer(rewriter, op->getLoc(), tensor);
  }
  return buffers;
}

/// The operands every attention op gives the kernel: lengths, heads, the
/// pair rules, q/k/v as buffers, and with a mask reading segment ids the ids
/// and what the segment-bounds launch (emitted here) writes of them for
/// query tiles of `blockQ` rows.
template <typename OpTy>
static KernelOperands getCommonOperands(OpTy op, PatternRewriter &rewriter,
                                        const AttentionShape &shape,
                                        int64_t blockQ) {
  Location loc = op.getLoc();
  KernelOperands operands;
  operands.queryLen = shape.queryLen;
  operands.kvLen = shape.kvLen;
  operands.queryHeads = shape.queryHeads;
  operands.kvHeads = shape.kvHeads;
  operands.rules.mask = op.getMaskAttr();
  operands.rules.scale = getScaleValue(op.getScaleAttr(), shape.headDim);
  operands.query = toKernelBuffer(rewriter, loc, op.getQuery());
  operands.key = toKernelBuffer(rewriter, loc, op.getKey());
  operands.value = toKernelBuffer(rewriter, loc, op.getValue());
  operands.hasPairRules = static_cast<bool>(operands.rules.mask);
  // (The fused op has no mod regions and reads no segment ids.)
  if constexpr (!std::is_same_v<OpTy, FusedBlockSparseAttentionOp>) {
    if (!op.getMaskMod().empty())
      operands.rules.maskMod = &op.getMaskMod();
    if (!op.getScoreMod().empty())
      operands.rules.scoreMod = &op.getScoreMod();
    operands.hasPairRules = operands.rules.mask || operands.rules.maskMod ||
                            operands.rules.scoreMod;
  }
  auto mask = cast_or_null<MaskAttrInterface>(op.getMaskAttr());
  if constexpr (!std::is_same_v<OpTy, FusedBlockSparseAttentionOp>)
    if (mask && mask.usesSegmentIds()) {
      operands.segmentIdsQ = toKernelBuffer(rewriter, loc, op.getSegmentIdsQ());
      operands.segmentIdsKv =
          toKernelBuffer(rewriter, loc, op.getSegmentIdsKv());
      operands.rules.segmentIdsQ = operands.segmentIdsQ;
      operands.rules.segmentIdsKv = operands.segmentIdsKv;
      SegmentBoundsBuffers bounds = buildSegmentBoundsLaunch(
          rewriter, loc, operands.segmentIdsQ, operands.segmentIdsKv,
          shape.batch, shape.queryLen, shape.kvLen, blockQ);
      operands.keysSorted = bounds.keysSorted;
      operands.tileBounds = bounds.tileBounds;
    }
  return operands;
}

/// Decode's split of the keys, chosen at run time: about two waves of
/// blocks over the chip's multiprocessors (`queryTiles` per kv head and
/// batch), each taking a whole number of kv tiles; and the partial
/// buffers the blocks write.
static void setUpSplit(PatternRewriter &rewriter, LoweringBuilder &emit,
                       const AttentionShape &shape,
                       const MmaKernelConfig &config, Value queryTiles,
                       KernelOperands &operands) {
  Location loc = emit.loc;
  auto ceilDiv = [&](Value x, Value y) -> Value {
    return arith::CeilDivSIOp::create(rewriter, loc, x, y);
  };
  Value one = emit.index(1);
  Value kvTiles = emit.max(emit.ceilDiv(shape.kvLen, config.blockKv), one);
  Value base = emit.max(
      emit.mul(emit.mul(shape.batch, emit.index(shape.kvHeads)), queryTiles),
      one);
  int64_t target =
      2 * std::max<int64_t>(config.blocksPerSM, 1) * config.chipMultiprocessors;
  Value wanted =
      emit.min(emit.max(ceilDiv(emit.index(target), base), one), kvTiles);
  Value chunkTiles = ceilDiv(kvTiles, wanted);
  operands.splits = ceilDiv(kvTiles, chunkTiles);
  operands.splitKeys = emit.mul(chunkTiles, config.blockKv);
  auto f32 = rewriter.getF32Type();
  int64_t dynamic = ShapedType::kDynamic;
  operands.partialOutput = memref::AllocOp::create(
      rewriter, loc,
      MemRefType::get({dynamic, shape.queryHeads, dynamic, config.packedQueries,
                       shape.valueDim},
                      f32),
      ValueRange{shape.batch, operands.splits});
  operands.partialLse = memref::AllocOp::create(
      rewriter, loc,
      MemRefType::get(
          {dynamic, shape.queryHeads, dynamic, config.packedQueries}, f32),
      ValueRange{shape.batch, operands.splits});
}

/// The launch after a split kernel's: for each (batch, head, query) a block
/// of Dv threads (one per value column) merges the splits' normalized
/// parts by their log-sum-exps: out = sum_s w_s o_s / sum_s w_s with w_s =
/// exp(lse_s - max lse), lse = max + log(sum w_s); a row no split saw
/// (every lse -inf) gets out = 0, lse = -inf.
static void buildCombineLaunch(PatternRewriter &rewriter, Location loc,
                               const AttentionShape &shape, Type element,
                               const KernelOperands &operands) {
  IndexArith host(rewriter, loc);
  Value one = host.index(1);
  auto launch = gpu::LaunchOp::create(rewriter, loc, operands.queryLen,
                                      host.index(shape.queryHeads), shape.batch,
                                      host.index(shape.valueDim), one, one);
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(&launch.getBody().front());
  KernelBuilder emit(rewriter, loc, element);
  Value column = launch.getThreadIds().x;
  Value query = launch.getBlockIds().x, head = launch.getBlockIds().y,
        batch = launch.getBlockIds().z;
  Type f32 = rewriter.getF32Type();
  auto forSplits =
      [&](ValueRange init,
          function_ref<SmallVector<Value>(KernelBuilder &, Value, ValueRange)>
              body) {
        auto loop = scf::ForOp::create(
            rewriter, loc, emit.index(0), operands.splits, emit.index(1), init,
            [&](OpBuilder &loopBuilder, Location loopLoc, Value split,
                ValueRange carried) {
              KernelBuilder loopEmit(loopBuilder, loopLoc, element);
              scf::YieldOp::create(loopBuilder, loopLoc,
                                   body(loopEmit, split, carried));
            });
        return loop.getResults();
      };
  auto partialLse = [&](KernelBuilder &loopEmit, Value split) -> Value {
    return memref::LoadOp::create(loopEmit.builder, loopEmit.loc,
                                  operands.partialLse,
                                  ValueRange{batch, head, split, query});
  };
  Value largest =
      forSplits({emit.f32(-INFINITY)},
                [&](KernelBuilder &loopEmit, Value split, ValueRange carried) {
                  return SmallVector<Value>{
                      loopEmit.fmax(carried[0], partialLse(loopEmit, split))};
                })[0];
  Value empty = emit.isNegInf(largest);
  Value shift = emit.select(empty, emit.f32(0.0), largest);
  double log2e = 1.4426950408889634, ln2 = 0.6931471805599453;
  ValueRange sums = forSplits(
      {emit.f32(0.0), emit.f32(0.0)},
      [&](KernelBuilder &loopEmit, Value split, ValueRange carried) {
        Value lse = partialLse(loopEmit, split);
        Value weight = loopEmit.exp2(
            loopEmit.fmul(loopEmit.fsub(lse, shift), loopEmit.f32(log2e)));
        // A part nothing wrote (grouped row lists' unused slots)
        // has lse -inf and is read as 0.
        Value part = loopEmit.select(
            loopEmit.isNegInf(lse), loopEmit.f32(0.0),
            memref::LoadOp::create(
                loopEmit.builder, loopEmit.loc, operands.partialOutput,
                ValueRange{batch, head, split, query, column}));
        return SmallVector<Value>{
            loopEmit.fadd(carried[0], weight),
            loopEmit.fadd(carried[1], loopEmit.fmul(weight, part))};
      });
  Value out = arith::DivFOp::create(rewriter, loc, sums[1], sums[0]);
  out = emit.select(empty, emit.f32(0.0), out);
  if (element != f32)
    out = arith::TruncFOp::create(rewriter, loc, element, out);
  memref::StoreOp::create(rewriter, loc, out, operands.output,
                          ValueRange{batch, head, query, column});
  auto ifFirst =
      scf::IfOp::create(rewriter, loc, emit.eq(column, emit.index(0)),
                        /*withElseRegion=*/false);
  rewriter.setInsertionPointToStart(ifFirst.thenBlock());
  Value lse = emit.fadd(largest, emit.fmul(emit.log2(sums[0]), emit.f32(ln2)));
  lse = emit.select(empty, emit.f32(-INFINITY), lse);
  memref::StoreOp::create(rewriter, loc, lse, operands.lse,
                          ValueRange{batch, head, query});
  rewriter.setInsertionPointAfter(ifFirst);
  gpu::TerminatorOp::create(rewriter, loc);
}

/// A launch that sets every element of `buffer` (`[B, heads, parts, Sq]`
/// f32) to -inf: 256 queries a block.
static void buildNegInfFill(PatternRewriter &rewriter, Location loc,
                            Value buffer, Value batch, int64_t heads,
                            Value parts, Value queryLen) {
  IndexArith host(rewriter, loc);
  constexpr int64_t kThreads = 256;
  Value one = host.index(1);
  auto launch = gpu::LaunchOp::create(
      rewriter, loc, host.udiv(host.add(queryLen, kThreads - 1), kThreads),
      host.mul(parts, heads), batch, host.index(kThreads), one, one);
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(&launch.getBody().front());
  KernelBuilder emit(rewriter, loc, rewriter.getF32Type());
  Value query = emit.add(emit.mul(launch.getBlockIds().x, kThreads),
                         launch.getThreadIds().x);
  Value y = launch.getBlockIds().y;
  auto ifQuery = scf::IfOp::create(rewriter, loc, emit.lt(query, queryLen),
                                   /*withElseRegion=*/false);
  rewriter.setInsertionPointToStart(ifQuery.thenBlock());
  Value head = arith::DivUIOp::create(rewriter, loc, y, parts);
  Value part = arith::RemUIOp::create(rewriter, loc, y, parts);
  memref::StoreOp::create(
      rewriter, loc, emit.f32(-INFINITY), buffer,
      ValueRange{launch.getBlockIds().z, head, part, query});
  rewriter.setInsertionPointAfter(ifQuery);
  gpu::TerminatorOp::create(rewriter, loc);
}

/// Allocates the results, emits the launch (one thread block per query tile
/// or per `itemsPerBlock` of them, per head, per batch) with the kernel
/// body, and replaces `op` by the results. `sharedBytes`: the dynamic shared
/// memory of a block.
static LogicalResult
replaceByLaunch(Operation *op, PatternRewriter &rewriter, LoweringBuilder &emit,
                const AttentionShape &shape, const MmaKernelConfig &config,
                KernelOperands &operands, Value sharedBytes) {
  Location loc = op->getLoc();
  auto outputType = cast<RankedTensorType>(op->getResult(0).getType());
  auto lseType = cast<RankedTensorType>(op->getResult(1).getType());
  auto allocOf = [&](RankedTensorType type, ArrayRef<Value> sizes) -> Value {
    return emit.allocOfType(type, sizes, "result shape");
  };
  Value heads = emit.index(shape.queryHeads);
  operands.output = allocOf(outputType, {shape.batch, heads, shape.queryLen,
                                         emit.index(shape.valueDim)});
  operands.lse = allocOf(lseType, {shape.batch, heads, shape.queryLen});

  Value queryTiles = emit.ceilDiv(shape.queryLen, config.blockQ);
  Value blocksX = config.itemsPerBlock == 1
                      ? queryTiles
                      : emit.ceilDiv(queryTiles, config.itemsPerBlock);
  Value blocksY = heads;
  if (operands.headsPerBlock > 1)
    blocksY = emit.index(shape.queryHeads / operands.headsPerBlock);
  if (operands.tokenSelection) {
    // A block per `warps` queries (one kv head, one tile of query heads).
    blocksX =
        emit.ceilDiv(shape.queryLen, operands.tokenSelection->layout.warps);
    blocksY = emit.index(1);
  } else if (operands.tokenIndices) {
    // A block per query, kv head and tile of the group's query heads.
    blocksX = arith::MulIOp::create(
        rewriter, loc, shape.queryLen,
        emit.index(llvm::divideCeil(config.groupSize, config.blockQ)));
    blocksY = emit.index(shape.kvHeads);
  } else if (operands.groupPairs) {
    // Grouped row lists: a block per chunk of a kv block's pairs, at most
    // ceil(Sq * capacity / blockQ) + kvBlocks of them (the grouping launch
    // counts them; the blocks past the count exit).
    blocksX = emit.add(emit.ceilDiv(emit.mul(shape.queryLen, operands.capacity),
                                    config.blockQ),
                       emit.index(config.rowListBlocks));
  } else if (config.packedQueries) {
    // Decode: a block per kv head and tile of its group's packed rows and
    // part of the keys.
    queryTiles = emit.index(llvm::divideCeil(
        config.packedQueries * config.groupSize, config.blockQ));
    blocksY = emit.index(shape.kvHeads);
    setUpSplit(rewriter, emit, shape, config, queryTiles, operands);
    blocksX = arith::MulIOp::create(rewriter, loc, queryTiles, operands.splits);
  }
  // Sliced value columns: a block per slice too (x = block * slices + slice).
  if (config.valueSlices > 1)
    blocksX = arith::MulIOp::create(rewriter, loc, blocksX,
                                    emit.index(config.valueSlices));
  Value sharedBytesI32 = arith::IndexCastOp::create(
      rewriter, loc, rewriter.getI32Type(), sharedBytes);
  Value one = emit.index(1);
  auto launch = gpu::LaunchOp::create(rewriter, loc, blocksX, blocksY,
                                      shape.batch, emit.index(config.threads()),
                                      one, one, sharedBytesI32);
  SparseAttnDialect::MmaKernelAttrHelper(rewriter.getContext())
      .setAttr(launch, config.toAttr(rewriter));
  {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(&launch.getBody().front());
    KernelBuilder kernelEmit(rewriter, loc, outputType.getElementType());
    std::unique_ptr<AttentionKernel> kernel =
        AttentionKernel::create(kernelEmit, config, operands, launch);
    if (failed(kernel->build())) {
      rewriter.eraseOp(launch);
      return rewriter.notifyMatchFailure(op, "the mask cannot be lowered");
    }
    gpu::TerminatorOp::create(rewriter, loc);
  }
  if (operands.splits)
    buildCombineLaunch(rewriter, loc, shape, outputType.getElementType(),
                       operands);
  replaceByWrittenBuffers(rewriter, op, {operands.output, operands.lse});
  return success();
}

/// Replaces a block_sparse_attention the kernel takes by its launch; leaves
/// the others (with the reason as a match-failure remark) to the general
/// path.
struct BlockSparseAttentionMmaLowering
    : public OpRewritePattern<BlockSparseAttentionOp> {
  BlockSparseAttentionMmaLowering(MLIRContext *context,
                                  const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(BlockSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    // The kernel walks a query tile's columns after its blocks, each slot
    // once: exact for columns that are distinct keys outside the tile's
    // listed blocks, which vertical_slash's lists are.
    if (op.getNumColumns() && !options.trustColumnLists) {
      auto producer = op.getNumColumns().getDefiningOp<VerticalSlashOp>();
      if (!producer || op.getColumnIndices() != producer.getColumnIndices() ||
          op.getNumBlocks() != producer.getNumBlocks() ||
          op.getBlockIndices() != producer.getBlockIndices() ||
          op.getFullNumBlocks())
        return rewriter.notifyMatchFailure(
            op, "columns not straight from a vertical_slash with its block "
                "lists (trust-column-lists=false): repeated columns or "
                "columns inside listed blocks are counted once only by the "
                "general path");
    }
    std::string reason;
    FailureOr<MmaKernelConfig> config =
        chooseMmaKernel(getMmaKernelProblem(op), options, reason);
    if (failed(config))
      return rewriter.notifyMatchFailure(op, reason);
    // Columns are walked after a query tile's own blocks: not with lists
    // finer than the tile, nor with several query tiles per block.
    if (op.getNumColumns() && (config->rowListRows || config->groupedRows ||
                               config->listBlockQ % config->blockQ != 0 ||
                               config->itemsPerBlock != 1))
      return rewriter.notifyMatchFailure(
          op, "columns with lists finer than the kernel's query tile or "
              "several query tiles per block");
    Location loc = op.getLoc();
    FailureOr<llvm::DenseMap<Value, Value>> buffers =
        getCapturedBuffers(op, rewriter);
    if (failed(buffers))
      return rewriter.notifyMatchFailure(
          op, "a mod region uses an outer tensor other than by tensor.extract");
    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    AttentionShape shape =
        getAttentionShape(emit, op.getQuery(), op.getKey(), op.getValue(),
                          op.getSegmentIdsQ(), op.getSegmentIdsKv());
    checkMaskLengths(emit, op.getMaskAttr(), shape.kvLen);
    Value numBlocks = op.getNumBlocks(), blockIndices = op.getBlockIndices();
    emit.checkEq(emit.dim(numBlocks, 2),
                 emit.ceilDiv(shape.queryLen, config->listBlockQ),
                 "block lists do not have ceil(Sq / block_q) query blocks");
    emit.commonDim({{numBlocks, 0}, {blockIndices, 0}},
                   "num_blocks and block_indices batch differ");
    emit.commonDim({{numBlocks, 2}, {blockIndices, 2}},
                   "num_blocks and block_indices query blocks differ");

    KernelOperands operands =
        getCommonOperands(op, rewriter, shape, config->blockQ);
    operands.rules.capturedBuffers = std::move(*buffers);
    operands.listHeads =
        cast<RankedTensorType>(blockIndices.getType()).getDimSize(1);
    operands.capacity = emit.dim(blockIndices, 3);
    operands.fullCapacity = emit.index(0);
    if (Value fullNum = op.getFullNumBlocks()) {
      checkFullListShapes(emit, numBlocks, fullNum, op.getFullBlockIndices(),
                          emit.ceilDiv(shape.queryLen, config->listBlockQ));
      operands.fullCapacity = emit.dim(op.getFullBlockIndices(), 3);
    }
    operands.kvBlocks = emit.ceilDiv(shape.kvLen, config->listBlockKv);
    Value listBatch = emit.dim(numBlocks, 0);
    if (std::optional<int64_t> value = getConstantIntValue(listBatch);
        !value || *value != 1) {
      Value isOne = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::eq, listBatch, emit.index(1));
      Value isBatch = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::eq, listBatch, shape.batch);
      emit.check(arith::OrIOp::create(rewriter, loc, isOne, isBatch),
                 "block lists' batch is neither 1 nor the batch size");
      operands.listBatch = listBatch;
    }
    operands.numBlocks = toKernelBuffer(rewriter, loc, numBlocks);
    operands.blockIndices = toKernelBuffer(rewriter, loc, blockIndices);
    if (op.getFullNumBlocks()) {
      operands.fullNumBlocks =
          toKernelBuffer(rewriter, loc, op.getFullNumBlocks());
      operands.fullBlockIndices =
          toKernelBuffer(rewriter, loc, op.getFullBlockIndices());
    }
    if (Value numColumns = op.getNumColumns()) {
      checkFullListShapes(emit, numBlocks, numColumns, op.getColumnIndices(),
                          emit.ceilDiv(shape.queryLen, config->listBlockQ),
                          "num_columns", "column_indices");
      operands.columnCapacity = emit.dim(op.getColumnIndices(), 3);
      operands.numColumns = toKernelBuffer(rewriter, loc, numColumns);
      operands.columnIndices =
          toKernelBuffer(rewriter, loc, op.getColumnIndices());
    }
    if (config->groupedRows) {
      // Grouped: the pairs by kv block first, the partial results' lse
      // filled with -inf (slots no block writes), the kernel, the combine.
      RowGroupBuffers groups = buildRowGroupsLaunch(
          rewriter, loc, operands.numBlocks, operands.blockIndices, listBatch,
          emit.index(operands.listHeads), shape.queryLen, operands.capacity,
          config->rowListBlocks, config->blockQ);
      operands.groupPairs = groups.pairs;
      operands.groupPairStarts = groups.pairStarts;
      operands.groupChunkStarts = groups.chunkStarts;
      operands.listBatch = listBatch;
      operands.numBlocks = operands.blockIndices = nullptr;
      operands.splits = operands.capacity;
      auto f32 = rewriter.getF32Type();
      int64_t dynamic = ShapedType::kDynamic;
      operands.partialOutput = memref::AllocOp::create(
          rewriter, loc,
          MemRefType::get(
              {dynamic, shape.queryHeads, dynamic, dynamic, shape.valueDim},
              f32),
          ValueRange{shape.batch, operands.capacity, shape.queryLen});
      operands.partialLse = memref::AllocOp::create(
          rewriter, loc,
          MemRefType::get({dynamic, shape.queryHeads, dynamic, dynamic}, f32),
          ValueRange{shape.batch, operands.capacity, shape.queryLen});
      buildNegInfFill(rewriter, loc, operands.partialLse, shape.batch,
                      shape.queryHeads, operands.capacity, shape.queryLen);
    }
    // Lists finer than the tile (grouped, or the union's list and bitmaps):
    // static shared bytes.
    if (config->groupedRows || config->rowListRows)
      return replaceByLaunch(
          op, rewriter, emit, shape, *config, operands,
          emit.index(config->tileBytes() + config->fineListBytes()));
    // The counts and the combined list after the tiles (4 bytes each).
    Value sharedBytes = arith::AddIOp::create(
        rewriter, loc,
        emit.index(config->tileBytes() +
                   listHeaderBytes(static_cast<bool>(operands.fullNumBlocks))),
        arith::MulIOp::create(rewriter, loc,
                              arith::AddIOp::create(rewriter, loc,
                                                    operands.capacity,
                                                    operands.fullCapacity),
                              emit.index(4)));
    // A dynamic capacity bounds the list only at run time.
    emit.check(
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sle,
                              sharedBytes,
                              emit.index(options.chip.sharedMemoryPerBlock)),
        "block_indices capacity " +
            Twine(operands.fullNumBlocks ? "(plus full_block_indices') " : "") +
            "exceeds what the tensor-core kernel's shared memory holds");
    return replaceByLaunch(op, rewriter, emit, shape, *config, operands,
                           sharedBytes);
  }

  MmaAttentionOptions options;
};

/// The kernel of a fused_block_sparse_attention (its block_sparse_attention's,
/// each block selecting its list), or failure with the reason it runs as
/// its chain.
static FailureOr<MmaKernelConfig>
chooseFusedMmaKernel(FusedBlockSparseAttentionOp op,
                     const MmaAttentionOptions &options, std::string &reason) {
  if (!options.inKernelSelection) {
    reason = "in-kernel-selection=false (the chain's kernels were faster at "
             "the shapes measured)";
    return failure();
  }
  RankedTensorType keyPooled = op.getKeyPooled().getType();
  int64_t pooledDim = keyPooled.getDimSize(3);
  if (keyPooled.isDynamicDim(2)) {
    reason = "a dynamic number of kv blocks";
    return failure();
  }
  if (pooledDim % 4 != 0) {
    reason = "a pooled head dim that is not a multiple of 4";
    return failure();
  }
  if (Attribute scoreMask = op.getScoreMaskAttr();
      scoreMask && !hasMaskLowering(scoreMask)) {
    reason = "a score mask without a lowering";
    return failure();
  }
  FailureOr<MmaKernelConfig> config =
      chooseMmaKernel(getMmaKernelProblem(op), options, reason);
  if (failed(config))
    return failure();
  if (config->rowListRows || config->groupedRows ||
      config->listBlockQ % config->blockQ != 0) {
    reason = "lists finer than the kernel's query tile (block_q " +
             std::to_string(config->listBlockQ) + ")";
    return failure();
  }
  if (config->itemsPerBlock != 1) {
    reason = "several query tiles per block (items-per-block)";
    return failure();
  }
  return config;
}

/// Replaces a fused_block_sparse_attention the kernel takes by one launch
/// of the attention kernel whose blocks select their lists
/// (FusedSelection.cpp); the pass runs the others as their chains.
struct FusedBlockSparseAttentionMmaLowering
    : public OpRewritePattern<FusedBlockSparseAttentionOp> {
  FusedBlockSparseAttentionMmaLowering(MLIRContext *context,
                                       const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(FusedBlockSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason;
    FailureOr<MmaKernelConfig> config =
        chooseFusedMmaKernel(op, options, reason);
    if (failed(config))
      return rewriter.notifyMatchFailure(op, reason);
    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    AttentionShape shape = getAttentionShape(emit, op.getQuery(), op.getKey(),
                                             op.getValue(), nullptr, nullptr);
    checkMaskLengths(emit, op.getMaskAttr(), shape.kvLen);
    Value queryPooled = op.getQueryPooled(), keyPooled = op.getKeyPooled();
    emit.checkEq(emit.dim(queryPooled, 0), shape.batch,
                 "query_pooled's batch differs from the query's");
    emit.checkEq(emit.dim(keyPooled, 0), shape.batch,
                 "key_pooled's batch differs from the query's");
    emit.checkEq(emit.dim(queryPooled, 2),
                 emit.ceilDiv(shape.queryLen, config->listBlockQ),
                 "query_pooled does not have ceil(Sq / block_q) rows");
    RankedTensorType keyPooledType = op.getKeyPooled().getType();
    int64_t kvBlocks = keyPooledType.getDimSize(2);
    emit.checkEq(emit.ceilDiv(shape.kvLen, config->listBlockKv),
                 emit.index(kvBlocks),
                 "key_pooled does not have ceil(Skv / block_kv) rows");

    KernelOperands operands =
        getCommonOperands(op, rewriter, shape, config->blockQ);
    operands.listHeads = op.getListHeads();
    int64_t capacity = op.getListCapacity();
    operands.capacity = emit.index(capacity);
    operands.fullCapacity = emit.index(0);
    operands.kvBlocks = emit.index(kvBlocks);
    operands.queryPooled = toKernelBuffer(rewriter, op.getLoc(), queryPooled);
    operands.keyPooled = toKernelBuffer(rewriter, op.getLoc(), keyPooled);
    FusedSelection &selection = operands.selection;
    selection.rule.count =
        op.getKAttr() ? op.getKAttr().getInt() : op.getMaxBlocksAttr().getInt();
    selection.rule.sink = op.getSink();
    selection.rule.local = op.getLocal();
    if (FloatAttr mass = op.getMassAttr())
      selection.rule.mass = mass.getValueAsDouble();
    int64_t pooledDim = keyPooledType.getDimSize(3);
    selection.scoreScale =
        op.getScoreScaleAttr()
            ? op.getScoreScaleAttr().getValueAsDouble()
            : 1.0 / std::sqrt(static_cast<double>(pooledDim));
    selection.scoreMask = op.getScoreMaskAttr();
    selection.pooledDim = pooledDim;
    selection.kvBlocks = kvBlocks;
    selection.capacity = capacity;
    // One selection per GQA group: a block computes the group's heads in
    // turn over it, selected once for them. (Measured, bench/fusion.py:
    // blocks of 4 heads select 4x as often and were up to 31% slower at
    // S = 32768; issuing the next head's Q and first tile during the last
    // tile, as several query tiles do, was no faster.)
    if (operands.listHeads == shape.kvHeads && shape.queryHeads > shape.kvHeads)
      operands.headsPerBlock = shape.queryHeads / shape.kvHeads;
    return replaceByLaunch(op, rewriter, emit, shape, *config, operands,
                           emit.index(config->tileBytes() +
                                      listHeaderBytes(false) + 4 * capacity +
                                      selection.scratchBytes()));
  }

  MmaAttentionOptions options;
};

/// The tile bounds `attention` offers the kernel's choice (the "blocks" it
/// divides): 128 query rows, 128 keys with wgmma (which then picks the kv
/// tile for occupancy), 64 with mma.sync.
static BlockSizes getAttentionListBlocks(const MmaAttentionOptions &options) {
  return {128, options.chip.warpgroupMma ? 128 : 64};
}

/// Replaces an `attention` the kernel takes by its launch, with no block
/// lists: each query tile walks the kv tiles of its rows' key hull under
/// the mask (the mask lowering interface), testing each tile for pairs the
/// mask fully allows or wholly excludes, as FlashAttention walks causal and
/// local windows. Static and dynamic lengths alike.
struct AttentionMmaLowering : public OpRewritePattern<AttentionOp> {
  AttentionMmaLowering(MLIRContext *context, const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason;
    FailureOr<MmaKernelConfig> config =
        chooseMmaKernel(getMmaKernelProblem(op, getAttentionListBlocks(options),
                                            0, std::nullopt),
                        options, reason);
    if (failed(config))
      return rewriter.notifyMatchFailure(op, reason);
    FailureOr<llvm::DenseMap<Value, Value>> buffers =
        getCapturedBuffers(op, rewriter);
    if (failed(buffers))
      return rewriter.notifyMatchFailure(
          op, "a mod region uses an outer tensor other than by tensor.extract");
    // The kernel's tiles are the "blocks" of the walk.
    config->listBlockQ = config->blockQ;
    config->listBlockKv = config->blockKv;
    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    AttentionShape shape =
        getAttentionShape(emit, op.getQuery(), op.getKey(), op.getValue(),
                          op.getSegmentIdsQ(), op.getSegmentIdsKv());
    checkMaskLengths(emit, op.getMaskAttr(), shape.kvLen);
    KernelOperands operands =
        getCommonOperands(op, rewriter, shape, config->blockQ);
    operands.rules.capturedBuffers = std::move(*buffers);
    operands.listHeads = 1;
    operands.capacity = emit.index(0);
    operands.fullCapacity = emit.index(0);
    return replaceByLaunch(op, rewriter, emit, shape, *config, operands,
                           emit.index(config->tileBytes()));
  }

  MmaAttentionOptions options;
};

/// The operands of the token-list kernel for a token_sparse_attention or
/// a fused_token_sparse_attention with `slots` list slots per query: the
/// kernel's keys are the list's slots, Skv bounds the entries.
template <typename Op>
static KernelOperands
getTokenOperands(Op op, PatternRewriter &rewriter, LoweringBuilder &emit,
                 const AttentionShape &shape, Value slots) {
  Location loc = op.getLoc();
  KernelOperands operands;
  operands.queryLen = shape.queryLen;
  operands.kvLen = slots;
  operands.tokenKeys = shape.kvLen;
  operands.queryHeads = shape.queryHeads;
  operands.kvHeads = shape.kvHeads;
  operands.rules.scale = getScaleValue(op.getScaleAttr(), shape.headDim);
  operands.query = toKernelBuffer(rewriter, loc, op.getQuery());
  operands.key = toKernelBuffer(rewriter, loc, op.getKey());
  operands.value = toKernelBuffer(rewriter, loc, op.getValue());
  operands.listHeads = 1;
  operands.capacity = emit.index(0);
  operands.fullCapacity = emit.index(0);
  return operands;
}

/// Replaces a token_sparse_attention a kernel takes by its launch: a block
/// per query and kv head whose rows are the group's query heads (all share
/// the query's list, FlashMLA's sparse structure) and whose kv tiles are
/// the keys of consecutive slots of the list, gathered by cp.async (an
/// invalid slot zero-filled and masked; a key listed twice counts twice).
struct TokenSparseAttentionMmaLowering
    : public OpRewritePattern<TokenSparseAttentionOp> {
  TokenSparseAttentionMmaLowering(MLIRContext *context,
                                  const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(TokenSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason;
    FailureOr<MmaKernelConfig> config = chooseMmaKernel(
        getMmaKernelProblem(op, getAttentionListBlocks(options).kv), options,
        reason);
    if (failed(config))
      return rewriter.notifyMatchFailure(op, reason);
    config->listBlockKv = config->blockKv;
    Location loc = op.getLoc();
    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    AttentionShape shape = getAttentionShape(emit, op.getQuery(), op.getKey(),
                                             op.getValue(), {}, {});
    Value tokens = op.getTokenIndices();
    emit.checkEq(emit.dim(tokens, 0), shape.batch,
                 "token_indices batch differs from the query batch");
    emit.checkEq(emit.dim(tokens, 1), shape.queryLen,
                 "token_indices length differs from the query length");
    KernelOperands operands =
        getTokenOperands(op, rewriter, emit, shape, emit.dim(tokens, 2));
    operands.tokenIndices = toKernelBuffer(rewriter, loc, tokens);
    return replaceByLaunch(op, rewriter, emit, shape, *config, operands,
                           emit.index(config->tileBytes()));
  }

  MmaAttentionOptions options;
};

/// The kernel of a fused_token_sparse_attention (its token_sparse_attention's,
/// each block selecting its queries' lists with the indexer's body first)
/// and the indexer's layout, or failure with the reason it runs as its
/// chain.
static FailureOr<std::pair<MmaKernelConfig, TokenSelection>>
chooseFusedTokenKernel(FusedTokenSparseAttentionOp op,
                       const MmaAttentionOptions &options,
                       std::string &reason) {
  if (!options.inKernelSelection) {
    reason = "in-kernel-selection=false (the chain's kernels were faster at "
             "the shapes measured)";
    return failure();
  }
  RankedTensorType indexQuery = op.getIndexQuery().getType();
  int64_t indexHeads = indexQuery.getDimSize(1);
  int64_t indexDim = indexQuery.getDimSize(3);
  if (failed(checkIndexerInputs(indexQuery.getElementType(), indexDim,
                                op.getIndexMaskAttr(), reason)))
    return failure();
  int64_t queryHeads = op.getQuery().getType().getDimSize(1);
  int64_t kvHeads = op.getKey().getType().getDimSize(1);
  if (kvHeads != 1) {
    reason = "more than one kv head (each head's block would select the "
             "query's list again)";
    return failure();
  }
  // The indexer's transient part takes the tiles' place; the lists and
  // their counts follow the tiles (counted as list entries). A warp per
  // query, up to the kernel's warps (4 at most here): of the queries per
  // block and key stages that fit, the most queries (each key tile serves
  // them all: the indexer's S^2 work dominates as S grows), then the most
  // stages, then the most blocks per multiprocessor; the tensor-core
  // kernel before the CUDA-core one. (Measured at DSA's shape, bench/
  // chains.py: 4 queries, 3 stages, one block per multiprocessor 11.1 /
  // 97.9 ms at S = 8192 / 32768; 2 queries, 1 stage, two blocks 9.9 /
  // 104.0.)
  constexpr int64_t kMaxQueries = 4;
  int64_t topk = op.getTopk();
  int64_t maxStages = getIndexerMaxStages(indexDim, options.chip);
  struct Candidate {
    MmaKernelConfig config;
    int64_t queries, stages;
  };
  std::optional<Candidate> best;
  for (bool tensorCores : {true, false}) {
    for (int64_t queries : {4, 2, 1})
      for (int64_t stages = maxStages; stages >= 1; --stages) {
        IndexerLayout budget(queries, stages, indexHeads, indexDim, topk);
        MmaKernelProblem problem =
            getMmaKernelProblem(op, getAttentionListBlocks(options).kv);
        problem.prologueBytes = budget.transientBytes;
        problem.capacity = (16 + budget.indicesBytes()) / 4;
        FailureOr<MmaKernelConfig> config =
            chooseMmaKernel(problem, options, reason);
        if (failed(config) || config->simt == tensorCores ||
            config->threads() < queries * sparse_attn::kWarpSize)
          continue;
        auto rank = [](const Candidate &c) {
          return std::make_tuple(c.queries, c.stages, c.config.blocksPerSM);
        };
        Candidate candidate{*config, queries, stages};
        if (!best || rank(candidate) > rank(*best))
          best = candidate;
      }
    if (best || !options.tensorCores)
      break;
  }
  if (!best) {
    if (reason.empty())
      reason = "no kernel holds the indexer's shared memory with its tiles";
    return failure();
  }
  MmaKernelConfig &config = best->config;
  if (config.valueSlices != 1 ||
      llvm::divideCeil(queryHeads, config.blockQ) != 1 ||
      config.threads() > kMaxQueries * sparse_attn::kWarpSize ||
      config.itemsPerBlock != 1) {
    reason = "the query's heads take more than one block of at most " +
             std::to_string(kMaxQueries) + " warps";
    return failure();
  }
  TokenSelection selection{
      IndexerProblem{},
      IndexerLayout(best->queries, best->stages, indexHeads, indexDim, topk)};
  selection.layout.threads = config.threads();
  int64_t listsAt =
      llvm::alignTo(config.tilesEndBytes() + listHeaderBytes(false), 16);
  selection.countsOffset = listsAt;
  selection.layout.placeIndicesAt(listsAt + 16);
  config.listBlockKv = config.blockKv;
  return std::make_pair(config, selection);
}

/// Replaces a fused_token_sparse_attention the kernel takes by one launch
/// (FusedTokenSelection.cpp); the pass runs the others as their chains.
struct FusedTokenSparseAttentionMmaLowering
    : public OpRewritePattern<FusedTokenSparseAttentionOp> {
  FusedTokenSparseAttentionMmaLowering(MLIRContext *context,
                                       const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(FusedTokenSparseAttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason;
    auto chosen = chooseFusedTokenKernel(op, options, reason);
    if (failed(chosen))
      return rewriter.notifyMatchFailure(op, reason);
    auto &[config, selection] = *chosen;
    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    AttentionShape shape = getAttentionShape(emit, op.getQuery(), op.getKey(),
                                             op.getValue(), {}, {});
    IndexerProblem &p = selection.problem;
    p = getIndexerProblem(rewriter, emit, op.getIndexQuery(), op.getIndexKey(),
                          op.getWeights(), nullptr, nullptr,
                          op.getIndexMaskAttr(), op.getTopk());
    emit.checkEq(p.batch, shape.batch,
                 "index_query's batch differs from the query's");
    emit.checkEq(p.queryLen, shape.queryLen,
                 "index_query's length differs from the query's");
    emit.checkEq(p.kvLen, shape.kvLen,
                 "index_key's length differs from the key's");

    KernelOperands operands =
        getTokenOperands(op, rewriter, emit, shape, emit.index(p.topk));
    operands.tokenSelection = selection;
    return replaceByLaunch(op, rewriter, emit, shape, config, operands,
                           emit.index(selection.layout.bytes));
  }

  MmaAttentionOptions options;
};

struct ConvertSparseAttnToNVGPUPass
    : sparse_attn::impl::ConvertSparseAttnToNVGPUPassBase<
          ConvertSparseAttnToNVGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    FailureOr<MmaAttentionOptions> options = getMmaAttentionOptions(
        [&](const Twine &message) { getOperation()->emitError(message); });
    if (failed(options))
      return signalPassFailure();
    // Fused selection ops the attention kernel cannot take (with its own
    // selection) run as their chains' kernels; a remark says why. Per-token
    // rows (MoBA) run their block_scores and selection as one kernel
    // (FusedRowSelection.h): the chain's selection op is marked for it.
    llvm::DenseSet<Operation *> rowFused, fusedSelections;
    auto emitRemark = [&](Operation *op, const Twine &text, bool passed) {
      auto opts = remark::RemarkOpts::name("FusedKernel")
                      .category("convert-sparse-attn-to-nvgpu");
      std::string message = (op->getName().getStringRef() + text).str();
      if (passed)
        remark::passed(op->getLoc(), opts) << message;
      else
        remark::missed(op->getLoc(), opts) << message;
    };
    unfuseSelection(
        getOperation(),
        [&](Operation *op) {
          auto fused = dyn_cast<FusedBlockSparseAttentionOp>(op);
          std::string reason;
          if (fused && succeeded(chooseFusedMmaKernel(fused, *options, reason)))
            return true;
          if (auto token = dyn_cast<FusedTokenSparseAttentionOp>(op)) {
            if (succeeded(chooseFusedTokenKernel(token, *options, reason))) {
              emitRemark(op,
                         " runs as one kernel: each block selects its "
                         "queries' token lists in shared memory, then "
                         "attends over them",
                         /*passed=*/true);
              return true;
            }
          }
          std::string rowReason;
          // Independent of in-kernel-selection: the row kernel replaces two
          // of the chain's kernels and leaves the attention as it is (MoBA
          // whole 0.95 -> 0.83 ms at S = 8192, 3.73 -> 3.57 at 32768,
          // docs/performance.md).
          if (fused &&
              canFuseRowScores(
                  fused.getQueryPooled().getType(),
                  fused.getKeyPooled().getType(), fused.getListHeads(),
                  fused.getBlockSizes().query, fused.getScoreMaskAttr(),
                  /*segmentIds=*/false, *options, rowReason)) {
            rowFused.insert(op);
            emitRemark(op,
                       " runs as block_scores and its selection in one "
                       "kernel (no scores in global memory), then the "
                       "attention",
                       /*passed=*/true);
            return false;
          }
          emitRemark(op, " runs as its chain: " + reason, /*passed=*/false);
          return false;
        },
        [&](Operation *fused, Operation *attention) {
          if (rowFused.contains(fused))
            fusedSelections.insert(cast<BlockSparseAttentionOp>(attention)
                                       .getNumBlocks()
                                       .getDefiningOp());
        });
    RewritePatternSet patterns(&getContext());
    populateSparseAttnToNVGPUPatterns(patterns, *options);
    populateFusedRowSelectionPatterns(patterns, *options, fusedSelections);
    // Each op is rewritten once, into ops no pattern matches: a walk, not a
    // fixed point (and no folding, which would hoist the kernel's constants
    // out of the launch).
    walkAndApplyPatterns(getOperation(), std::move(patterns));
    // Producers whose consumers' patterns look at them go last: the
    // block_scores a fused selection replaced have no users left.
    getOperation()->walk([&](BlockScoresOp op) {
      if (op->use_empty())
        op->erase();
    });
    RewritePatternSet producers(&getContext());
    populateSparseAttnToNVGPUProducerPatterns(producers, *options);
    walkAndApplyPatterns(getOperation(), std::move(producers));
  }

  /// The pass options as the patterns take them; a request the kernel
  /// cannot take is an error, not a silent fallback.
  FailureOr<MmaAttentionOptions>
  getMmaAttentionOptions(function_ref<void(const Twine &)> emitError) {
    auto fail = [&](const Twine &message) {
      emitError("convert-sparse-attn-to-nvgpu: " + message);
      return failure();
    };
    std::optional<ChipInfo> chipInfo = getChipInfo(chip);
    if (!chipInfo)
      return fail("unknown chip '" + chip + "' (expected " +
                  getKnownChipNames() + ")");
    int64_t requestedBlockQ = blockQ, requestedBlockKv = blockKv,
            requestedStages = stages;
    if (!llvm::is_contained({0, 16, 32, 64, 128}, requestedBlockQ) ||
        !llvm::is_contained({0, 16, 32, 64, 128}, requestedBlockKv) ||
        (requestedBlockKv == 128 && !chipInfo->warpgroupMma) ||
        (requestedStages != 1 && requestedStages != 2))
      return fail("block-q must be 16, 32, 64 or 128, block-kv 16, 32, 64 "
                  "(or 128 on sm_90a), stages 1 or 2 (got block-q = " +
                  Twine(requestedBlockQ) +
                  ", block-kv = " + Twine(requestedBlockKv) +
                  ", stages = " + Twine(requestedStages) + ")");
    if (blocksPerSM < 0 || blocksPerSM > 2)
      return fail("blocks-per-sm must be 0 (the kernel's choice), 1 or 2 "
                  "(got " +
                  Twine(int64_t(blocksPerSM)) + ")");
    if (itemsPerBlock < 1 || itemsPerBlock > 8)
      return fail("items-per-block must be 1 to 8 (got " +
                  Twine(int64_t(itemsPerBlock)) + ")");
    if (warpgroupRows < 0 || warpgroupRows > 2)
      return fail("warpgroup-rows must be 0 (the kernel's choice), 1 or 2 "
                  "(got " +
                  Twine(int64_t(warpgroupRows)) + ")");
    if (!llvm::is_contained({"auto", "union", "grouped"}, StringRef(rowLists)))
      return fail("row-lists must be auto, union or grouped (got '" + rowLists +
                  "')");
    MmaAttentionOptions options;
    options.chip = *chipInfo;
    options.rowLists = rowLists;
    options.blockQ = requestedBlockQ;
    options.blockKv = requestedBlockKv;
    options.stages = requestedStages;
    options.warpgroupRows = warpgroupRows;
    options.itemsPerBlock = itemsPerBlock;
    options.blocksPerSM = blocksPerSM;
    options.decode = decode;
    options.tensorCores = tensorCores;
    options.inKernelSelection = inKernelSelection;
    options.trustColumnLists = trustColumnLists;
    options.runtimeChecks = runtimeChecks;
    return options;
  }
};

} // namespace

FailureOr<MmaAttentionOptions> sparse_attn::parseMmaAttentionOptions(
    StringRef text, function_ref<void(const Twine &)> emitError) {
  ConvertSparseAttnToNVGPUPass pass;
  // The option parser reports a malformed value itself (on stderr) and
  // hands an empty message here.
  if (failed(pass.initializeOptions(text, [&](const Twine &message) {
        std::string why = message.str();
        emitError("convert-sparse-attn-to-nvgpu: " +
                  (why.empty() ? "rejected '" + text + "'" : Twine(why)));
        return failure();
      })))
    return failure();
  return pass.getMmaAttentionOptions(emitError);
}

bool sparse_attn::isMmaKernelSupported(const MmaKernelProblem &problem,
                                       const MmaAttentionOptions &options,
                                       std::string *reason) {
  std::string why;
  bool supported = succeeded(chooseMmaKernel(problem, options, why));
  if (reason)
    *reason = why;
  return supported;
}

void sparse_attn::populateSparseAttnToNVGPUPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  patterns.add<BlockSparseAttentionMmaLowering, AttentionMmaLowering,
               TokenSparseAttentionMmaLowering,
               FusedBlockSparseAttentionMmaLowering,
               FusedTokenSparseAttentionMmaLowering>(patterns.getContext(),
                                                     options);
  populateBlockMaskKernelPatterns(patterns, options);
  populateIndexerKernelPatterns(patterns, options);
  populateSelectionKernelPatterns(patterns, options);
}

void sparse_attn::populateSparseAttnToNVGPUProducerPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  populateBlockScoresKernelPatterns(patterns, options);
  populateVerticalSlashKernelPatterns(patterns, options);
}
