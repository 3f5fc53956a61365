//===- AttentionToBlockSparse.cpp - attention over its mask's blocks ------===//
//
// `attention` with static lengths as `block_sparse_attention` over the
// exact block lists of its mask: what lets a block-sparse kernel serve
// plain attention.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Transforms.h"

#include "SparseAttn/Transforms/Passes.h"

#include "SparseAttn/IR/MaskUtils.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <algorithm>

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNATTENTIONTOBLOCKSPARSEPASS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

struct AttentionToBlockSparse : public OpRewritePattern<AttentionOp> {
  AttentionToBlockSparse(MLIRContext *context,
                         const AttentionToBlockSparseOptions &options)
      : OpRewritePattern(context), options(options) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getSegmentIdsQ())
      return rewriter.notifyMatchFailure(op, "the mask reads segment ids");
    int64_t queryLen = op.getQuery().getType().getDimSize(2);
    int64_t kvLen = op.getKey().getType().getDimSize(2);
    if (ShapedType::isDynamic(queryLen) || ShapedType::isDynamic(kvLen))
      return rewriter.notifyMatchFailure(op, "dynamic sequence lengths");
    // block_mask takes lengths up to kMaxSequenceLength.
    if (queryLen > kMaxSequenceLength || kvLen > kMaxSequenceLength)
      return rewriter.notifyMatchFailure(op, "lengths past block_mask's limit");
    MaskAttrInterface mask = op.getMaskAttr();
    // A mask_mod must see every pair, full blocks included.
    bool withFull = op.getMaskMod().empty();
    int64_t blockQ = options.blockQ, blockKv = options.blockKv;
    int64_t queryBlocks = ceilDiv(queryLen, blockQ);
    int64_t kvBlocks = ceilDiv(kvLen, blockKv);
    // Capacities: the longest lists (at least 1), or every kv block.
    BlockSparseForm form{blockQ, blockKv, kvBlocks, std::nullopt};
    int64_t fullCapacity = kvBlocks;
    if (FailureOr<BlockLists> lists =
            computeBlockLists(mask, queryLen, kvLen, blockQ, blockKv);
        succeeded(lists)) {
      form.capacity = std::max<int64_t>(1, withFull ? lists->maxPartialCount
                                                    : lists->maxCount);
      fullCapacity = std::max<int64_t>(1, lists->maxFullCount);
    }
    if (withFull)
      form.fullCapacity = fullCapacity;
    if (options.filter && !options.filter(op, form))
      return rewriter.notifyMatchFailure(op, "rejected by the filter");

    Location loc = op.getLoc();
    Type i32 = rewriter.getI32Type();
    auto countsType = RankedTensorType::get({1, 1, queryBlocks}, i32);
    auto listType = [&](int64_t capacity) {
      return RankedTensorType::get({1, 1, queryBlocks, capacity}, i32);
    };
    ArrayAttr block = rewriter.getI64ArrayAttr({blockQ, blockKv});
    auto blockMask = BlockMaskOp::create(
        rewriter, loc, countsType, listType(form.capacity),
        withFull ? countsType : Type(),
        withFull ? listType(fullCapacity) : Type(), Value(), Value(), mask,
        block, rewriter.getI64IntegerAttr(queryLen),
        rewriter.getI64IntegerAttr(kvLen));
    auto sparse = BlockSparseAttentionOp::create(
        rewriter, loc, op.getOutput().getType(), op.getLse().getType(),
        op.getQuery(), op.getKey(), op.getValue(), blockMask.getNumBlocks(),
        blockMask.getBlockIndices(), blockMask.getFullNumBlocks(),
        blockMask.getFullBlockIndices(), /*num_columns=*/Value(),
        /*column_indices=*/Value(), Value(), Value(), block, mask,
        op.getScaleAttr());
    IRMapping mapping;
    rewriter.cloneRegionBefore(op.getMaskMod(), sparse.getMaskMod(),
                               sparse.getMaskMod().end(), mapping);
    rewriter.cloneRegionBefore(op.getScoreMod(), sparse.getScoreMod(),
                               sparse.getScoreMod().end(), mapping);
    rewriter.replaceOp(op, sparse.getResults());
    return success();
  }

  AttentionToBlockSparseOptions options;
};

struct SparseAttnAttentionToBlockSparsePass
    : sparse_attn::impl::SparseAttnAttentionToBlockSparsePassBase<
          SparseAttnAttentionToBlockSparsePass> {
  using Base::Base;
  SparseAttnAttentionToBlockSparsePass(
      const AttentionToBlockSparseOptions &options)
      : filter(options.filter) {
    blockQ = options.blockQ;
    blockKv = options.blockKv;
  }

  void runOnOperation() override {
    if (blockQ < 1 || blockKv < 1 || blockQ > kMaxSequenceLength ||
        blockKv > kMaxSequenceLength) {
      getOperation()->emitError()
          << "sparse-attn-attention-to-block-sparse: block sizes must be in "
             "[1, "
          << kMaxSequenceLength << "] (got block-q = "
          << int64_t(blockQ) << ", block-kv = " << int64_t(blockKv) << ")";
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    populateAttentionToBlockSparsePatterns(
        patterns, AttentionToBlockSparseOptions{blockQ, blockKv, filter});
    // One rewrite per op, into ops no pattern matches.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }

  std::function<bool(AttentionOp, const BlockSparseForm &)> filter;
};

} // namespace

std::unique_ptr<Pass> sparse_attn::createSparseAttnAttentionToBlockSparsePass(
    const AttentionToBlockSparseOptions &options) {
  return std::make_unique<SparseAttnAttentionToBlockSparsePass>(options);
}

void sparse_attn::populateAttentionToBlockSparsePatterns(
    RewritePatternSet &patterns, const AttentionToBlockSparseOptions &options) {
  patterns.add<AttentionToBlockSparse>(patterns.getContext(), options);
}
