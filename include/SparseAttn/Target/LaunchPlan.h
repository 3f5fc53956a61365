//===- LaunchPlan.h - what a GPU runtime must do to run a function -*- C++
//-*-===//
//
// Describes the host side of a function lowered for the GPU (kernels
// outlined, host still in func/memref/arith/gpu form) as data a runtime
// without MLIR can follow: the buffers (inputs, intermediates, outputs)
// with their shapes as expressions of the inputs' extents, and the kernel
// launches in order, with grid/block sizes and each kernel argument.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TARGET_LAUNCHPLAN_H
#define SPARSE_ATTN_TARGET_LAUNCHPLAN_H

#include "mlir/Support/LLVM.h"
#include "llvm/Support/JSON.h"

namespace mlir {
namespace func {
class FuncOp;
} // namespace func
namespace sparse_attn {

/// Version of the plan's JSON layout (see docs/runtime.md).
constexpr int64_t kLaunchPlanVersion = 1;

/// The launch plan of `hostFunc` as JSON, or a diagnostic on the op the
/// plan cannot express (a host op other than allocation, views, index
/// arithmetic, kernel launches and deallocation).
FailureOr<llvm::json::Object> buildLaunchPlan(func::FuncOp hostFunc);

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_TARGET_LAUNCHPLAN_H
