//===- ApproximateMath.cpp - math functions as arith ----------------------===//
//
// sparse-attn-approximate-math: MLIR's polynomial approximations of the
// math functions, then the few math ops they use (fma, floor, absf) as
// plain arith, so kernels need no libdevice.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNAPPROXIMATEMATHPASS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;

namespace {

/// fma(a, b, c) -> a * b + c (two roundings; the approximations tolerate it).
struct FmaToArith : OpRewritePattern<math::FmaOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::FmaOp op,
                                PatternRewriter &rewriter) const override {
    Value product =
        arith::MulFOp::create(rewriter, op.getLoc(), op.getA(), op.getB());
    rewriter.replaceOpWithNewOp<arith::AddFOp>(op, product, op.getC());
    return success();
  }
};

/// absf(x) on f32 -> clear the sign bit.
struct AbsFToArith : OpRewritePattern<math::AbsFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::AbsFOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32");
    Location loc = op.getLoc();
    Type i32 = rewriter.getI32Type();
    Value bits = arith::BitcastOp::create(rewriter, loc, i32, op.getOperand());
    Value mask = arith::ConstantIntOp::create(rewriter, loc, 0x7fffffff, 32);
    Value cleared = arith::AndIOp::create(rewriter, loc, bits, mask);
    rewriter.replaceOpWithNewOp<arith::BitcastOp>(op, op.getType(), cleared);
    return success();
  }
};

/// floor(x) on f32 -> truncate through i32, minus one when that rounded up;
/// values of magnitude >= 2^23 (already integral), inf and NaN pass
/// through.
struct FloorToArith : OpRewritePattern<math::FloorOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::FloorOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32");
    Location loc = op.getLoc();
    Value x = op.getOperand();
    Type f32 = rewriter.getF32Type();
    Type i32 = rewriter.getI32Type();
    Value truncated = arith::FPToSIOp::create(rewriter, loc, i32, x);
    Value back = arith::SIToFPOp::create(rewriter, loc, f32, truncated);
    Value roundedUp = arith::CmpFOp::create(rewriter, loc,
                                            arith::CmpFPredicate::OGT, back, x);
    Value one =
        arith::ConstantOp::create(rewriter, loc, rewriter.getF32FloatAttr(1.0));
    Value lower = arith::SubFOp::create(rewriter, loc, back, one);
    Value floored =
        arith::SelectOp::create(rewriter, loc, roundedUp, lower, back);
    // |x| < 2^23 (false for NaN): the conversion above is exact.
    Value bits = arith::BitcastOp::create(rewriter, loc, i32, x);
    Value magnitude = arith::AndIOp::create(
        rewriter, loc, bits,
        arith::ConstantIntOp::create(rewriter, loc, 0x7fffffff, 32));
    Value limit = arith::ConstantIntOp::create(rewriter, loc, 0x4b000000, 32);
    Value small = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::slt, magnitude, limit);
    rewriter.replaceOpWithNewOp<arith::SelectOp>(op, small, floored, x);
    return success();
  }
};

struct SparseAttnApproximateMathPass
    : sparse_attn::impl::SparseAttnApproximateMathPassBase<
          SparseAttnApproximateMathPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns);
    // Lower benefit: the approximations run first and may create these.
    patterns.add<FmaToArith, AbsFToArith, FloorToArith>(&getContext(),
                                                        /*benefit=*/0);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
