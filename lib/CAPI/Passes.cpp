//===- Passes.cpp - C API of sparse_attn's passes -------------------------===//
//
// sparseAttnRegisterPasses and the per-pass constructors generated from the
// passes' TableGen (Passes.capi.cpp.inc).
//
//===----------------------------------------------------------------------===//

#include "sparse-attn-c/Passes.h"

#include "SparseAttn/Conversion/Passes.h"
#include "SparseAttn/InitAll.h"
#include "SparseAttn/Transforms/Passes.h"

#include "mlir/CAPI/Pass.h"

using namespace mlir;
using namespace mlir::sparse_attn;

void sparseAttnRegisterPasses(void) { registerSparseAttnPasses(); }

// C linkage from their declarations in the .capi.h.inc files.
#include "SparseAttn/Conversion/Passes.capi.cpp.inc"
#include "SparseAttn/Transforms/Passes.capi.cpp.inc"
