//===- InitAll.h - everything a sparse_attn tool registers ------*- C++ -*-===//
//
// One place that lists the dialects, interface models and passes a tool
// needs to parse sparse_attn IR and run its pipelines (sparse-attn-opt, the
// Python extension, compilers that embed us).
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_INITALL_H
#define SPARSE_ATTN_INITALL_H

namespace mlir {
class DialectRegistry;
namespace sparse_attn {

/// sparse_attn, the upstream dialects its IR is written beside and lowered
/// through, and the external models (bufferization, conversion to LLVM)
/// the pipelines rely on.
void registerSparseAttnDialects(DialectRegistry &registry);

/// The project's passes and pipelines, and the upstream passes users
/// combine them with (canonicalize, cse, bufferization, the LLVM lowering).
/// Calls after the first do nothing (not thread-safe: call it before
/// threads that parse pipelines start).
void registerSparseAttnPasses();

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_INITALL_H
