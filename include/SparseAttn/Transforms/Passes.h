//===- Passes.h - sparse_attn transforms ------------------------*- C++ -*-===//
//
// Declarations and registration of the transforms on sparse_attn ops.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TRANSFORMS_PASSES_H
#define SPARSE_ATTN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::sparse_attn {

#define GEN_PASS_DECL
#include "SparseAttn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "SparseAttn/Transforms/Passes.h.inc"

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_TRANSFORMS_PASSES_H
