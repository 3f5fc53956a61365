//===- SparseAttnInterfaces.td - mask interfaces ------------*- tablegen -*-===//
//
// The interface every mask attribute implements, and the one every op that
// carries a mask implements.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_INTERFACES_TD
#define SPARSE_ATTN_INTERFACES_TD

include "mlir/IR/OpBase.td"

def SparseAttn_MaskAttrInterface : AttrInterface<"MaskAttrInterface"> {
  let cppNamespace = "::mlir::sparse_attn";
  let description = [{
    A mask decides whether query `i` may attend to key `j`. Masks are
    bottom-right aligned: with `Sq` queries and `Skv` keys, query `i` sits at
    absolute position `i' = i + (Skv - Sq)`.

    A mask is *structural* when the decision depends only on `(i', j)`; the
    compiler can then enumerate the allowed keys of a query at compile time
    (to fold `block_mask`, size capacities, or skip empty blocks). Masks that
    read the op's `segment_ids` operands (`#sparse_attn.document`) are not.
  }];
  let methods = [
    InterfaceMethod<[{
        Whether the mask reads the op's `segment_ids(...)` operands.
      }], "bool", "usesSegmentIds", (ins)>,
    InterfaceMethod<[{
        Appends to `ranges` the keys that query position `queryPos` may attend
        to among `[0, kvLen)`, as sorted, disjoint, non-adjacent half-open
        ranges. Fails when the mask is not structural.
      }], "::llvm::LogicalResult", "appendAllowedKeys",
      (ins "int64_t":$queryPos, "int64_t":$kvLen,
           "::llvm::SmallVectorImpl<::mlir::sparse_attn::KeyRange> &":$ranges)>,
    InterfaceMethod<[{
        Checks that the mask is meaningful for the given sequence lengths
        (std::nullopt when dynamic); reports through `emitError`.
      }], "::llvm::LogicalResult", "verifyLengths",
      (ins "std::optional<int64_t>":$qLen, "std::optional<int64_t>":$kvLen,
           "::llvm::function_ref<::mlir::InFlightDiagnostic()>":$emitError),
      /*methodBody=*/"", /*defaultImplementation=*/[{ return ::mlir::success(); }]>,
  ];
}

// Constraint with a readable description, for op arguments.
def SparseAttn_MaskAttr : Attr<
    CPred<"::llvm::isa<::mlir::sparse_attn::MaskAttrInterface>($_self)">,
    "sparse_attn mask attribute"> {
  let storageType = "::mlir::sparse_attn::MaskAttrInterface";
  let returnType = "::mlir::sparse_attn::MaskAttrInterface";
  let convertFromStorage = "$_self";
}

def SparseAttn_MaskedOpInterface : OpInterface<"MaskedOpInterface"> {
  let cppNamespace = "::mlir::sparse_attn";
  let description = [{
    An op that carries an optional `mask` attribute and optional
    `segment_ids(%seg_q, %seg_kv : ...)` operands. Canonicalization simplifies
    the mask of every such op; the interface verifier checks that segment ids
    are given exactly when the mask reads them.
  }];
  let methods = [
    InterfaceMethod<"The mask, or null when every key is allowed.",
      "::mlir::sparse_attn::MaskAttrInterface", "getMaskAttr", (ins)>,
    InterfaceMethod<"Replaces the mask.",
      "void", "setMaskAttr", (ins "::mlir::sparse_attn::MaskAttrInterface":$mask)>,
    InterfaceMethod<"Segment ids of the queries, or null.",
      "::mlir::TypedValue<::mlir::RankedTensorType>", "getSegmentIdsQ", (ins)>,
    InterfaceMethod<"Segment ids of the keys, or null.",
      "::mlir::TypedValue<::mlir::RankedTensorType>", "getSegmentIdsKv", (ins)>,
  ];
  let verify = [{
    return ::mlir::sparse_attn::detail::verifyMaskedOp($_op);
  }];
}

#endif // SPARSE_ATTN_INTERFACES_TD
