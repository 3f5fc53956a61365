//===- sparse-attn-opt.cpp - sparse_attn optimizer driver -------*- C++ -*-===//
//
// The opt tool: parses sparse_attn IR with the upstream dialects it is
// written beside and lowered through, and runs the project's passes and
// pipelines with the upstream passes users combine them with.
//
//===----------------------------------------------------------------------===//

#include "../SanitizerDefaults.h"
#include "SparseAttn/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::sparse_attn::registerSparseAttnDialects(registry);
  mlir::sparse_attn::registerSparseAttnPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "sparse-attn optimizer driver\n", registry));
}
