//===- PromoteKernelBuffers.cpp - kernel buffers on the thread's stack ----===//
//
// sparse-attn-promote-kernel-buffers: static allocations inside gpu.launch
// bodies become allocas at the top of the body.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNPROMOTEKERNELBUFFERSPASS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;

namespace {
struct SparseAttnPromoteKernelBuffersPass
    : sparse_attn::impl::SparseAttnPromoteKernelBuffersPassBase<
          SparseAttnPromoteKernelBuffersPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    getOperation()->walk([&](gpu::LaunchOp launch) {
      Block &entry = launch.getBody().front();
      SmallVector<memref::AllocOp> allocs;
      launch.getBody().walk([&](memref::AllocOp alloc) {
        if (alloc.getType().hasStaticShape() &&
            alloc.getDynamicSizes().empty() &&
            alloc.getSymbolOperands().empty())
          allocs.push_back(alloc);
      });
      for (memref::AllocOp alloc : allocs) {
        for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
          if (isa<memref::DeallocOp>(user))
            rewriter.eraseOp(user);
        rewriter.setInsertionPointToStart(&entry);
        auto alloca =
            memref::AllocaOp::create(rewriter, alloc.getLoc(), alloc.getType(),
                                     alloc.getAlignmentAttr());
        rewriter.replaceOp(alloc, alloca.getResult());
      }
    });
  }
};
} // namespace
