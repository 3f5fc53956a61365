//===- SparseAttnAttrs.td - mask attributes and enums -------*- tablegen -*-===//
//
// Mask attributes (structural masks and their combinators) and the pooling
// kind enum.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_ATTRS_TD
#define SPARSE_ATTN_ATTRS_TD

include "mlir/IR/EnumAttr.td"
include "SparseAttn/IR/SparseAttnDialect.td"
include "SparseAttn/IR/SparseAttnInterfaces.td"

class SparseAttn_MaskAttrDef<string name, string attrMnemonic,
                             list<string> overridden = []>
    : SparseAttn_Attr<name, attrMnemonic,
          [DeclareAttrInterfaceMethods<SparseAttn_MaskAttrInterface, overridden>]>;

def SparseAttn_CausalAttr : SparseAttn_MaskAttrDef<"Causal", "causal"> {
  let summary = "Causal mask: key j is allowed iff j <= i'";
  let description = [{
    Query `i` (absolute position `i' = i + Skv - Sq`) attends to every key at
    or before its own position. With `Sq > Skv` the first `Sq - Skv` queries
    see no key: their output is 0 and their lse is -inf.

    ```mlir
    {mask = #sparse_attn.causal}
    ```
  }];
}

def SparseAttn_SlidingWindowAttr
    : SparseAttn_MaskAttrDef<"SlidingWindow", "sliding_window"> {
  let summary = "Sliding window: i' - left <= j <= i' + right";
  let description = [{
    A band around the query's absolute position; `left` and `right` are
    non-negative. `sliding_window<left = L, right = 0>` is causal local
    attention (Mistral, Gemma's local layers).

    ```mlir
    {mask = #sparse_attn.sliding_window<left = 1024, right = 0>}
    ```
  }];
  let parameters = (ins "int64_t":$left, "int64_t":$right);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def SparseAttn_SinkWindowAttr : SparseAttn_MaskAttrDef<"SinkWindow", "sink_window"> {
  let summary = "Attention sinks plus a causal local window (A-shape)";
  let description = [{
    Key `j` is allowed iff `j <= i'` and (`j < sink` or `i' - j < window`):
    the first `sink` tokens plus the last `window` tokens up to the query,
    StreamingLLM's pattern and MInference's A-shape. Both are non-negative.

    ```mlir
    {mask = #sparse_attn.sink_window<sink = 4, window = 1020>}
    ```
  }];
  let parameters = (ins "int64_t":$sink, "int64_t":$window);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def SparseAttn_DocumentAttr : SparseAttn_MaskAttrDef<"Document", "document"> {
  let summary = "Document mask: seg_q[b, i] == seg_kv[b, j]";
  let description = [{
    Packed sequences: a query attends only to keys of its own segment. The
    segment ids are the op's `segment_ids(%seg_q, %seg_kv : ...)` operands,
    `tensor<BxSqxi32>` and `tensor<BxSkvxi32>`. Combine with `causal` inside
    an `intersect` for causal packed training.

    ```mlir
    %o, %lse = sparse_attn.attention %q, %k, %v segment_ids(%sq, %skv : tensor<2x1024xi32>, tensor<2x1024xi32>)
        {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>} : ...
    ```
  }];
}

def SparseAttn_NeighborhoodAttr
    : SparseAttn_MaskAttrDef<"Neighborhood", "neighborhood", ["verifyLengths"]> {
  let summary = "1-3D neighborhood attention (NATTEN)";
  let description = [{
    Tokens are laid out row-major on `grid` (whose product must equal the key
    length). Per dimension `d` with extent `n`, window `w`, dilation `r`: the
    coordinate `x` belongs to dilation group `x mod r`; inside its group it
    sits at `x div r` among `ng` members. Non-causal: the window is the `w`
    group members starting at `clamp(x div r - w div 2, 0, ng - w)` (shifted
    at the borders so every query sees exactly `w` keys, NATTEN's rule).
    Causal: the `w` members ending at `x div r` (fewer near the start). A key
    is allowed iff it is in the window along every dimension. Requires
    `w * r <= n`. `dilation` defaults to all 1 and `causal` to all false.

    ```mlir
    {mask = #sparse_attn.neighborhood<grid = [32, 32], window = [7, 7], dilation = [1, 1], causal = [false, false]>}
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$grid,
                        ArrayRefParameter<"int64_t">:$window,
                        ArrayRefParameter<"int64_t">:$dilation,
                        ArrayRefParameter<"bool">:$causal);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of grid dimensions (1 to 3).
    unsigned getRank() const { return getGrid().size(); }
    /// Number of tokens on the grid (the product of its extents).
    int64_t getNumTokens() const;
  }];
}

def SparseAttn_IntersectAttr : SparseAttn_MaskAttrDef<"Intersect", "intersect", ["verifyLengths"]> {
  let summary = "Allows (i, j) iff every listed mask allows it";
  let description = [{
    ```mlir
    {mask = #sparse_attn.intersect<[#sparse_attn.causal, #sparse_attn.document]>}
    ```
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::Attribute">:$masks);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def SparseAttn_UnionAttr : SparseAttn_MaskAttrDef<"Union", "union", ["verifyLengths"]> {
  let summary = "Allows (i, j) iff some listed mask allows it";
  let description = [{
    ```mlir
    {mask = #sparse_attn.union<[#sparse_attn.sink_window<sink = 4, window = 64>, #sparse_attn.sliding_window<left = 0, right = 0>]>}
    ```
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::Attribute">:$masks);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def SparseAttn_PoolKind : I32EnumAttr<"PoolKind", "pooling reduction",
    [I32EnumAttrCase<"Mean", 0, "mean">, I32EnumAttrCase<"Max", 1, "max">]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::sparse_attn";
}

def SparseAttn_PoolKindAttr
    : EnumAttr<SparseAttn_Dialect, SparseAttn_PoolKind, "pool_kind"> {
  let summary = "Reduction used by sparse_attn.pool";
}

#endif // SPARSE_ATTN_ATTRS_TD
