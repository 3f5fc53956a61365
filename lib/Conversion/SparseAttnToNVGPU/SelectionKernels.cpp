//===- SelectionKernels.cpp - the selection ops on the GPU ----------------===//
//
// Kernels of the ops that choose blocks before an attention (NSA, MoBA):
//   pool: a thread block per (pooled block, head, batch); its threads split
//     the block's rows and 16-byte column chunks, each reducing its rows
//     with vector loads, then the partials are combined through shared
//     memory: a bandwidth-bound kernel.
//   select_topk, select_threshold: a warp per row. The row's scores become
//     order-preserving unsigned keys in shared memory (0 for the
//     unselectable: -inf, NaN); RowSelection.cpp marks the selected blocks;
//     a last ascending ballot pass writes the ascending list and the -1
//     padding.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"

#include "KernelBuilder.h"
#include "RowSelection.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// Threads of a pool block.
constexpr int64_t kPoolThreads = 128;

struct PoolGpuLowering : public OpRewritePattern<PoolOp> {
  PoolGpuLowering(MLIRContext *context, const MmaAttentionOptions &options)
      : OpRewritePattern(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(PoolOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    Type element = inputType.getElementType();
    int64_t dim = inputType.getDimSize(3);
    if (ShapedType::isDynamic(dim))
      return rewriter.notifyMatchFailure(op, "dynamic head dim");
    int64_t block = op.getBlock();
    // Columns a thread loads at once: up to 16 bytes that divide a row.
    int64_t bytes = element.getIntOrFloatBitWidth() / 8;
    int64_t vector = 16 / bytes;
    while (dim % vector != 0)
      vector /= 2;
    int64_t chunks = dim / vector;
    // Row groups: the threads not needed for one row's chunks take other
    // rows of the block (at most `block` of them).
    int64_t rowGroups = std::clamp<int64_t>(kPoolThreads / chunks, 1,
                                            std::max<int64_t>(block, 1));
    int64_t threads = std::min(kPoolThreads, chunks * rowGroups);

    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    Value input = toKernelBuffer(rewriter, loc, op.getInput());
    Value batch = emit.dim(op.getInput(), 0),
          length = emit.dim(op.getInput(), 2);
    Value headsValue = emit.dim(op.getInput(), 1);
    Value blocks = emit.ceilDiv(length, block);
    auto resultType = op.getResult().getType();
    Value result = emit.allocOfType(
        resultType, {batch, headsValue, blocks, emit.index(dim)},
        "result shape");
    Value one = emit.index(1);
    int64_t sharedBytes = rowGroups * dim * 4;
    Value sharedValue =
        arith::ConstantIntOp::create(rewriter, loc, sharedBytes, 32);
    auto launch =
        gpu::LaunchOp::create(rewriter, loc, blocks, headsValue, batch,
                              emit.index(threads), one, one, sharedValue);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder kernel(rewriter, loc, element);
      buildBody(kernel, launch, op.getKind() == PoolKind::Max, input, result,
                length, block, dim, vector, chunks, rowGroups, threads);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    replaceByWrittenBuffers(rewriter, op, result);
    return success();
  }

  void buildBody(KernelBuilder &emit, gpu::LaunchOp launch, bool isMax,
                 Value input, Value result, Value length, int64_t block,
                 int64_t dim, int64_t vector, int64_t chunks, int64_t rowGroups,
                 int64_t threads) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type f32 = builder.getF32Type();
    Value tid = launch.getThreadIds().x;
    Value pooled = launch.getBlockIds().x, head = launch.getBlockIds().y,
          batch = launch.getBlockIds().z;
    Value begin = emit.mul(pooled, block);
    Value end = emit.min(emit.add(begin, block), length);
    Value identity = emit.f32(isMax ? -INFINITY : 0.0);
    auto combine = [&](KernelBuilder &at, Value x, Value y) -> Value {
      return isMax ? at.fmax(x, y) : at.fadd(x, y);
    };
    Value partials = emit.sharedView(emit.dynamicSharedMemory(), emit.index(0),
                                     {rowGroups, dim}, f32);
    // Thread t: row group t / chunkStride, column chunks t % chunkStride,
    // + chunkStride, ... (more than one when a row has more chunks than the
    // block has threads).
    int64_t chunkStride = threads / rowGroups;
    Value rowGroup = emit.udiv(tid, chunkStride);
    Value firstChunk = emit.urem(tid, chunkStride);
    auto vectorType = VectorType::get({vector}, emit.element);
    auto wideType = VectorType::get({vector}, f32);
    scf::ForOp::create(
        builder, loc, firstChunk, emit.index(chunks), emit.index(chunkStride),
        ValueRange{},
        [&](OpBuilder &chunkBuilder, Location chunkLoc, Value chunk,
            ValueRange) {
          KernelBuilder at(chunkBuilder, chunkLoc, emit.element);
          Value column = at.mul(chunk, vector);
          SmallVector<Value> init(vector, identity);
          auto rows = scf::ForOp::create(
              chunkBuilder, chunkLoc, at.add(begin, rowGroup), end,
              at.index(rowGroups), init,
              [&](OpBuilder &rowBuilder, Location rowLoc, Value row,
                  ValueRange acc) {
                KernelBuilder rowEmit(rowBuilder, rowLoc, emit.element);
                Value loaded = vector::LoadOp::create(
                    rowBuilder, rowLoc, vectorType, input,
                    ValueRange{batch, head, row, column});
                if (!emit.element.isF32())
                  loaded = arith::ExtFOp::create(rowBuilder, rowLoc, wideType,
                                                 loaded);
                SmallVector<Value> next;
                for (int64_t i = 0; i < vector; ++i)
                  next.push_back(combine(
                      rowEmit, acc[i],
                      vector::ExtractOp::create(rowBuilder, rowLoc, loaded,
                                                ArrayRef<int64_t>{i})));
                scf::YieldOp::create(rowBuilder, rowLoc, next);
              });
          for (int64_t i = 0; i < vector; ++i)
            memref::StoreOp::create(chunkBuilder, chunkLoc, rows.getResult(i),
                                    partials,
                                    ValueRange{rowGroup, at.add(column, i)});
          scf::YieldOp::create(chunkBuilder, chunkLoc);
        });
    gpu::BarrierOp::create(builder, loc);
    // The row groups' partials in order, then the mean's division.
    Value count = arith::UIToFPOp::create(
        builder, loc, f32,
        arith::IndexCastOp::create(builder, loc, builder.getI64Type(),
                                   emit.sub(end, begin)));
    scf::ForOp::create(
        builder, loc, tid, emit.index(dim), emit.index(threads), ValueRange{},
        [&](OpBuilder &colBuilder, Location colLoc, Value column, ValueRange) {
          KernelBuilder at(colBuilder, colLoc, emit.element);
          Value total = identity;
          // Groups past the block's rows hold the identity.
          for (int64_t g = 0; g < rowGroups; ++g)
            total = combine(
                at, total,
                memref::LoadOp::create(colBuilder, colLoc, partials,
                                       ValueRange{at.index(g), column}));
          if (!isMax)
            total = arith::DivFOp::create(colBuilder, colLoc, total, count);
          memref::StoreOp::create(colBuilder, colLoc, total, result,
                                  ValueRange{batch, head, pooled, column});
          scf::YieldOp::create(colBuilder, colLoc);
        });
  }

  MmaAttentionOptions options;
};

/// select_topk and select_threshold: a warp per row (RowSelection.h).
template <typename OpTy>
struct BlockSelectionGpuLowering : public OpRewritePattern<OpTy> {
  BlockSelectionGpuLowering(MLIRContext *context,
                            const MmaAttentionOptions &options)
      : OpRewritePattern<OpTy>(context, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    Value scoresTensor = op.getScores();
    Value batch = emit.dim(scoresTensor, 0), heads = emit.dim(scoresTensor, 1),
          rows = emit.dim(scoresTensor, 2), blocks = emit.dim(scoresTensor, 3);
    RowSelectionRule rule = getRowSelectionRule(op);
    auto [num, indices, capacity] =
        allocateRowLists(emit, op, batch, heads, rows);
    Value scores = toKernelBuffer(rewriter, loc, scoresTensor);
    // The row's keys and marks in shared memory (4 bytes each).
    Value sharedBytes = emit.mul(blocks, emit.index(8));
    emit.check(
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sle,
                              sharedBytes,
                              emit.index(options.chip.sharedMemoryPerBlock)),
        "rows of more than " + Twine(options.chip.sharedMemoryPerBlock / 8) +
            " blocks do not fit the kernel's shared memory");
    Value one = emit.index(1);
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, rows, heads, batch, emit.index(32), one, one,
        arith::IndexCastOp::create(rewriter, loc, rewriter.getI32Type(),
                                   sharedBytes));
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder kernel(rewriter, loc, rewriter.getF32Type());
      buildBody(kernel, launch, scores, num, indices, blocks, capacity, rule);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    replaceByWrittenBuffers(rewriter, op, {num, indices});
    return success();
  }

  void buildBody(KernelBuilder &emit, gpu::LaunchOp launch, Value scores,
                 Value num, Value indices, Value blocks, Value capacity,
                 const RowSelectionRule &rule) const {
    OpBuilder &builder = emit.builder;
    Type i32 = builder.getI32Type();
    Value lane = launch.getThreadIds().x;
    Value row = launch.getBlockIds().x, head = launch.getBlockIds().y,
          batch = launch.getBlockIds().z;
    Value shared = emit.dynamicSharedMemory();
    Value keys = emit.sharedView(shared, emit.index(0), {ShapedType::kDynamic},
                                 i32, blocks);
    Value marks = emit.sharedView(shared, emit.mul(blocks, emit.index(4)),
                                  {ShapedType::kDynamic}, i32, blocks);
    // Ordered keys: selectable scores (> -inf, not NaN) as unsigned i32
    // whose order is the scores' (every such key exceeds 0x007FFFFF), 0
    // otherwise; no block marked.
    emit.forRange(
        lane, blocks, emit.index(32), [&](KernelBuilder &at, Value j) {
          OpBuilder &b = at.builder;
          Value score = memref::LoadOp::create(b, at.loc, scores,
                                               ValueRange{batch, head, row, j});
          memref::StoreOp::create(b, at.loc, rowSelectionKey(at, score), keys,
                                  j);
          memref::StoreOp::create(
              b, at.loc, arith::ConstantIntOp::create(b, at.loc, 0, 32), marks,
              j);
        });
    emit.syncWarp();
    buildWarpRowSelection(emit, lane, keys, marks, blocks, rule);
    buildWarpRowList(emit, lane, marks, blocks, num, indices,
                     ValueRange{batch, head, row}, capacity);
  }

  MmaAttentionOptions options;
};

} // namespace

void sparse_attn::populateSelectionKernelPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options) {
  patterns.add<PoolGpuLowering, BlockSelectionGpuLowering<SelectTopKOp>,
               BlockSelectionGpuLowering<SelectThresholdOp>>(
      patterns.getContext(), options);
}
