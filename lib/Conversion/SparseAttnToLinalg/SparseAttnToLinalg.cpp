//===- SparseAttnToLinalg.cpp - reference lowering of sparse_attn ---------===//
//
// Lowers every sparse_attn op to linalg/scf/arith/math/tensor, computing
// exactly what docs/semantics.md states. Attention materializes its scores;
// the selection ops are scalar scf loops. Correctness, not speed.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "SparseAttn/Conversion/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/MaskLowering.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_CONVERTSPARSEATTNTOLINALGPASS
#include "SparseAttn/Conversion/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

struct ConvertSparseAttnToLinalgPass
    : sparse_attn::impl::ConvertSparseAttnToLinalgPassBase<
          ConvertSparseAttnToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    // The fused ops mean their chains; the reference lowering runs those.
    unfuseSelection(getOperation());
    // Reject what the patterns cannot lower with a diagnostic that says why,
    // before any rewriting.
    WalkResult walk = getOperation()->walk([](Operation *op) {
      auto masked = dyn_cast<MaskedOpInterface>(op);
      if (masked && masked.getMaskAttr() &&
          !hasMaskLowering(masked.getMaskAttr())) {
        op->emitOpError() << "mask " << masked.getMaskAttr()
                          << " has no lowering to linalg";
        return WalkResult::interrupt();
      }
      if (auto blockMask = dyn_cast<BlockMaskOp>(op);
          blockMask && blockMask.getNumBlocks().getType().isDynamicDim(0) &&
          !blockMask.getSegmentIdsQ()) {
        op->emitOpError() << "has a dynamic list batch but no segment ids to "
                             "give its extent";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    populateSparseAttnToLinalgConversionPatterns(patterns, runtimeChecks);
    ConversionTarget target(getContext());
    target.addIllegalDialect<SparseAttnDialect>();
    // Yields go away with the op whose region holds them.
    target.addLegalOp<YieldOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();

    // Aggregated linalg ops on tensors (linalg.softmax, as frontends write
    // attention) as the ops they stand for: what follows
    // (convert-linalg-to-loops, the GPU loops) takes only those.
    SmallVector<linalg::AggregatedOpInterface> aggregated;
    getOperation()->walk([&](linalg::AggregatedOpInterface op) {
      if (op->getNumResults() > 0)
        aggregated.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::AggregatedOpInterface op : aggregated) {
      rewriter.setInsertionPoint(op);
      FailureOr<SmallVector<Value>> results = op.decomposeOperation(rewriter);
      if (failed(results)) {
        op->emitOpError("cannot be decomposed into ops that lower to loops");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, *results);
    }
  }
};

} // namespace
void sparse_attn::populateSparseAttnToLinalgConversionPatterns(
    RewritePatternSet &patterns, bool runtimeChecks) {
  // Attention over masks, block lists and token lists.
  populateAttentionToLinalgPatterns(patterns, runtimeChecks);
  // Block lists of a mask, pooling and block scores.
  populateBlockListsToLinalgPatterns(patterns, runtimeChecks);
  // Selection of blocks and tokens.
  populateSelectionToLinalgPatterns(patterns, runtimeChecks);
  populateVerticalSlashToLinalgPatterns(patterns, runtimeChecks);
}
