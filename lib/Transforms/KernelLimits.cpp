//===- KernelLimits.cpp - kernel annotations onto outlined functions ------===//
//
// sparse-attn-kernel-limits: after outlining, the register cap and the
// configuration a tensor-core kernel recorded on an op of its body move onto
// its gpu.func (nvvm.maxnreg, sparse_attn.mma_kernel).
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNKERNELLIMITSPASS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

struct SparseAttnKernelLimitsPass
    : sparse_attn::impl::SparseAttnKernelLimitsPassBase<
          SparseAttnKernelLimitsPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    SparseAttnDialect::MaxRegistersAttrHelper maxRegisters(context);
    SparseAttnDialect::MmaKernelAttrHelper mmaKernel(context);
    getOperation().walk([&](gpu::GPUFuncOp func) {
      std::optional<int64_t> cap;
      DictionaryAttr config;
      func.walk([&](Operation *op) {
        if (IntegerAttr limit = maxRegisters.getAttr(op)) {
          cap = cap ? std::min(*cap, limit.getInt()) : limit.getInt();
          maxRegisters.removeAttr(op);
        }
        if (op != func.getOperation()) {
          if (DictionaryAttr kernel = mmaKernel.getAttr(op)) {
            config = config ? config : kernel;
            mmaKernel.removeAttr(op);
          }
        }
      });
      if (cap)
        func->setAttr(NVVM::NVVMDialect::getMaxnregAttrName(),
                      IntegerAttr::get(IntegerType::get(context, 32), *cap));
      if (config)
        mmaKernel.setAttr(func, config);
    });
  }
};

} // namespace
