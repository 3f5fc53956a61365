//===- Pipelines.h - sparse_attn pass pipelines -----------------*- C++ -*-===//
//
// The pipelines that take sparse_attn IR to a target.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_PIPELINES_PIPELINES_H
#define SPARSE_ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

#include <string>

namespace mlir {
class OpPassManager;
namespace sparse_attn {

/// Options of `sparse-attn-to-ptx-pipeline`.
struct SparseAttnToPTXOptions : public PassPipelineOptions<SparseAttnToPTXOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("Target chip: sm_80, sm_90 or sm_90a (wgmma kernels)"),
      llvm::cl::init("sm_90")};
  PassOptions::Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("Lower the attention ops the tensor-core kernel supports "
                     "with convert-sparse-attn-to-nvgpu (the rest, and all "
                     "ops when false, take the general path)"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> mmaBlockQ{
      *this, "mma-block-q",
      llvm::cl::desc("block-q of convert-sparse-attn-to-nvgpu (0: its choice)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> mmaWarpgroupRows{
      *this, "mma-warpgroup-rows",
      llvm::cl::desc("warpgroup-rows of convert-sparse-attn-to-nvgpu (0: its choice)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> mmaItemsPerBlock{
      *this, "mma-items-per-block",
      llvm::cl::desc("items-per-block of convert-sparse-attn-to-nvgpu (wgmma kernel)"),
      llvm::cl::init(1)};
  PassOptions::Option<bool> tensorCoreAttention{
      *this, "tensor-core-attention",
      llvm::cl::desc("attention with static lengths on the tensor-core kernels too "
                     "(convert-sparse-attn-to-nvgpu attention=true)"),
      llvm::cl::init(false)};
  PassOptions::Option<int64_t> mmaBlocksPerSM{
      *this, "mma-blocks-per-sm",
      llvm::cl::desc("blocks-per-sm of convert-sparse-attn-to-nvgpu (0: its choice)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> mmaBlockKv{
      *this, "mma-block-kv",
      llvm::cl::desc("block-kv of convert-sparse-attn-to-nvgpu (0: its choice)"),
      llvm::cl::init(0)};
};

/// sparse_attn (on tensors) -> host code with gpu.launch_func and the
/// kernels as PTX in gpu.binary ops (LLVM's NVPTX backend, no CUDA needed):
/// attention ops tiled per thread block (sparse-attn-tile), the other ops'
/// reference lowering mapped to blocks and threads, bufferized, outlined
/// and lowered through NVVM.
void buildSparseAttnToPTXPipeline(OpPassManager &pm,
                                  const SparseAttnToPTXOptions &options);

/// The first half of buildSparseAttnToPTXPipeline: kernels outlined into
/// gpu.modules, host code still in func/memref/arith/gpu form (what
/// buildLaunchPlan describes for runtimes without MLIR).
void buildSparseAttnToGPUKernelsPipeline(OpPassManager &pm,
                                         const SparseAttnToPTXOptions &options);

/// The second half: kernels to PTX in gpu.binary ops, host to LLVM.
void buildSparseAttnGPUToPTXPipeline(OpPassManager &pm,
                                     const SparseAttnToPTXOptions &options);

/// sparse_attn (on tensors) -> LLVM dialect for the host: the reference
/// lowering, one-shot bufferization with owned function results, loops, and
/// the conversions to LLVM. Functions keep their names; buffers returned by
/// a function are malloc'ed and owned by the caller.
void buildSparseAttnToLLVMCPUPipeline(OpPassManager &pm);

/// Registers `sparse-attn-to-llvm-cpu-pipeline` and
/// `sparse-attn-to-ptx-pipeline`.
void registerSparseAttnPipelines();

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_PIPELINES_PIPELINES_H
