//===- MaskPredicate.h - IR for "is (i, j) allowed" -------------*- C++ -*-===//
//
// Builds the i1 predicate of a mask attribute for one (b, i, j): what every
// lowering (the CPU reference, the GPU kernels) evaluates per pair.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_CONVERSION_MASKPREDICATE_H
#define SPARSE_ATTN_CONVERSION_MASKPREDICATE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"

namespace mlir::sparse_attn {

/// The values a mask reads for one pair; all `index` typed except the
/// segment id tensors (`tensor<BxSxi32>`, null when the mask reads none).
struct MaskPairValues {
  Value batch;
  Value queryRow;
  Value keyRow;
  Value queryLen;
  Value kvLen;
  Value segmentIdsQ;
  Value segmentIdsKv;
};

/// Returns whether `mask` allows the pair (an i1), following
/// docs/semantics.md: positions are bottom-right aligned. A null mask allows
/// every pair. Fails for a mask attribute this builder does not know.
FailureOr<Value> buildMaskPredicate(OpBuilder &builder, Location loc,
                                    Attribute mask, const MaskPairValues &pair);

/// Whether buildMaskPredicate can lower `mask` (and all its elements).
bool isMaskLowerable(Attribute mask);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_CONVERSION_MASKPREDICATE_H
