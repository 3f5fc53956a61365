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

#include "RaiseAttentionUtils.h"
#include "SparseAttn/Utils/IndexArith.h"

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
using namespace mlir::sparse_attn::raise_attention;

namespace {
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
      size_t numBatch = pvc.batchLoops.size();
      if (view.loopDims.size() != numBatch + 2 ||
          view.loopDims.back() != static_cast<int64_t>(pvc.k) ||
          view.loopDims[numBatch] != static_cast<int64_t>(pvc.free[c]))
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
    for (size_t d = 0; d < pvc.batchLoops.size(); ++d)
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
    if (pvType.getRank() < 4)
      result = tensor::CollapseShapeOp::create(
          builder, loc, result, getHeadsFolding(pvType.getRank()));
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
      Value in = getIdentityInput(generic, op->getOperand(data));
      if (!in || in.getType() != view.tensor.getType())
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
                 linalg::YieldOp::create(b, l,
                                         castFloat(b, l, args[0], element));
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
    llvm::scope_exit deleteBlock([&] {
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
      IndexArith ia(builder, loc);
      indices = {ia.add(ia.mul(b, hq), h), i, j};
    } else {
      indices = {i, j};
    }
    FailureOr<Value> element =
        rematerialize(builder, loc, scores, leaf, indices, softmaxInput);
    if (failed(element) || !isa<FloatType>(element->getType()))
      return failure();
    Value f = *element;

    // Outer masks: select(p, x, -inf), select(p, -inf, x), x + (0 | -inf).
    SmallVector<Value> terms;
    auto negate = [&](Value predicate) -> Value {
      return arith::XOrIOp::create(builder, loc, predicate,
                                   IndexArith(builder, loc).boolean(true));
    };
    for (;;) {
      if (auto select = f.getDefiningOp<arith::SelectOp>()) {
        if (isMaskingValue(select.getFalseValue())) {
          terms.push_back(select.getCondition());
          f = select.getTrueValue();
          continue;
        }
        if (isMaskingValue(select.getTrueValue())) {
          terms.push_back(negate(select.getCondition()));
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
              term = negate(select.getCondition());
          } else if (auto extract =
                         maskValue.getDefiningOp<tensor::ExtractOp>()) {
            // A dense constant of 0 and -inf.
            DenseFPElementsAttr dense;
            if (matchPattern(extract.getTensor(), m_Constant(&dense)) &&
                llvm::all_of(dense.getValues<APFloat>(), [](APFloat x) {
                  return x.isZero() || isMaskingConstant(x.convertToDouble());
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
      std::optional<Band> band = getBand(term, i, j);
      if (band && !band->upper && !band->lower && !band->sink)
        continue;
      if (Attribute mask = getStructuralMask(term, band, i, j, qLen, kvLen))
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

  /// The structural mask a term (whose band is `band`) is, or null.
  Attribute getStructuralMask(Value term, const std::optional<Band> &band,
                              Value i, Value j, int64_t qLen, int64_t kvLen) {
    if (band)
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
