//===- Pipelines.h - sparse_attn pass pipelines -----------------*- C++ -*-===//
//
// The pipelines that take sparse_attn IR to a target.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_PIPELINES_PIPELINES_H
#define SPARSE_ATTN_PIPELINES_PIPELINES_H

namespace mlir {
class OpPassManager;
namespace sparse_attn {

/// sparse_attn (on tensors) -> LLVM dialect for the host: the reference
/// lowering, one-shot bufferization with owned function results, loops, and
/// the conversions to LLVM. Functions keep their names; buffers returned by
/// a function are malloc'ed and owned by the caller.
void buildSparseAttnToLLVMCPUPipeline(OpPassManager &pm);

/// Registers `sparse-attn-to-llvm-cpu-pipeline`.
void registerSparseAttnPipelines();

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_PIPELINES_PIPELINES_H
