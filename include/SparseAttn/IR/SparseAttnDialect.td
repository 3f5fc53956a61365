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

    The passes annotate what they chose with discardable attributes the
    dialect declares (read and set through the generated
    `SparseAttnDialect::<Name>AttrHelper` classes):

    - `sparse_attn.tile` (dictionary, on the `scf.forall` of a tiled op):
      the tile sizes, stages and shared memory `sparse-attn-tile` picked.
    - `sparse_attn.mma_kernel` (dictionary: `mma`, `block_q`, `block_kv`,
      `warps`, `row_tiles`, `items_per_block`, `blocks_per_sm`, `stages`,
      `shared_memory_bytes`): the tensor-core kernel
      `convert-sparse-attn-to-nvgpu` generated, on its `gpu.launch` and on
      the kernel's `gpu.dynamic_shared_memory` op (which outlining keeps);
      `sparse-attn-kernel-limits` moves the latter onto the `gpu.func`,
      where the launch plan reads it.
    - `sparse_attn.max_registers` (i32, on the same shared-memory op): the
      register cap that lets the kernel's blocks share a multiprocessor;
      `sparse-attn-kernel-limits` turns it into `nvvm.maxnreg`.
  }];
  let discardableAttrs = (ins
    "::mlir::DictionaryAttr":$tile,
    "::mlir::DictionaryAttr":$mma_kernel,
    "::mlir::IntegerAttr":$max_registers
  );
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let hasCanonicalizer = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
}

// Every op's tensors hold at most 2^63 - 1 elements (static dims multiplied
// with overflow checks): a type whose dims multiply past it cannot be
// allocated, and its strides would overflow the lowerings' index arithmetic.
def SparseAttn_BoundedShapes : NativeOpTrait<"BoundedShapes"> {
  let cppNamespace = "::mlir::sparse_attn";
}

class SparseAttn_Op<string mnemonic, list<Trait> traits = []>
    : Op<SparseAttn_Dialect, mnemonic, !listconcat([SparseAttn_BoundedShapes], traits)>;

class SparseAttn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<SparseAttn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

#endif // SPARSE_ATTN_DIALECT_TD
