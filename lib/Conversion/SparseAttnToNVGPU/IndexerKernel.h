//===- IndexerKernel.h - lightning_indexer on tensor cores ------*- C++ -*-===//
//
// The pattern that computes lightning_indexer (scores and top-k) in one
// tensor-core kernel.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_INDEXERKERNEL_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_INDEXERKERNEL_H

#include "SparseAttn/Conversion/SparseAttnToNVGPU/SparseAttnToNVGPU.h"

namespace mlir::sparse_attn {

/// Rewrites every lightning_indexer on f16/bf16 with an index head dim up to
/// 256 (a lowerable mask or none, topk's candidates within shared memory)
/// into a launch of a warp per query, up to four a block: logits by
/// mma.sync with keys as rows and heads as columns, ReLU and the weighted
/// head sum in registers, a streaming top-k in shared memory (threshold,
/// radix-select compactions); the scores never reach global memory.
void populateIndexerKernelPatterns(RewritePatternSet &patterns,
                                   const MmaAttentionOptions &options);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_INDEXERKERNEL_H
