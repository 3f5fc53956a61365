//===- FuseSelection.cpp - selection chains into fused attention ops ------===//
//
// block_scores -> select_{topk,threshold} -> block_sparse_attention and
// lightning_indexer -> token_sparse_attention as the dialect's fused ops,
// with a remark for every chain left alone and why.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "SparseAttn/IR/MaskUtils.h"
#include "SparseAttn/IR/SparseAttnOps.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/Remarks.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "sparse-attn-fuse-selection"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNFUSESELECTIONPASS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

static constexpr remark::RemarkOpts kRemark =
    remark::RemarkOpts::name("FuseSelection")
        .category("sparse-attn-fuse-selection");

/// Reports a chain left unfused (a "missed" remark; -debug-only too).
static void reportMissed(Operation *op, const Twine &chain, const Twine &why) {
  std::string text = (chain + " not fused: " + why).str();
  LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << op->getLoc() << ": " << text
                          << "\n");
  remark::missed(op->getLoc(), kRemark) << text;
}

static void reportFused(Operation *op, const Twine &chain) {
  std::string text =
      (chain + " fused into " + op->getName().getStringRef()).str();
  LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << op->getLoc() << ": " << text
                          << "\n");
  remark::passed(op->getLoc(), kRemark) << text;
}

/// Whether every use of `op`'s results is by `user`.
static bool onlyUsedBy(Operation *op, Operation *user) {
  return llvm::all_of(op->getUsers(),
                      [&](Operation *use) { return use == user; });
}

static bool sameDim(int64_t lhs, int64_t rhs) {
  return !ShapedType::isDynamic(lhs) && lhs == rhs;
}

/// Why the block chain ending in `attention` cannot become one fused op, or
/// an empty string when it can. `select` is select_topk or select_threshold.
static std::string whyNotFusable(BlockSparseAttentionOp attention,
                                 Operation *select, BlockScoresOp scores) {
  if (attention.getFullNumBlocks())
    return "the attention also reads full lists";
  if (attention.getNumColumns())
    return "the attention also reads column lists";
  if (attention.getSegmentIdsQ() || scores.getSegmentIdsQ())
    return "segment ids (document masks) are not fused";
  if (!attention.getMaskMod().empty() || !attention.getScoreMod().empty())
    return "the attention has a mask_mod or score_mod region";
  if (!onlyUsedBy(select, attention))
    return "the block lists have another user";
  if (!onlyUsedBy(scores, select))
    return "the block scores have another user";
  if (attention.getBlock() != scores.getBlock())
    return "block_scores and the attention use different blocks";
  RankedTensorType query = attention.getQuery().getType();
  RankedTensorType key = attention.getKey().getType();
  RankedTensorType queryPooled = scores.getQueryPooled().getType();
  RankedTensorType keyPooled = scores.getKeyPooled().getType();
  int64_t queryLen = query.getDimSize(2), kvLen = key.getDimSize(2);
  if (ShapedType::isDynamic(queryLen) || ShapedType::isDynamic(kvLen))
    return "dynamic sequence lengths";
  auto lengthMatches = [](IntegerAttr attr, int64_t length) {
    return !attr || attr.getInt() == length;
  };
  if (!lengthMatches(scores.getQLenAttr(), queryLen) ||
      !lengthMatches(scores.getKvLenAttr(), kvLen))
    return "block_scores' q_len / kv_len differ from the attention's lengths";
  if (queryPooled.getDimSize(1) != query.getDimSize(1) ||
      keyPooled.getDimSize(1) != key.getDimSize(1))
    return "the pooled operands' heads differ from the attention's";
  auto [blockQ, blockKv] = attention.getBlockSizes();
  if (!sameDim(queryPooled.getDimSize(2), ceilDiv(queryLen, blockQ)) ||
      !sameDim(keyPooled.getDimSize(2), ceilDiv(kvLen, blockKv)))
    return "the pooled operands do not have one row per block";
  if (!sameDim(queryPooled.getDimSize(0), query.getDimSize(0)) ||
      !sameDim(keyPooled.getDimSize(0), query.getDimSize(0)))
    return "the pooled operands' batch differs from the attention's (or is "
           "dynamic)";
  int64_t listHeads = scores.getScores().getType().getDimSize(1);
  if (attention.getNumBlocks().getType().getDimSize(1) != listHeads)
    return "the lists' heads differ from the scores'";
  auto maskReadsSegments = [](MaskAttrInterface mask) {
    return mask && mask.usesSegmentIds();
  };
  if (maskReadsSegments(attention.getMaskAttr()) ||
      maskReadsSegments(scores.getMaskAttr()))
    return "segment ids (document masks) are not fused";
  return "";
}

static void fuseBlockChain(BlockSparseAttentionOp attention) {
  Operation *select = attention.getNumBlocks().getDefiningOp();
  auto topk = dyn_cast_or_null<SelectTopKOp>(select);
  auto threshold = dyn_cast_or_null<SelectThresholdOp>(select);
  if (!topk && !threshold)
    return; // Not a selection chain: nothing to say.
  StringRef chain = topk ? "block_scores -> select_topk -> "
                           "block_sparse_attention"
                         : "block_scores -> select_threshold -> "
                           "block_sparse_attention";
  Value scoresValue = topk ? topk.getScores() : threshold.getScores();
  if (attention.getBlockIndices().getDefiningOp() != select)
    return reportMissed(attention, chain,
                        "num_blocks and block_indices come from different ops");
  auto scores = scoresValue.getDefiningOp<BlockScoresOp>();
  if (!scores)
    return reportMissed(attention, chain,
                        "the scores do not come from block_scores");
  std::string why = whyNotFusable(attention, select, scores);
  if (!why.empty())
    return reportMissed(attention, chain, why);

  IRRewriter rewriter(attention);
  auto fused = FusedBlockSparseAttentionOp::create(
      rewriter, attention.getLoc(), attention.getOutput().getType(),
      attention.getLse().getType(), attention.getQuery(), attention.getKey(),
      attention.getValue(), scores.getQueryPooled(), scores.getKeyPooled(),
      attention.getBlock(), attention.getMaskAttr(), attention.getScaleAttr(),
      scores.getMaskAttr(), scores.getScaleAttr(),
      rewriter.getI64IntegerAttr(scores.getScores().getType().getDimSize(1)),
      topk ? topk.getKAttr() : IntegerAttr(),
      threshold ? threshold.getMassAttr() : FloatAttr(),
      threshold ? threshold.getMaxBlocksAttr() : IntegerAttr(),
      topk ? topk.getSinkAttr() : threshold.getSinkAttr(),
      topk ? topk.getLocalAttr() : threshold.getLocalAttr());
  rewriter.replaceOp(attention, fused.getResults());
  rewriter.eraseOp(select);
  rewriter.eraseOp(scores);
  reportFused(fused, chain);
}

static void fuseTokenChain(TokenSparseAttentionOp attention) {
  auto indexer =
      attention.getTokenIndices().getDefiningOp<LightningIndexerOp>();
  if (!indexer)
    return;
  StringRef chain = "lightning_indexer -> token_sparse_attention";
  if (!onlyUsedBy(indexer, attention))
    return reportMissed(attention, chain, "the token lists have another user");
  if (indexer.getSegmentIdsQ())
    return reportMissed(attention, chain,
                        "segment ids (document masks) are not fused");
  RankedTensorType query = attention.getQuery().getType();
  RankedTensorType indexQuery = indexer.getIndexQuery().getType();
  if (!sameDim(indexQuery.getDimSize(0), query.getDimSize(0)) ||
      indexQuery.getDimSize(2) != query.getDimSize(2) ||
      indexer.getIndexKey().getType().getDimSize(1) !=
          attention.getKey().getType().getDimSize(2))
    return reportMissed(attention, chain,
                        "the indexer's batch or lengths differ from the "
                        "attention's (or are dynamic)");
  IRRewriter rewriter(attention);
  auto fused = FusedTokenSparseAttentionOp::create(
      rewriter, attention.getLoc(), attention.getOutput().getType(),
      attention.getLse().getType(), attention.getQuery(), attention.getKey(),
      attention.getValue(), indexer.getIndexQuery(), indexer.getIndexKey(),
      indexer.getWeights(), indexer.getTopkAttr(), indexer.getMaskAttr(),
      attention.getScaleAttr());
  rewriter.replaceOp(attention, fused.getResults());
  rewriter.eraseOp(indexer);
  reportFused(fused, chain);
}

namespace {
struct SparseAttnFuseSelectionPass
    : sparse_attn::impl::SparseAttnFuseSelectionPassBase<
          SparseAttnFuseSelectionPass> {
  void runOnOperation() override {
    SmallVector<Operation *> attentions;
    getOperation()->walk([&](Operation *op) {
      if (isa<BlockSparseAttentionOp, TokenSparseAttentionOp>(op))
        attentions.push_back(op);
    });
    for (Operation *op : attentions) {
      if (auto attention = dyn_cast<BlockSparseAttentionOp>(op))
        fuseBlockChain(attention);
      else
        fuseTokenChain(cast<TokenSparseAttentionOp>(op));
    }
  }
};
} // namespace
