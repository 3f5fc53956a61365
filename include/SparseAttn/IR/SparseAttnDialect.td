//===- SparseAttnDialect.td - sparse_attn dialect definition -*- tablegen -*-===//
//
// The dialect and the base classes its ops and attributes derive from.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_DIALECT_TD
#define SPARSE_ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def SparseAttn_Dialect : Dialect {
  let name = "sparse_attn";
  let cppNamespace = "::mlir::sparse_attn";
  let summary = "Sparse attention: masks, indexers and block-sparse attention";
  let description = [{
    The `sparse_attn` dialect represents sparse attention at the level where
    its structure is still visible: structural masks (causal, sliding window,
    attention sinks, documents, 1-3D neighborhoods) as attributes, block lists
    in FlexAttention's layout, the indexers that choose blocks or tokens
    (pooled top-k as in NSA/MoBA, DeepSeek's lightning indexer), and the
    attention ops that consume them.

    Tensors are `[batch, heads, seq, head_dim]`; masks are aligned to the
    bottom-right corner, so query `i` of `Sq` sits at absolute position
    `i + (Skv - Sq)`. See `docs/dialect.md` for the conventions and
    `docs/semantics.md` for the exact math.

    ```mlir
    %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
        : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>
       -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
    ```
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let hasCanonicalizer = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
}

class SparseAttn_Op<string mnemonic, list<Trait> traits = []>
    : Op<SparseAttn_Dialect, mnemonic, traits>;

class SparseAttn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<SparseAttn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

#endif // SPARSE_ATTN_DIALECT_TD
