//===- SparseAttnToLinalg.h - sparse_attn to linalg patterns ----*- C++ -*-===//
//
// The reference lowering of every sparse_attn op to linalg/scf/arith/math/
// tensor, as patterns other compilers can add to their own conversions.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_CONVERSION_SPARSEATTNTOLINALG_SPARSEATTNTOLINALG_H
#define SPARSE_ATTN_CONVERSION_SPARSEATTNTOLINALG_SPARSEATTNTOLINALG_H

namespace mlir {
class RewritePatternSet;
namespace sparse_attn {

/// Adds one lowering pattern per sparse_attn op. With `runtimeChecks`, the
/// shape rules that dynamic dims leave unverified become `cf.assert`s.
void populateSparseAttnToLinalgConversionPatterns(RewritePatternSet &patterns,
                                                  bool runtimeChecks = true);

} // namespace sparse_attn
} // namespace mlir

#endif // SPARSE_ATTN_CONVERSION_SPARSEATTNTOLINALG_SPARSEATTNTOLINALG_H
