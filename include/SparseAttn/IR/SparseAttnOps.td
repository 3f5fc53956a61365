//===- SparseAttnOps.td - sparse_attn operations ------------*- tablegen -*-===//
//
// Attention, block-list and indexer ops of the sparse_attn dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_OPS_TD
#define SPARSE_ATTN_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "SparseAttn/IR/SparseAttnDialect.td"
include "SparseAttn/IR/SparseAttnAttrs.td"
include "SparseAttn/IR/SparseAttnInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

// q/k/v and outputs: [batch, heads, seq, head_dim].
def SparseAttn_QKVTensor : TensorRankOf<[F16, BF16, F32], [4]>;
// Softmax log-sum-exp: [batch, heads, seq].
def SparseAttn_LseTensor : TensorRankOf<[F32], [3]>;
// Segment ids: [batch, seq].
def SparseAttn_SegmentIdsTensor : TensorRankOf<[I32], [2]>;
def SparseAttn_I32Tensor3D : TensorRankOf<[I32], [3]>;
def SparseAttn_I32Tensor4D : TensorRankOf<[I32], [4]>;
def SparseAttn_FloatTensor3D : TensorRankOf<[F16, BF16, F32], [3]>;
def SparseAttn_F32Tensor4D : TensorRankOf<[F32], [4]>;

def SparseAttn_BlockSizeAttr : ConfinedAttr<I64ArrayAttr, [ArrayCount<2>]>;

// The one accessor of an op's `block = [block_q, block_kv]`.
defvar blockSizesAccessor = [{
  /// `block` as (block_q, block_kv).
  ::mlir::sparse_attn::BlockSizes getBlockSizes() {
    return ::mlir::sparse_attn::getBlockSizes(getBlock());
  }
}];

//===----------------------------------------------------------------------===//
// Attention ops
//===----------------------------------------------------------------------===//

// Shared textual pieces of the ops that take segment ids and mask regions.
defvar segmentIdsFormat = [{
  (`segment_ids` `(` $segment_ids_q^ `,` $segment_ids_kv `:`
      type($segment_ids_q) `,` type($segment_ids_kv) `)`)?
}];
defvar fullListsFormat = [{
  (`full` `(` $full_num_blocks^ `,` $full_block_indices `:`
      type($full_num_blocks) `,` type($full_block_indices) `)`)?
}];
defvar columnListsFormat = [{
  (`columns` `(` $num_columns^ `,` $column_indices `:`
      type($num_columns) `,` type($column_indices) `)`)?
}];
defvar modRegionsFormat = [{
  (`mask_mod` $mask_mod^)? (`score_mod` $score_mod^)?
}];

def SparseAttn_AttentionOp : SparseAttn_Op<"attention", [
    AttrSizedOperandSegments, RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<SparseAttn_MaskedOpInterface>]> {
  let summary = "Masked scaled-dot-product attention";
  let description = [{
    `softmax(scale * q k^T, then score_mod)` over the keys the mask allows,
    times `v`, per query head; query head `h` reads kv head
    `h / (Hq / Hkv)` (GQA, MQA). Returns the output `[B, Hq, Sq, Dv]` in q's
    element type and the natural-log softmax denominator `lse [B, Hq, Sq]`
    in f32. A query with no allowed key gets output 0 and lse -inf.

    The optional `mask_mod` region `(%b, %h, %i, %j : index) -> i1` further
    restricts the allowed pairs; the optional `score_mod` region
    `(%s : f32, %b, %h, %i, %j : index) -> f32` rewrites each scaled score
    (softcap, ALiBi, bias). `%i` and `%j` are the row indices into q and k.

    ```mlir
    %o, %lse = sparse_attn.attention %q, %k, %v {mask = #sparse_attn.causal, scale = 0.125 : f32}
        : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>
       -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_QKVTensor:$query,
    SparseAttn_QKVTensor:$key,
    SparseAttn_QKVTensor:$value,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_q,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_kv,
    OptionalAttr<SparseAttn_MaskAttr>:$mask,
    OptionalAttr<F32Attr>:$scale);
  let regions = (region MaxSizedRegion<1>:$mask_mod, MaxSizedRegion<1>:$score_mod);
  let results = (outs SparseAttn_QKVTensor:$output, SparseAttn_LseTensor:$lse);
  let assemblyFormat = !strconcat("$query `,` $key `,` $value ",
      segmentIdsFormat, " attr-dict ", modRegionsFormat, [{
    `:` type($query) `,` type($key) `,` type($value)
    `->` type($output) `,` type($lse)
  }]);
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def SparseAttn_BlockSparseAttentionOp : SparseAttn_Op<"block_sparse_attention", [
    AttrSizedOperandSegments, RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<SparseAttn_MaskedOpInterface>]> {
  let summary = "Attention over per-query-block lists of kv blocks";
  let description = [{
    Attention where `(i, j)` is allowed iff `j`'s kv block is among the first
    `num_blocks[b, h, I]` entries of `block_indices[b, h, I, :]` for `i`'s
    query block `I`, and the mask (if any) allows `(i, j)`. Blocks are
    `block = [block_q, block_kv]` tokens. The lists use FlexAttention's
    layout; their batch dim is 1 or B, their head dim 1, Hkv (one list per
    GQA group) or Hq. Entries outside `[0, number of kv blocks)` are ignored.

    `full(%full_num, %full_idx : ...)` adds FlexAttention's second pair of
    lists, in the same layout: the *full* kv blocks of each query block,
    where every pair is allowed without consulting the mask, `mask_mod` or
    segment ids (`score_mod` still applies). A pair is allowed iff its kv
    block is listed full, or it is listed in the first pair and the mask and
    `mask_mod` allow it. `block_mask` with four results produces both pairs.

    `columns(%num_columns, %column_indices : ...)` adds single keys to each
    query block (the vertical lines of MInference's vertical-slash pattern):
    `column_indices[b, h, I, 0:num_columns[b, h, I]]` are key indices, in
    the lists' batch and head layout; entries outside `[0, Skv)` are
    ignored. A pair `(i, j)` is then also allowed when `j` is among `i`'s
    query block's columns and the mask, `mask_mod` and segment ids allow it.
    `vertical_slash` produces block lists and columns for this form.

    ```mlir
    %o, %lse = sparse_attn.block_sparse_attention %q, %k, %v, %num, %idx {block = [128, 128], mask = #sparse_attn.causal}
        : tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
       -> tensor<1x8x512x64xbf16>, tensor<1x8x512xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_QKVTensor:$query,
    SparseAttn_QKVTensor:$key,
    SparseAttn_QKVTensor:$value,
    SparseAttn_I32Tensor3D:$num_blocks,
    SparseAttn_I32Tensor4D:$block_indices,
    Optional<SparseAttn_I32Tensor3D>:$full_num_blocks,
    Optional<SparseAttn_I32Tensor4D>:$full_block_indices,
    Optional<SparseAttn_I32Tensor3D>:$num_columns,
    Optional<SparseAttn_I32Tensor4D>:$column_indices,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_q,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_kv,
    SparseAttn_BlockSizeAttr:$block,
    OptionalAttr<SparseAttn_MaskAttr>:$mask,
    OptionalAttr<F32Attr>:$scale);
  let regions = (region MaxSizedRegion<1>:$mask_mod, MaxSizedRegion<1>:$score_mod);
  let results = (outs SparseAttn_QKVTensor:$output, SparseAttn_LseTensor:$lse);
  let assemblyFormat = !strconcat(
      "$query `,` $key `,` $value `,` $num_blocks `,` $block_indices ",
      fullListsFormat, columnListsFormat, segmentIdsFormat, " attr-dict ", modRegionsFormat, [{
    `:` type($query) `,` type($key) `,` type($value) `,` type($num_blocks) `,`
        type($block_indices)
    `->` type($output) `,` type($lse)
  }]);
  let extraClassDeclaration = blockSizesAccessor;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def SparseAttn_TokenSparseAttentionOp : SparseAttn_Op<"token_sparse_attention", [Pure]> {
  let summary = "Attention over per-query lists of key indices";
  let description = [{
    Query `i` of batch `b` attends to the keys listed in
    `token_indices[b, i, :]`, shared by all heads (DeepSeek Sparse
    Attention). Entries that are negative or `>= Skv` are skipped; a listed
    key counts once per occurrence.

    ```mlir
    %o, %lse = sparse_attn.token_sparse_attention %q, %k, %v, %ti
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x4096x512xi32>
       -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_QKVTensor:$query,
    SparseAttn_QKVTensor:$key,
    SparseAttn_QKVTensor:$value,
    SparseAttn_I32Tensor3D:$token_indices,
    OptionalAttr<F32Attr>:$scale);
  let results = (outs SparseAttn_QKVTensor:$output, SparseAttn_LseTensor:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $token_indices attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($token_indices)
    `->` type($output) `,` type($lse)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Block lists and indexers
//===----------------------------------------------------------------------===//

def SparseAttn_BlockMaskOp : SparseAttn_Op<"block_mask", [
    Pure, AttrSizedOperandSegments, AttrSizedResultSegments,
    DeclareOpInterfaceMethods<SparseAttn_MaskedOpInterface>]> {
  let summary = "Block lists of a mask, in FlexAttention's layout";
  let description = [{
    Cuts `q_len` queries and `kv_len` keys into blocks of
    `block = [block_q, block_kv]` (the last possibly partial) and lists, for
    each query block `I`, the kv blocks holding at least one allowed pair:
    `num_blocks[b, h, I]` is their count, `block_indices[b, h, I, 0:num]`
    the blocks in ascending order, and entries past `num` are -1. The last
    dim is a capacity: at least the largest count. With static lengths and a
    structural mask the op folds to constants.

    With four results the op splits the lists as FlexAttention's
    `create_block_mask` does: the first pair then holds the *partial* blocks
    (some pairs allowed, some not) and the second pair, `full_num_blocks` and
    `full_block_indices`, the *full* blocks (every pair of the block that
    lies inside the lengths is allowed), which `block_sparse_attention`
    takes as `full(...)` and computes without evaluating the mask.

    The lengths come from `q_len`/`kv_len` or, for `#sparse_attn.document`,
    from the segment ids' shapes.

    ```mlir
    %num, %idx = sparse_attn.block_mask {mask = #sparse_attn.causal, block = [128, 128], q_len = 512, kv_len = 512}
        : tensor<1x1x4xi32>, tensor<1x1x4x4xi32>
    ```
  }];
  let arguments = (ins
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_q,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_kv,
    OptionalAttr<SparseAttn_MaskAttr>:$mask,
    SparseAttn_BlockSizeAttr:$block,
    OptionalAttr<I64Attr>:$q_len,
    OptionalAttr<I64Attr>:$kv_len);
  let results = (outs SparseAttn_I32Tensor3D:$num_blocks,
                      SparseAttn_I32Tensor4D:$block_indices,
                      Optional<SparseAttn_I32Tensor3D>:$full_num_blocks,
                      Optional<SparseAttn_I32Tensor4D>:$full_block_indices);
  let assemblyFormat = !strconcat(segmentIdsFormat, [{
    attr-dict `:` type($num_blocks) `,` type($block_indices)
        (`,` type($full_num_blocks)^ `,` type($full_block_indices))?
  }]);
  let extraClassDeclaration = blockSizesAccessor;
  let hasVerifier = 1;
  let hasFolder = 1;
}

def SparseAttn_PoolOp : SparseAttn_Op<"pool", [Pure]> {
  let summary = "Pools blocks of tokens along the sequence";
  let description = [{
    Reduces each block of `block` consecutive tokens of `[B, H, S, D]` to
    one row of `[B, H, ceil(S / block), D]` in f32 (`mean` or `max`); a
    partial last block reduces over its valid tokens. NSA and MoBA pool keys
    this way before scoring blocks.

    ```mlir
    %kp = sparse_attn.pool mean %k {block = 64} : tensor<1x2x4096x64xbf16> -> tensor<1x2x64x64xf32>
    ```
  }];
  let arguments = (ins SparseAttn_PoolKindAttr:$kind, SparseAttn_QKVTensor:$input,
                       I64Attr:$block);
  let results = (outs SparseAttn_F32Tensor4D:$result);
  let assemblyFormat = [{
    custom<PoolKind>($kind) $input attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def SparseAttn_BlockScoresOp : SparseAttn_Op<"block_scores", [
    Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<SparseAttn_MaskedOpInterface>]> {
  let summary = "Scores of block pairs from pooled queries and keys";
  let description = [{
    `score[b, h, I, J] = scale * <qp[b, hq, I], kp[b, hkv, J]>`, -inf where
    query block `I` and kv block `J` hold no allowed pair under the mask for
    `q_len`, `kv_len` and `block`. With `Hq` result heads each query head
    gets its row; with `Hkv` result heads the scores of a GQA group's query
    heads are summed (NSA's shared selection). `scale` defaults to
    `1/sqrt(D)`. With `block_q = 1`, `query_pooled` is the queries themselves
    (MoBA scores each query against pooled key blocks); the two operands may
    have different float types.

    ```mlir
    %s = sparse_attn.block_scores %qp, %kp {mask = #sparse_attn.causal, block = [64, 64], q_len = 4096, kv_len = 4096}
        : tensor<1x8x64x64xf32>, tensor<1x2x64x64xf32> -> tensor<1x2x64x64xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_QKVTensor:$query_pooled,
    SparseAttn_QKVTensor:$key_pooled,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_q,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_kv,
    OptionalAttr<SparseAttn_MaskAttr>:$mask,
    SparseAttn_BlockSizeAttr:$block,
    OptionalAttr<I64Attr>:$q_len,
    OptionalAttr<I64Attr>:$kv_len,
    OptionalAttr<F32Attr>:$scale);
  let results = (outs SparseAttn_F32Tensor4D:$scores);
  let assemblyFormat = !strconcat("$query_pooled `,` $key_pooled ",
      segmentIdsFormat, [{
    attr-dict `:` type($query_pooled) `,` type($key_pooled) `->` type($scores)
  }]);
  let extraClassDeclaration = blockSizesAccessor;
  let hasVerifier = 1;
}

def SparseAttn_SelectTopKOp : SparseAttn_Op<"select_topk", [Pure]> {
  let summary = "Selects sink, local and top-k blocks per row of block scores";
  let description = [{
    Per row of `scores [B, H, NQ, NK]`: the union of the first `sink` blocks
    with a finite score, the `local` highest-index blocks with a finite
    score, and the `k` highest-scoring remaining finite blocks (ties go to
    the lower index), in ascending order. `num_blocks` holds the count,
    entries past it are -1. -inf is never selected. The capacity (last dim
    of `block_indices`) is at least `k + sink + local`.

    ```mlir
    %num, %idx = sparse_attn.select_topk %s {k = 8, sink = 1, local = 2}
        : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x11xi32>
    ```
  }];
  let arguments = (ins SparseAttn_F32Tensor4D:$scores, I64Attr:$k,
                       DefaultValuedAttr<I64Attr, "0">:$sink,
                       DefaultValuedAttr<I64Attr, "0">:$local);
  let results = (outs SparseAttn_I32Tensor3D:$num_blocks,
                      SparseAttn_I32Tensor4D:$block_indices);
  let assemblyFormat = [{
    $scores attr-dict `:` type($scores) `->` type($num_blocks) `,` type($block_indices)
  }];
  let hasVerifier = 1;
}

def SparseAttn_SelectThresholdOp : SparseAttn_Op<"select_threshold", [Pure]> {
  let summary = "Selects sink, local and the blocks holding a softmax mass per row";
  let description = [{
    Per row of `scores [B, H, NQ, NK]`: the forced blocks of `select_topk`
    (the first `sink` and the last `local` blocks with a score above -inf),
    then the remaining such blocks by descending score (ties to the lower
    index) until the selected blocks' softmax mass over the row's
    selectable scores reaches `mass`, at most `max_blocks` of them
    (FlexPrefill / SeerAttention-style gating); in ascending order,
    `num_blocks` the count, -1 past it. The capacity (last dim of
    `block_indices`) is at least `max_blocks + sink + local`.

    ```mlir
    %num, %idx = sparse_attn.select_threshold %s {mass = 0.9 : f32, max_blocks = 16, sink = 1, local = 2}
        : tensor<1x2x64x64xf32> -> tensor<1x2x64xi32>, tensor<1x2x64x19xi32>
    ```
  }];
  let arguments = (ins SparseAttn_F32Tensor4D:$scores, F32Attr:$mass,
                       I64Attr:$max_blocks,
                       DefaultValuedAttr<I64Attr, "0">:$sink,
                       DefaultValuedAttr<I64Attr, "0">:$local);
  let results = (outs SparseAttn_I32Tensor3D:$num_blocks,
                      SparseAttn_I32Tensor4D:$block_indices);
  let assemblyFormat = [{
    $scores attr-dict `:` type($scores) `->` type($num_blocks) `,` type($block_indices)
  }];
  let hasVerifier = 1;
}

def SparseAttn_LightningIndexerOp : SparseAttn_Op<"lightning_indexer", [
    Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<SparseAttn_MaskedOpInterface>]> {
  let summary = "DeepSeek Sparse Attention's lightning indexer";
  let description = [{
    `I[b, i, j] = sum_h w[b, i, h] * relu(<qi[b, h, i], ki[b, j]>)` over the
    pairs the mask allows; returns the `topk` keys with the largest `I` per
    query (ties to the lower index) in ascending order, -1 past the number
    of allowed keys. `qi` is `[B, HI, Sq, DI]`, `ki` `[B, Skv, DI]`, `w`
    `[B, Sq, HI]`; the result is `[B, Sq, topk]`.

    ```mlir
    %ti = sparse_attn.lightning_indexer %qi, %ki, %w {topk = 512, mask = #sparse_attn.causal}
        : tensor<1x4x4096x64xbf16>, tensor<1x4096x64xbf16>, tensor<1x4096x4xf32> -> tensor<1x4096x512xi32>
    ```
  }];
  let arguments = (ins
    SparseAttn_QKVTensor:$index_query,
    SparseAttn_FloatTensor3D:$index_key,
    SparseAttn_FloatTensor3D:$weights,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_q,
    Optional<SparseAttn_SegmentIdsTensor>:$segment_ids_kv,
    I64Attr:$topk,
    OptionalAttr<SparseAttn_MaskAttr>:$mask);
  let results = (outs SparseAttn_I32Tensor3D:$token_indices);
  let assemblyFormat = !strconcat("$index_query `,` $index_key `,` $weights ",
      segmentIdsFormat, [{
    attr-dict `:` type($index_query) `,` type($index_key) `,` type($weights)
    `->` type($token_indices)
  }]);
  let hasVerifier = 1;
}

def SparseAttn_VerticalSlashOp : SparseAttn_Op<"vertical_slash", [Pure]> {
  let summary = "MInference's vertical-slash estimator: block lists and columns";
  let description = [{
    From the causal attention of the last `last_q` queries (`min(last_q,
    Sq)` of them; query `i` sits at `p = i + Skv - Sq` and sees keys
    `j <= p`), per head `h` (keys of head `h / (Hq / Hkv)`):

        P[r, j]  = softmax_j(scale * <q[b, h, r], k[b, h / G, j]>)  over j <= p_r
        col[j]   = sum_r P[r, j]                 (vertical: a key column)
        diag[d]  = sum_r P[r, p_r - d], d >= 0   (slash: the d-th diagonal)

    keeps `V`, the first `sink` keys plus the highest-scoring others,
    `min(vertical, Skv)` in all, and `D`, the `local` diagonals nearest the
    main one (`d < local`) plus the highest-scoring others, `min(slash,
    Skv)` in all (ties to the lower index; a row that sees no key adds 0).
    Then, per query block `I` of `block = [block_q, block_kv]` (rows
    `i` with positions `p`):

    - `num_blocks` / `block_indices`: the kv blocks `J` (ascending, -1
      past the count) holding a pair `(i, j)` of the block with `p - j` in
      `D`: the slashes, widened to whole blocks;
    - `num_columns` / `column_indices`: the keys of `V` (ascending, -1
      past the count) with `j <= p` for some row of `I` whose kv block is
      not listed for `I`: the verticals the blocks miss.

    `block_sparse_attention %q, %k, %v, %num_blocks, %block_indices
    columns(%num_columns, %column_indices ...) {mask = #sparse_attn.causal}`
    attends over exactly these. `scale` defaults to `1/sqrt(D)`. The lists
    are `[B, Hq, NQ]` and `[B, Hq, NQ, capacity]`; the block capacity is at
    least `min(NK, min(slash, Skv) * (ceil(block_q / block_kv) + 1))`, the
    column capacity at least `min(vertical, Skv)`.

    ```mlir
    %nb, %bi, %nc, %ci = sparse_attn.vertical_slash %q, %k {last_q = 64, vertical = 1000, slash = 6096, sink = 30, local = 100, block = [64, 64]}
        : tensor<1x32x32768x128xbf16>, tensor<1x8x32768x128xbf16>
       -> tensor<1x32x512xi32>, tensor<1x32x512x512xi32>, tensor<1x32x512xi32>, tensor<1x32x512x1000xi32>
    ```
  }];
  let arguments = (ins
    SparseAttn_QKVTensor:$query,
    SparseAttn_QKVTensor:$key,
    I64Attr:$last_q,
    I64Attr:$vertical,
    I64Attr:$slash,
    DefaultValuedAttr<I64Attr, "0">:$sink,
    DefaultValuedAttr<I64Attr, "0">:$local,
    SparseAttn_BlockSizeAttr:$block,
    OptionalAttr<F32Attr>:$scale);
  let results = (outs SparseAttn_I32Tensor3D:$num_blocks,
                      SparseAttn_I32Tensor4D:$block_indices,
                      SparseAttn_I32Tensor3D:$num_columns,
                      SparseAttn_I32Tensor4D:$column_indices);
  let assemblyFormat = [{
    $query `,` $key attr-dict `:` type($query) `,` type($key)
    `->` type($num_blocks) `,` type($block_indices) `,` type($num_columns) `,`
        type($column_indices)
  }];
  let extraClassDeclaration = blockSizesAccessor # [{
    /// The smallest block capacity that holds every query block's slashes.
    static int64_t blockCapacity(int64_t slash, int64_t kvLen, int64_t blockQ,
                                 int64_t blockKv);
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused selection and attention
//===----------------------------------------------------------------------===//

def SparseAttn_FusedBlockSparseAttentionOp
    : SparseAttn_Op<"fused_block_sparse_attention", [Pure]> {
  let summary = "Block selection (scores, top-k or threshold) fused with block-sparse attention";
  let description = [{
    The chain `block_scores` -> `select_topk` (or `select_threshold`) ->
    `block_sparse_attention` as one op, so that a lowering may compute each
    query block's selection where its attention runs, without writing the
    scores or the lists to memory. `sparse-attn-fuse-selection` forms it.

    The result is, by definition, that of the chain:

        %s = block_scores %query_pooled, %key_pooled {mask = score_mask, block,
               q_len = Sq, kv_len = Skv, scale = score_scale} -> [B, list_heads, NQ, NK]
        %n, %i = select_topk %s {k, sink, local}      (with `k`)
               | select_threshold %s {mass, max_blocks, sink, local}   (with `mass`)
        %o, %lse = block_sparse_attention %query, %key, %value, %n, %i {block, mask, scale}

    with `query_pooled [B, Hq, NQ, Dp]` and `key_pooled [B, Hkv, NK, Dp]`
    (`NQ = ceil(Sq / block_q)`, `NK = ceil(Skv / block_kv)`), one selection
    per query head (`list_heads = Hq`) or per GQA group (`list_heads = Hkv`,
    the group's scores summed). Exactly one of `k` and `mass` is given;
    `max_blocks` goes with `mass`.

    ```mlir
    %o, %lse = sparse_attn.fused_block_sparse_attention %q, %k, %v, %qp, %kp
        {block = [64, 64], mask = #sparse_attn.causal, score_mask = #sparse_attn.causal,
         list_heads = 2, k = 16, sink = 1, local = 2}
        : tensor<1x16x4096x128xbf16>, tensor<1x2x4096x128xbf16>, tensor<1x2x4096x128xbf16>,
          tensor<1x16x64x128xf32>, tensor<1x2x64x128xf32>
       -> tensor<1x16x4096x128xbf16>, tensor<1x16x4096xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_QKVTensor:$query,
    SparseAttn_QKVTensor:$key,
    SparseAttn_QKVTensor:$value,
    SparseAttn_QKVTensor:$query_pooled,
    SparseAttn_QKVTensor:$key_pooled,
    SparseAttn_BlockSizeAttr:$block,
    OptionalAttr<SparseAttn_MaskAttr>:$mask,
    OptionalAttr<F32Attr>:$scale,
    OptionalAttr<SparseAttn_MaskAttr>:$score_mask,
    OptionalAttr<F32Attr>:$score_scale,
    I64Attr:$list_heads,
    OptionalAttr<I64Attr>:$k,
    OptionalAttr<F32Attr>:$mass,
    OptionalAttr<I64Attr>:$max_blocks,
    DefaultValuedAttr<I64Attr, "0">:$sink,
    DefaultValuedAttr<I64Attr, "0">:$local);
  let results = (outs SparseAttn_QKVTensor:$output, SparseAttn_LseTensor:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $query_pooled `,` $key_pooled attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($query_pooled) `,`
        type($key_pooled)
    `->` type($output) `,` type($lse)
  }];
  let extraClassDeclaration = blockSizesAccessor # [{
    /// The selected blocks per row at most (k or max_blocks, plus sink and
    /// local): the capacity of the chain's lists.
    int64_t getListCapacity();
    /// Builds the chain this op stands for before it and returns its two
    /// results (the op itself is left in place).
    std::pair<::mlir::Value, ::mlir::Value> buildUnfused(::mlir::OpBuilder &builder);
  }];
  let hasVerifier = 1;
}

def SparseAttn_FusedTokenSparseAttentionOp
    : SparseAttn_Op<"fused_token_sparse_attention", [Pure]> {
  let summary = "The lightning indexer fused with token-sparse attention";
  let description = [{
    The chain `lightning_indexer` -> `token_sparse_attention` (DeepSeek
    Sparse Attention) as one op; `sparse-attn-fuse-selection` forms it. The
    result is, by definition, that of

        %t = lightning_indexer %index_query, %index_key, %weights {topk, mask = index_mask}
        %o, %lse = token_sparse_attention %query, %key, %value, %t {scale}

    ```mlir
    %o, %lse = sparse_attn.fused_token_sparse_attention %q, %k, %v, %qi, %ki, %w
        {topk = 512, index_mask = #sparse_attn.causal}
        : tensor<1x8x4096x64xbf16>, tensor<1x2x4096x64xbf16>, tensor<1x2x4096x64xbf16>,
          tensor<1x4x4096x64xbf16>, tensor<1x4096x64xbf16>, tensor<1x4096x4xf32>
       -> tensor<1x8x4096x64xbf16>, tensor<1x8x4096xf32>
    ```
  }];
  let arguments = (ins
    SparseAttn_QKVTensor:$query,
    SparseAttn_QKVTensor:$key,
    SparseAttn_QKVTensor:$value,
    SparseAttn_QKVTensor:$index_query,
    SparseAttn_FloatTensor3D:$index_key,
    SparseAttn_FloatTensor3D:$weights,
    I64Attr:$topk,
    OptionalAttr<SparseAttn_MaskAttr>:$index_mask,
    OptionalAttr<F32Attr>:$scale);
  let results = (outs SparseAttn_QKVTensor:$output, SparseAttn_LseTensor:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $index_query `,` $index_key `,` $weights attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($index_query) `,`
        type($index_key) `,` type($weights)
    `->` type($output) `,` type($lse)
  }];
  let extraClassDeclaration = [{
    /// Builds the chain this op stands for before it and returns its two
    /// results (the op itself is left in place).
    std::pair<::mlir::Value, ::mlir::Value> buildUnfused(::mlir::OpBuilder &builder);
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Terminator
//===----------------------------------------------------------------------===//

def SparseAttn_YieldOp : SparseAttn_Op<"yield", [
    Pure, ReturnLike, Terminator,
    ParentOneOf<["AttentionOp", "BlockSparseAttentionOp"]>]> {
  let summary = "Yields the value of a mask_mod or score_mod region";
  let description = [{
    ```mlir
    sparse_attn.yield %allowed : i1
    ```
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

#endif // SPARSE_ATTN_OPS_TD
