//===- RaiseAttentionUtils.h - the raise pass's pieces ---------*- C++ -*-===//
//
// What RaiseAttention.cpp composes: matchers of the frontends' linalg
// (contractions, their operands' layouts, softmax; RaiseAttentionMatch.cpp)
// and the score chain's per-element form taken apart (rematerialization,
// index bands, dense masks; RaiseAttentionScores.cpp). Private to
// lib/Transforms.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_TRANSFORMS_RAISEATTENTIONUTILS_H
#define SPARSE_ATTN_LIB_TRANSFORMS_RAISEATTENTIONUTILS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/Support/LLVM.h"

#include <optional>

namespace mlir::sparse_attn::raise_attention {

//===----------------------------------------------------------------------===//
// Matchers (RaiseAttentionMatch.cpp)
//===----------------------------------------------------------------------===//

/// A float constant (scalar, splat tensor, fill, broadcast or copy of one,
/// through float casts), or nullopt.
std::optional<double> getFloatConstant(Value value);
/// -inf, the lowest finite float, or any constant at or below -1e9
/// (frontends mask with each: exp of it is 0 in f32 next to any real score).
inline bool isMaskingConstant(double value) { return value <= -1e9; }
/// A float constant (getFloatConstant) that isMaskingConstant.
bool isMaskingValue(Value value);
bool isZero(Value value);
/// A linalg.generic with only parallel loops whose single result's map is
/// the identity.
bool isElementwise(linalg::GenericOp op);
/// Looks through elementwise extf (and unless `widenOnly`, truncf) generics.
Value skipCasts(Value value, bool widenOnly = false);
/// The value an elementwise generic reads as the block argument `blockArg`
/// (an input), or null; with the identity map only, or null.
Value getInputOf(linalg::GenericOp op, Value blockArg);
Value getIdentityInput(linalg::GenericOp op, Value blockArg);
/// The input operand a generic yields unchanged (its single result a copy,
/// maybe broadcast, of that input), or null.
OpOperand *getCopiedInput(linalg::GenericOp op);
/// The reassociation folding [B, H, S, D] into a rank-`rank` (3: [B*H, S,
/// D]; 2: [B*H*S, D]) tensor.
SmallVector<ReassociationIndices> getHeadsFolding(int64_t rank);

/// The value an elementwise generic yields, when its body is a single op of
/// type OpTy on block arguments and constants.
template <typename OpTy> OpTy getSingleBodyOp(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (yield.getNumOperands() != 1)
    return nullptr;
  return yield.getOperand(0).getDefiningOp<OpTy>();
}

/// An operand of a contraction seen as a tensor whose dims are given by the
/// contraction's loop dims (or -1 for a dim no loop indexes).
struct OperandView {
  Value tensor;
  SmallVector<int64_t> loopDims;
};

/// A 2-operand contraction with one k (reduced) loop, one free loop per
/// operand and up to two batch loops: out[batch..., f0, f1] (in any order)
/// = sum_k in0[...] * in1[...].
struct Contraction {
  linalg::LinalgOp op;
  SmallVector<unsigned> batchLoops;
  unsigned k = 0;
  unsigned free[2] = {0, 0};
  OperandView in[2];
  /// The result's dims as loop dims.
  SmallVector<int64_t> outDims;
};

/// The contraction `operation` is, or failure.
FailureOr<Contraction> matchContraction(Operation *operation);
/// Follows linalg.transpose ops feeding the view.
OperandView skipTransposes(OperandView view);

/// Loop ids of the inner half of a batch loop split in two (B*H viewed as
/// B, H): the loop's id plus this.
constexpr int64_t kInnerBatch = 1000;
/// The loop dims of the 4D side of a reshape whose groups split one batch
/// loop of the 3D side in two, or nullopt.
std::optional<SmallVector<int64_t>>
splitBatch(ArrayRef<int64_t> loopDims, ArrayRef<ReassociationIndices> groups,
           ArrayRef<unsigned> batchLoops);
/// A [B*H, ...] operand collapsed from [B, H, ...] seen as the 4D tensor
/// (with a builder, also one collapsed from a [B, Hkv, G, ...] broadcast).
OperandView liftCollapsed(OperandView view, ArrayRef<unsigned> batchLoops,
                          OpBuilder *builder = nullptr);
/// The view as a tensor with dims in `order`, transposed when needed.
FailureOr<Value> canonicalize(OpBuilder &builder, Location loc,
                              OperandView view, ArrayRef<int64_t> order);
/// A [B, H, S, D] view of a canonical [batch..., S, D] operand.
Value to4D(OpBuilder &builder, Location loc, Value value);
/// The kv heads a [B, Hq, S, D] key or value was broadcast from over a GQA
/// group, or the tensor itself.
Value skipGroupBroadcast(Value value);
/// The softmax input whose result (maybe cast, reshaped, or in PyTorch's
/// safe form) is `value`, over the last dim.
FailureOr<Value> matchSoftmax(Value value);

//===----------------------------------------------------------------------===//
// The scores per element (RaiseAttentionScores.cpp)
//===----------------------------------------------------------------------===//

/// Builds at the builder's point the scalar `tensor` (on the score chain)
/// holds at `scoreIndices`, `score` standing for `scores` there (null: the
/// scores may not be read); failure when it cannot.
FailureOr<Value> rematerialize(OpBuilder &builder, Location loc, Value scores,
                               Value score, ArrayRef<Value> scoreIndices,
                               Value tensor);

/// Bounds on j - i, and an optional sink (j < sink admits every query),
/// that a predicate over the indices means; nullopt when it means anything
/// else.
struct Band {
  std::optional<int64_t> upper, lower; // lower <= j - i <= upper
  std::optional<int64_t> sink;         // or j < sink (with only `lower`)
};

/// The band a predicate over the indices `i`, `j` means (of its negation
/// with `negate`), or nullopt.
std::optional<Band> getBand(Value predicate, Value i, Value j,
                            bool negate = false);
/// The mask attribute a band means for lengths (qLen, kvLen), or null.
Attribute getBandMask(MLIRContext *ctx, const Band &band, int64_t qLen,
                      int64_t kvLen);
/// The structural mask a dense (qLen x kvLen, row-major) pattern is
/// exactly, or null.
Attribute foldDenseMask(MLIRContext *ctx, ArrayRef<bool> allowed, int64_t qLen,
                        int64_t kvLen);

} // namespace mlir::sparse_attn::raise_attention

#endif // SPARSE_ATTN_LIB_TRANSFORMS_RAISEATTENTIONUTILS_H
