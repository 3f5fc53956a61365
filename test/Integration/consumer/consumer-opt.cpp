//===- consumer-opt.cpp - another compiler's *-opt tool embedding us ------===//
//
// What docs/embedding.md shows: a tool of another project registers the
// sparse_attn dialect (with what its IR lowers through) and its passes and
// pipelines next to its own, then runs MLIR's opt driver. The C API comes
// with SparseAttn::SparseAttnAll too: --print-causal-mask builds a mask
// through it, on the C++ side's context.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/InitAll.h"
#include "sparse-attn-c/Dialects.h"

#include "mlir/CAPI/IR.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::sparse_attn::registerSparseAttnDialects(registry);
  mlir::sparse_attn::registerSparseAttnPasses();

  if (argc == 2 && std::strcmp(argv[1], "--print-causal-mask") == 0) {
    mlir::MLIRContext context(registry);
    MlirAttribute causal = sparseAttnCausalAttrGet(wrap(&context));
    llvm::outs() << unwrap(causal) << " is a mask: "
                 << (sparseAttnAttributeIsAMask(causal) ? "yes" : "no") << "\n";
    return 0;
  }
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "consumer-opt: another compiler embedding sparse_attn\n",
      registry));
}
