//===- Dialects.cpp - C API of the sparse_attn dialect --------------------===//
//
// The dialect handle, sparseAttnRegisterDialects and the mask attributes'
// constructors (verified: invalid parameters give a diagnostic and a null
// attribute), isa functions and getters.
//
//===----------------------------------------------------------------------===//

#include "sparse-attn-c/Dialects.h"

#include "SparseAttn/IR/SparseAttnAttrs.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/InitAll.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/CAPI/Support.h"

using namespace mlir;
using namespace mlir::sparse_attn;

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(SparseAttn, sparse_attn,
                                      SparseAttnDialect)

void sparseAttnRegisterDialects(MlirDialectRegistry registry) {
  registerSparseAttnDialects(*unwrap(registry));
}

/// The context with sparse_attn loaded: attributes of an unloaded dialect
/// have no storage to be made in (a crash), and a C caller may not have
/// loaded it through the handle.
static MLIRContext *loadedContext(MlirContext ctx) {
  MLIRContext *context = unwrap(ctx);
  context->getOrLoadDialect<SparseAttnDialect>();
  return context;
}

/// An error through the context's diagnostic handlers (at an unknown
/// location: a C caller's attribute has none).
static InFlightDiagnostic emitCAPIError(MLIRContext *context) {
  return emitError(UnknownLoc::get(context));
}

/// The verified constructors' error emitter: the same handlers.
static llvm::unique_function<InFlightDiagnostic()>
errorEmitter(MLIRContext *context) {
  return mlir::detail::getDefaultDiagnosticEmitFn(context);
}

bool sparseAttnAttributeIsAMask(MlirAttribute attr) {
  return isa<MaskAttrInterface>(unwrap(attr));
}

//===----------------------------------------------------------------------===//
// Parameterless masks
//===----------------------------------------------------------------------===//

MlirAttribute sparseAttnCausalAttrGet(MlirContext ctx) {
  return wrap(CausalAttr::get(loadedContext(ctx)));
}

bool sparseAttnAttributeIsACausal(MlirAttribute attr) {
  return isa<CausalAttr>(unwrap(attr));
}

MlirAttribute sparseAttnDocumentAttrGet(MlirContext ctx) {
  return wrap(DocumentAttr::get(loadedContext(ctx)));
}

bool sparseAttnAttributeIsADocument(MlirAttribute attr) {
  return isa<DocumentAttr>(unwrap(attr));
}

//===----------------------------------------------------------------------===//
// Windows
//===----------------------------------------------------------------------===//

MlirAttribute sparseAttnSlidingWindowAttrGet(MlirContext ctx, int64_t left,
                                             int64_t right) {
  MLIRContext *context = loadedContext(ctx);
  return wrap(SlidingWindowAttr::getChecked(errorEmitter(context), context,
                                            left, right));
}

bool sparseAttnAttributeIsASlidingWindow(MlirAttribute attr) {
  return isa<SlidingWindowAttr>(unwrap(attr));
}

int64_t sparseAttnSlidingWindowAttrGetLeft(MlirAttribute attr) {
  return cast<SlidingWindowAttr>(unwrap(attr)).getLeft();
}

int64_t sparseAttnSlidingWindowAttrGetRight(MlirAttribute attr) {
  return cast<SlidingWindowAttr>(unwrap(attr)).getRight();
}

MlirAttribute sparseAttnSinkWindowAttrGet(MlirContext ctx, int64_t sink,
                                          int64_t window) {
  MLIRContext *context = loadedContext(ctx);
  return wrap(
      SinkWindowAttr::getChecked(errorEmitter(context), context, sink, window));
}

bool sparseAttnAttributeIsASinkWindow(MlirAttribute attr) {
  return isa<SinkWindowAttr>(unwrap(attr));
}

int64_t sparseAttnSinkWindowAttrGetSink(MlirAttribute attr) {
  return cast<SinkWindowAttr>(unwrap(attr)).getSink();
}

int64_t sparseAttnSinkWindowAttrGetWindow(MlirAttribute attr) {
  return cast<SinkWindowAttr>(unwrap(attr)).getWindow();
}

//===----------------------------------------------------------------------===//
// Neighborhood
//===----------------------------------------------------------------------===//

MlirAttribute sparseAttnNeighborhoodAttrGet(MlirContext ctx, intptr_t rank,
                                            const int64_t *grid,
                                            const int64_t *window,
                                            const int64_t *dilation,
                                            const bool *causal) {
  MLIRContext *context = loadedContext(ctx);
  if (rank < 0 || (rank > 0 && (!grid || !window))) {
    emitCAPIError(context)
        << "sparseAttnNeighborhoodAttrGet: a negative rank or a null grid / "
           "window array";
    return MlirAttribute{nullptr};
  }
  size_t n = static_cast<size_t>(rank);
  SmallVector<int64_t> dilations(n, 1);
  SmallVector<bool> causals(n, false);
  if (dilation)
    dilations.assign(dilation, dilation + n);
  if (causal)
    causals.assign(causal, causal + n);
  return wrap(NeighborhoodAttr::getChecked(
      errorEmitter(context), context, ArrayRef<int64_t>(grid, n),
      ArrayRef<int64_t>(window, n), ArrayRef<int64_t>(dilations),
      ArrayRef<bool>(causals)));
}

bool sparseAttnAttributeIsANeighborhood(MlirAttribute attr) {
  return isa<NeighborhoodAttr>(unwrap(attr));
}

intptr_t sparseAttnNeighborhoodAttrGetRank(MlirAttribute attr) {
  return cast<NeighborhoodAttr>(unwrap(attr)).getRank();
}

int64_t sparseAttnNeighborhoodAttrGetGrid(MlirAttribute attr, intptr_t pos) {
  return cast<NeighborhoodAttr>(unwrap(attr)).getGrid()[pos];
}

int64_t sparseAttnNeighborhoodAttrGetWindow(MlirAttribute attr, intptr_t pos) {
  return cast<NeighborhoodAttr>(unwrap(attr)).getWindow()[pos];
}

int64_t sparseAttnNeighborhoodAttrGetDilation(MlirAttribute attr,
                                              intptr_t pos) {
  return cast<NeighborhoodAttr>(unwrap(attr)).getDilation()[pos];
}

bool sparseAttnNeighborhoodAttrGetCausal(MlirAttribute attr, intptr_t pos) {
  return cast<NeighborhoodAttr>(unwrap(attr)).getCausal()[pos];
}

//===----------------------------------------------------------------------===//
// Combinators
//===----------------------------------------------------------------------===//

/// The masks of an intersect / union constructor, or failure (reported)
/// when the array is malformed.
static FailureOr<SmallVector<Attribute>>
unwrapMasks(MLIRContext *context, StringRef function, intptr_t numMasks,
            const MlirAttribute *masks) {
  if (numMasks < 0 || (numMasks > 0 && !masks)) {
    emitCAPIError(context) << function
                           << ": a negative count or a null mask array";
    return failure();
  }
  SmallVector<Attribute> result;
  for (intptr_t i = 0; i < numMasks; ++i) {
    Attribute mask = unwrap(masks[i]);
    if (!mask) {
      emitCAPIError(context) << function << ": mask " << i << " is null";
      return failure();
    }
    result.push_back(mask);
  }
  return result;
}

/// An intersect or union of the masks, or null (reported).
template <typename CombinatorAttr>
static MlirAttribute getCombinator(MlirContext ctx, StringRef function,
                                   intptr_t numMasks,
                                   const MlirAttribute *masks) {
  MLIRContext *context = loadedContext(ctx);
  FailureOr<SmallVector<Attribute>> list =
      unwrapMasks(context, function, numMasks, masks);
  if (failed(list))
    return MlirAttribute{nullptr};
  return wrap(CombinatorAttr::getChecked(errorEmitter(context), context,
                                         ArrayRef<Attribute>(*list)));
}

MlirAttribute sparseAttnIntersectAttrGet(MlirContext ctx, intptr_t numMasks,
                                         const MlirAttribute *masks) {
  return getCombinator<IntersectAttr>(ctx, "sparseAttnIntersectAttrGet",
                                      numMasks, masks);
}

bool sparseAttnAttributeIsAIntersect(MlirAttribute attr) {
  return isa<IntersectAttr>(unwrap(attr));
}

intptr_t sparseAttnIntersectAttrGetNumMasks(MlirAttribute attr) {
  return cast<IntersectAttr>(unwrap(attr)).getMasks().size();
}

MlirAttribute sparseAttnIntersectAttrGetMask(MlirAttribute attr, intptr_t pos) {
  return wrap(cast<IntersectAttr>(unwrap(attr)).getMasks()[pos]);
}

MlirAttribute sparseAttnUnionAttrGet(MlirContext ctx, intptr_t numMasks,
                                     const MlirAttribute *masks) {
  return getCombinator<UnionAttr>(ctx, "sparseAttnUnionAttrGet", numMasks,
                                  masks);
}

bool sparseAttnAttributeIsAUnion(MlirAttribute attr) {
  return isa<UnionAttr>(unwrap(attr));
}

intptr_t sparseAttnUnionAttrGetNumMasks(MlirAttribute attr) {
  return cast<UnionAttr>(unwrap(attr)).getMasks().size();
}

MlirAttribute sparseAttnUnionAttrGetMask(MlirAttribute attr, intptr_t pos) {
  return wrap(cast<UnionAttr>(unwrap(attr)).getMasks()[pos]);
}
