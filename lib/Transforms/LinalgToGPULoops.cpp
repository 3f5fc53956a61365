//===- LinalgToGPULoops.cpp - linalg to the loops a GPU mapping wants -----===//
//
// sparse-attn-linalg-to-gpu-loops: linalg ops inside a kernel's forall
// become sequential loops, the others parallel loops (kernels of their own).
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNLINALGTOGPULOOPSPASS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;

namespace {
struct SparseAttnLinalgToGPULoopsPass
    : sparse_attn::impl::SparseAttnLinalgToGPULoopsPassBase<
          SparseAttnLinalgToGPULoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    // memref.copy would become a call to a host runtime function; as a
    // linalg.copy it becomes loops like everything else.
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp copy) { copies.push_back(copy); });
    for (memref::CopyOp copy : copies) {
      rewriter.setInsertionPoint(copy);
      rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(),
                                                  copy.getTarget());
    }

    SmallVector<linalg::LinalgOp> ops;
    getOperation()->walk([&](linalg::LinalgOp op) { ops.push_back(op); });
    for (linalg::LinalgOp op : ops) {
      if (!op.hasPureBufferSemantics()) {
        op.emitOpError() << "must be bufferized before it is lowered for a GPU";
        return signalPassFailure();
      }
      rewriter.setInsertionPoint(op);
      bool insideKernel = op->getParentOfType<scf::ForallOp>() ||
                          op->getParentOfType<scf::ParallelOp>();
      FailureOr<linalg::LinalgLoops> loops =
          insideKernel ? linalg::linalgOpToLoops(rewriter, op)
                       : linalg::linalgOpToParallelLoops(rewriter, op);
      if (failed(loops)) {
        op.emitOpError() << "could not be lowered to loops";
        return signalPassFailure();
      }
      rewriter.eraseOp(op);
    }
  }
};
} // namespace
