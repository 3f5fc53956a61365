/*===- sparse-attn-c/Dialects.h - C API of the dialect ------------*- C -*-===*\
|*                                                                            *|
|* The dialect's registration handle, everything its IR needs registered on   *|
|* its way to PTX, and the mask attributes: a constructor, an `isa` and the   *|
|* parameter getters of each. Constructors verify their parameters: invalid   *|
|* ones report an error through the context's diagnostic handlers and return  *|
|* a null attribute (check it with mlirAttributeIsNull). They load the       *|
|* dialect into the context when it is not loaded yet.                        *|
|*                                                                            *|
|* C programs link libSparseAttnC.so (CMake: SparseAttn::SparseAttnC), which *|
|* also exports the core MLIR C API (mlir-c/IR.h, mlir-c/Pass.h, ...); C++    *|
|* tools get the static SparseAttn::SparseAttnCAPI with SparseAttnAll.        *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef SPARSE_ATTN_C_DIALECTS_H
#define SPARSE_ATTN_C_DIALECTS_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mlirGetDialectHandle__sparse_attn__(): the sparse_attn dialect alone. */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(SparseAttn, sparse_attn);

/* Every dialect, interface model and translation a module of ours needs on
 * its way to PTX or to the CPU (sparse_attn, func, arith, math, tensor,
 * linalg, bufferization, memref, scf, cf, vector, gpu, nvgpu, nvvm, llvm,
 * ub, their bufferization and to-LLVM models, the NVVM target and the LLVM IR
 * translations): the C++ mlir::sparse_attn::registerSparseAttnDialects. */
MLIR_CAPI_EXPORTED void
sparseAttnRegisterDialects(MlirDialectRegistry registry);

/* Whether the attribute is any sparse_attn mask (implements the mask
 * interface). */
MLIR_CAPI_EXPORTED bool sparseAttnAttributeIsAMask(MlirAttribute attr);

/*===--- #sparse_attn.causal: j <= i + Skv - Sq ---------------------------===*/

MLIR_CAPI_EXPORTED MlirAttribute sparseAttnCausalAttrGet(MlirContext ctx);
MLIR_CAPI_EXPORTED bool sparseAttnAttributeIsACausal(MlirAttribute attr);

/*===--- #sparse_attn.sliding_window<left = L, right = R> -----------------===*/

/* left and right are non-negative. */
MLIR_CAPI_EXPORTED MlirAttribute sparseAttnSlidingWindowAttrGet(MlirContext ctx,
                                                                int64_t left,
                                                                int64_t right);
MLIR_CAPI_EXPORTED bool sparseAttnAttributeIsASlidingWindow(MlirAttribute attr);
MLIR_CAPI_EXPORTED int64_t
sparseAttnSlidingWindowAttrGetLeft(MlirAttribute attr);
MLIR_CAPI_EXPORTED int64_t
sparseAttnSlidingWindowAttrGetRight(MlirAttribute attr);

/*===--- #sparse_attn.sink_window<sink = S, window = W> -------------------===*/

/* sink and window are non-negative. */
MLIR_CAPI_EXPORTED MlirAttribute sparseAttnSinkWindowAttrGet(MlirContext ctx,
                                                             int64_t sink,
                                                             int64_t window);
MLIR_CAPI_EXPORTED bool sparseAttnAttributeIsASinkWindow(MlirAttribute attr);
MLIR_CAPI_EXPORTED int64_t sparseAttnSinkWindowAttrGetSink(MlirAttribute attr);
MLIR_CAPI_EXPORTED int64_t
sparseAttnSinkWindowAttrGetWindow(MlirAttribute attr);

/*===--- #sparse_attn.document (segment ids) ------------------------------===*/

MLIR_CAPI_EXPORTED MlirAttribute sparseAttnDocumentAttrGet(MlirContext ctx);
MLIR_CAPI_EXPORTED bool sparseAttnAttributeIsADocument(MlirAttribute attr);

/*===--- #sparse_attn.neighborhood<grid, window, dilation, causal> --------===*/

/* rank (1 to 3) entries in each array; dilation may be NULL (all 1) and
 * causal NULL (all false). */
MLIR_CAPI_EXPORTED MlirAttribute sparseAttnNeighborhoodAttrGet(
    MlirContext ctx, intptr_t rank, const int64_t *grid, const int64_t *window,
    const int64_t *dilation, const bool *causal);
MLIR_CAPI_EXPORTED bool sparseAttnAttributeIsANeighborhood(MlirAttribute attr);
MLIR_CAPI_EXPORTED intptr_t
sparseAttnNeighborhoodAttrGetRank(MlirAttribute attr);
MLIR_CAPI_EXPORTED int64_t sparseAttnNeighborhoodAttrGetGrid(MlirAttribute attr,
                                                             intptr_t pos);
MLIR_CAPI_EXPORTED int64_t
sparseAttnNeighborhoodAttrGetWindow(MlirAttribute attr, intptr_t pos);
MLIR_CAPI_EXPORTED int64_t
sparseAttnNeighborhoodAttrGetDilation(MlirAttribute attr, intptr_t pos);
MLIR_CAPI_EXPORTED bool sparseAttnNeighborhoodAttrGetCausal(MlirAttribute attr,
                                                            intptr_t pos);

/*===--- #sparse_attn.intersect<[masks]>, #sparse_attn.union<[masks]> -----===*/

/* numMasks >= 1 mask attributes. */
MLIR_CAPI_EXPORTED MlirAttribute sparseAttnIntersectAttrGet(
    MlirContext ctx, intptr_t numMasks, const MlirAttribute *masks);
MLIR_CAPI_EXPORTED bool sparseAttnAttributeIsAIntersect(MlirAttribute attr);
MLIR_CAPI_EXPORTED intptr_t
sparseAttnIntersectAttrGetNumMasks(MlirAttribute attr);
MLIR_CAPI_EXPORTED MlirAttribute
sparseAttnIntersectAttrGetMask(MlirAttribute attr, intptr_t pos);

MLIR_CAPI_EXPORTED MlirAttribute sparseAttnUnionAttrGet(
    MlirContext ctx, intptr_t numMasks, const MlirAttribute *masks);
MLIR_CAPI_EXPORTED bool sparseAttnAttributeIsAUnion(MlirAttribute attr);
MLIR_CAPI_EXPORTED intptr_t sparseAttnUnionAttrGetNumMasks(MlirAttribute attr);
MLIR_CAPI_EXPORTED MlirAttribute sparseAttnUnionAttrGetMask(MlirAttribute attr,
                                                            intptr_t pos);

#ifdef __cplusplus
}
#endif

#endif /* SPARSE_ATTN_C_DIALECTS_H */
