//===- RaiseAttention.cpp - linalg attention to sparse_attn.attention -----===//
//
// sparse-attn-raise-attention: finds attention written in linalg on tensors
// (what torch-mlir and StableHLO's linalg lowering emit for scaled dot
// product attention) and rewrites it to sparse_attn.attention:
//
//   S  = Q·Kᵀ          a contraction (batch_matmul, matmul, matmul with
//                      transposed maps, a contraction linalg.generic) over
//                      [B, H, S, D], [B*H, S, D] or [S, D]; K transposed by
//                      linalg.transpose or by the maps; K / V broadcast over
//                      a GQA group
//   S' = f(S)          elementwise linalg.generic ops: the scale (also on
//                      Q or K), masks (select with -inf, additive 0 / -inf
//                      terms, dense constants), biases, anything else
//   P  = softmax(S')   linalg.softmax or decomposed (max, sub, exp, sum,
//                      div), with casts around it
//   O  = P·V           a contraction as above
//
// f is rematerialized per score element as scalar code (each generic's body
// cloned, the tensors it reads followed through fills, constants,
// broadcasts, transposes and reshapes, anything else read by
// tensor.extract), then taken apart: outer masks become the mask attribute
// (causal, sliding_window, sink_window or their intersection, recognized
// from comparisons of the indices or from a dense constant) or a mask_mod,
// a leading multiply / divide by a constant the scale, the rest a
// score_mod. What does not match is left unchanged.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/IR/SparseAttnAttrs.h"
#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/Transforms/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SetVector.h"

#include <cmath>

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNRAISEATTENTIONPASS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

//===----------------------------------------------------------------------===//
// Small matchers
//===----------------------------------------------------------------------===//

/// A float constant (scalar, or a splat tensor), or nullopt.
std::optional<double> getFloatConstant(Value value) {
  FloatAttr attr;
  if (matchPattern(value, m_Constant(&attr)))
    return attr.getValueAsDouble();
  DenseFPElementsAttr dense;
  if (matchPattern(value, m_Constant(&dense)) && dense.isSplat())
    return dense.getSplatValue<APFloat>().convertToDouble();
  if (auto fill = value.getDefiningOp<linalg::FillOp>())
    return getFloatConstant(fill.getInputs()[0]);
  // PyTorch's scalars are f64 constants truncated where they are used.
  if (auto cast = value.getDefiningOp<arith::TruncFOp>())
    return getFloatConstant(cast.getIn());
  if (auto cast = value.getDefiningOp<arith::ExtFOp>())
    return getFloatConstant(cast.getIn());
  if (auto broadcast = value.getDefiningOp<linalg::BroadcastOp>())
    return getFloatConstant(broadcast.getInput());
  // A generic copying a constant (StableHLO's broadcast_in_dim of a 0-d
  // constant).
  if (auto generic = value.getDefiningOp<linalg::GenericOp>();
      generic && generic.getNumDpsInputs() == 1) {
    Block &body = generic.getRegion().front();
    if (cast<linalg::YieldOp>(body.getTerminator()).getOperands() ==
        ValueRange{body.getArgument(0)})
      return getFloatConstant(generic.getDpsInputs()[0]);
  }
  return std::nullopt;
}

/// -inf, the lowest finite float, or any constant at or below -1e9
/// (frontends mask with each: exp of it is 0 in f32 next to any real score).
bool isMaskingValue(Value value) {
  std::optional<double> constant = getFloatConstant(value);
  return constant && *constant <= -1e9;
}

bool isZero(Value value) {
  std::optional<double> constant = getFloatConstant(value);
  return constant && *constant == 0.0;
}

/// A linalg.generic with only parallel loops whose single result's map is
/// the identity: an elementwise op on its result's shape.
bool isElementwise(linalg::GenericOp op) {
  return op.getNumDpsInits() == 1 && op->getNumResults() == 1 &&
         op.getNumLoops() == op.getNumParallelLoops() &&
         op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isIdentity();
}

/// The value an elementwise generic yields, when its body is a single op of
/// type OpTy on block arguments and constants.
template <typename OpTy> OpTy getSingleBodyOp(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (yield.getNumOperands() != 1)
    return nullptr;
  return yield.getOperand(0).getDefiningOp<OpTy>();
}

/// Looks through elementwise extf (and unless `widenOnly`, truncf)
/// generics: casts around softmax and the matmuls.
Value skipCasts(Value value, bool widenOnly = false) {
  while (auto generic = value.getDefiningOp<linalg::GenericOp>()) {
    if (!isElementwise(generic) || generic.getNumDpsInputs() != 1 ||
        !generic.getMatchingIndexingMap(generic.getDpsInputOperand(0))
             .isIdentity())
      break;
    Block &body = generic.getRegion().front();
    Operation *op = cast<linalg::YieldOp>(body.getTerminator())
                        .getOperand(0)
                        .getDefiningOp();
    if (!op ||
        !(isa<arith::ExtFOp>(op) || (!widenOnly && isa<arith::TruncFOp>(op))) ||
        op->getOperand(0) != body.getArgument(0))
      break;
    value = generic.getDpsInputs()[0];
  }
  return value;
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

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
  unsigned numBatch = 0;
  SmallVector<unsigned> batchLoops;
  unsigned k = 0;
  unsigned free[2] = {0, 0};
  OperandView in[2];
  /// The result's dims as loop dims.
  SmallVector<int64_t> outDims;
};

FailureOr<OperandView> getOperandView(linalg::LinalgOp op, OpOperand *operand) {
  AffineMap map = op.getMatchingIndexingMap(operand);
  OperandView view{operand->get(), {}};
  for (AffineExpr expr : map.getResults()) {
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim)
      return failure();
    view.loopDims.push_back(dim.getPosition());
  }
  return view;
}

FailureOr<Contraction> matchContraction(Operation *operation) {
  auto op = dyn_cast_or_null<linalg::LinalgOp>(operation);
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
    return failure();
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1 || dims->batch.size() > 2)
    return failure();
  Contraction result;
  result.op = op;
  result.numBatch = dims->batch.size();
  result.batchLoops.assign(dims->batch.begin(), dims->batch.end());
  result.free[0] = dims->m[0];
  result.free[1] = dims->n[0];
  result.k = dims->k[0];
  FailureOr<OperandView> out = getOperandView(op, op.getDpsInitOperand(0));
  FailureOr<OperandView> lhs = getOperandView(op, op.getDpsInputOperand(0));
  FailureOr<OperandView> rhs = getOperandView(op, op.getDpsInputOperand(1));
  if (failed(out) || failed(lhs) || failed(rhs) ||
      out->loopDims.size() != result.numBatch + 2)
    return failure();
  result.outDims = out->loopDims;
  result.in[0] = *lhs;
  result.in[1] = *rhs;
  // An accumulator that is not zero would be added to the scores.
  if (!isZero(op.getDpsInitOperand(0)->get()))
    return failure();
  return result;
}

/// Follows linalg.transpose ops feeding the view (the transpose is then
/// part of the view's dim order).
OperandView skipTransposes(OperandView view) {
  while (auto transpose = view.tensor.getDefiningOp<linalg::TransposeOp>()) {
    // result[p] = input[perm[p]]: input dim perm[p] has the loop dim of p.
    ArrayRef<int64_t> perm = transpose.getPermutation();
    SmallVector<int64_t> loopDims(view.loopDims.size(), -1);
    for (auto [p, source] : llvm::enumerate(perm))
      loopDims[source] = view.loopDims[p];
    view = OperandView{transpose.getInput(), loopDims};
  }
  return view;
}

/// Loop ids of the inner half of a batch loop split in two (B*H viewed as
/// B, H): the loop's id plus this.
constexpr int64_t kInnerBatch = 1000;

/// The loop dims of the 4D side of a reshape whose groups split one batch
/// loop of the 3D side in two (and keep the other dims), or nullopt.
std::optional<SmallVector<int64_t>>
splitBatch(ArrayRef<int64_t> loopDims, ArrayRef<ReassociationIndices> groups,
           ArrayRef<unsigned> batchLoops) {
  if (groups.size() != loopDims.size())
    return std::nullopt;
  SmallVector<int64_t> result;
  for (auto [group, dim] : llvm::zip(groups, loopDims)) {
    if (group.size() == 1) {
      result.push_back(dim);
      continue;
    }
    if (group.size() != 2 || dim < 0 ||
        !llvm::is_contained(batchLoops, static_cast<unsigned>(dim)))
      return std::nullopt;
    result.push_back(dim);
    result.push_back(dim + kInnerBatch);
  }
  return result;
}

/// A [B*H, ...] operand collapsed from [B, H, ...] seen as the 4D tensor.
/// With a builder, also one collapsed from [B, Hkv, G, ...] (a GQA
/// broadcast): seen through a [B, Hkv*G, ...] collapse built for it.
OperandView liftCollapsed(OperandView view, ArrayRef<unsigned> batchLoops,
                          OpBuilder *builder = nullptr) {
  auto collapse = view.tensor.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse)
    return view;
  SmallVector<ReassociationIndices> groups = collapse.getReassociationIndices();
  if (builder && groups.size() == view.loopDims.size() &&
      groups.front().size() == 3 &&
      llvm::all_of(
          ArrayRef(groups).drop_front(),
          [](const ReassociationIndices &g) { return g.size() == 1; })) {
    SmallVector<ReassociationIndices> inner{{0}, {1, 2}};
    for (int64_t d = 3, e = collapse.getSrcType().getRank(); d < e; ++d)
      inner.push_back({d});
    Value heads = tensor::CollapseShapeOp::create(*builder, collapse.getLoc(),
                                                  collapse.getSrc(), inner);
    view = OperandView{heads, view.loopDims};
    SmallVector<ReassociationIndices> outer{{0, 1}};
    for (int64_t d = 2, e = collapse.getSrcType().getRank() - 1; d < e; ++d)
      outer.push_back({d});
    std::optional<SmallVector<int64_t>> dims =
        splitBatch(view.loopDims, outer, batchLoops);
    if (!dims) {
      heads.getDefiningOp()->erase();
      return OperandView{collapse.getResult(), view.loopDims};
    }
    return OperandView{heads, *dims};
  }
  std::optional<SmallVector<int64_t>> dims =
      splitBatch(view.loopDims, collapse.getReassociationIndices(), batchLoops);
  if (!dims)
    return view;
  return OperandView{collapse.getSrc(), *dims};
}

/// The view as a tensor with dims in `order` (loop dims), transposing it
/// when they are in another order.
FailureOr<Value> canonicalize(OpBuilder &builder, Location loc,
                              OperandView view, ArrayRef<int64_t> order) {
  if (view.loopDims.size() != order.size())
    return failure();
  SmallVector<int64_t> perm;
  for (int64_t dim : order) {
    auto it = llvm::find(view.loopDims, dim);
    if (it == view.loopDims.end())
      return failure();
    perm.push_back(it - view.loopDims.begin());
  }
  if (llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())))
    return view.tensor;
  auto type = cast<RankedTensorType>(view.tensor.getType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t p : perm)
    sizes.push_back(tensor::getMixedSize(builder, loc, view.tensor, p));
  Value init =
      tensor::EmptyOp::create(builder, loc, sizes, type.getElementType());
  return linalg::TransposeOp::create(builder, loc, view.tensor, init, perm)
      ->getResult(0);
}

/// A [B, H, S, D] view of a canonical [batch..., S, D] operand: the 4D
/// tensor a [B*H, S, D] one was collapsed from, or the operand expanded with
/// unit dims.
Value to4D(OpBuilder &builder, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() == 4)
    return value;
  if (type.getRank() == 3)
    if (auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>()) {
      SmallVector<ReassociationIndices> groups =
          collapse.getReassociationIndices();
      if (collapse.getSrcType().getRank() == 4 && groups.size() == 3 &&
          groups[0].size() == 2)
        return collapse.getSrc();
    }
  SmallVector<int64_t> shape(4 - type.getRank(), 1);
  llvm::append_range(shape, type.getShape());
  SmallVector<ReassociationIndices> groups;
  if (type.getRank() == 3)
    groups = {{0, 1}, {2}, {3}};
  else
    groups = {{0, 1, 2}, {3}};
  return tensor::ExpandShapeOp::create(
      builder, loc, RankedTensorType::get(shape, type.getElementType()), value,
      groups);
}

/// The kv heads a [B, Hq, S, D] key or value was broadcast from over a GQA
/// group (each kv head repeated G times in a row: query head h reads kv
/// head h / G), or the tensor itself.
Value skipGroupBroadcast(Value value) {
  auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || collapse.getSrcType().getRank() != 5)
    return value;
  SmallVector<ReassociationIndices> groups = collapse.getReassociationIndices();
  if (groups.size() != 4 || groups[1] != ReassociationIndices{1, 2})
    return value;
  Value wide = collapse.getSrc();
  if (auto broadcast = wide.getDefiningOp<linalg::BroadcastOp>())
    if (broadcast.getDimensions() == ArrayRef<int64_t>{2})
      return broadcast.getInput();
  auto generic = wide.getDefiningOp<linalg::GenericOp>();
  if (!generic || !isElementwise(generic) || generic.getNumDpsInputs() != 1)
    return value;
  Block &body = generic.getRegion().front();
  if (cast<linalg::YieldOp>(body.getTerminator()).getOperand(0) !=
      body.getArgument(0))
    return value;
  Value input = generic.getDpsInputs()[0];
  AffineMap map = generic.getMatchingIndexingMap(generic.getDpsInputOperand(0));
  MLIRContext *ctx = generic.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  // (b, g, r, s, d) -> (b, g, s, d) over the 4D kv heads.
  if (map.getResults() == ArrayRef<AffineExpr>{d(0), d(1), d(3), d(4)})
    return input;
  // (b, g, r, s, d) -> (b, g, 0, s, d) over kv heads expanded with a unit
  // dim.
  if (map.getResults() == ArrayRef<AffineExpr>{d(0), d(1),
                                               getAffineConstantExpr(0, ctx),
                                               d(3), d(4)})
    if (auto expand = input.getDefiningOp<tensor::ExpandShapeOp>())
      if (expand.getSrcType().getRank() == 4 &&
          expand.getReassociationIndices()[1] == ReassociationIndices{1, 2})
        return expand.getSrc();
  return value;
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

/// Whether `op` reduces `input` over its last dim (and nothing else) with
/// a max (`isMax`: maximumf, maxnumf, or cmpf + select) or an addf, from a
/// -inf-like (max) or zero (sum) start.
bool isLastDimReduction(linalg::GenericOp op, Value input, bool isMax) {
  // (More results than the statistic: torch's max also tracks the argmax;
  // the statistic is result 0.)
  if (op.getNumDpsInputs() != 1 || op.getDpsInputs()[0] != input ||
      op.getNumReductionLoops() != 1 || op.getNumDpsInits() < 1 ||
      op.getIteratorTypesArray().back() != utils::IteratorType::reduction ||
      !op.getMatchingIndexingMap(op.getDpsInputOperand(0)).isIdentity())
    return false;
  // (d0..dn) -> (d0..dn-1), or with the reduced dim kept as a unit dim.
  unsigned rank = op.getNumLoops();
  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  MLIRContext *ctx = op.getContext();
  for (unsigned i = 0; i + 1 < rank; ++i)
    if (i >= outMap.getNumResults() ||
        outMap.getResult(i) != getAffineDimExpr(i, ctx))
      return false;
  if (outMap.getNumResults() == rank &&
      outMap.getResult(rank - 1) != getAffineConstantExpr(0, ctx))
    return false;
  Block &body = op.getRegion().front();
  Value yielded = cast<linalg::YieldOp>(body.getTerminator()).getOperand(0);
  Operation *combiner = yielded.getDefiningOp();
  if (!combiner)
    return false;
  // From -inf (or a masking value), or for maxnumf from NaN (upstream's
  // decomposition of linalg.softmax).
  Value init = op.getDpsInits()[0];
  std::optional<double> start = getFloatConstant(init);
  bool nanStart =
      start && std::isnan(*start) && isa<arith::MaxNumFOp>(combiner);
  if (isMax ? !(isMaskingValue(init) || nanStart) : !isZero(init))
    return false;
  auto usesBoth = [&](Operation *o) {
    return llvm::is_contained(o->getOperands(), body.getArgument(0)) &&
           llvm::is_contained(o->getOperands(), body.getArgument(1));
  };
  if (!isMax)
    return isa<arith::AddFOp>(combiner) && usesBoth(combiner);
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(combiner))
    return usesBoth(combiner);
  if (auto select = dyn_cast<arith::SelectOp>(combiner)) {
    auto cmp = select.getCondition().getDefiningOp<arith::CmpFOp>();
    return cmp && usesBoth(select) &&
           (cmp.getPredicate() == arith::CmpFPredicate::OGT ||
            cmp.getPredicate() == arith::CmpFPredicate::OGE ||
            cmp.getPredicate() == arith::CmpFPredicate::UGT ||
            cmp.getPredicate() == arith::CmpFPredicate::UGE);
  }
  return false;
}

/// The value an elementwise generic reads as the block argument `blockArg`
/// (an input), or null.
Value getInputOf(linalg::GenericOp op, Value blockArg) {
  auto arg = dyn_cast<BlockArgument>(blockArg);
  if (!arg || arg.getOwner() != &op.getRegion().front() ||
      arg.getArgNumber() >= op.getNumDpsInputs())
    return nullptr;
  return op.getDpsInputs()[arg.getArgNumber()];
}

/// Whether `map` reads only leading loop dims in order, maybe with a
/// trailing 0: (d0, ..., dm-1) or (d0, ..., dm-1, 0) (a row statistic
/// broadcast along the trailing dims, the kept unit dim of keepdim).
bool isLeadingDimsMap(AffineMap map) {
  ArrayRef<AffineExpr> results = map.getResults();
  MLIRContext *ctx = map.getContext();
  if (!results.empty() && results.back() == getAffineConstantExpr(0, ctx))
    results = results.drop_back();
  for (auto [i, expr] : llvm::enumerate(results))
    if (expr != getAffineDimExpr(i, ctx))
      return false;
  return results.size() < map.getNumDims() ||
         map.getNumResults() > results.size();
}

/// The reduction whose row statistic `value` holds: followed through copies
/// that broadcast it along the trailing dims (generics yielding their input
/// read by a leading-dims map, reshapes) and a max with a -inf-like
/// constant (JAX's).
linalg::GenericOp getRowStatistic(Value value, bool isMax) {
  for (int steps = 0; steps < 16; ++steps) {
    Operation *def = value.getDefiningOp();
    if (!def)
      return nullptr;
    if (auto reshape = dyn_cast<tensor::ExpandShapeOp>(def)) {
      value = reshape.getSrc();
      continue;
    }
    if (auto reshape = dyn_cast<tensor::CollapseShapeOp>(def)) {
      value = reshape.getSrc();
      continue;
    }
    if (auto broadcast = dyn_cast<linalg::BroadcastOp>(def)) {
      int64_t rank = broadcast.getInit().getType().getRank();
      for (int64_t d : broadcast.getDimensions())
        if (d < rank - 1)
          return nullptr;
      value = broadcast.getInput();
      continue;
    }
    auto generic = dyn_cast<linalg::GenericOp>(def);
    if (!generic)
      return nullptr;
    if (generic.getNumReductionLoops() == 1)
      return cast<OpResult>(value).getResultNumber() == 0 ? generic : nullptr;
    if (generic.getNumDpsInits() != 1)
      return nullptr;
    if (generic.getNumLoops() != generic.getNumParallelLoops() ||
        !generic.getMatchingIndexingMap(generic.getDpsInitOperand(0))
             .isIdentity())
      return nullptr;
    Block &body = generic.getRegion().front();
    Value yielded = cast<linalg::YieldOp>(body.getTerminator()).getOperand(0);
    Value next;
    if (Value input = getInputOf(generic, yielded)) {
      if (!isLeadingDimsMap(
              generic.getMatchingIndexingMap(generic.getDpsInputOperand(
                  cast<BlockArgument>(yielded).getArgNumber()))) &&
          !generic
               .getMatchingIndexingMap(generic.getDpsInputOperand(
                   cast<BlockArgument>(yielded).getArgNumber()))
               .isIdentity())
        return nullptr;
      next = input;
    } else if (isMax && yielded.getDefiningOp() &&
               isa<arith::MaximumFOp, arith::MaxNumFOp>(
                   yielded.getDefiningOp())) {
      Operation *max = yielded.getDefiningOp();
      Value a = getInputOf(generic, max->getOperand(0));
      Value b = getInputOf(generic, max->getOperand(1));
      if (!a || !b)
        return nullptr;
      if (isMaskingValue(a))
        next = b;
      else if (isMaskingValue(b))
        next = a;
      else
        return nullptr;
      for (OpOperand *operand : generic.getDpsInputOperands())
        if (operand->get() == next &&
            !generic.getMatchingIndexingMap(operand).isIdentity())
          return nullptr;
    } else {
      return nullptr;
    }
    value = next;
  }
  return nullptr;
}

/// Whether the generic's input bound to `blockArg` is a row statistic of
/// `of` (a last-dim max or sum of it), read along the rows.
bool readsRowStatistic(linalg::GenericOp op, Value blockArg, Value of,
                       bool isMax) {
  auto arg = dyn_cast<BlockArgument>(blockArg);
  Value input = getInputOf(op, blockArg);
  if (!input)
    return false;
  AffineMap map =
      op.getMatchingIndexingMap(op.getDpsInputOperand(arg.getArgNumber()));
  if (!map.isIdentity() && !isLeadingDimsMap(map))
    return false;
  linalg::GenericOp reduction = getRowStatistic(input, isMax);
  return reduction && isLastDimReduction(reduction, of, isMax);
}

/// The elementwise generic's input bound to `blockArg` when it is read with
/// the identity map, or null.
Value getIdentityInput(linalg::GenericOp op, Value blockArg) {
  Value input = getInputOf(op, blockArg);
  if (!input || !op
                     .getMatchingIndexingMap(op.getDpsInputOperand(
                         cast<BlockArgument>(blockArg).getArgNumber()))
                     .isIdentity())
    return nullptr;
  return input;
}

/// The softmax input of exp(s - max(s)) (one generic, or a sub then an exp,
/// maybe with casts between).
Value matchShiftedExp(Value value) {
  auto expOp = value.getDefiningOp<linalg::GenericOp>();
  if (!expOp || !isElementwise(expOp))
    return nullptr;
  auto exp = getSingleBodyOp<math::ExpOp>(expOp);
  if (!exp)
    return nullptr;
  linalg::GenericOp subOp = expOp;
  Value diff = exp.getOperand();
  if (Value input = getIdentityInput(expOp, diff)) {
    subOp = skipCasts(input).getDefiningOp<linalg::GenericOp>();
    if (!subOp || !isElementwise(subOp))
      return nullptr;
    diff = cast<linalg::YieldOp>(subOp.getRegion().front().getTerminator())
               .getOperand(0);
  }
  auto sub = diff.getDefiningOp<arith::SubFOp>();
  if (!sub)
    return nullptr;
  Value scores = getIdentityInput(subOp, sub.getLhs());
  if (!scores || !readsRowStatistic(subOp, sub.getRhs(), scores, true))
    return nullptr;
  return scores;
}

FailureOr<Value> matchPlainSoftmax(Value value);

/// The tensor `rows` tells, per row, whether every element is -inf: an and
/// reduction (from true) over the last dim of x == -inf (maybe compared in
/// f64), followed through copies and reshapes; or null.
Value getFullyMaskedRowsOf(Value rows) {
  for (int steps = 0; steps < 16; ++steps) {
    Operation *def = rows.getDefiningOp();
    if (!def)
      return nullptr;
    if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(def)) {
      rows = def->getOperand(0);
      continue;
    }
    auto generic = dyn_cast<linalg::GenericOp>(def);
    if (!generic || generic.getNumDpsInputs() != 1 ||
        generic.getNumDpsInits() != 1)
      return nullptr;
    Block &body = generic.getRegion().front();
    Value yielded = cast<linalg::YieldOp>(body.getTerminator()).getOperand(0);
    if (generic.getNumReductionLoops() == 0) {
      if (yielded != body.getArgument(0))
        return nullptr;
      rows = generic.getDpsInputs()[0];
      continue;
    }
    // The and reduction.
    auto andOp = yielded.getDefiningOp<arith::AndIOp>();
    if (!andOp || generic.getNumReductionLoops() != 1 ||
        generic.getIteratorTypesArray().back() !=
            utils::IteratorType::reduction ||
        !generic.getMatchingIndexingMap(generic.getDpsInputOperand(0))
             .isIdentity())
      return nullptr;
    // From true: a fill or a constant.
    Value init = generic.getDpsInits()[0];
    if (auto fill = init.getDefiningOp<linalg::FillOp>())
      init = fill.getInputs()[0];
    DenseIntElementsAttr dense;
    if (!matchPattern(init, m_One()) &&
        !(matchPattern(init, m_Constant(&dense)) && dense.isSplat() &&
          dense.getSplatValue<APInt>().isOne()))
      return nullptr;
    // x == -inf per element.
    auto isInf = generic.getDpsInputs()[0].getDefiningOp<linalg::GenericOp>();
    if (!isInf || !isElementwise(isInf) || isInf.getNumDpsInputs() != 1)
      return nullptr;
    auto cmp = getSingleBodyOp<arith::CmpFOp>(isInf);
    if (!cmp || cmp.getPredicate() != arith::CmpFPredicate::OEQ)
      return nullptr;
    Value lhs = cmp.getLhs();
    if (auto ext = lhs.getDefiningOp<arith::ExtFOp>())
      lhs = ext.getIn();
    std::optional<double> rhs = getFloatConstant(cmp.getRhs());
    if (!rhs || !std::isinf(*rhs) || *rhs > 0)
      return nullptr;
    return getIdentityInput(isInf, lhs);
  }
  return nullptr;
}

/// The softmax input whose result (maybe cast) is `value`, over the last
/// dim: linalg.softmax or exp(s - max) / sum(exp(s - max)).
FailureOr<Value> matchSoftmax(Value value) {
  value = skipCasts(value);
  // Through reshapes of P (torch's bmm reads P collapsed to [B*H, S, S]).
  while (true) {
    if (auto reshape = value.getDefiningOp<tensor::CollapseShapeOp>())
      value = skipCasts(reshape.getSrc());
    else if (auto reshape = value.getDefiningOp<tensor::ExpandShapeOp>())
      value = skipCasts(reshape.getSrc());
    else
      break;
  }
  // PyTorch's safe softmax: select(row all -inf, 0, softmax), which is what
  // sparse_attn.attention gives such rows anyway.
  Value safeRowsOf;
  if (auto select = value.getDefiningOp<linalg::GenericOp>();
      select && isElementwise(select))
    if (auto op = getSingleBodyOp<arith::SelectOp>(select))
      if (isZero(getInputOf(select, op.getTrueValue())
                     ? getInputOf(select, op.getTrueValue())
                     : op.getTrueValue()))
        if (Value inner = getIdentityInput(select, op.getFalseValue()))
          if (Value rows = getInputOf(select, op.getCondition()))
            if ((safeRowsOf = getFullyMaskedRowsOf(rows)))
              value = skipCasts(inner);
  FailureOr<Value> scores = matchPlainSoftmax(value);
  if (failed(scores) || (safeRowsOf && safeRowsOf != *scores))
    return failure();
  return scores;
}

/// linalg.softmax or exp(s - max) / sum(exp(s - max)) over the last dim.
FailureOr<Value> matchPlainSoftmax(Value value) {
  if (auto softmax = value.getDefiningOp<linalg::SoftmaxOp>()) {
    if (softmax.getDimension() !=
        static_cast<uint64_t>(softmax.getInputOperandType().getRank() - 1))
      return failure();
    return softmax.getInput();
  }
  auto divOp = value.getDefiningOp<linalg::GenericOp>();
  if (!divOp || !isElementwise(divOp))
    return failure();
  auto div = getSingleBodyOp<arith::DivFOp>(divOp);
  if (!div)
    return failure();
  Value exps = getIdentityInput(divOp, div.getLhs());
  if (!exps || !readsRowStatistic(divOp, div.getRhs(), exps, false))
    return failure();
  Value scores = matchShiftedExp(exps);
  if (!scores)
    return failure();
  return scores;
}

//===----------------------------------------------------------------------===//
// Rematerializing the scores per element
//===----------------------------------------------------------------------===//

/// Builds, in a block with index arguments (b, h, i, j) (and the score %s),
/// the scalar a tensor on the score chain holds at given indices.
class Rematerializer {
public:
  /// `score` stands for `scores` at `scoreIndices` (null: the scores may
  /// not be read).
  Rematerializer(OpBuilder &builder, Location loc, Value scores, Value score,
                 ArrayRef<Value> scoreIndices)
      : builder(builder), loc(loc), scores(scores), score(score),
        scoreIndices(scoreIndices) {}

  /// The element of `tensor` at `indices`, or failure.
  FailureOr<Value> at(Value tensor, ArrayRef<Value> indices) {
    SmallVector<const void *> key{tensor.getAsOpaquePointer()};
    for (Value index : indices)
      key.push_back(index.getAsOpaquePointer());
    auto it = cache.find(key);
    if (it != cache.end())
      return it->second;
    FailureOr<Value> result = compute(tensor, indices);
    if (succeeded(result))
      cache[key] = *result;
    return result;
  }

private:
  FailureOr<Value> compute(Value tensor, ArrayRef<Value> indices) {
    if (tensor == scores) {
      // The scores only where the op computes them: at (b, h, i, j).
      if (!score || !llvm::equal(indices, scoreIndices))
        return failure();
      return score;
    }
    auto type = dyn_cast<RankedTensorType>(tensor.getType());
    if (!type)
      return failure();
    if (std::optional<double> splat = getFloatConstant(tensor);
        splat && isa<FloatType>(type.getElementType()))
      return arith::ConstantOp::create(
                 builder, loc,
                 builder.getFloatAttr(type.getElementType(), *splat))
          .getResult();
    DenseElementsAttr dense;
    if (matchPattern(tensor, m_Constant(&dense)) && dense.isSplat())
      return arith::ConstantOp::create(builder, loc,
                                       dense.getSplatValue<TypedAttr>())
          .getResult();
    Operation *def = tensor.getDefiningOp();
    if (auto generic = dyn_cast_or_null<linalg::GenericOp>(def);
        generic && generic.getNumLoops() == generic.getNumParallelLoops())
      return inlineGeneric(generic, cast<OpResult>(tensor).getResultNumber(),
                           indices);
    if (auto broadcast = dyn_cast_or_null<linalg::BroadcastOp>(def)) {
      SmallVector<Value> inner;
      for (auto [d, index] : llvm::enumerate(indices))
        if (!llvm::is_contained(broadcast.getDimensions(),
                                static_cast<int64_t>(d)))
          inner.push_back(index);
      return at(broadcast.getInput(), inner);
    }
    if (auto transpose = dyn_cast_or_null<linalg::TransposeOp>(def)) {
      SmallVector<Value> inner(indices.size());
      for (auto [p, source] : llvm::enumerate(transpose.getPermutation()))
        inner[source] = indices[p];
      return at(transpose.getInput(), inner);
    }
    if (auto cast = dyn_cast_or_null<tensor::CastOp>(def))
      return at(cast.getSource(), indices);
    if (auto collapse = dyn_cast_or_null<tensor::CollapseShapeOp>(def))
      if (collapse.getSrcType().hasStaticShape()) {
        SmallVector<Value> inner;
        for (auto [group, index] :
             llvm::zip(collapse.getReassociationIndices(), indices)) {
          SmallVector<int64_t> sizes;
          for (int64_t d : group)
            sizes.push_back(collapse.getSrcType().getDimSize(d));
          llvm::append_range(inner, delinearize(index, sizes));
        }
        return at(collapse.getSrc(), inner);
      }
    if (auto expand = dyn_cast_or_null<tensor::ExpandShapeOp>(def))
      if (expand.getResultType().hasStaticShape()) {
        SmallVector<Value> inner;
        for (ReassociationIndices group : expand.getReassociationIndices()) {
          Value linear = constantIndex(0);
          for (int64_t d : group) {
            if (expand.getResultType().getDimSize(d) == 1)
              continue;
            linear = arith::AddIOp::create(
                builder, loc,
                arith::MulIOp::create(
                    builder, loc, linear,
                    constantIndex(expand.getResultType().getDimSize(d))),
                indices[d]);
          }
          inner.push_back(linear);
        }
        return at(expand.getSrc(), inner);
      }
    // Anything else (function arguments, dense constants, other ops' results)
    // is read where it is.
    return tensor::ExtractOp::create(builder, loc, tensor, indices).getResult();
  }

  Value constantIndex(int64_t value) {
    return arith::ConstantIndexOp::create(builder, loc, value);
  }

  SmallVector<Value> delinearize(Value index, ArrayRef<int64_t> sizes) {
    SmallVector<Value> result(sizes.size());
    // Unit dims around one real dim (a kept or added unit dim): 0s and the
    // index itself.
    if (llvm::count_if(sizes, [](int64_t size) { return size != 1; }) <= 1) {
      for (auto [d, size] : llvm::enumerate(sizes))
        result[d] = size == 1 ? constantIndex(0) : index;
      if (llvm::all_of(sizes, [](int64_t size) { return size == 1; }))
        result.back() = index;
      return result;
    }
    Value rest = index;
    for (int64_t d = sizes.size() - 1; d >= 0; --d) {
      if (d == 0) {
        result[d] = rest;
        break;
      }
      Value size = constantIndex(sizes[d]);
      result[d] = arith::RemUIOp::create(builder, loc, rest, size);
      rest = arith::DivUIOp::create(builder, loc, rest, size);
    }
    return result;
  }

  /// Clones the body of an all-parallel generic for the element at
  /// `indices` of its result `resultNumber`.
  FailureOr<Value> inlineGeneric(linalg::GenericOp op, unsigned resultNumber,
                                 ArrayRef<Value> indices) {
    AffineMap outMap =
        op.getMatchingIndexingMap(op.getDpsInitOperand(resultNumber));
    if (!outMap.isPermutation())
      return failure();
    // Loop index d = the output index at the position its dim takes.
    SmallVector<Value> loops(op.getNumLoops());
    for (auto [p, expr] : llvm::enumerate(outMap.getResults()))
      loops[cast<AffineDimExpr>(expr).getPosition()] = indices[p];
    Block &body = op.getRegion().front();
    IRMapping mapping;
    for (OpOperand &operand : op->getOpOperands()) {
      BlockArgument arg = body.getArgument(operand.getOperandNumber());
      if (arg.use_empty())
        continue;
      if (op.isDpsInit(&operand))
        return failure();
      AffineMap map = op.getMatchingIndexingMap(&operand);
      SmallVector<Value> inner;
      for (AffineExpr expr : map.getResults()) {
        if (auto dim = dyn_cast<AffineDimExpr>(expr))
          inner.push_back(loops[dim.getPosition()]);
        else if (auto constant = dyn_cast<AffineConstantExpr>(expr))
          inner.push_back(constantIndex(constant.getValue()));
        else
          return failure();
      }
      FailureOr<Value> element = at(operand.get(), inner);
      if (failed(element))
        return failure();
      mapping.map(arg, *element);
    }
    for (Operation &inner : body.without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
        mapping.map(index.getResult(), loops[index.getDim()]);
        continue;
      }
      if (inner.getNumRegions() != 0)
        return failure();
      builder.clone(inner, mapping);
    }
    return mapping.lookupOrDefault(
        cast<linalg::YieldOp>(body.getTerminator()).getOperand(resultNumber));
  }

  OpBuilder &builder;
  Location loc;
  Value scores, score;
  SmallVector<Value> scoreIndices;
  /// (tensor, indices...) -> the element already built.
  std::map<SmallVector<const void *>, Value> cache;
};

//===----------------------------------------------------------------------===//
// Masks
//===----------------------------------------------------------------------===//

/// c_i * i + c_j * j + c over the region's index arguments.
struct LinearForm {
  int64_t ci = 0, cj = 0, c = 0;
};

std::optional<LinearForm> getLinearForm(Value value, Value i, Value j) {
  if (value == i)
    return LinearForm{1, 0, 0};
  if (value == j)
    return LinearForm{0, 1, 0};
  APInt constant;
  if (matchPattern(value, m_ConstantInt(&constant)))
    return LinearForm{0, 0, constant.getSExtValue()};
  Operation *op = value.getDefiningOp();
  if (!op)
    return std::nullopt;
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
          arith::ExtUIOp, arith::TruncIOp>(op))
    return getLinearForm(op->getOperand(0), i, j);
  if (!isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(op))
    return std::nullopt;
  std::optional<LinearForm> lhs = getLinearForm(op->getOperand(0), i, j);
  std::optional<LinearForm> rhs = getLinearForm(op->getOperand(1), i, j);
  if (!lhs || !rhs)
    return std::nullopt;
  if (isa<arith::AddIOp>(op))
    return LinearForm{lhs->ci + rhs->ci, lhs->cj + rhs->cj, lhs->c + rhs->c};
  if (isa<arith::SubIOp>(op))
    return LinearForm{lhs->ci - rhs->ci, lhs->cj - rhs->cj, lhs->c - rhs->c};
  if (lhs->ci == 0 && lhs->cj == 0)
    std::swap(lhs, rhs);
  if (rhs->ci != 0 || rhs->cj != 0)
    return std::nullopt;
  return LinearForm{lhs->ci * rhs->c, lhs->cj * rhs->c, lhs->c * rhs->c};
}

/// Bounds on j - i, and an optional sink (j < sink admits every query),
/// that a predicate over the indices means; nullopt when it means anything
/// else.
struct Band {
  std::optional<int64_t> upper, lower; // lower <= j - i <= upper
  std::optional<int64_t> sink;         // or j < sink (with only `lower`)
};

std::optional<Band> intersectBands(Band a, Band b) {
  if (a.sink || b.sink) {
    // A sink term only with a plain upper bound beside it.
    if (a.sink && b.sink)
      return std::nullopt;
    Band &sink = a.sink ? a : b;
    Band &other = a.sink ? b : a;
    if (other.lower || other.sink || sink.upper)
      return std::nullopt;
    sink.upper = other.upper;
    return sink;
  }
  Band result;
  result.upper = a.upper && b.upper ? std::min(*a.upper, *b.upper)
                                    : (a.upper ? a.upper : b.upper);
  result.lower = a.lower && b.lower ? std::max(*a.lower, *b.lower)
                                    : (a.lower ? a.lower : b.lower);
  return result;
}

/// The band of `lhs kind rhs` over the indices.
std::optional<Band> getCmpBand(arith::CmpIPredicate kind, Value lhsValue,
                               Value rhsValue, Value i, Value j) {
  std::optional<LinearForm> lhs = getLinearForm(lhsValue, i, j);
  std::optional<LinearForm> rhs = getLinearForm(rhsValue, i, j);
  if (!lhs || !rhs)
    return std::nullopt;
  // d = lhs - rhs = k * (j - i) + c with k = +-1.
  LinearForm d{lhs->ci - rhs->ci, lhs->cj - rhs->cj, lhs->c - rhs->c};
  if (d.cj == 0 || d.ci != -d.cj || (d.cj != 1 && d.cj != -1))
    return std::nullopt;
  // Unsigned compares only of plain indices plus non-negative constants
  // (no wrap-around).
  bool isUnsigned =
      kind == arith::CmpIPredicate::ult || kind == arith::CmpIPredicate::ule ||
      kind == arith::CmpIPredicate::ugt || kind == arith::CmpIPredicate::uge;
  if (isUnsigned &&
      (lhs->c < 0 || rhs->c < 0 || std::abs(lhs->ci) + std::abs(lhs->cj) > 1 ||
       std::abs(rhs->ci) + std::abs(rhs->cj) > 1 || lhs->ci < 0 ||
       lhs->cj < 0 || rhs->ci < 0 || rhs->cj < 0))
    return std::nullopt;
  // Normalize to x REL -c with x = j - i (flip when k = -1).
  int64_t bound = -d.c;
  bool flip = d.cj == -1;
  if (flip)
    bound = -bound;
  Band band;
  auto lessEq = [&](int64_t value) { band.upper = value; };
  auto greaterEq = [&](int64_t value) { band.lower = value; };
  switch (kind) {
  case arith::CmpIPredicate::slt:
  case arith::CmpIPredicate::ult:
    flip ? greaterEq(bound + 1) : lessEq(bound - 1);
    break;
  case arith::CmpIPredicate::sle:
  case arith::CmpIPredicate::ule:
    flip ? greaterEq(bound) : lessEq(bound);
    break;
  case arith::CmpIPredicate::sgt:
  case arith::CmpIPredicate::ugt:
    flip ? lessEq(bound - 1) : greaterEq(bound + 1);
    break;
  case arith::CmpIPredicate::sge:
  case arith::CmpIPredicate::uge:
    flip ? lessEq(bound) : greaterEq(bound);
    break;
  default:
    return std::nullopt;
  }
  return band;
}

std::optional<Band> getOrBand(Value x, Value y, Value i, Value j);

/// `x` when `value` is `not x` (xori with true, x == false, x != true,
/// select(x, false, true)), or null.
Value getNegated(Value value) {
  if (auto xorOp = value.getDefiningOp<arith::XOrIOp>()) {
    if (matchPattern(xorOp.getRhs(), m_One()))
      return xorOp.getLhs();
    if (matchPattern(xorOp.getLhs(), m_One()))
      return xorOp.getRhs();
  }
  if (auto cmp = value.getDefiningOp<arith::CmpIOp>();
      cmp && cmp.getLhs().getType().isInteger(1)) {
    if (cmp.getPredicate() == arith::CmpIPredicate::eq &&
        matchPattern(cmp.getRhs(), m_Zero()))
      return cmp.getLhs();
    if (cmp.getPredicate() == arith::CmpIPredicate::ne &&
        matchPattern(cmp.getRhs(), m_One()))
      return cmp.getLhs();
  }
  if (auto select = value.getDefiningOp<arith::SelectOp>();
      select && select.getType().isInteger(1) &&
      matchPattern(select.getTrueValue(), m_Zero()) &&
      matchPattern(select.getFalseValue(), m_One()))
    return select.getCondition();
  return nullptr;
}

/// `x` when `value` is x itself in another form (x == true, x != false,
/// select(x, true, false)), or null.
Value getSame(Value value) {
  if (auto cmp = value.getDefiningOp<arith::CmpIOp>();
      cmp && cmp.getLhs().getType().isInteger(1)) {
    if (cmp.getPredicate() == arith::CmpIPredicate::eq &&
        matchPattern(cmp.getRhs(), m_One()))
      return cmp.getLhs();
    if (cmp.getPredicate() == arith::CmpIPredicate::ne &&
        matchPattern(cmp.getRhs(), m_Zero()))
      return cmp.getLhs();
  }
  return nullptr;
}

/// The band of `predicate` (of its negation with `negate`).
std::optional<Band> getBand(Value predicate, Value i, Value j,
                            bool negate = false) {
  APInt constant;
  if (matchPattern(predicate, m_ConstantInt(&constant))) {
    if (constant.isOne() != negate)
      return Band{};
    return std::nullopt;
  }
  if (Value inner = getNegated(predicate))
    return getBand(inner, i, j, !negate);
  if (Value inner = getSame(predicate))
    return getBand(inner, i, j, negate);
  // and: andi, or select(c, x, false) (JAX's); or: ori, select(c, true, x).
  Value andLhs, andRhs, orLhs, orRhs;
  if (auto andOp = predicate.getDefiningOp<arith::AndIOp>()) {
    andLhs = andOp.getLhs();
    andRhs = andOp.getRhs();
  } else if (auto orOp = predicate.getDefiningOp<arith::OrIOp>()) {
    orLhs = orOp.getLhs();
    orRhs = orOp.getRhs();
  } else if (auto select = predicate.getDefiningOp<arith::SelectOp>();
             select && select.getType().isInteger(1)) {
    if (matchPattern(select.getFalseValue(), m_Zero())) {
      andLhs = select.getCondition();
      andRhs = select.getTrueValue();
    } else if (matchPattern(select.getTrueValue(), m_One())) {
      orLhs = select.getCondition();
      orRhs = select.getFalseValue();
    }
  }
  // Negated conjunctions and disjunctions are not bands.
  if (andLhs && !negate) {
    std::optional<Band> lhs = getBand(andLhs, i, j);
    std::optional<Band> rhs = getBand(andRhs, i, j);
    if (!lhs || !rhs)
      return std::nullopt;
    return intersectBands(*lhs, *rhs);
  }
  if (orLhs && !negate)
    return getOrBand(orLhs, orRhs, i, j);
  if (auto cmp = predicate.getDefiningOp<arith::CmpIOp>();
      cmp && !cmp.getLhs().getType().isInteger(1))
    return getCmpBand(negate ? arith::invertPredicate(cmp.getPredicate())
                             : cmp.getPredicate(),
                      cmp.getLhs(), cmp.getRhs(), i, j);
  return std::nullopt;
}

/// The band of `x or y`: j < sink or a lower band (sink_window's shape).
std::optional<Band> getOrBand(Value x, Value y, Value i, Value j) {
  {
    for (auto [first, second] : {std::pair(x, y), std::pair(y, x)}) {
      auto cmp = first.getDefiningOp<arith::CmpIOp>();
      if (!cmp)
        continue;
      std::optional<LinearForm> lhs = getLinearForm(cmp.getLhs(), i, j);
      std::optional<LinearForm> rhs = getLinearForm(cmp.getRhs(), i, j);
      if (!lhs || !rhs)
        continue;
      LinearForm d{lhs->ci - rhs->ci, lhs->cj - rhs->cj, lhs->c - rhs->c};
      // j + c < 0 or j + c <= 0 (from j < sink / j <= sink - 1).
      std::optional<int64_t> sink;
      if (d.ci == 0 && d.cj == 1) {
        if (cmp.getPredicate() == arith::CmpIPredicate::slt ||
            cmp.getPredicate() == arith::CmpIPredicate::ult)
          sink = -d.c;
        else if (cmp.getPredicate() == arith::CmpIPredicate::sle ||
                 cmp.getPredicate() == arith::CmpIPredicate::ule)
          sink = -d.c + 1;
      } else if (d.ci == 0 && d.cj == -1) {
        if (cmp.getPredicate() == arith::CmpIPredicate::sgt ||
            cmp.getPredicate() == arith::CmpIPredicate::ugt)
          sink = d.c;
        else if (cmp.getPredicate() == arith::CmpIPredicate::sge ||
                 cmp.getPredicate() == arith::CmpIPredicate::uge)
          sink = d.c + 1;
      }
      if (!sink || *sink < 0)
        continue;
      std::optional<Band> band = getBand(second, i, j);
      if (!band || band->upper || band->sink || !band->lower)
        continue;
      band->sink = sink;
      return band;
    }
    return std::nullopt;
  }
}

/// The mask attribute a band means for lengths (qLen, kvLen), or null.
Attribute getBandMask(MLIRContext *ctx, const Band &band, int64_t qLen,
                      int64_t kvLen) {
  // j - i <= u  <=>  j <= i' + (u - offset), i' = i + offset.
  int64_t offset = kvLen - qLen;
  std::optional<int64_t> right, left;
  if (band.upper)
    right = *band.upper - offset;
  if (band.lower)
    left = offset - *band.lower;
  if (band.sink) {
    if (!right || *right != 0 || !left || *left < 0)
      return nullptr;
    return SinkWindowAttr::get(ctx, *band.sink, *left + 1);
  }
  if (!right && !left)
    return nullptr;
  if (right && *right == 0 && !left)
    return CausalAttr::get(ctx);
  int64_t r = right ? *right : kvLen;
  int64_t l = left ? *left : kvLen;
  if (r < 0 || l < 0)
    return nullptr;
  return SlidingWindowAttr::get(ctx, l, r);
}

/// Whether `mask` allows exactly the pairs `allowed` (qLen x kvLen, row
/// major).
bool maskAllows(Attribute mask, ArrayRef<bool> allowed, int64_t qLen,
                int64_t kvLen) {
  auto maskAttr = cast<MaskAttrInterface>(mask);
  if (failed(maskAttr.verifyLengths(qLen, kvLen,
                                    [] { return InFlightDiagnostic(); })))
    return false;
  for (int64_t i = 0; i < qLen; ++i) {
    SmallVector<KeyRange> ranges;
    if (failed(maskAttr.appendAllowedKeys(i + kvLen - qLen, kvLen, ranges)))
      return false;
    int64_t next = 0;
    for (int64_t j = 0; j < kvLen; ++j) {
      bool inRange = false;
      while (next < static_cast<int64_t>(ranges.size()) &&
             ranges[next].end <= j)
        ++next;
      if (next < static_cast<int64_t>(ranges.size()))
        inRange = ranges[next].begin <= j && j < ranges[next].end;
      if (inRange != allowed[i * kvLen + j])
        return false;
    }
  }
  return true;
}

/// The structural mask a dense (qLen x kvLen) pattern is exactly, or null.
Attribute foldDenseMask(MLIRContext *ctx, ArrayRef<bool> allowed, int64_t qLen,
                        int64_t kvLen) {
  int64_t offset = kvLen - qLen;
  std::optional<int64_t> right, left;
  for (int64_t i = 0; i < qLen; ++i) {
    const bool *row = allowed.data() + i * kvLen;
    int64_t first = -1, last = -1;
    for (int64_t j = 0; j < kvLen; ++j)
      if (row[j]) {
        if (first < 0)
          first = j;
        last = j;
      }
    if (first < 0)
      continue;
    if (last < kvLen - 1)
      right = last - (i + offset);
    if (first > 0)
      left = (i + offset) - first;
  }
  SmallVector<Attribute> candidates{CausalAttr::get(ctx)};
  if (right && left && *right >= 0 && *left >= 0)
    candidates.push_back(SlidingWindowAttr::get(ctx, *left, *right));
  if (right && !left && *right >= 0)
    candidates.push_back(SlidingWindowAttr::get(ctx, kvLen, *right));
  // Sinks: the last row's keys are [0, sink) and (i' - window, i'].
  const bool *last = allowed.data() + (qLen - 1) * kvLen;
  int64_t sink = 0;
  while (sink < kvLen && last[sink])
    ++sink;
  int64_t start = sink;
  while (start < kvLen && !last[start])
    ++start;
  if (sink > 0 && start < kvLen)
    candidates.push_back(
        SinkWindowAttr::get(ctx, sink, (qLen - 1 + offset) - start + 1));
  for (Attribute candidate : candidates)
    if (maskAllows(candidate, allowed, qLen, kvLen))
      return candidate;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

/// Erases `root` if it is dead, then the producers of its operands that
/// it leaves dead (the matched attention, not other dead code). A producer
/// may feed several operands: each op is erased once.
void eraseDeadProducers(Operation *root) {
  SmallVector<Operation *> worklist{root};
  llvm::SmallPtrSet<Operation *, 32> erased;
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (erased.contains(op) || !isOpTriviallyDead(op))
      continue;
    for (Value operand : op->getOperands())
      if (Operation *producer = operand.getDefiningOp())
        worklist.push_back(producer);
    erased.insert(op);
    op->erase();
  }
}

class AttentionRaiser {
public:
  AttentionRaiser(Operation *pv) : pv(pv), ctx(pv->getContext()) {}

  LogicalResult run() {
    firstNew = pv->getPrevNode();
    // O = P·V: either operand may be the softmax.
    FailureOr<Contraction> pvMatch = matchContraction(pv);
    if (failed(pvMatch))
      return failure();
    Contraction pvc = *pvMatch;
    int pIndex = -1;
    FailureOr<Value> softmaxInput = failure();
    for (int c = 0; c < 2 && pIndex < 0; ++c) {
      // P's dims: (batch..., query, key) with key the reduced loop.
      const OperandView &view = pvc.in[c];
      if (view.loopDims.size() != pvc.numBatch + 2 ||
          view.loopDims.back() != static_cast<int64_t>(pvc.k) ||
          view.loopDims[pvc.numBatch] != static_cast<int64_t>(pvc.free[c]))
        continue;
      // (The softmax may be on P before a [B*H] collapse: matchSoftmax
      // looks through it.)
      softmaxInput = matchSoftmax(view.tensor);
      if (succeeded(softmaxInput))
        pIndex = c;
    }
    if (pIndex < 0)
      return failure();
    const OperandView pRaw = pvc.in[pIndex];
    int vIndex = 1 - pIndex;
    // The scores S = Q·Kᵀ at the bottom of the elementwise chain, laid out
    // (batch..., query, key).
    Value scores = findScores(*softmaxInput);
    if (!scores)
      return failure();
    FailureOr<Contraction> qkMatch =
        matchContraction(getScoresContraction(scores));
    if (failed(qkMatch))
      return failure();
    Contraction qkc = *qkMatch;
    // Scores viewed back as [B, H, S, S] from a [B*H] contraction (torch's
    // bmm): its batch loop splits in two, and so do the operands' (seen
    // through their [B*H] collapses); otherwise the operands keep the
    // contractions' dims and to4D recovers [B, H] at the end.
    bool lifted = false;
    if (auto expand = scores.getDefiningOp<tensor::ExpandShapeOp>()) {
      std::optional<SmallVector<int64_t>> dims = splitBatch(
          qkc.outDims, expand.getReassociationIndices(), qkc.batchLoops);
      if (!dims)
        return failure();
      qkc.outDims = *dims;
      lifted = true;
    }
    const OperandView pView =
        lifted ? liftCollapsed(pRaw, pvc.batchLoops) : pRaw;
    int64_t nb = static_cast<int64_t>(qkc.outDims.size()) - 2;
    if (nb != static_cast<int64_t>(pView.loopDims.size()) - 2)
      return failure();
    int qIndex = qkc.outDims[nb] == qkc.free[0] ? 0 : 1;
    if (qkc.outDims[nb] != qkc.free[qIndex] ||
        qkc.outDims[nb + 1] != qkc.free[1 - qIndex])
      return failure();
    auto scoresType = cast<RankedTensorType>(scores.getType());
    auto pType = cast<RankedTensorType>(softmaxInput->getType());
    if (scoresType.getShape() != pType.getShape() ||
        !scoresType.hasStaticShape())
      return failure();

    OpBuilder builder(pv);
    Location loc = pv->getLoc();
    double scale = 1.0;
    // Canonical orders: (batch..., rows, head dim), batch dims ordered as in
    // the scores (QK) and in P (PV).
    SmallVector<int64_t> qOrder, kOrder, vOrder;
    for (int64_t d = 0; d < nb; ++d) {
      qOrder.push_back(qkc.outDims[d]);
      kOrder.push_back(qkc.outDims[d]);
      vOrder.push_back(pView.loopDims[d]);
    }
    qOrder.append({qkc.free[qIndex], qkc.k});
    kOrder.append({qkc.free[1 - qIndex], qkc.k});
    vOrder.append({pvc.k, pvc.free[vIndex]});
    // Q and K: scales, transposes and (lifted) [B*H] collapses in any order.
    auto strip = [&](OperandView view, ArrayRef<unsigned> batchLoops,
                     bool withScale) {
      for (int round = 0; round < 4; ++round) {
        if (lifted)
          view = liftCollapsed(view, batchLoops, &builder);
        if (withScale)
          view = skipScale(view, scale);
        view = skipTransposes(view);
      }
      return view;
    };
    OperandView qView = strip(qkc.in[qIndex], qkc.batchLoops, true);
    OperandView kView = strip(qkc.in[1 - qIndex], qkc.batchLoops, true);
    OperandView vView = strip(pvc.in[vIndex], pvc.batchLoops, false);
    // Inputs widened for the matmuls (f16 / bf16 to f32): the narrow ones,
    // when all three then agree (the op computes in f32 anyway).
    {
      OperandView narrow[3] = {qView, kView, vView};
      for (OperandView &view : narrow)
        view = skipTransposes(OperandView{
            skipCasts(view.tensor, /*widenOnly=*/true), view.loopDims});
      Type element = getElementTypeOrSelf(narrow[0].tensor.getType());
      if (llvm::all_of(narrow, [&](const OperandView &view) {
            return getElementTypeOrSelf(view.tensor.getType()) == element;
          })) {
        qView = narrow[0];
        kView = narrow[1];
        vView = narrow[2];
      }
    }
    FailureOr<Value> q = canonicalize(builder, loc, qView, qOrder);
    FailureOr<Value> k = canonicalize(builder, loc, kView, kOrder);
    FailureOr<Value> v = canonicalize(builder, loc, vView, vOrder);
    if (failed(q) || failed(k) || failed(v))
      return cleanupFailure();
    // The result's order as a permutation of (batch..., query, value dim).
    SmallVector<int64_t> canonicalOut;
    for (int64_t d = 0; d < static_cast<int64_t>(pvc.numBatch); ++d)
      canonicalOut.push_back(pRaw.loopDims[d]);
    canonicalOut.append({pvc.free[pIndex], pvc.free[vIndex]});
    SmallVector<int64_t> outPerm;
    for (int64_t dim : pvc.outDims) {
      auto it = llvm::find(canonicalOut, dim);
      if (it == canonicalOut.end())
        return cleanupFailure();
      outPerm.push_back(it - canonicalOut.begin());
    }
    Value q4 = to4D(builder, loc, *q);
    Value k4 = skipGroupBroadcast(to4D(builder, loc, *k));
    Value v4 = skipGroupBroadcast(to4D(builder, loc, *v));
    auto qType = cast<RankedTensorType>(q4.getType());
    auto kType = cast<RankedTensorType>(k4.getType());
    auto vType = cast<RankedTensorType>(v4.getType());
    Type element = qType.getElementType();
    if (!isa<Float16Type, BFloat16Type, Float32Type>(element) ||
        kType.getElementType() != element || vType.getElementType() != element)
      return cleanupFailure();
    // K and V share their heads; the query heads are a multiple of them.
    int64_t hq = qType.getDimSize(1), hkv = kType.getDimSize(1);
    if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) ||
        vType.getDimSize(1) != hkv || hkv == 0 || hq % hkv != 0)
      return cleanupFailure();
    int64_t qLen = scoresType.getDimSize(scoresType.getRank() - 2);
    int64_t kvLen = scoresType.getDimSize(scoresType.getRank() - 1);
    if (!qType.hasStaticShape() || !kType.hasStaticShape() ||
        !vType.hasStaticShape() || kType.getDimSize(0) != qType.getDimSize(0) ||
        vType.getDimSize(0) != qType.getDimSize(0) ||
        qType.getDimSize(2) != qLen || kType.getDimSize(2) != kvLen ||
        vType.getDimSize(2) != kvLen ||
        kType.getDimSize(3) != qType.getDimSize(3))
      return cleanupFailure();

    // The attention op, its regions filled from the scores' chain.
    auto outType = RankedTensorType::get(
        {qType.getDimSize(0), hq, qType.getDimSize(2), vType.getDimSize(3)},
        element);
    auto lseType = RankedTensorType::get(
        {qType.getDimSize(0), hq, qType.getDimSize(2)}, builder.getF32Type());
    auto attention =
        AttentionOp::create(builder, loc, outType, lseType, q4, k4, v4, Value(),
                            Value(), nullptr, nullptr);
    if (failed(buildRegions(attention, scores, *softmaxInput, hq, qLen, kvLen,
                            scale)))
      return cleanupFailure();

    // The result in P·V's shape and element type.
    Value result = attention.getOutput();
    auto pvType = cast<RankedTensorType>(pv->getResult(0).getType());
    if (pvType.getRank() < 4) {
      SmallVector<ReassociationIndices> groups =
          pvType.getRank() == 3
              ? SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}}
              : SmallVector<ReassociationIndices>{{0, 1, 2}, {3}};
      result = tensor::CollapseShapeOp::create(builder, loc, result, groups);
    }
    if (!llvm::equal(outPerm, llvm::seq<int64_t>(0, outPerm.size()))) {
      auto type = cast<RankedTensorType>(result.getType());
      SmallVector<int64_t> shape;
      for (int64_t p : outPerm)
        shape.push_back(type.getDimSize(p));
      Value init =
          tensor::EmptyOp::create(builder, loc, shape, type.getElementType());
      result = linalg::TransposeOp::create(builder, loc, result, init, outPerm)
                   ->getResult(0);
    }
    if (cast<RankedTensorType>(result.getType()).getShape() !=
        pvType.getShape())
      return cleanupFailure();
    if (pvType.getElementType() != element) {
      if (!isa<FloatType>(pvType.getElementType()) ||
          pvType.getElementType().getIntOrFloatBitWidth() ==
              element.getIntOrFloatBitWidth())
        return cleanupFailure();
      result = castElements(builder, loc, result, pvType.getElementType());
    }
    pv->getResult(0).replaceAllUsesWith(result);
    eraseDeadProducers(pv);
    return success();
  }

private:
  /// Undoes what was built (before P·V) for a failed match.
  LogicalResult cleanupFailure() {
    while (Operation *op = pv->getPrevNode()) {
      if (op == firstNew || !op->use_empty())
        break;
      op->erase();
    }
    return failure();
  }

  /// Q or K multiplied or divided by a constant on their way to the scores.
  OperandView skipScale(OperandView view, double &scale) {
    auto generic = view.tensor.getDefiningOp<linalg::GenericOp>();
    if (!generic || !isElementwise(generic))
      return view;
    Operation *op = getSingleBodyOp<arith::MulFOp>(generic);
    if (!op)
      op = getSingleBodyOp<arith::DivFOp>(generic);
    if (!op)
      return view;
    // The data operand (read with the identity map) and the factor (a
    // constant in the body or a constant input).
    for (unsigned data = 0; data < 2; ++data) {
      if (data == 1 && isa<arith::DivFOp>(op))
        break;
      auto arg = dyn_cast<BlockArgument>(op->getOperand(data));
      Value in = arg ? getInputOf(generic, arg) : nullptr;
      if (!in || in.getType() != view.tensor.getType() ||
          !generic
               .getMatchingIndexingMap(
                   generic.getDpsInputOperand(arg.getArgNumber()))
               .isIdentity())
        continue;
      Value factorValue = op->getOperand(1 - data);
      std::optional<double> factor = getFloatConstant(factorValue);
      if (!factor)
        if (Value input = getInputOf(generic, factorValue))
          factor = getFloatConstant(input);
      if (!factor || *factor == 0.0)
        continue;
      scale *= isa<arith::MulFOp>(op) ? *factor : 1.0 / *factor;
      return OperandView{in, view.loopDims};
    }
    return view;
  }

  /// The contraction whose result `value` is, directly or expanded
  /// (torch's bmm result viewed back as [B, H, S, S]), or null.
  static Operation *getScoresContraction(Value value) {
    Operation *def = value.getDefiningOp();
    if (auto expand = dyn_cast_or_null<tensor::ExpandShapeOp>(def))
      def = expand.getSrc().getDefiningOp();
    return def && succeeded(matchContraction(def)) ? def : nullptr;
  }

  /// Walks the elementwise chain from the softmax input down to the
  /// contraction whose result it is computed from (through operands with
  /// the scores' shape and an identity map); null when there is none or
  /// more than one.
  Value findScores(Value value, int depth = 0) {
    if (getScoresContraction(value))
      return value;
    auto generic = value.getDefiningOp<linalg::GenericOp>();
    if (depth > 64 || !generic || !isElementwise(generic))
      return nullptr;
    auto memo = scoresOf.find(value);
    if (memo != scoresOf.end())
      return memo->second;
    Value found;
    bool ambiguous = false;
    for (OpOperand *operand : generic.getDpsInputOperands()) {
      if (operand->get().getType() != value.getType() ||
          !generic.getMatchingIndexingMap(operand).isIdentity())
        continue;
      if (Value scores = findScores(operand->get(), depth + 1)) {
        ambiguous |= found && found != scores;
        found = scores;
      }
    }
    scoresOf[value] = ambiguous ? Value() : found;
    return scoresOf[value];
  }

  static Value castElements(OpBuilder &builder, Location loc, Value value,
                            Type element) {
    auto type = cast<RankedTensorType>(value.getType());
    Value init =
        tensor::EmptyOp::create(builder, loc, type.getShape(), element);
    AffineMap id = builder.getMultiDimIdentityMap(type.getRank());
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    return linalg::GenericOp::create(
               builder, loc, init.getType(), value, init,
               ArrayRef<AffineMap>{id, id}, iterators,
               [&](OpBuilder &b, Location l, ValueRange args) {
                 Value converted =
                     element.getIntOrFloatBitWidth() >
                             type.getElementType().getIntOrFloatBitWidth()
                         ? Value(arith::ExtFOp::create(b, l, element, args[0]))
                         : Value(
                               arith::TruncFOp::create(b, l, element, args[0]));
                 linalg::YieldOp::create(b, l, converted);
               })
        ->getResult(0);
  }

  /// Rematerializes the softmax input per element, peels masks and the
  /// scale off it, and fills the op's mask, scale, mask_mod and score_mod.
  LogicalResult buildRegions(AttentionOp attention, Value scores,
                             Value softmaxInput, int64_t hq, int64_t qLen,
                             int64_t kvLen, double scale) {
    auto scoresType = cast<RankedTensorType>(scores.getType());
    Type f32 = Float32Type::get(ctx);
    Type index = IndexType::get(ctx);
    Location loc = attention.getLoc();
    Block *block = new Block();
    auto deleteBlock = llvm::make_scope_exit([&] {
      if (block)
        delete block;
    });
    Value s = block->addArgument(f32, loc);
    Value b = block->addArgument(index, loc);
    Value h = block->addArgument(index, loc);
    Value i = block->addArgument(index, loc);
    Value j = block->addArgument(index, loc);
    OpBuilder builder(ctx);
    builder.setInsertionPointToEnd(block);
    Type scoreElement = scoresType.getElementType();
    if (!isa<FloatType>(scoreElement))
      return failure();
    Value leaf = castFloat(builder, loc, s, scoreElement);
    // The score tensor's indices from (b, h, i, j).
    SmallVector<Value> indices;
    if (scoresType.getRank() == 4) {
      indices = {b, h, i, j};
    } else if (scoresType.getRank() == 3) {
      Value heads = arith::ConstantIndexOp::create(builder, loc, hq);
      Value bh = arith::AddIOp::create(
          builder, loc, arith::MulIOp::create(builder, loc, b, heads), h);
      indices = {bh, i, j};
    } else {
      indices = {i, j};
    }
    Rematerializer remat(builder, loc, scores, leaf, indices);
    FailureOr<Value> element = remat.at(softmaxInput, indices);
    if (failed(element) || !isa<FloatType>(element->getType()))
      return failure();
    Value f = *element;

    // Outer masks: select(p, x, -inf), select(p, -inf, x), x + (0 | -inf).
    SmallVector<Value> terms;
    for (;;) {
      if (auto select = f.getDefiningOp<arith::SelectOp>()) {
        if (isMaskingValue(select.getFalseValue())) {
          terms.push_back(select.getCondition());
          f = select.getTrueValue();
          continue;
        }
        if (isMaskingValue(select.getTrueValue())) {
          Value one = arith::ConstantIntOp::create(builder, loc, 1, 1);
          terms.push_back(
              arith::XOrIOp::create(builder, loc, select.getCondition(), one));
          f = select.getFalseValue();
          continue;
        }
      }
      if (auto add = f.getDefiningOp<arith::AddFOp>()) {
        Value term;
        for (auto [maskValue, rest] : {std::pair(add.getRhs(), add.getLhs()),
                                       std::pair(add.getLhs(), add.getRhs())}) {
          if (auto select = maskValue.getDefiningOp<arith::SelectOp>()) {
            if (isZero(select.getTrueValue()) &&
                isMaskingValue(select.getFalseValue()))
              term = select.getCondition();
            else if (isMaskingValue(select.getTrueValue()) &&
                     isZero(select.getFalseValue()))
              term = arith::XOrIOp::create(
                  builder, loc, select.getCondition(),
                  arith::ConstantIntOp::create(builder, loc, 1, 1));
          } else if (auto extract =
                         maskValue.getDefiningOp<tensor::ExtractOp>()) {
            // A dense constant of 0 and -inf.
            DenseFPElementsAttr dense;
            if (matchPattern(extract.getTensor(), m_Constant(&dense)) &&
                llvm::all_of(dense.getValues<APFloat>(), [](APFloat x) {
                  return x.isZero() || x.convertToDouble() <= -1e9;
                })) {
              Value zero = arith::ConstantOp::create(
                  builder, loc, builder.getFloatAttr(maskValue.getType(), 0.0));
              term = arith::CmpFOp::create(
                  builder, loc, arith::CmpFPredicate::OEQ, maskValue, zero);
            }
          }
          if (term) {
            f = rest;
            break;
          }
        }
        if (term) {
          terms.push_back(term);
          continue;
        }
      }
      break;
    }

    // Masks: structural attributes where the indices say so, a mask_mod for
    // the rest. None may read the scores.
    SmallVector<Attribute> structural;
    SmallVector<Value> modTerms;
    for (Value term : terms) {
      if (dependsOn(term, s))
        return failure();
      // Always true (a mask of ones).
      if (std::optional<Band> band = getBand(term, i, j);
          band && !band->upper && !band->lower && !band->sink)
        continue;
      if (Attribute mask = getStructuralMask(term, i, j, qLen, kvLen))
        structural.push_back(mask);
      else
        modTerms.push_back(term);
    }
    if (structural.size() == 1)
      attention.setMaskAttr(cast<MaskAttrInterface>(structural.front()));
    else if (structural.size() > 1)
      attention.setMaskAttr(
          cast<MaskAttrInterface>(IntersectAttr::get(ctx, structural)));
    if (!modTerms.empty()) {
      Block *maskBlock = new Block();
      attention.getMaskMod().push_back(maskBlock);
      IRMapping mapping;
      for (Value from : {b, h, i, j})
        mapping.map(from, maskBlock->addArgument(index, loc));
      OpBuilder maskBuilder = OpBuilder::atBlockEnd(maskBlock);
      Value all;
      for (Value term : modTerms) {
        Value cloned = cloneTree(maskBuilder, block, term, mapping);
        all = all ? arith::AndIOp::create(maskBuilder, loc, all, cloned)
                        .getResult()
                  : cloned;
      }
      YieldOp::create(maskBuilder, loc, all);
    }

    // The scale: f = s * c (or s / c) at the bottom of what is left.
    for (;;) {
      if (!s.hasOneUse())
        break;
      Operation *user = *s.getUsers().begin();
      std::optional<double> factor;
      if (auto mul = dyn_cast<arith::MulFOp>(user))
        factor =
            getFloatConstant(mul.getLhs() == s ? mul.getRhs() : mul.getLhs());
      else if (auto div = dyn_cast<arith::DivFOp>(user);
               div && div.getLhs() == s)
        if (std::optional<double> c = getFloatConstant(div.getRhs());
            c && *c != 0.0)
          factor = 1.0 / *c;
      if (!factor || *factor == 0.0)
        break;
      scale *= *factor;
      Value scaled = user->getResult(0);
      if (f == scaled)
        f = s;
      scaled.replaceAllUsesWith(s);
      user->erase();
    }
    attention.setScaleAttr(builder.getF32FloatAttr(scale));
    if (f != s) {
      f = castFloat(builder, loc, f, f32);
      YieldOp::create(builder, loc, f);
      // Drop what the masks left behind.
      for (Operation &op :
           llvm::make_early_inc_range(llvm::reverse(block->getOperations())))
        if (!op.hasTrait<OpTrait::IsTerminator>() && op.use_empty())
          op.erase();
      attention.getScoreMod().push_back(block);
      block = nullptr;
    }
    return success();
  }

  /// `value` as float type `type` (extf or truncf; itself when equal).
  static Value castFloat(OpBuilder &builder, Location loc, Value value,
                         Type type) {
    unsigned from = value.getType().getIntOrFloatBitWidth();
    unsigned to = type.getIntOrFloatBitWidth();
    if (value.getType() == type)
      return value;
    if (to == from) // f16 <-> bf16: through f32.
      value = arith::ExtFOp::create(builder, loc, builder.getF32Type(), value);
    else if (to > from)
      return arith::ExtFOp::create(builder, loc, type, value);
    return arith::TruncFOp::create(builder, loc, type, value);
  }

  static bool dependsOn(Value value, Value on) {
    SmallVector<Value> worklist{value};
    llvm::DenseSet<Value> seen;
    while (!worklist.empty()) {
      Value v = worklist.pop_back_val();
      if (v == on)
        return true;
      if (!seen.insert(v).second)
        continue;
      if (Operation *op = v.getDefiningOp())
        llvm::append_range(worklist, op->getOperands());
    }
    return false;
  }

  /// Clones the ops of `block` that `value` is computed by, with
  /// `mapping`; values from outside the block are used as they are.
  static Value cloneTree(OpBuilder &builder, Block *block, Value value,
                         IRMapping &mapping) {
    if (Value mapped = mapping.lookupOrNull(value))
      return mapped;
    Operation *op = value.getDefiningOp();
    if (!op || op->getBlock() != block)
      return value;
    for (Value operand : op->getOperands())
      cloneTree(builder, block, operand, mapping);
    builder.clone(*op, mapping);
    return mapping.lookup(value);
  }

  /// The structural mask a term is, or null.
  Attribute getStructuralMask(Value term, Value i, Value j, int64_t qLen,
                              int64_t kvLen) {
    if (std::optional<Band> band = getBand(term, i, j))
      if (Attribute mask = getBandMask(ctx, *band, qLen, kvLen))
        return mask;
    // A dense constant read at (…, i, j): i1, or compared with 0.
    Value read = term;
    bool viaZero = false;
    if (auto cmp = term.getDefiningOp<arith::CmpFOp>();
        cmp && cmp.getPredicate() == arith::CmpFPredicate::OEQ &&
        isZero(cmp.getRhs())) {
      read = cmp.getLhs();
      viaZero = true;
    }
    auto extract = read.getDefiningOp<tensor::ExtractOp>();
    if (!extract)
      return nullptr;
    DenseElementsAttr dense;
    if (!matchPattern(extract.getTensor(), m_Constant(&dense)))
      return nullptr;
    auto type = cast<RankedTensorType>(dense.getType());
    int64_t rank = type.getRank();
    if (rank < 2 || extract.getIndices()[rank - 2] != i ||
        extract.getIndices()[rank - 1] != j ||
        type.getDimSize(rank - 2) != qLen || type.getDimSize(rank - 1) != kvLen)
      return nullptr;
    for (int64_t d = 0; d + 2 < rank; ++d)
      if (type.getDimSize(d) != 1)
        return nullptr;
    if (qLen * kvLen > (int64_t(1) << 26))
      return nullptr;
    SmallVector<bool> allowed;
    allowed.reserve(qLen * kvLen);
    if (viaZero) {
      for (APFloat x : dense.getValues<APFloat>())
        allowed.push_back(x.isZero());
    } else if (type.getElementType().isInteger(1)) {
      for (bool x : dense.getValues<bool>())
        allowed.push_back(x);
    } else {
      return nullptr;
    }
    return foldDenseMask(ctx, allowed, qLen, kvLen);
  }

  Operation *pv;
  MLIRContext *ctx;
  Operation *firstNew = nullptr;
  /// findScores' answers, by chain value.
  llvm::DenseMap<Value, Value> scoresOf;
};

struct SparseAttnRaiseAttentionPass
    : public sparse_attn::impl::SparseAttnRaiseAttentionPassBase<
          SparseAttnRaiseAttentionPass> {
  /// StableHLO's primitive-ops form (linalg.map, linalg.reduce) as generics,
  /// where the matcher reads them: in what a contraction reads, when that
  /// holds a max reduction, a sum reduction and an exp (a softmax). The
  /// rest of the function keeps its named ops.
  void generalizeSoftmaxSlices() {
    SmallVector<Operation *> contractions;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (succeeded(matchContraction(op)))
        contractions.push_back(op);
    });
    llvm::SetVector<Operation *> toGeneralize;
    for (Operation *contraction : contractions) {
      SetVector<Operation *> slice;
      BackwardSliceOptions options;
      options.inclusive = false;
      options.omitUsesFromAbove = false;
      (void)getBackwardSlice(contraction, &slice, options);
      bool max = false, sum = false, exp = false;
      SmallVector<Operation *> named;
      for (Operation *op : slice) {
        if (auto reduce = dyn_cast<linalg::ReduceOp>(op)) {
          Operation *combiner = reduce.getCombiner()
                                    .front()
                                    .getTerminator()
                                    ->getOperand(0)
                                    .getDefiningOp();
          max |= combiner && isa<arith::MaximumFOp, arith::MaxNumFOp>(combiner);
          sum |= combiner && isa<arith::AddFOp>(combiner);
          named.push_back(op);
        } else if (auto map = dyn_cast<linalg::MapOp>(op)) {
          exp |= llvm::any_of(map.getMapper().front(),
                              [](Operation &o) { return isa<math::ExpOp>(o); });
          named.push_back(op);
        }
      }
      if (max && sum && exp)
        toGeneralize.insert(named.begin(), named.end());
    }
    IRRewriter rewriter(&getContext());
    for (Operation *op : toGeneralize) {
      rewriter.setInsertionPoint(op);
      (void)linalg::generalizeNamedOp(rewriter, cast<linalg::LinalgOp>(op));
    }
  }

  void runOnOperation() override {
    generalizeSoftmaxSlices();
    // Each raise erases ops, so the walk starts over after one; a
    // contraction that did not raise is not tried again.
    llvm::DenseSet<Operation *> tried;
    for (;;) {
      Operation *raised = nullptr;
      getOperation()->walk([&](linalg::LinalgOp op) {
        if (!tried.insert(op).second || failed(matchContraction(op)))
          return WalkResult::advance();
        if (succeeded(AttentionRaiser(op).run())) {
          raised = op;
          return WalkResult::interrupt();
        }
        return WalkResult::advance();
      });
      if (!raised)
        break;
      // Erased ops' addresses may be reused by new ones.
      tried.clear();
    }
  }
};

} // namespace
