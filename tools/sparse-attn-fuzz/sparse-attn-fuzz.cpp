//===- sparse-attn-fuzz.cpp - libFuzzer target over the whole compiler ----===//
//
// Parses each input as a module and verifies it; what verifies is
// canonicalized and lowered by the CPU pipeline and by the PTX pipeline for
// sm_80 and sm_90a (to PTX text, no CUDA; sm_90a also with
// in-kernel-selection=true, the fused selection kernels). Diagnostics are
// the expected outcome of bad input; a crash, a sanitizer report, a hang or
// running out of memory is a finding. Built by `make fuzz` (clang, ASan,
// UBSan).
//
//===----------------------------------------------------------------------===//

#include "../SanitizerDefaults.h"
#include "SparseAttn/InitAll.h"
#include "SparseAttn/Pipelines/Pipelines.h"
#include "SparseAttn/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/TargetSelect.h"

#include <cstddef>
#include <cstdint>

using namespace mlir;

namespace {

const DialectRegistry &getRegistry() {
  static DialectRegistry *registry = [] {
    auto *result = new DialectRegistry();
    sparse_attn::registerSparseAttnDialects(*result);
    return result;
  }();
  return *registry;
}

/// Runs `build`'s passes over a copy of `module`; failures are diagnostics.
template <typename BuildFn> void runOnCopy(ModuleOp module, BuildFn build) {
  OwningOpRef<ModuleOp> copy = module.clone();
  PassManager pm(module.getContext());
  if (failed(build(pm)))
    return;
  (void)pm.run(*copy);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  // The PTX pipeline serializes kernels with LLVM's NVPTX backend.
  llvm::InitializeAllTargets();
  llvm::InitializeAllTargetMCs();
  llvm::InitializeAllAsmPrinters();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext context(getRegistry(), MLIRContext::Threading::DISABLED);
  ScopedDiagnosticHandler quiet(&context,
                                [](Diagnostic &) { return success(); });
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  if (!module || failed(verify(*module)))
    return 0;
  runOnCopy(*module, [](OpPassManager &pm) {
    pm.addPass(createCanonicalizerPass());
    return success();
  });
  runOnCopy(*module, [](OpPassManager &pm) {
    sparse_attn::buildSparseAttnToLLVMCPUPipeline(pm);
    return success();
  });
  // The raise pass on whatever linalg the input holds (the pass manager
  // verifies what it leaves).
  runOnCopy(*module, [](OpPassManager &pm) {
    pm.addNestedPass<func::FuncOp>(
        sparse_attn::createSparseAttnRaiseAttentionPass());
    return success();
  });
  for (const char *chip : {"sm_80", "sm_90a"}) {
    runOnCopy(*module, [&](OpPassManager &pm) {
      sparse_attn::SparseAttnToPTXOptions options;
      options.chip = chip;
      return sparse_attn::buildSparseAttnToPTXPipeline(
          pm, options, [](const llvm::Twine &) {});
    });
  }
  // The fused selection kernels (NSA's and DSA's) are opt-in.
  runOnCopy(*module, [&](OpPassManager &pm) {
    sparse_attn::SparseAttnToPTXOptions options;
    options.chip = "sm_90a";
    options.nvgpuOptions = "in-kernel-selection=true";
    return sparse_attn::buildSparseAttnToPTXPipeline(
        pm, options, [](const llvm::Twine &) {});
  });
  return 0;
}
