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
} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_IR_SPARSEATTNOPS_H
