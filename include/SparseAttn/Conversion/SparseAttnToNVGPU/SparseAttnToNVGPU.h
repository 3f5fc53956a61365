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

#include <cstdint>

namespace mlir {
class RewritePatternSet;
namespace sparse_attn {

/// What the tensor-core lowering may use; zero fields are chosen by it.
struct MmaAttentionOptions {
  /// Queries per thread block (16 per warp): 0 picks the largest of 128,
  /// 64, 32, 16 that divides the op's block_q.
  int64_t blockQ = 0;
  /// Keys per shared-memory tile: 0 picks the largest of 64, 32, 16 (128
  /// too for the warpgroup kernel) that divides the op's block_kv.
  int64_t blockKv = 0;
  /// K/V tiles in flight (1: load, then compute; 2: the next tile's copy
  /// overlaps this tile's math).
  int64_t stages = 2;
  /// Warpgroup matrix products (wgmma, sm_90a): ops whose head dims are
  /// multiples of 64 and whose block_q is a multiple of 64 get the Hopper
  /// kernel (warpgroups of 128 threads over 64 or 128 query rows, swizzled
  /// tiles); the others the mma.sync kernel.
  bool warpgroupMma = false;
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
  /// Also rewrite `attention` with static lengths to the kernel (through
  /// block_mask's exact lists). Off by default: the kernels' 0 * NaN
  /// deviation (docs/semantics.md) would then reach `attention` too.
  bool attention = false;
  /// Shared memory a thread block may use, in bytes (the chip's limit).
  int64_t sharedMemoryBytes = 227 * 1024;
  /// Shared memory of one multiprocessor (the chip's), for the count of
  /// thread blocks it holds.
  int64_t sharedMemoryPerSM = 228 * 1024;
  /// Assert at run time the shape rules that dynamic dims hide.
  bool runtimeChecks = true;
};

/// Adds the pattern that rewrites each `block_sparse_attention` the kernel
/// supports (f16/bf16 q, k, v and output; head dims multiples of 16 up to
/// 128; block sizes multiples of 16) into bufferization.to_buffer operands,
/// allocated results and one `gpu.launch`. Other ops are left for the
/// general path.
void populateSparseAttnToNVGPUPatterns(RewritePatternSet &patterns,
                                       const MmaAttentionOptions &options);

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_CONVERSION_SPARSEATTNTONVGPU_SPARSEATTNTONVGPU_H
