//===- RaiseAttentionMatch.cpp - the frontends' linalg, matched ----------===//
//
// sparse-attn-raise-attention's matchers: constants and elementwise
// generics, contractions and their operands' layouts (transposes, [B*H]
// collapses, GQA broadcasts), softmax in every form the frontends emit.
//
//===----------------------------------------------------------------------===//

#include "RaiseAttentionUtils.h"

#include "SparseAttn/IR/SparseAttnAttrs.h"
#include "SparseAttn/IR/SparseAttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <map>

using namespace mlir;
using namespace mlir::sparse_attn;

namespace mlir::sparse_attn::raise_attention {

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
      generic && generic.getNumDpsInputs() == 1)
    if (OpOperand *copied = getCopiedInput(generic))
      return getFloatConstant(copied->get());
  return std::nullopt;
}

bool isMaskingValue(Value value) {
  std::optional<double> constant = getFloatConstant(value);
  return constant && isMaskingConstant(*constant);
}

OpOperand *getCopiedInput(linalg::GenericOp op) {
  if (op->getNumResults() != 1)
    return nullptr;
  Block &body = op.getRegion().front();
  auto arg = dyn_cast<BlockArgument>(
      cast<linalg::YieldOp>(body.getTerminator()).getOperand(0));
  if (!arg || arg.getOwner() != &body ||
      arg.getArgNumber() >= op.getNumDpsInputs())
    return nullptr;
  return op.getDpsInputOperand(arg.getArgNumber());
}

SmallVector<ReassociationIndices> getHeadsFolding(int64_t rank) {
  if (rank == 3)
    return {{0, 1}, {2}, {3}};
  return {{0, 1, 2}, {3}};
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

/// Looks through elementwise extf (and unless `widenOnly`, truncf)
/// generics: casts around softmax and the matmuls.
Value skipCasts(Value value, bool widenOnly) {
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
  result.batchLoops.assign(dims->batch.begin(), dims->batch.end());
  result.free[0] = dims->m[0];
  result.free[1] = dims->n[0];
  result.k = dims->k[0];
  FailureOr<OperandView> out = getOperandView(op, op.getDpsInitOperand(0));
  FailureOr<OperandView> lhs = getOperandView(op, op.getDpsInputOperand(0));
  FailureOr<OperandView> rhs = getOperandView(op, op.getDpsInputOperand(1));
  if (failed(out) || failed(lhs) || failed(rhs) ||
      out->loopDims.size() != result.batchLoops.size() + 2)
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
                          OpBuilder *builder) {
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
  return tensor::ExpandShapeOp::create(
      builder, loc, RankedTensorType::get(shape, type.getElementType()), value,
      getHeadsFolding(type.getRank()));
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
  if (!generic || !isElementwise(generic) || generic.getNumDpsInputs() != 1 ||
      !getCopiedInput(generic))
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
/// broadcast along the trailing dims, the kept unit dim of keepdim; all the
/// dims: the identity).
bool isLeadingDimsMap(AffineMap map) {
  ArrayRef<AffineExpr> results = map.getResults();
  MLIRContext *ctx = map.getContext();
  if (!results.empty() && results.back() == getAffineConstantExpr(0, ctx))
    results = results.drop_back();
  for (auto [i, expr] : llvm::enumerate(results))
    if (expr != getAffineDimExpr(i, ctx))
      return false;
  return true;
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
    if (OpOperand *copied = getCopiedInput(generic)) {
      if (!isLeadingDimsMap(generic.getMatchingIndexingMap(copied)))
        return nullptr;
      next = copied->get();
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
  if (!isLeadingDimsMap(map))
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
    if (generic.getNumReductionLoops() == 0) {
      if (!getCopiedInput(generic))
        return nullptr;
      rows = generic.getDpsInputs()[0];
      continue;
    }
    Block &body = generic.getRegion().front();
    Value yielded = cast<linalg::YieldOp>(body.getTerminator()).getOperand(0);
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
      if (Value zero = getInputOf(select, op.getTrueValue());
          isZero(zero ? zero : op.getTrueValue()))
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

} // namespace mlir::sparse_attn::raise_attention
