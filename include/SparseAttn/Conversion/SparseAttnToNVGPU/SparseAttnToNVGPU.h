//===- SparseAttnToNVGPU.h - attention on tensor cores ----------*- C++ -*-===//
//
// Block-sparse attention on f16/bf16 as one gpu.launch of a tensor-core
// kernel (wgmma from swizzled tiles on sm_90a; ldmatrix + mma.sync m16n8k16
// elsewhere; cp.async loads), as patterns other compilers can add to their
// own GPU lowering.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_CONVERSION_SPARSEATTNTONVGPU_SPARSEATTNTONVGPU_H
#define SPARSE_ATTN_CONVERSION_SPARSEATTNTONVGPU_SPARSEATTNTONVGPU_H

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Utils/ChipInfo.h"

#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir {
class RewritePatternSet;
namespace sparse_attn {

/// What the tensor-core lowering may use; zero fields are chosen by it.
struct MmaAttentionOptions {
  /// The target: its shared memory bounds the tiles and the blocks per
  /// multiprocessor; sm_90a adds the wgmma kernel.
  ChipInfo chip = *getChipInfo("sm_90");
  /// Queries per thread block (16 per warp): 0 picks the largest of 128,
  /// 64, 32, 16 that divides the op's block_q.
  int64_t blockQ = 0;
  /// Keys per shared-memory tile: 0 picks the largest of 64, 32, 16 (128
  /// too for the warpgroup kernel) that divides the op's block_kv.
  int64_t blockKv = 0;
  /// K/V tiles in flight (1: load, then compute; 2: the next tile's copy
  /// overlaps this tile's math).
  int64_t stages = 2;
  /// 64-row tiles per warpgroup in the wgmma kernel: 1, 2, or 0 for the
  /// kernel's choice (2 for head dims up to 64 when block-q is 128, else 1).
  int64_t warpgroupRows = 0;
  /// Query tiles per thread block in the wgmma kernel (1 to 8): above 1,
  /// the block works through them in turn and fetches the next one's Q (a
  /// second Q buffer) and first K/V tile during the current one's last kv
  /// tile, so short lists do not wait for their loads. The mma.sync kernel
  /// takes one.
  int64_t itemsPerBlock = 1;
  /// Thread blocks per multiprocessor the kernel's registers must allow (1
  /// or 2; 0: as many as its shared memory allows, up to 2).
  int64_t blocksPerSM = 0;
  /// Decode (`attention` with a static query length up to 64 and no
  /// segment ids): the query heads of a GQA group share a tile's rows and
  /// the keys are split across thread blocks, whose partial results a
  /// second launch combines (flash-decoding).
  bool decode = true;
  /// Use tensor cores where a tensor-core kernel takes the op; otherwise
  /// (and for every op when false) the CUDA-core kernel takes it (f32 fmas,
  /// same skeleton) where it can.
  bool tensorCores = true;
  /// Lists finer than a query tile: "union", "grouped" or "auto" (the
  /// pass option `row-lists`).
  std::string rowLists = "auto";
  /// fused_block_sparse_attention on the attention kernel with the
  /// selection inside its blocks, or per-query lists' scores and top-k in
  /// one kernel (the pass option `in-kernel-selection`); otherwise fused
  /// ops run as their chains' kernels.
  bool inKernelSelection = false;
  /// block_sparse_attention's columns(...) on the attention kernel from any
  /// producer (the pass option `trust-column-lists`); otherwise only those
  /// straight from vertical_slash.
  bool trustColumnLists = false;
  /// Assert at run time the shape rules that dynamic dims hide.
  bool runtimeChecks = true;
};

/// The options of `convert-sparse-attn-to-nvgpu` in its textual form
/// (`chip=sm_90a block-q=64`), checked as the pass checks them; errors go
/// to `emitError`. What a pipeline that adds the pass needs to know of it.
FailureOr<MmaAttentionOptions>
parseMmaAttentionOptions(StringRef text,
                         function_ref<void(const Twine &)> emitError);

/// What the kernel computes, as far as its configuration depends on it.
struct MmaKernelProblem {
  Type elementType, outputElementType;
  int64_t headDim = 0, valueDim = 0;
  Attribute mask;
  int64_t listBlockQ = 0, listBlockKv = 0;
  /// Capacity of the block list (dynamic allowed), and of the full list
  /// when the op has one.
  int64_t capacity = 0;
  std::optional<int64_t> fullCapacity;
  /// The key length (dynamic allowed): lists finer than a query tile need
  /// it static (the union of a tile's rows' blocks is a bitmap of the kv
  /// blocks in shared memory).
  int64_t kvLen = ShapedType::kDynamic;
  /// An `attention` the decode kernel may take: its static query length
  /// (at most 64; 0 otherwise) and its query heads per kv head.
  int64_t decodeQueryLen = 0;
  int64_t groupSize = 1;
  /// token_sparse_attention: a block per query whose rows are its group's
  /// query heads (packed as decode packs them, always) and whose keys are
  /// gathered from its token list.
  bool gathersTokens = false;
  /// Shared bytes a prologue of the kernel uses before its tiles' first
  /// loads, in their place (fused_token_sparse_attention's selection).
  int64_t prologueBytes = 0;
};

/// The problem of a block_sparse_attention.
MmaKernelProblem getMmaKernelProblem(BlockSparseAttentionOp op);
/// The problem an `attention` op would be as a block_sparse_attention over
/// lists of `block` blocks with these capacities (a full list when
/// `fullCapacity` is set).
MmaKernelProblem getMmaKernelProblem(AttentionOp op, BlockSizes block,
                                     int64_t capacity,
                                     std::optional<int64_t> fullCapacity);

/// The problem of a fused_block_sparse_attention: its block_sparse_attention
/// over lists of its capacity, whose shared bytes also hold the selection's
/// scratch (counted as list entries of 4 bytes: two per kv block and one
/// per pooled column; a dynamic key length makes them dynamic).
MmaKernelProblem getMmaKernelProblem(FusedBlockSparseAttentionOp op);

/// The problem of a token_sparse_attention: `listBlockKv` slots of its
/// lists per kv tile.
MmaKernelProblem getMmaKernelProblem(TokenSparseAttentionOp op,
                                     int64_t listBlockKv);

/// The problem of a fused_token_sparse_attention's attention (that of its
/// token_sparse_attention).
MmaKernelProblem getMmaKernelProblem(FusedTokenSparseAttentionOp op,
                                     int64_t listBlockKv);

/// Whether a kernel (tensor-core or CUDA-core) takes a block_sparse_attention
/// of `problem` under `options` (else `reason`, when given, says why).
bool isMmaKernelSupported(const MmaKernelProblem &problem,
                          const MmaAttentionOptions &options,
                          std::string *reason = nullptr);

/// Adds the patterns that rewrite each `block_sparse_attention`,
/// `attention` and `token_sparse_attention` a kernel supports into
/// bufferization.to_buffer operands, allocated results and the launches:
/// the kernel (wgmma from swizzled tiles on sm_90a for head dims and
/// block_q multiples of 64, ldmatrix + mma.sync elsewhere, for f16/bf16 q,
/// k, v and output with head dims multiples of 16 up to 256 and block sizes
/// multiples of 16; the CUDA-core kernel for f32 and other f16/bf16 shapes
/// with head dims multiples of 8 up to 256, block_q a multiple of 16 and
/// block_kv of 8), preceded by the
/// segment-bounds launch for masks reading segment ids and followed by the
/// combine launch for decode. Other ops are left for the general path.
/// `attention` needs no lists: each query tile walks its mask's key hull.
void populateSparseAttnToNVGPUPatterns(RewritePatternSet &patterns,
                                       const MmaAttentionOptions &options);

/// The kernels of ops whose consumers' patterns look at them (block_scores,
/// which a select_topk / select_threshold of per-token rows may take over;
/// vertical_slash, whose lists the attention kernel takes only from it):
/// apply them after populateSparseAttnToNVGPUPatterns' (as
/// convert-sparse-attn-to-nvgpu does: two walks), or in the same set, where
/// those consumers then take their general forms.
void populateSparseAttnToNVGPUProducerPatterns(
    RewritePatternSet &patterns, const MmaAttentionOptions &options);

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_CONVERSION_SPARSEATTNTONVGPU_SPARSEATTNTONVGPU_H
