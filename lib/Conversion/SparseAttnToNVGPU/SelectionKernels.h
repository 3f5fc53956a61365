//===- SelectionKernels.h - the selection ops on the GPU --------*- C++ -*-===//
//
// Patterns that rewrite the ops choosing blocks before an attention (pool
// so far) into launches of their own kernels on buffers.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_SELECTIONKERNELS_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_SELECTIONKERNELS_H

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

namespace mlir::sparse_attn {

/// Rewrites every `pool` (static head dim) into a launch of a thread block
/// per (pooled block, head, batch) whose threads split the block's rows and
/// 16-byte column chunks and combine their partials in shared memory.
void populateSelectionKernelPatterns(RewritePatternSet &patterns,
                                     const MmaAttentionOptions &options);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_SELECTIONKERNELS_H
