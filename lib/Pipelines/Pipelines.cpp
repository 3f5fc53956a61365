//===- Pipelines.cpp - sparse_attn pass pipelines -------------------------===//
//
// The host pipeline: reference lowering, bufferization, loops, LLVM.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Pipelines/Pipelines.h"

#include "SparseAttn/Conversion/Passes.h"
#include "SparseAttn/Transforms/Passes.h"
#include "SparseAttn/Transforms/Transforms.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToGPU/SCFToGPUPass.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::sparse_attn;

/// One-shot bufferization of whole modules: functions take and return plain
/// (identity-layout) memrefs, so callers see C-compatible descriptors. With
/// `deallocate`, ownership-based deallocation makes every returned buffer
/// the caller's and frees the rest; the GPU pipeline goes without, since its
/// runtime allocates every buffer the launch plan names (and deallocation's
/// analysis cannot see through gpu.launch_func).
static void addBufferization(OpPassManager &pm, bool deallocate) {
  bufferization::OneShotBufferizePassOptions bufferizeOptions;
  bufferizeOptions.bufferizeFunctionBoundaries = true;
  bufferizeOptions.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferizeOptions));
  if (deallocate)
    bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
}

void sparse_attn::buildSparseAttnToLLVMCPUPipeline(OpPassManager &pm) {
  buildSparseAttnToLLVMCPUPipeline(pm, SparseAttnToLLVMCPUOptions());
}

void sparse_attn::buildSparseAttnToLLVMCPUPipeline(
    OpPassManager &pm, const SparseAttnToLLVMCPUOptions &options) {
  // Before anything folds the frontend's linalg into other forms.
  if (options.raiseAttention)
    pm.addNestedPass<func::FuncOp>(createSparseAttnRaiseAttentionPass());
  // Folds first: structural block_masks become constant lists.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createConvertSparseAttnToLinalgPass());
  // Users' functions may compute on tensors with elementwise arith/math
  // ops, which bufferize only as linalg.
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  addBufferization(pm, /*deallocate=*/true);

  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createCanonicalizerPass());

  // bf16 has no native host arithmetic: extf/truncf become integer ops.
  arith::ArithExpandOpsPassOptions expandOptions;
  expandOptions.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expandOptions));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

/// Where a pipeline's errors go when its caller gives no handler.
static void printError(const Twine &message) {
  llvm::errs() << message << "\n";
}

LogicalResult sparse_attn::buildSparseAttnToGPUKernelsPipeline(
    OpPassManager &pm, const SparseAttnToPTXOptions &options,
    function_ref<void(const Twine &)> emitError) {
  if (!emitError)
    emitError = printError;
  // Before anything folds the frontend's linalg into other forms.
  if (options.raiseAttention)
    pm.addNestedPass<func::FuncOp>(createSparseAttnRaiseAttentionPass());
  pm.addPass(createCanonicalizerPass());
  if (options.fuseSelection)
    pm.addPass(createSparseAttnFuseSelectionPass());
  {
    // The conversion's options travel as its own text, with the pipeline's
    // chip (and tensor-cores): the pass defines and checks them.
    StringRef nvgpuText = options.nvgpuOptions;
    for (StringRef token : llvm::split(nvgpuText, ' '))
      for (StringRef name : {"chip", "tensor-cores"})
        if (token.starts_with((name + "=").str())) {
          emitError("sparse-attn-to-ptx-pipeline: set " + name +
                    " on the pipeline, not in nvgpu-options");
          return failure();
        }
    std::string nvgpuOptions =
        ("chip=" + options.chip +
         (options.tensorCores ? "" : " tensor-cores=false") + " " + nvgpuText)
            .str();
    FailureOr<MmaAttentionOptions> mmaOptions =
        parseMmaAttentionOptions(nvgpuOptions, emitError);
    if (failed(mmaOptions))
      return failure();
    std::unique_ptr<Pass> nvgpu = createConvertSparseAttnToNVGPUPass();
    if (failed(nvgpu->initializeOptions(
            nvgpuOptions, [](const Twine &) { return failure(); })))
      return failure();
    pm.addNestedPass<func::FuncOp>(std::move(nvgpu));
    // The kernels leave the host function before the general path's passes
    // (which map loops to blocks and threads) run over it.
    pm.addPass(createGpuKernelOutliningPass());
    pm.addPass(createSparseAttnKernelLimitsPass());
  }
  SparseAttnTilePassOptions tileOptions;
  tileOptions.chip = options.chip;
  // The shape checks stay in the host code (cf.assert before any kernel):
  // the launch plan turns them into checks the runtime makes.
  pm.addNestedPass<func::FuncOp>(createSparseAttnTilePass(tileOptions));
  pm.addPass(createConvertSparseAttnToLinalgPass());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  // No CSE before bufferization: merged fills would force copies.
  pm.addPass(createCanonicalizerPass());

  addBufferization(pm, /*deallocate=*/false);
  // CSE makes the write-back of each tile a self-copy, which folds away.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());

  // Tiled kernels: one thread block per forall iteration; other ops: their
  // parallel loops mapped to blocks and threads.
  pm.addNestedPass<func::FuncOp>(createSparseAttnLinalgToGPULoopsPass());
  pm.addNestedPass<func::FuncOp>(createForallToParallelLoopPass());
  pm.addNestedPass<func::FuncOp>(createGpuMapParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  // Tile buffers of a kernel live in its thread's local memory.
  pm.addNestedPass<func::FuncOp>(createSparseAttnPromoteKernelBuffersPass());
  pm.addPass(createGpuKernelOutliningPass());
  // Kernels compute exp/log/tanh in arith: no libdevice, no CUDA needed.
  pm.addNestedPass<gpu::GPUModuleOp>(createSparseAttnApproximateMathPass());
  return success();
}

void sparse_attn::buildSparseAttnGPUToPTXPipeline(
    OpPassManager &pm, const SparseAttnToPTXOptions &options) {
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  gpu::GPUToNVVMPipelineOptions nvvmOptions;
  nvvmOptions.cubinChip = options.chip;
  nvvmOptions.cubinFeatures = "+ptx80";
  nvvmOptions.cubinFormat = "isa";
  gpu::buildLowerToNVVMPassPipeline(pm, nvvmOptions);
}

LogicalResult sparse_attn::buildSparseAttnToPTXPipeline(
    OpPassManager &pm, const SparseAttnToPTXOptions &options,
    function_ref<void(const Twine &)> emitError) {
  if (failed(buildSparseAttnToGPUKernelsPipeline(pm, options, emitError)))
    return failure();
  buildSparseAttnGPUToPTXPipeline(pm, options);
  return success();
}

void sparse_attn::registerSparseAttnPipelines() {
  // Registered by hand (not PassPipelineRegistration) so that options the
  // passes reject fail the pipeline's parse with their message.
  registerPassPipeline(
      "sparse-attn-to-ptx-pipeline",
      "Lower sparse_attn on tensors to host code with gpu.launch_func and "
      "the kernels as PTX in gpu.binary ops (option chip = sm_80 | sm_90 | "
      "sm_90a)",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        SparseAttnToPTXOptions options;
        std::string errors;
        llvm::raw_string_ostream errorStream(errors);
        if (failed(options.parseFromString(text, errorStream)))
          return errorHandler(errors);
        std::string message;
        if (failed(buildSparseAttnToPTXPipeline(
                pm, options, [&](const Twine &why) { message = why.str(); })))
          return errorHandler(message);
        return success();
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> optionHandler) {
        optionHandler(SparseAttnToPTXOptions());
      });
  PassPipelineRegistration<SparseAttnToLLVMCPUOptions>(
      "sparse-attn-to-llvm-cpu-pipeline",
      "Lower sparse_attn on tensors to the LLVM dialect for the host CPU "
      "(reference lowering, one-shot bufferization, loops, LLVM; option "
      "raise-attention)",
      [](OpPassManager &pm, const SparseAttnToLLVMCPUOptions &options) {
        buildSparseAttnToLLVMCPUPipeline(pm, options);
      });
}
