//===- SparseAttnDialect.h - sparse_attn dialect ----------------*- C++ -*-===//
//
// Declares the sparse_attn dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_IR_SPARSEATTNDIALECT_H
#define SPARSE_ATTN_IR_SPARSEATTNDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Dialect.h"

#include "SparseAttn/IR/SparseAttnDialect.h.inc"

#endif // SPARSE_ATTN_IR_SPARSEATTNDIALECT_H
