//===- LoweringBuilder.h - IR building of sparse_attn lowerings -*- C++ -*-===//
//
// The builder every lowering of sparse_attn uses at an op's position:
// constants, run-time extents, shape checks (cf.assert), linalg.generic,
// and the pieces of attention all of them share.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_UTILS_LOWERINGBUILDER_H
#define SPARSE_ATTN_UTILS_LOWERINGBUILDER_H

#include "SparseAttn/Utils/IndexArith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <string>

namespace mlir::sparse_attn {

constexpr utils::IteratorType kPar = utils::IteratorType::parallel;
constexpr utils::IteratorType kRed = utils::IteratorType::reduction;

/// Builds the lowered IR of one op: constants, dims, run-time shape checks,
/// linalg.generic and scf loops at the op's position.
class LoweringBuilder : public IndexArith {
public:
  LoweringBuilder(OpBuilder &builder, Operation *op, bool runtimeChecks)
      : IndexArith(builder, op->getLoc()), op(op),
        runtimeChecks(runtimeChecks) {}

  Operation *op;
  bool runtimeChecks;

  MLIRContext *ctx() { return builder.getContext(); }
  Type f32() { return builder.getF32Type(); }
  Type i32() { return builder.getI32Type(); }
  Type i1() { return builder.getI1Type(); }

  Value f32Const(double value) {
    return arith::ConstantOp::create(builder, loc,
                                     builder.getF32FloatAttr(value));
  }
  Value negInf() { return f32Const(-INFINITY); }
  Value i32Const(int32_t value) {
    return arith::ConstantIntOp::create(builder, loc, value, 32);
  }

  /// Extent `d` of `tensor` as an index value (a constant when static).
  Value dim(Value tensor, int64_t d) {
    auto type = cast<RankedTensorType>(tensor.getType());
    if (!type.isDynamicDim(d))
      return index(type.getDimSize(d));
    return tensor::DimOp::create(builder, loc, tensor, d);
  }

  Value ceilDiv(Value x, int64_t divisor) {
    return arith::CeilDivSIOp::create(builder, loc, x, index(divisor));
  }

  /// `what` of the op as the message of a failed run-time check.
  std::string message(const Twine &what) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << op->getName();
    if (auto fileLoc = dyn_cast<FileLineColLoc>(loc))
      os << " at " << fileLoc.getFilename().getValue() << ":"
         << fileLoc.getLine() << ":" << fileLoc.getColumn();
    os << ": " << what;
    return text;
  }

  /// Asserts at run time; constant-true checks fold away.
  void check(Value condition, const Twine &what) {
    if (!runtimeChecks)
      return;
    if (std::optional<int64_t> value = getConstantIntValue(condition);
        value && *value)
      return;
    cf::AssertOp::create(builder, loc, condition, message(what));
  }

  /// One extent from several places that must agree: the first static one
  /// (or the first), with run-time checks that the others equal it.
  Value commonDim(ArrayRef<std::pair<Value, int64_t>> places,
                  const Twine &what) {
    size_t chosenPlace = 0;
    for (auto [position, place] : llvm::enumerate(places))
      if (!cast<RankedTensorType>(place.first.getType())
               .isDynamicDim(place.second)) {
        chosenPlace = position;
        break;
      }
    Value chosen = dim(places[chosenPlace].first, places[chosenPlace].second);
    for (auto [position, place] : llvm::enumerate(places)) {
      auto [tensor, d] = place;
      if (position == chosenPlace || (tensor == places[chosenPlace].first &&
                                      d == places[chosenPlace].second))
        continue;
      Value other = dim(tensor, d);
      if (getConstantIntValue(other) && getConstantIntValue(chosen))
        continue;
      check(arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq, other,
                                  chosen),
            what);
    }
    return chosen;
  }

  void checkEq(Value x, Value y, const Twine &what) {
    check(arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq, x, y),
          what);
  }

  Value empty(ArrayRef<Value> sizes, Type elementType) {
    SmallVector<OpFoldResult> foldedSizes;
    for (Value size : sizes)
      foldedSizes.push_back(getAsOpFoldResult(size));
    return tensor::EmptyOp::create(builder, loc, foldedSizes, elementType);
  }

  Value fill(Value value, Value tensor) {
    return linalg::FillOp::create(builder, loc, ValueRange{value},
                                  ValueRange{tensor})
        .getResult(0);
  }

  Value filled(ArrayRef<Value> sizes, Value value) {
    return fill(value, empty(sizes, value.getType()));
  }

  /// The entries of `sizes` at `type`'s dynamic dims, with checks that the
  /// others match its static extents.
  SmallVector<Value> dynamicSizesOf(ShapedType type, ArrayRef<Value> sizes,
                                    const Twine &what) {
    SmallVector<Value> dynamicSizes;
    for (auto [d, size] : llvm::enumerate(sizes)) {
      if (type.isDynamicDim(d))
        dynamicSizes.push_back(size);
      else
        checkEq(size, index(type.getDimSize(d)), what + " dim " + Twine(d));
    }
    return dynamicSizes;
  }

  /// A tensor of `type` whose dynamic extents are taken from `sizes`, with
  /// checks that `sizes` match the static ones.
  Value emptyOfType(RankedTensorType type, ArrayRef<Value> sizes,
                    const Twine &what) {
    return tensor::EmptyOp::create(builder, loc, type,
                                   dynamicSizesOf(type, sizes, what));
  }

  /// A buffer (identity layout) of `type`'s shape and element type, its
  /// extents checked as emptyOfType's.
  Value allocOfType(RankedTensorType type, ArrayRef<Value> sizes,
                    const Twine &what) {
    return memref::AllocOp::create(
        builder, loc, MemRefType::get(type.getShape(), type.getElementType()),
        dynamicSizesOf(type, sizes, what));
  }

  /// `tensor` cast to `type` (same element type, possibly more static
  /// extents), with checks that the extents agree.
  Value castTo(Value tensor, RankedTensorType type, const Twine &what) {
    if (tensor.getType() == type)
      return tensor;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (!type.isDynamicDim(d))
        checkEq(dim(tensor, d), index(type.getDimSize(d)),
                what + " dim " + Twine(d));
    return tensor::CastOp::create(builder, loc, type, tensor);
  }

  AffineMap map(unsigned numDims, ArrayRef<AffineExpr> results) {
    return AffineMap::get(numDims, 0, results, ctx());
  }
  AffineExpr d(unsigned position) { return getAffineDimExpr(position, ctx()); }
  AffineExpr c(int64_t value) { return getAffineConstantExpr(value, ctx()); }

  /// One linalg.generic with one result.
  Value generic(ValueRange inputs, ArrayRef<AffineMap> inputMaps, Value init,
                AffineMap initMap, ArrayRef<utils::IteratorType> iterators,
                function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
    SmallVector<AffineMap> maps(inputMaps);
    maps.push_back(initMap);
    auto generic = linalg::GenericOp::create(
        builder, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
        iterators, [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
          Value result = body(nested, nestedLoc, args);
          linalg::YieldOp::create(nested, nestedLoc, result);
        });
    return generic.getResult(0);
  }

  Value toF32(OpBuilder &nested, Location nestedLoc, Value value) {
    if (value.getType().isF32())
      return value;
    return arith::ExtFOp::create(nested, nestedLoc, nested.getF32Type(), value);
  }

  /// `toF32(lhs) * toF32(rhs)`, widening lhs first (IR order must not
  /// depend on argument evaluation order).
  Value mulF32(OpBuilder &nested, Location nestedLoc, Value lhs, Value rhs) {
    Value wideLhs = toF32(nested, nestedLoc, lhs);
    Value wideRhs = toF32(nested, nestedLoc, rhs);
    return arith::MulFOp::create(nested, nestedLoc, wideLhs, wideRhs);
  }
};

/// Loop induction values of the enclosing linalg.generic.
SmallVector<Value> loopIndices(OpBuilder &builder, Location loc,
                               unsigned count);

/// `cond ? thenValues : elseValues` as an scf.if whose branches are built
/// lazily, so a branch's reads happen only when it is taken.
ValueRange buildIf(OpBuilder &builder, Location loc, TypeRange types,
                   Value cond,
                   function_ref<SmallVector<Value>(OpBuilder &)> thenFn,
                   function_ref<SmallVector<Value>(OpBuilder &)> elseFn);

/// Row statistics of masked scores `t [B, H, R, N]` (-inf where not
/// allowed; rows of `rowSizes` = [B, H, R]): the unnormalized
/// probabilities `exp(t - m)` (0 on empty rows), the row max `m` and the
/// sum `l`.
struct SoftmaxParts {
  Value probabilities, rowMax, rowSum;
};
SoftmaxParts buildSoftmax(LoweringBuilder &emit, Value scores,
                          ArrayRef<Value> rowSizes);

/// Writes, in order, the entries `candidate(at, i)` keeps for i in [0,
/// count) into the 1-D `indicesRow` (as many as fit; i32) and how many it
/// kept (all of them, fitting or not) into `numRow` (tensor<1xi32>): a
/// row's scan of a block_mask / vertical_slash list. `candidate` returns
/// (keep, entry).
std::pair<Value, Value> buildCompactingScan(
    IndexArith &at, Value count, Value numRow, Value indicesRow,
    function_ref<std::pair<Value, Value>(IndexArith &, Value)> candidate);

/// One scf.forall iteration per row `ivs` in `bounds` (so rows become GPU
/// threads or blocks, and run in parallel on the CPU too). Each init has
/// either one dim per bound (the body gets the row's element as a
/// tensor<1xT>) or one more (the body gets the row as a 1-D tensor); the body
/// returns the rows' new values, which are written back in place.
SmallVector<Value>
buildRowForall(OpBuilder &builder, Location loc, ValueRange bounds,
               ValueRange inits,
               function_ref<SmallVector<Value>(OpBuilder &, Location,
                                               ValueRange, ValueRange)>
                   body);

/// Clones the single block of a mask_mod/score_mod region at `builder`, with
/// its arguments bound to `arguments`; returns the yielded value. With
/// `buffers` (outer tensor -> a memref of its contents), a `tensor.extract`
/// from such a tensor becomes a `memref.load` from its buffer: how a kernel
/// body reads an ALiBi slope table or a bias the region captured (see
/// `readsOuterTensorsOnlyByExtract`).
Value inlineModRegion(OpBuilder &builder, Region &region, ValueRange arguments,
                      const llvm::DenseMap<Value, Value> *buffers = nullptr);

/// The tensors defined outside `region` that it reads; fails if one is used
/// by anything but as the source of a `tensor.extract`.
FailureOr<SmallVector<Value>> getOuterTensorsReadByExtract(Region &region);

/// The scale attribute, or 1/sqrt(D) rounded to f32.
double getScaleValue(FloatAttr scale, int64_t headDim);

/// vertical_slash's list capacities (the lists' last dims, or when
/// dynamic NK and min(vertical, Skv)), with run-time checks that they hold
/// its longest lists (the verifier checks them when the key length is
/// static): `min(NK, min(slash, Skv) * (ceil(block_q / block_kv) + 1))`
/// blocks and `min(vertical, Skv)` columns. Returns {blocks, columns}.
std::pair<Value, Value> getVerticalSlashCapacities(
    LoweringBuilder &emit, RankedTensorType blockIndicesType,
    RankedTensorType columnIndicesType, int64_t vertical, int64_t slash,
    int64_t blockQ, int64_t blockKv, Value kvLen, Value kvBlocks);

/// What decides the score of one (query, key) pair of an attention op.
struct PairScoreRules {
  Attribute mask;
  Value segmentIdsQ, segmentIdsKv;
  Region *maskMod = nullptr;
  Region *scoreMod = nullptr;
  double scale = 1.0;
  /// Buffers of the outer tensors the mods read (kernel bodies; empty on
  /// tensors, where the mods read them directly).
  llvm::DenseMap<Value, Value> capturedBuffers{};
};

/// The score and the allowed flag of one pair, as every attention lowering
/// computes them inside its masking generic: allowed = (mask && mask_mod &&
/// `extraAllowed`) || `forcedAllowed`, score = allowed ? score_mod(scale *
/// dot) : -inf. `extraAllowed` (block membership, in-bounds rows) and
/// `forcedAllowed` (a full block's in-bounds pairs, which skip the mask and
/// mask_mod) are built after the mods and may be null. `row` and `col` are
/// the raw rows the mask and the mods see; `segmentIds`, when not empty, the
/// pair's segment ids already read (q, kv). Fails for a mask
/// buildMaskPredicate cannot lower.
FailureOr<std::pair<Value, Value>> buildPairScore(
    OpBuilder &builder, Location loc, const PairScoreRules &rules, Value dot,
    Value batch, Value head, Value row, Value col, Value queryLen, Value kvLen,
    function_ref<Value(OpBuilder &, Location)> extraAllowed,
    function_ref<Value(OpBuilder &, Location)> forcedAllowed = nullptr,
    ArrayRef<Value> segmentIds = {});

/// Ends a masking linalg.generic's body: yields `scored` (score, allowed),
/// or when it failed the body's own arguments `unchanged`, setting `sawFailure`.
void yieldPairScore(OpBuilder &builder, Location loc,
                    FailureOr<std::pair<Value, Value>> scored,
                    ValueRange unchanged, bool &sawFailure);

/// exp(score - rowMax); 0 on a row with no finite maximum yet (rowMax = -inf).
Value buildShiftedExp(OpBuilder &builder, Location loc, Value score,
                      Value rowMax);

/// acc + probability * value when the pair is allowed, else acc (a key
/// outside the allowed set never contributes, even a NaN).
Value buildAllowedAccumulate(OpBuilder &builder, Location loc,
                             Value probability, Value allowed, Value value,
                             Value acc);

/// acc / rowSum rounded to `outElement`; 0 on an empty row.
Value buildNormalizedOutput(OpBuilder &builder, Location loc, Value acc,
                            Value rowMax, Value rowSum, Type outElement);

/// rowMax + log(rowSum); -inf on an empty row.
Value buildLogSumExp(OpBuilder &builder, Location loc, Value rowMax,
                     Value rowSum);

/// Lengths a block_mask/block_scores analyzes: the attributes, or the
/// segment ids' extents when it has them (checked to agree with the
/// attributes).
std::pair<Value, Value> getBlockMaskLengths(LoweringBuilder &emit,
                                            IntegerAttr qLenAttr,
                                            IntegerAttr kvLenAttr,
                                            Value segmentIdsQ,
                                            Value segmentIdsKv);

/// A lightning_indexer's batch, query and key lengths, from every operand
/// that holds them (`idsQ`/`idsKv` may be null), checked to agree at run
/// time.
struct IndexerLengths {
  Value batch, queryLen, kvLen;
};
IndexerLengths getIndexerLengths(LoweringBuilder &emit, Value query,
                                 Value key, Value weights, Value idsQ,
                                 Value idsKv);

/// The list batch of a block_mask's results of type `numType`: its static
/// extent (checked against the segment ids' batch when it has them) or the
/// segment ids' batch.
Value getBlockMaskListBatch(LoweringBuilder &emit, RankedTensorType numType,
                            Value segmentIdsQ);

/// Extents of an attention op, read at run time.
struct AttentionShape {
  Value batch, queryLen, kvLen;
  int64_t queryHeads, kvHeads, headDim, valueDim;
  int64_t groupSize() const { return queryHeads / kvHeads; }
};

/// The full lists (or the columns) of a block_sparse_attention are read at
/// the first pair's list batch and head: checks at run time that their
/// batch is the first pair's, that they have `queryBlocks` query blocks,
/// and that counts and entries agree.
void checkFullListShapes(LoweringBuilder &emit, Value numBlocks,
                         Value fullNumBlocks, Value fullBlockIndices,
                         Value queryBlocks,
                         StringRef numName = "full_num_blocks",
                         StringRef indicesName = "full_block_indices");

/// Reads the extents of q, k, v (and segment ids), checking at run time
/// that the ones which must agree do.
AttentionShape getAttentionShape(LoweringBuilder &emit, Value query, Value key,
                                 Value value, Value segmentIdsQ,
                                 Value segmentIdsKv);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_UTILS_LOWERINGBUILDER_H
