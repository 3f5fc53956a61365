//===- SparseAttnDialect.cpp - sparse_attn dialect --------------*- C++ -*-===//
//
// Dialect registration, constant materialization and the dialect-wide
// canonicalization of masks.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/IR/MaskUtils.h"
#include "SparseAttn/IR/SparseAttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::sparse_attn;

#include "SparseAttn/IR/SparseAttnDialect.cpp.inc"

void SparseAttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "SparseAttn/IR/SparseAttnOps.cpp.inc"
      >();
  registerAttributes();
}

Operation *SparseAttnDialect::materializeConstant(OpBuilder &builder,
                                                  Attribute value, Type type,
                                                  Location loc) {
  // block_mask folds to dense i32 tensors.
  if (auto elements = dyn_cast<DenseElementsAttr>(value);
      elements && elements.getType() == type)
    return arith::ConstantOp::create(builder, loc, type, elements);
  return nullptr;
}

namespace {
/// Replaces the mask of any masked op by its simplified form.
struct SimplifyMaskAttr : public OpInterfaceRewritePattern<MaskedOpInterface> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(MaskedOpInterface op,
                                PatternRewriter &rewriter) const override {
    MaskAttrInterface mask = op.getMaskAttr();
    if (!mask)
      return failure();
    MaskAttrInterface simplified = simplifyMask(mask);
    if (simplified == mask)
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.setMaskAttr(simplified); });
    return success();
  }
};
} // namespace

void mlir::sparse_attn::populateSimplifyMaskPatterns(
    RewritePatternSet &patterns) {
  patterns.add<SimplifyMaskAttr>(patterns.getContext());
}

void SparseAttnDialect::getCanonicalizationPatterns(
    RewritePatternSet &patterns) const {
  populateSimplifyMaskPatterns(patterns);
}
