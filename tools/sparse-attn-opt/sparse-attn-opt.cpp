//===- sparse-attn-opt.cpp - sparse_attn optimizer driver -------*- C++ -*-===//
//
// The opt tool: parses sparse_attn IR with the upstream dialects it is
// written beside, and runs the project's and the generic upstream passes.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/IR/SparseAttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::sparse_attn::SparseAttnDialect, mlir::arith::ArithDialect,
                  mlir::func::FuncDialect, mlir::math::MathDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect>();
  // Generic passes users combine ours with: canonicalize, cse, inline, ...
  mlir::registerTransformsPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "sparse-attn optimizer driver\n", registry));
}
