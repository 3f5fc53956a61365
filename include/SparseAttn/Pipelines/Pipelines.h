//===- Pipelines.h - sparse_attn pass pipelines -----------------*- C++ -*-===//
//
// The pipelines that take sparse_attn IR to a target.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_PIPELINES_PIPELINES_H
#define SPARSE_ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
class OpPassManager;
namespace sparse_attn {

/// Options of `sparse-attn-to-ptx-pipeline`.
struct SparseAttnToPTXOptions
    : public PassPipelineOptions<SparseAttnToPTXOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("Target chip: sm_80, sm_90 or sm_90a (wgmma kernels)"),
      llvm::cl::init("sm_90")};
  PassOptions::Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("Let convert-sparse-attn-to-nvgpu use the tensor-core "
                     "kernels (false: the CUDA-core kernel takes every "
                     "attention op it can; what no kernel takes goes the "
                     "general path)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> fuseSelection{
      *this, "fuse-selection",
      llvm::cl::desc("Run sparse-attn-fuse-selection first: selection chains "
                     "(block_scores -> select -> block_sparse_attention, "
                     "lightning_indexer -> token_sparse_attention) become "
                     "fused ops"),
      llvm::cl::init(true)};
  PassOptions::Option<std::string> nvgpuOptions{
      *this, "nvgpu-options",
      llvm::cl::desc("Options of convert-sparse-attn-to-nvgpu in its own "
                     "textual form, e.g. nvgpu-options={block-q=64 "
                     "items-per-block=2} (chip comes from the pipeline)"),
      llvm::cl::init("")};
  PassOptions::Option<bool> raiseAttention{
      *this, "raise-attention",
      llvm::cl::desc("Run sparse-attn-raise-attention first: attention "
                     "written in linalg (matmul, softmax, matmul) becomes "
                     "sparse_attn.attention"),
      llvm::cl::init(false)};
};

/// Options of `sparse-attn-to-llvm-cpu-pipeline`.
struct SparseAttnToLLVMCPUOptions
    : public PassPipelineOptions<SparseAttnToLLVMCPUOptions> {
  PassOptions::Option<bool> raiseAttention{
      *this, "raise-attention",
      llvm::cl::desc("Run sparse-attn-raise-attention first: attention "
                     "written in linalg (matmul, softmax, matmul) becomes "
                     "sparse_attn.attention"),
      llvm::cl::init(false)};
};

/// sparse_attn (on tensors) -> host code with gpu.launch_func and the
/// kernels as PTX in gpu.binary ops (LLVM's NVPTX backend, no CUDA needed):
/// attention ops tiled per thread block (sparse-attn-tile), the other ops'
/// reference lowering mapped to blocks and threads, bufferized, outlined
/// and lowered through NVVM.
/// Fails (reporting through `emitError`, by default on stderr) for options
/// the passes reject, such as malformed `nvgpu-options`.
LogicalResult
buildSparseAttnToPTXPipeline(OpPassManager &pm,
                             const SparseAttnToPTXOptions &options,
                             function_ref<void(const Twine &)> emitError = {});

/// The first half of buildSparseAttnToPTXPipeline: kernels outlined into
/// gpu.modules, host code still in func/memref/arith/gpu form (what
/// buildLaunchPlan describes for runtimes without MLIR).
LogicalResult buildSparseAttnToGPUKernelsPipeline(
    OpPassManager &pm, const SparseAttnToPTXOptions &options,
    function_ref<void(const Twine &)> emitError = {});

/// The second half: kernels to PTX in gpu.binary ops, host to LLVM.
void buildSparseAttnGPUToPTXPipeline(OpPassManager &pm,
                                     const SparseAttnToPTXOptions &options);

/// sparse_attn (on tensors) -> LLVM dialect for the host: the reference
/// lowering, one-shot bufferization with owned function results, loops, and
/// the conversions to LLVM. Functions keep their names; buffers returned by
/// a function are malloc'ed and owned by the caller.
void buildSparseAttnToLLVMCPUPipeline(OpPassManager &pm);
void buildSparseAttnToLLVMCPUPipeline(
    OpPassManager &pm, const SparseAttnToLLVMCPUOptions &options);

/// Registers `sparse-attn-to-llvm-cpu-pipeline` and
/// `sparse-attn-to-ptx-pipeline`.
void registerSparseAttnPipelines();

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_PIPELINES_PIPELINES_H
