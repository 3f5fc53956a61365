//===- SparseAttnOps.h - sparse_attn operations -----------------*- C++ -*-===//
//
// Declares the ops of the sparse_attn dialect and the masked-op interface.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_IR_SPARSEATTNOPS_H
#define SPARSE_ATTN_IR_SPARSEATTNOPS_H

#include "SparseAttn/IR/SparseAttnAttrs.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::sparse_attn {
class MaskedOpInterface;
namespace detail {
/// Verifier shared by every op implementing MaskedOpInterface: segment ids
/// are given exactly when the mask reads them.
LogicalResult verifyMaskedOp(Operation *op);
} // namespace detail

/// The `block = [block_q, block_kv]` of a block-list op, in tokens.
struct BlockSizes {
  int64_t query;
  int64_t kv;
};

/// Reads a `block` attribute (two i64 entries, as ODS checks).
BlockSizes getBlockSizes(ArrayAttr block);

/// The element count of a shaped type's static dims (dynamic dims count as
/// 1), or nullopt when their product overflows int64.
std::optional<int64_t> getStaticElementCount(ShapedType type);

namespace detail {
LogicalResult verifyBoundedShapes(Operation *op);
} // namespace detail

/// Op trait: no operand or result type has static dims multiplying past
/// 2^63 - 1 (see SparseAttn_BoundedShapes).
template <typename ConcreteType>
class BoundedShapes : public OpTrait::TraitBase<ConcreteType, BoundedShapes> {
public:
  static LogicalResult verifyTrait(Operation *op) {
    return detail::verifyBoundedShapes(op);
  }
};
} // namespace mlir::sparse_attn

#include "SparseAttn/IR/SparseAttnOpInterfaces.h.inc"

#define GET_OP_CLASSES
#include "SparseAttn/IR/SparseAttnOps.h.inc"

namespace mlir {
class RewritePatternSet;
namespace sparse_attn {
/// Patterns that replace the mask of every masked op by its simplified form
/// (see simplifyMask); part of canonicalization, exposed for reuse.
void populateSimplifyMaskPatterns(RewritePatternSet &patterns);

/// Replaces every fused selection op under `root`
/// (fused_block_sparse_attention, fused_token_sparse_attention) by the chain of
/// ops it stands for, except those `keep` (when given) returns true for: what a
/// lowering without a fused kernel for an op does first. `unfused` (when
/// given) sees each replaced op with the chain's attention op, before the
/// fused op is erased.
void unfuseSelection(
    Operation *root, llvm::function_ref<bool(Operation *)> keep = nullptr,
    llvm::function_ref<void(Operation *, Operation *)> unfused = nullptr);
} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_IR_SPARSEATTNOPS_H
