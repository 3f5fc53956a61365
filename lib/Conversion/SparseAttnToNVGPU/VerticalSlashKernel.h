//===- VerticalSlashKernel.h - vertical_slash on the GPU --------*- C++ -*-===//
//
// MInference's estimator as launches of its own: the tail queries' softmax
// statistics, the column and diagonal sums, the two top-k selections, and
// the per-query-block lists.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_VERTICALSLASHKERNEL_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_VERTICALSLASHKERNEL_H

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

namespace mlir::sparse_attn {

/// Rewrites every vertical_slash (f16, bf16 or f32; head dim up to 256; the
/// last_q rows' tiles within shared memory) into four launches:
///   1. per (split of the key tiles, head, batch) the row maxima and
///      exponential sums of the last L = min(last_q, Sq) queries' scores
///      (mma.sync for 16-bit inputs; CUDA-core products for f32);
///   2. the same scores again as probabilities: column sums per key, and
///      per (key tile, row tile) the sums of the tile's 127 diagonals;
///   3. per (head, batch) and each of the two selections a block of 512
///      threads: ordered keys (forced entries +inf), a radix select of the
///      k-th largest, the chosen indices ascending and their prefix counts;
///   4. per query block one warp: the kv blocks the chosen diagonals cross
///      (two prefix counts per block), then the chosen columns those blocks
///      miss and some row sees.
/// Applied after the other patterns (populateSparseAttnToNVGPUPatterns), so
/// the attention over its lists still sees the op as its producer.
void populateVerticalSlashKernelPatterns(RewritePatternSet &patterns,
                                         const MmaAttentionOptions &options);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_VERTICALSLASHKERNEL_H
