//===- SparseAttnAttrs.h - sparse_attn attributes ---------------*- C++ -*-===//
//
// Mask attributes, the mask interfaces and the pooling-kind enum.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_IR_SPARSEATTNATTRS_H
#define SPARSE_ATTN_IR_SPARSEATTNATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>

namespace mlir::sparse_attn {

/// A half-open range `[begin, end)` of key positions.
struct KeyRange {
  int64_t begin;
  int64_t end;

  bool operator==(const KeyRange &other) const {
    return begin == other.begin && end == other.end;
  }
};

/// Sequence lengths and block sizes are bounded so that every position and
/// block index fits the dialect's i32 index tensors.
constexpr int64_t kMaxSequenceLength = 2147483647;

} // namespace mlir::sparse_attn

#include "SparseAttn/IR/SparseAttnAttrInterfaces.h.inc"
#include "SparseAttn/IR/SparseAttnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "SparseAttn/IR/SparseAttnAttrs.h.inc"

#endif // SPARSE_ATTN_IR_SPARSEATTNATTRS_H
