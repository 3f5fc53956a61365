//===- Passes.td - sparse_attn transforms -------------------*- tablegen -*-===//
//
// Transforms on sparse_attn ops before they leave the dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TRANSFORMS_PASSES_TD
#define SPARSE_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SparseAttnTilePass : Pass<"sparse-attn-tile"> {
  let summary = "Tile attention for a GPU thread block, with an online softmax";
  let description = [{
    Rewrites `attention` and `block_sparse_attention` into the form a GPU
    kernel runs: an `scf.forall` over `(batch, query head, query tile)`, and
    in it a loop over the tile's kv tiles with the FlashAttention online
    softmax (running max, running sum and output accumulator in f32). Query,
    key and value tiles are `tensor.pad`ded to static tile shapes (the
    shared-memory tiles once bufferized for a GPU); rows past the sequence
    ends are masked, never read.

    The kv tiles visited are the tile's key range under the mask (causal and
    sink windows stop at the diagonal, sliding windows keep their band), or,
    for `block_sparse_attention`, the listed blocks (each block once, entries
    outside `[0, NK)` skipped). Masks, `mask_mod`, `score_mod`, empty rows
    and the exclusion of keys outside the allowed set are as in
    `docs/semantics.md`, so the tiled IR stays executable on the CPU and is
    tested against the golden model.

    Tile sizes and pipeline stages come from a cost model over the chip's
    shared memory per block (sm_80: 163 KB, sm_90: 227 KB), the head dims and
    the element type: `elementBytes * (blockQ * D + stages * blockKv *
    (D + Dv))` bytes. `block_sparse_attention` tiles are its blocks. The
    options override the model; a request that does not fit is an error.
    Each tiled loop carries its decision as a `sparse_attn.tile` attribute.

    ```mlir
    // sparse-attn-opt --sparse-attn-tile="chip=sm_90"
    %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
        : tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16>
       -> tensor<1x8x4096x128xbf16>, tensor<1x8x4096xf32>
    // becomes scf.forall (%b, %h, %t) in (1, 8, 32) ... {sparse_attn.tile =
    //   {block_kv = 128, block_q = 128, chip = "sm_90", shared_memory_bytes = 229376, stages = 3}}
    ```
  }];
  let dependentDialects = [
    "arith::ArithDialect", "cf::ControlFlowDialect", "linalg::LinalgDialect",
    "math::MathDialect", "scf::SCFDialect", "tensor::TensorDialect"
  ];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "Target chip whose shared memory bounds the tiles (sm_80, sm_90)">,
    Option<"blockQ", "block-q", "int64_t", /*default=*/"0",
           "Queries per tile (0: the cost model decides)">,
    Option<"blockKv", "block-kv", "int64_t", /*default=*/"0",
           "Keys per tile (0: the cost model decides)">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "K/V tiles in flight (0: the cost model decides)">,
    Option<"runtimeChecks", "runtime-checks", "bool", /*default=*/"true",
           "Assert at run time the shape rules that dynamic dims hide">
  ];
}

def SparseAttnLinalgToGPULoopsPass : Pass<"sparse-attn-linalg-to-gpu-loops"> {
  let summary = "Lower linalg ops to the loops a GPU mapping expects";
  let description = [{
    After bufferization, lowers each linalg op to loops for the GPU mapping
    that follows (`scf-forall-to-parallel`, `gpu-map-parallel-loops`,
    `convert-parallel-loops-to-gpu`): an op inside an `scf.forall` or
    `scf.parallel` (the body of a tiled kernel, one thread block per
    iteration) becomes sequential `scf.for` loops, every other op becomes
    `scf.parallel` loops over its parallel dims (a kernel of its own), with
    its reductions sequential inside. `memref.copy` is lowered the same way
    (as a `linalg.copy`), since kernels cannot call the host's copy
    function.

    ```mlir
    // sparse-attn-opt --sparse-attn-linalg-to-gpu-loops
    linalg.fill ins(%zero : f32) outs(%buffer : memref<?x8xf32>)
    // becomes scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c8) ... { memref.store ... }
    ```
  }];
  let dependentDialects = [
    "linalg::LinalgDialect", "memref::MemRefDialect", "scf::SCFDialect"
  ];
}

def SparseAttnApproximateMathPass : Pass<"sparse-attn-approximate-math"> {
  let summary = "Replace math functions by f32 polynomial approximations";
  let description = [{
    Rewrites `math.exp`, `math.log`, `math.tanh`, `math.erf` and the other
    functions MLIR approximates into arith-only f32 polynomials (within a
    few ulp), computing narrower float types in f32, and the `math.fma`,
    `math.floor` and `math.absf` they use into arith. In GPU kernels this
    removes every call to CUDA's libdevice (`__nv_expf`, ...), so the PTX
    assembles without a CUDA installation at compile time.

    ```mlir
    // sparse-attn-opt --sparse-attn-approximate-math
    %e = math.exp %x : f32
    // becomes a range reduction and a polynomial in arith ops.
    ```
  }];
  let dependentDialects = ["arith::ArithDialect", "math::MathDialect"];
}

def SparseAttnPromoteKernelBuffersPass : Pass<"sparse-attn-promote-kernel-buffers"> {
  let summary = "Give each GPU thread its statically shaped buffers on its stack";
  let description = [{
    In every `gpu.launch` body, a `memref.alloc` of static shape (a tile of
    the tiled kernels, a row of state) becomes one `memref.alloca` at the
    start of the body, and its `memref.dealloc`s go away: no device-side
    `malloc` (whose heap is small and slow), and no stack growth from
    allocations inside loops. Every such buffer is written before it is
    read in each iteration that uses it, so one allocation per thread
    serves all iterations. Dynamically shaped allocations are left alone.

    ```mlir
    // sparse-attn-opt --sparse-attn-promote-kernel-buffers
    gpu.launch ... {
      scf.for ... { %t = memref.alloc() : memref<64x64xf32> ... memref.dealloc %t }
    }
    // becomes %t = memref.alloca() : memref<64x64xf32> at the top of the body.
    ```
  }];
  let dependentDialects = ["memref::MemRefDialect"];
}

def SparseAttnKernelLimitsPass : Pass<"sparse-attn-kernel-limits", "ModuleOp"> {
  let summary = "Moves the tensor-core kernels' register caps and configurations onto their gpu.func";
  let description = [{
    `convert-sparse-attn-to-nvgpu` records the register cap that lets a
    kernel fit its thread blocks per multiprocessor
    (`sparse_attn.max_registers`) and the kernel's configuration
    (`sparse_attn.mma_kernel`) on an op inside the `gpu.launch`, since
    outlining does not carry the launch's attributes. After
    `gpu-kernel-outlining`, this pass sets `nvvm.maxnreg` on each `gpu.func`
    holding such an op (the smallest cap if several; the NVVM lowering
    passes it to ptxas as `.maxnreg`) and moves the configuration onto the
    `gpu.func`, where the launch plan reads it.
    ```mlir
    // sparse-attn-opt --sparse-attn-kernel-limits
    gpu.func @kernel(...) kernel {
      %smem = gpu.dynamic_shared_memory {sparse_attn.max_registers = 128 : i32} : ...
    // becomes gpu.func @kernel(...) kernel attributes {nvvm.maxnreg = 128 : i32}
    ```
  }];
  let dependentDialects = ["NVVM::NVVMDialect"];
}

def SparseAttnAttentionToBlockSparsePass
    : Pass<"sparse-attn-attention-to-block-sparse", "func::FuncOp"> {
  let summary = "Rewrite attention as block_sparse_attention over its mask's blocks";
  let description = [{
    Rewrites each `attention` with static sequence lengths whose mask reads
    no segment ids into a `block_mask` of its mask and a
    `block_sparse_attention` over the mask's exact lists (partial and full
    blocks apart, unless a `mask_mod` must see every pair): the same results
    (`docs/semantics.md`), in the form the block-sparse kernels take. The
    lists fold to constants when small enough (`--canonicalize`). The GPU
    pipeline no longer runs it (the tensor-core kernel takes `attention`
    itself, without lists); it stays for users who want the explicit lists
    (C++: populateAttentionToBlockSparsePatterns, with an optional filter).
    ```mlir
    // sparse-attn-opt --sparse-attn-attention-to-block-sparse
    %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal}
        : tensor<1x8x1024x64xbf16>, tensor<1x8x1024x64xbf16>, tensor<1x8x1024x64xbf16>
       -> tensor<1x8x1024x64xbf16>, tensor<1x8x1024xf32>
    // becomes
    %num, %idx, %fnum, %fidx = sparse_attn.block_mask {block = [128, 128], mask = #sparse_attn.causal, q_len = 1024, kv_len = 1024} : ...
    %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx full(%fnum, %fidx : ...) {block = [128, 128], mask = #sparse_attn.causal} : ...
    ```
  }];
  let options = [
    Option<"blockQ", "block-q", "int64_t", /*default=*/"128",
           "Query rows of a block of the lists">,
    Option<"blockKv", "block-kv", "int64_t", /*default=*/"128",
           "Keys of a block of the lists">
  ];
}

def SparseAttnFuseSelectionPass : Pass<"sparse-attn-fuse-selection"> {
  let summary = "Fuse block or token selection with the attention that reads it";
  let description = [{
    Rewrites the selection chains of the sparse-attention methods into the
    dialect's fused ops, which a GPU lowering may compute with each query
    block's selection inside the attention kernel (the scores and the lists
    never reach global memory: `convert-sparse-attn-to-nvgpu`'s
    `in-kernel-selection`):

    - `block_scores` -> `select_topk` | `select_threshold` ->
      `block_sparse_attention` (NSA, MoBA, MInference's block-sparse
      estimate; one selection per query head or per GQA group) becomes
      `fused_block_sparse_attention`;
    - `lightning_indexer` -> `token_sparse_attention` (DeepSeek Sparse
      Attention) becomes `fused_token_sparse_attention`.

    The pooled operands (`pool`) stay as they are. A chain is left unchanged
    when an intermediate (scores, lists) has another user, when the
    attention has full lists, segment ids or mod regions, or when the
    pieces disagree (blocks, lengths, heads); each such chain gets a
    "missed" optimization remark saying why, and each fused one a "passed"
    remark (`sparse-attn-opt --remarks-filter=sparse-attn-fuse-selection
    --remark-format=emitRemark`). The fused op's result is by definition the
    chain's (`docs/semantics.md`).

    ```mlir
    // sparse-attn-opt --sparse-attn-fuse-selection
    %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 4096, kv_len = 4096} : ...
    %n, %i = sparse_attn.select_topk %s {k = 16, sink = 1, local = 2} : ...
    %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %n, %i {block = [64, 64], mask = #sparse_attn.causal} : ...
    // becomes
    %o, %lse = sparse_attn.fused_block_sparse_attention %q, %k, %v, %qp, %kp
        {block = [64, 64], k = 16, list_heads = 2, local = 2, mask = #sparse_attn.causal,
         score_mask = #sparse_attn.causal, sink = 1} : ...
    ```
  }];
}

def SparseAttnRaiseAttentionPass
    : Pass<"sparse-attn-raise-attention", "func::FuncOp"> {
  let summary = "Raise attention written in linalg to sparse_attn.attention";
  let description = [{
    Recognizes scaled dot-product attention written in linalg on tensors, as
    torch-mlir and StableHLO's linalg lowering emit it, and rewrites it to
    `sparse_attn.attention` (whose lowerings reach the tensor-core kernels):

    - Q·Kᵀ and P·V as `linalg.batch_matmul`, `linalg.matmul` (also with
      transposing `indexing_maps`) or a contraction `linalg.generic`, over
      [B, H, S, D], collapsed [B*H, S, D] or [S, D]; K (and V) transposed by
      `linalg.transpose` or by the maps; K and V broadcast over a GQA group
      (each kv head repeated, then collapsed into the head dim) read as
      their kv heads;
    - the scale as a multiply or divide by a constant of the scores, of Q or
      of K (`scale` attribute; 1.0 when there is none);
    - masks: `arith.select` with -inf (or the lowest float, or anything
      below -1e30) and additive 0 / -inf terms, outermost before the
      softmax. Predicates comparing the query and key indices
      (`linalg.index`, also through the generics that built a mask tensor)
      become `causal`, `sliding_window` or `sink_window` (and their
      `intersect`), with the bottom-right offset Skv - Sq accounted for;
      a dense constant whose pattern is exactly one of those folds to the
      attribute; any other mask becomes a `mask_mod` computing it (reading a
      mask tensor with `tensor.extract`);
    - whatever else the scores go through (a bias tensor, a softcap) becomes
      a `score_mod` computing it per element;
    - softmax as `linalg.softmax` or decomposed (max reduction, subtract,
      exp, sum reduction, divide), with `arith.extf` / `arith.truncf`
      generics around it or the matmuls.

    Anything else is left unchanged. Rows every key of which is masked give
    NaN in the linalg form and 0 (lse -inf) in `sparse_attn.attention`. Both
    pipelines run this pass first with `raise-attention=true`.

    ```mlir
    // linalg.batch_matmul Q·Kᵀ, a causal select with -inf, linalg.softmax,
    // linalg.batch_matmul P·V becomes
    %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal, scale = 0.125 : f32} : ...
    ```
  }];
  let dependentDialects = [
    "arith::ArithDialect",
    "linalg::LinalgDialect",
    "sparse_attn::SparseAttnDialect",
    "tensor::TensorDialect",
  ];
}

#endif // SPARSE_ATTN_TRANSFORMS_PASSES_TD
