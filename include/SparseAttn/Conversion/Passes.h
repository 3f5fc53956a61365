//===- Passes.h - sparse_attn conversion passes -----------------*- C++ -*-===//
//
// Declarations and registration of the conversions out of sparse_attn.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_CONVERSION_PASSES_H
#define SPARSE_ATTN_CONVERSION_PASSES_H

#include "SparseAttn/Conversion/SparseAttnToLinalg/SparseAttnToLinalg.h"
#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::sparse_attn {

#define GEN_PASS_DECL
#include "SparseAttn/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "SparseAttn/Conversion/Passes.h.inc"

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_CONVERSION_PASSES_H
