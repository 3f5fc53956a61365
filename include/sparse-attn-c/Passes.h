/*===- sparse-attn-c/Passes.h - C API of the passes ---------------*- C -*-===*\
|*                                                                            *|
|* Registration of every pass and pipeline, so that mlirParsePassPipeline     *|
|* accepts e.g. "builtin.module(sparse-attn-to-ptx-pipeline{chip=sm_90a})",   *|
|* and (generated from the passes' TableGen) a constructor and a registration *|
|* function per pass, to add them to an MlirOpPassManager directly.           *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef SPARSE_ATTN_C_PASSES_H
#define SPARSE_ATTN_C_PASSES_H

#include "mlir-c/Pass.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every sparse_attn pass, both pipelines (sparse-attn-to-ptx-pipeline,
 * sparse-attn-to-llvm-cpu-pipeline) and the upstream passes users combine
 * them with: the C++ mlir::sparse_attn::registerSparseAttnPasses. Safe to
 * call more than once. */
MLIR_CAPI_EXPORTED void sparseAttnRegisterPasses(void);

#ifdef __cplusplus
}
#endif

/* mlirCreateSparseAttnTransforms<Pass>(),
 * mlirCreateSparseAttnConversion<Pass>() and their mlirRegister... functions.
 */
#include "SparseAttn/Conversion/Passes.capi.h.inc"
#include "SparseAttn/Transforms/Passes.capi.h.inc"

#endif /* SPARSE_ATTN_C_PASSES_H */
