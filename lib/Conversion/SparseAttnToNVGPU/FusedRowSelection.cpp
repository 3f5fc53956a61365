//===- FusedRowSelection.cpp - block_scores fused with its selection ------===//
//
// MoBA's selection (block_scores with block_q = 1 -> select_topk or
// select_threshold) as one launch; FusedRowSelection.h says what it takes.
// The separate kernels write and read a [B, H, Sq, NK] f32 score matrix
// (134 MB at MoBA's S = 32768) and block_scores' 64 x 64 tiles suit pooled
// query blocks, not one query per row: here a warp scores, selects and
// writes one row at a time, the head's pooled keys staged once per block
// (rows padded by one f32: lane j reads block j's row conflict-free).
//
//===----------------------------------------------------------------------===//

#include "FusedRowSelection.h"

#include "BlockMaskKernel.h"
#include "BlockScoresKernel.h"
#include "KernelBuilder.h"
#include "KernelConfig.h"
#include "RowSelection.h"

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/LoweringBuilder.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

// (nvgpu has a kWarpSize of its own.)
using sparse_attn::kWarpSize;

constexpr int64_t kWarps = 4;
constexpr int64_t kThreads = kWarps * kWarpSize;
/// Rows a warp takes (a block: kWarps of them).
constexpr int64_t kRowsPerWarp = 16;

/// Shared memory (bytes): the pooled keys [NK, D + 1] f32, then per warp
/// its query row [D] f32, keys [NK] and marks [NK] (i32).
struct RowScoresLayout {
  int64_t blocks, dim, keyStride, warpOffset, warpBytes, bytes;
  RowScoresLayout(int64_t blocks, int64_t dim)
      : blocks(blocks), dim(dim), keyStride(dim + 1) {
    warpOffset = blocks * keyStride * 4;
    warpBytes = (dim + 2 * blocks) * 4;
    bytes = warpOffset + kWarps * warpBytes;
  }
};

} // namespace

bool sparse_attn::canFuseRowScores(RankedTensorType queryType,
                                   RankedTensorType keyType,
                                   int64_t resultHeads, int64_t blockQ,
                                   Attribute mask, bool segmentIds,
                                   const MmaAttentionOptions &options,
                                   std::string &reason) {
  if (blockQ != 1) {
    reason = "rows are pooled query blocks (block_q != 1)";
    return false;
  }
  if (queryType.getDimSize(1) != resultHeads) {
    reason = "a selection shared by several query heads";
    return false;
  }
  if (segmentIds) {
    reason = "segment ids";
    return false;
  }
  if (mask && !hasMaskLowering(mask)) {
    reason = "the mask has no lowering";
    return false;
  }
  int64_t dim = queryType.getDimSize(3), blocks = keyType.getDimSize(2);
  if (ShapedType::isDynamic(dim) || ShapedType::isDynamic(blocks)) {
    reason = "dynamic head dim or kv blocks";
    return false;
  }
  // A lane per kv block: past 32 blocks each row takes rounds of CUDA-core
  // dots, and the tensor-core block_scores kernel with select's kernel
  // were faster (MoBA at S = 32768, 64 blocks: 3.06 against 3.31 ms whole;
  // at 8192, 16 blocks, the row kernel won 0.73 to 0.76: performance.md).
  if (blocks > kWarpSize) {
    reason = "more than 32 kv blocks (the chain's tensor-core scores are "
             "faster)";
    return false;
  }
  if (RowScoresLayout(blocks, dim).bytes > options.chip.sharedMemoryPerBlock) {
    reason = "the pooled keys exceed shared memory";
    return false;
  }
  return true;
}

namespace {

template <typename OpTy>
struct FusedRowSelectionLowering : public OpRewritePattern<OpTy> {
  FusedRowSelectionLowering(MLIRContext *context,
                            const MmaAttentionOptions &options,
                            const llvm::DenseSet<Operation *> &selections)
      : OpRewritePattern<OpTy>(context, /*benefit=*/3), options(options),
        selections(selections) {}

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (!selections.contains(op))
      return failure();
    auto scores = op.getScores().template getDefiningOp<BlockScoresOp>();
    std::string reason;
    if (!scores ||
        !canFuseRowScores(
            scores.getQueryPooled().getType(), scores.getKeyPooled().getType(),
            scores.getScores().getType().getDimSize(1),
            scores.getBlockSizes().query, scores.getMaskAttr(),
            static_cast<bool>(scores.getSegmentIdsQ()), options, reason))
      return rewriter.notifyMatchFailure(op, "not fusable: " + reason);
    Location loc = op.getLoc();
    RankedTensorType queryType = scores.getQueryPooled().getType();
    RankedTensorType keyType = scores.getKeyPooled().getType();
    int64_t dim = queryType.getDimSize(3), blocks = keyType.getDimSize(2);
    int64_t heads = queryType.getDimSize(1);
    int64_t kvGroup = heads / keyType.getDimSize(1);
    RowScoresLayout layout(blocks, dim);

    LoweringBuilder emit(rewriter, op, options.runtimeChecks);
    Value batch = emit.commonDim(
        {{scores.getQueryPooled(), 0}, {scores.getKeyPooled(), 0}},
        "batch sizes differ");
    Value rows = emit.dim(scores.getQueryPooled(), 2);
    Value blocksValue = emit.index(blocks);
    Attribute mask = scores.getMaskAttr();
    BlockSizes block = scores.getBlockSizes();
    Value qLen, kvLen;
    if (mask)
      std::tie(qLen, kvLen) =
          getBlockScoresLengths(emit, scores, rows, blocksValue);
    RowSelectionRule rule = getRowSelectionRule(op);
    Value headsValue = emit.index(heads);
    RowListBuffers lists =
        allocateRowLists(emit, op, batch, headsValue, rows);
    Value queries = toKernelBuffer(rewriter, loc, scores.getQueryPooled());
    Value keys = toKernelBuffer(rewriter, loc, scores.getKeyPooled());
    Value one = emit.index(1);
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, emit.ceilDiv(rows, kWarps * kRowsPerWarp), headsValue,
        batch, emit.index(kThreads), one, one,
        arith::ConstantIntOp::create(rewriter, loc, layout.bytes, 32));
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      KernelBuilder kernel(rewriter, loc, rewriter.getF32Type());
      double scale = getScaleValue(scores.getScaleAttr(), dim);
      buildBody(kernel, launch, layout, queries, keys, lists.num,
                lists.indices, rows, lists.capacity, kvGroup, scale, mask,
                block, qLen, kvLen, rule);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    replaceByWrittenBuffers(rewriter, op, {lists.num, lists.indices});
    return success();
  }

  static Value loadF32(KernelBuilder &at, Value memref, ValueRange indices) {
    Value x = memref::LoadOp::create(at.builder, at.loc, memref, indices);
    return x.getType().isF32()
               ? x
               : arith::ExtFOp::create(at.builder, at.loc,
                                       at.builder.getF32Type(), x);
  }

  void buildBody(KernelBuilder &emit, gpu::LaunchOp launch,
                 const RowScoresLayout &layout, Value queries, Value keys,
                 Value num, Value indices, Value rows, Value capacity,
                 int64_t kvGroup, double scale, Attribute mask,
                 BlockSizes block, Value qLen, Value kvLen,
                 const RowSelectionRule &rule) const {
    OpBuilder &builder = emit.builder;
    Location loc = emit.loc;
    Type f32 = builder.getF32Type(), i32 = builder.getI32Type();
    Value tid = launch.getThreadIds().x;
    Value warp = emit.udiv(tid, kWarpSize), lane = emit.urem(tid, kWarpSize);
    Value rowTile = launch.getBlockIds().x, head = launch.getBlockIds().y,
          b = launch.getBlockIds().z;
    Value kvHead = emit.udiv(head, kvGroup);
    int64_t blocks = layout.blocks, dim = layout.dim;
    Value blocksValue = emit.index(blocks);
    Value shared = emit.dynamicSharedMemory();
    Value pooled =
        emit.sharedView(shared, emit.index(0), {blocks, layout.keyStride}, f32);
    Value warpBase = emit.add(emit.index(layout.warpOffset),
                              emit.mul(warp, layout.warpBytes));
    Value query = emit.sharedView(shared, warpBase, {dim}, f32);
    Value rowKeys =
        emit.sharedView(shared, emit.add(warpBase, dim * 4), {blocks}, i32);
    Value marks = emit.sharedView(
        shared, emit.add(warpBase, (dim + blocks) * 4), {blocks}, i32);
    // The head's pooled keys.
    emit.forRange(tid, emit.index(blocks * dim), emit.index(kThreads),
                  [&](KernelBuilder &at, Value i) {
                    Value j = at.udiv(i, dim), d = at.urem(i, dim);
                    memref::StoreOp::create(
                        at.builder, at.loc,
                        loadF32(at, keys, ValueRange{b, kvHead, j, d}), pooled,
                        ValueRange{j, d});
                  });
    gpu::BarrierOp::create(builder, loc);
    Value firstRow = emit.add(emit.mul(rowTile, kWarps * kRowsPerWarp),
                              emit.mul(warp, kRowsPerWarp));
    Value lastRow = emit.min(emit.add(firstRow, kRowsPerWarp), rows);
    Value zeroKey = arith::ConstantIntOp::create(builder, loc, 0, 32);
    emit.forRange(
        firstRow, lastRow, emit.index(1), [&](KernelBuilder &at, Value row) {
          OpBuilder &rb = at.builder;
          Location rl = at.loc;
          at.forRange(lane, at.index(dim), at.index(kWarpSize),
                      [&](KernelBuilder &in, Value d) {
                        memref::StoreOp::create(
                            in.builder, in.loc,
                            loadF32(in, queries, ValueRange{b, head, row, d}),
                            query, ValueRange{d});
                      });
          at.syncWarp();
          std::optional<QueryBlockContext> context;
          if (mask)
            context = setUpQueryBlock(at, mask, block, qLen, kvLen, blocksValue,
                                      b, lane, row, /*perBatch=*/false, Value(),
                                      Value(), SegmentBoundsBuffers{});
          for (int64_t round = 0; round * kWarpSize < blocks; ++round) {
            Value j = at.add(lane, round * kWarpSize);
            Value inRange = at.lt(j, blocksValue);
            // Every lane takes part in the classification.
            Value occupied = context ? classifyKvBlock(at, *context, j).occupied
                                     : at.boolean(true);
            Value safe = at.min(j, at.index(blocks - 1));
            auto dot = scf::ForOp::create(
                rb, rl, at.index(0), at.index(dim), at.index(1),
                ValueRange{at.f32(0.0)},
                [&](OpBuilder &db, Location dl, Value d, ValueRange acc) {
                  KernelBuilder in(db, dl, emit.element);
                  Value q =
                      memref::LoadOp::create(db, dl, query, ValueRange{d});
                  Value k = memref::LoadOp::create(db, dl, pooled,
                                                   ValueRange{safe, d});
                  scf::YieldOp::create(db, dl, in.fadd(acc[0], in.fmul(q, k)));
                });
            Value score =
                at.select(occupied, at.fmul(dot.getResult(0), at.f32(scale)),
                          at.f32(-INFINITY));
            at.ifThen(inRange, [&] {
              memref::StoreOp::create(rb, rl, rowSelectionKey(at, score),
                                      rowKeys, ValueRange{j});
              memref::StoreOp::create(rb, rl, zeroKey, marks, ValueRange{j});
            });
          }
          at.syncWarp();
          buildWarpRowSelection(at, lane, rowKeys, marks, blocksValue, rule);
          buildWarpRowList(at, lane, marks, blocksValue, num, indices,
                           ValueRange{b, head, row}, capacity);
          // The next row rewrites the query, keys and marks.
          at.syncWarp();
        });
  }

  MmaAttentionOptions options;
  const llvm::DenseSet<Operation *> &selections;
};

} // namespace

void sparse_attn::populateFusedRowSelectionPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options,
    const llvm::DenseSet<Operation *> &selections) {
  patterns.add<FusedRowSelectionLowering<SelectTopKOp>,
               FusedRowSelectionLowering<SelectThresholdOp>>(
      patterns.getContext(), options, selections);
}
