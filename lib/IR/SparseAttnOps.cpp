//===- SparseAttnOps.cpp - sparse_attn operations ---------------*- C++ -*-===//
//
// Verifiers of the sparse_attn ops, and the block_mask folder.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/IR/SparseAttnOps.h"
#include "SparseAttn/IR/MaskUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace mlir::sparse_attn;

#include "SparseAttn/IR/SparseAttnOpInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Custom directives
//===----------------------------------------------------------------------===//

/// `mean` or `max`, as a bare keyword.
static ParseResult parsePoolKind(OpAsmParser &parser, PoolKindAttr &kind) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<PoolKind> value = symbolizePoolKind(keyword);
  if (!value)
    return parser.emitError(loc)
           << "expected pooling kind 'mean' or 'max', got '" << keyword << "'";
  kind = PoolKindAttr::get(parser.getContext(), *value);
  return success();
}

static void printPoolKind(OpAsmPrinter &printer, Operation *,
                          PoolKindAttr kind) {
  printer << stringifyPoolKind(kind.getValue());
}

#define GET_OP_CLASSES
#include "SparseAttn/IR/SparseAttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

/// Folding block_mask materializes constants; beyond this many index entries
/// the op is left for the runtime instead of bloating the IR.
static constexpr int64_t kMaxFoldedElements = int64_t(1) << 22;

std::optional<int64_t> sparse_attn::getStaticElementCount(ShapedType type) {
  int64_t elements = 1;
  for (int64_t dim : type.getShape()) {
    if (ShapedType::isDynamic(dim))
      continue;
    std::optional<int64_t> product = llvm::checkedMul(elements, dim);
    if (!product)
      return std::nullopt;
    elements = *product;
  }
  return elements;
}

/// The element count of a static shape, or nullopt when a dim is dynamic
/// or the product overflows int64.
static std::optional<int64_t> getCheckedNumElements(ShapedType type) {
  if (!type.hasStaticShape())
    return std::nullopt;
  return getStaticElementCount(type);
}

LogicalResult sparse_attn::detail::verifyBoundedShapes(Operation *op) {
  auto verifyType = [&](Type type) -> LogicalResult {
    auto shaped = dyn_cast<ShapedType>(type);
    if (!shaped || !shaped.hasRank() || getStaticElementCount(shaped))
      return success();
    return op->emitOpError()
           << "expects tensors of at most 2^63 - 1 elements, got " << type;
  };
  for (Type type : op->getOperandTypes())
    if (failed(verifyType(type)))
      return failure();
  for (Type type : op->getResultTypes())
    if (failed(verifyType(type)))
      return failure();
  return success();
}

static bool isDynamic(int64_t dim) { return ShapedType::isDynamic(dim); }

/// Two dims agree unless both are static and differ.
static bool dimsAgree(int64_t lhs, int64_t rhs) {
  return isDynamic(lhs) || isDynamic(rhs) || lhs == rhs;
}

/// The static one of two agreeing dims, if any.
static int64_t mergeDims(int64_t lhs, int64_t rhs) {
  return isDynamic(lhs) ? rhs : lhs;
}

static std::optional<int64_t> staticDim(int64_t dim) {
  if (isDynamic(dim))
    return std::nullopt;
  return dim;
}

static std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << '[';
  llvm::interleaveComma(shape, os, [&](int64_t dim) {
    if (isDynamic(dim))
      os << '?';
    else
      os << dim;
  });
  os << ']';
  return text;
}

static std::string formatTypes(TypeRange types) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(types, os);
  return text;
}

/// Checks that `type` has shape `expected` (dynamic entries agree with
/// anything) and element type `elementType`; `layout` names the dims.
static LogicalResult verifyShapedAs(Operation *op, StringRef name,
                                    ShapedType type, ArrayRef<int64_t> expected,
                                    Type elementType, StringRef layout) {
  bool matches =
      type.getRank() == static_cast<int64_t>(expected.size()) &&
      type.getElementType() == elementType &&
      llvm::all_of(llvm::zip_equal(type.getShape(), expected), [](auto dims) {
        return dimsAgree(std::get<0>(dims), std::get<1>(dims));
      });
  if (matches)
    return success();
  return op->emitOpError() << "expects " << name << " of shape " << layout
                           << " = " << formatShape(expected)
                           << " with element type " << elementType << ", got "
                           << type;
}

/// Checks that the dims at `dims` of `type` are static.
static LogicalResult verifyStaticDims(Operation *op, StringRef name,
                                      ShapedType type, ArrayRef<int64_t> dims,
                                      StringRef what) {
  for (int64_t dim : dims)
    if (type.isDynamicDim(dim))
      return op->emitOpError()
             << "expects static " << what << " in " << name << ", got " << type;
  return success();
}

static LogicalResult verifyScale(Operation *op, FloatAttr scale) {
  if (scale && !std::isfinite(scale.getValueAsDouble()))
    return op->emitOpError() << "expects a finite scale, got " << scale;
  return success();
}

static LogicalResult verifyLengthAttr(Operation *op, StringRef name,
                                      IntegerAttr length) {
  if (length && (length.getInt() < 1 || length.getInt() > kMaxSequenceLength))
    return op->emitOpError()
           << "expects " << name << " in [1, " << kMaxSequenceLength
           << "], got " << length.getInt();
  return success();
}

BlockSizes sparse_attn::getBlockSizes(ArrayAttr block) {
  return {cast<IntegerAttr>(block[0]).getInt(),
          cast<IntegerAttr>(block[1]).getInt()};
}

static FailureOr<std::pair<int64_t, int64_t>>
verifyBlockSizes(Operation *op, ArrayAttr block) {
  auto [blockQ, blockKv] = getBlockSizes(block);
  if (blockQ < 1 || blockKv < 1 || blockQ > kMaxSequenceLength ||
      blockKv > kMaxSequenceLength)
    return op->emitOpError()
           << "expects block sizes in [1, " << kMaxSequenceLength << "], got ["
           << blockQ << ", " << blockKv << "]";
  return std::make_pair(blockQ, blockKv);
}

/// Number of blocks of `blockSize` in a possibly dynamic `length`.
static int64_t numBlocks(int64_t length, int64_t blockSize) {
  return isDynamic(length) ? ShapedType::kDynamic : ceilDiv(length, blockSize);
}

//===----------------------------------------------------------------------===//
// Masks and segment ids
//===----------------------------------------------------------------------===//

LogicalResult mlir::sparse_attn::detail::verifyMaskedOp(Operation *op) {
  auto masked = cast<MaskedOpInterface>(op);
  bool hasQuerySegments = static_cast<bool>(masked.getSegmentIdsQ());
  bool hasKeySegments = static_cast<bool>(masked.getSegmentIdsKv());
  if (hasQuerySegments != hasKeySegments)
    return op->emitOpError()
           << "expects segment ids for both queries and keys, or neither";
  MaskAttrInterface mask = masked.getMaskAttr();
  bool readsSegments = mask && mask.usesSegmentIds();
  if (readsSegments && !hasQuerySegments)
    return op->emitOpError() << "mask " << mask
                             << " reads segment ids, but the op has no "
                                "segment_ids(...) operands";
  if (!readsSegments && hasQuerySegments)
    return op->emitOpError() << "has segment_ids(...) operands, but no "
                                "#sparse_attn.document mask reads them";
  return success();
}

/// Checks segment ids `[B, Sq]` and `[B, Skv]` (when present) and the mask
/// against the op's batch size and lengths.
static LogicalResult verifyMaskOperands(MaskedOpInterface op, int64_t batch,
                                        int64_t qLen, int64_t kvLen) {
  if (auto segQ = op.getSegmentIdsQ()) {
    Type i32 = IntegerType::get(op->getContext(), 32);
    if (failed(verifyShapedAs(op, "query segment ids", segQ.getType(),
                              {batch, qLen}, i32, "[B, Sq]")) ||
        failed(verifyShapedAs(op, "key segment ids",
                              op.getSegmentIdsKv().getType(), {batch, kvLen},
                              i32, "[B, Skv]")))
      return failure();
  }
  if (MaskAttrInterface mask = op.getMaskAttr())
    return mask.verifyLengths(staticDim(qLen), staticDim(kvLen),
                              [&] { return op->emitOpError(); });
  return success();
}

/// Resolves the sequence lengths of ops that take them as attributes:
/// `q_len`/`kv_len`, or the segment ids' dims. Returns dynamic dims when
/// neither gives a length.
static FailureOr<std::pair<int64_t, int64_t>>
resolveLengths(MaskedOpInterface op, IntegerAttr qLenAttr,
               IntegerAttr kvLenAttr) {
  if (failed(verifyLengthAttr(op, "q_len", qLenAttr)) ||
      failed(verifyLengthAttr(op, "kv_len", kvLenAttr)))
    return failure();
  int64_t qLen = qLenAttr ? qLenAttr.getInt() : ShapedType::kDynamic;
  int64_t kvLen = kvLenAttr ? kvLenAttr.getInt() : ShapedType::kDynamic;
  if (auto segQ = op.getSegmentIdsQ()) {
    int64_t segQLen = segQ.getType().getDimSize(1);
    int64_t segKvLen = op.getSegmentIdsKv().getType().getDimSize(1);
    if (!dimsAgree(qLen, segQLen) || !dimsAgree(kvLen, segKvLen))
      return op->emitOpError()
             << "expects q_len and kv_len to match the segment ids' lengths, "
                "got [q_len, kv_len] = "
             << formatShape({qLen, kvLen}) << " and segment ids of "
             << segQ.getType() << " and " << op.getSegmentIdsKv().getType();
    qLen = mergeDims(qLen, segQLen);
    kvLen = mergeDims(kvLen, segKvLen);
  }
  return std::make_pair(qLen, kvLen);
}

//===----------------------------------------------------------------------===//
// Attention ops
//===----------------------------------------------------------------------===//

namespace {
/// Dims of an attention op; batch and lengths may be dynamic.
struct AttentionDims {
  int64_t batch;
  int64_t queryHeads;
  int64_t kvHeads;
  int64_t queryLen;
  int64_t kvLen;
  int64_t headDim;
  int64_t valueDim;
};
} // namespace

static FailureOr<AttentionDims>
verifyQueryKeyValue(Operation *op, RankedTensorType query, RankedTensorType key,
                    RankedTensorType value, RankedTensorType output,
                    RankedTensorType lse, FloatAttr scale) {
  if (query.getElementType() != key.getElementType() ||
      query.getElementType() != value.getElementType())
    return op->emitOpError()
           << "expects query, key and value of one element type, got "
           << query.getElementType() << ", " << key.getElementType() << " and "
           << value.getElementType();
  if (failed(
          verifyStaticDims(op, "query", query, {1, 3}, "heads and head dim")) ||
      failed(verifyStaticDims(op, "key", key, {1, 3}, "heads and head dim")) ||
      failed(
          verifyStaticDims(op, "value", value, {1, 3}, "heads and head dim")))
    return failure();
  int64_t batch = query.getDimSize(0);
  if (!dimsAgree(batch, key.getDimSize(0)) ||
      !dimsAgree(batch, value.getDimSize(0)) ||
      !dimsAgree(key.getDimSize(0), value.getDimSize(0)))
    return op->emitOpError()
           << "expects query, key and value to share the batch size, got "
           << formatShape({query.getDimSize(0), key.getDimSize(0),
                           value.getDimSize(0)});
  batch = mergeDims(mergeDims(batch, key.getDimSize(0)), value.getDimSize(0));

  AttentionDims dims{batch,
                     query.getDimSize(1),
                     key.getDimSize(1),
                     query.getDimSize(2),
                     mergeDims(key.getDimSize(2), value.getDimSize(2)),
                     query.getDimSize(3),
                     value.getDimSize(3)};
  if (key.getDimSize(1) != value.getDimSize(1))
    return op->emitOpError()
           << "expects key and value to have the same number "
              "of heads, got "
           << key.getDimSize(1) << " and " << value.getDimSize(1);
  if (dims.kvHeads == 0 || dims.queryHeads % dims.kvHeads != 0)
    return op->emitOpError()
           << "expects query heads (" << dims.queryHeads
           << ") to be a multiple of key/value heads (" << dims.kvHeads << ")";
  if (dims.headDim != key.getDimSize(3))
    return op->emitOpError() << "expects query and key head dims to match, got "
                             << dims.headDim << " and " << key.getDimSize(3);
  if (!dimsAgree(key.getDimSize(2), value.getDimSize(2)))
    return op->emitOpError()
           << "expects key and value lengths to match, got "
           << key.getDimSize(2) << " and " << value.getDimSize(2);
  if (failed(verifyShapedAs(
          op, "output", output,
          {dims.batch, dims.queryHeads, dims.queryLen, dims.valueDim},
          query.getElementType(), "[B, Hq, Sq, Dv]")) ||
      failed(verifyShapedAs(
          op, "lse", lse, {dims.batch, dims.queryHeads, dims.queryLen},
          Float32Type::get(op->getContext()), "[B, Hq, Sq]")) ||
      failed(verifyScale(op, scale)))
    return failure();
  return dims;
}

/// verifyQueryKeyValue over the operands and results every attention op has.
template <typename AttentionOpTy>
static FailureOr<AttentionDims> verifyAttentionOperands(AttentionOpTy op) {
  return verifyQueryKeyValue(op, op.getQuery().getType(), op.getKey().getType(),
                             op.getValue().getType(), op.getOutput().getType(),
                             op.getLse().getType(), op.getScaleAttr());
}

/// Checks the signature of a `mask_mod` or `score_mod` region and its yield.
static LogicalResult verifyModRegion(Operation *op, Region &region,
                                     StringRef name, TypeRange argumentTypes,
                                     Type yieldType) {
  if (region.empty())
    return success();
  Block &block = region.front();
  if (TypeRange(block.getArgumentTypes()) != argumentTypes)
    return op->emitOpError() << name << " region expects arguments ("
                             << formatTypes(argumentTypes) << "), got ("
                             << formatTypes(block.getArgumentTypes()) << ")";
  auto yield =
      dyn_cast_or_null<YieldOp>(block.empty() ? nullptr : &block.back());
  if (!yield)
    return op->emitOpError() << name << " region must end in sparse_attn.yield";
  if (yield.getValues().size() != 1 ||
      yield.getValues().front().getType() != yieldType)
    return op->emitOpError()
           << name << " region must yield one " << yieldType << ", got ("
           << formatTypes(yield.getValues().getTypes()) << ")";
  return success();
}

static LogicalResult verifyModRegions(Operation *op, Region &maskMod,
                                      Region &scoreMod) {
  MLIRContext *context = op->getContext();
  Type index = IndexType::get(context);
  Type f32 = Float32Type::get(context);
  Type i1 = IntegerType::get(context, 1);
  return failure(
      failed(verifyModRegion(op, maskMod, "mask_mod",
                             {index, index, index, index}, i1)) ||
      failed(verifyModRegion(op, scoreMod, "score_mod",
                             {f32, index, index, index, index}, f32)));
}

LogicalResult AttentionOp::verify() {
  FailureOr<AttentionDims> dims = verifyAttentionOperands(*this);
  if (failed(dims))
    return failure();
  return verifyMaskOperands(*this, dims->batch, dims->queryLen, dims->kvLen);
}

LogicalResult AttentionOp::verifyRegions() {
  return verifyModRegions(*this, getMaskMod(), getScoreMod());
}

LogicalResult BlockSparseAttentionOp::verify() {
  FailureOr<AttentionDims> dims = verifyAttentionOperands(*this);
  if (failed(dims))
    return failure();
  FailureOr<std::pair<int64_t, int64_t>> blockSizes =
      verifyBlockSizes(*this, getBlock());
  if (failed(blockSizes))
    return failure();

  RankedTensorType numType = getNumBlocks().getType();
  RankedTensorType indicesType = getBlockIndices().getType();
  for (int64_t dim = 0; dim < 3; ++dim)
    if (!dimsAgree(numType.getDimSize(dim), indicesType.getDimSize(dim)))
      return emitOpError() << "expects num_blocks " << numType
                           << " to match the leading dims of block_indices "
                           << indicesType;
  if (static_cast<bool>(getFullNumBlocks()) !=
      static_cast<bool>(getFullBlockIndices()))
    return emitOpError()
           << "expects both full_num_blocks and full_block_indices, "
              "or neither";
  // The full lists are read at the same (list batch, list head, query block).
  if (getFullNumBlocks()) {
    RankedTensorType fullNumType = getFullNumBlocks().getType();
    RankedTensorType fullIndicesType = getFullBlockIndices().getType();
    for (int64_t dim = 0; dim < 3; ++dim)
      if (!dimsAgree(numType.getDimSize(dim), fullNumType.getDimSize(dim)) ||
          !dimsAgree(numType.getDimSize(dim), fullIndicesType.getDimSize(dim)))
        return emitOpError()
               << "expects full_num_blocks " << fullNumType
               << " and the leading dims of full_block_indices "
               << fullIndicesType << " to match num_blocks " << numType;
  }
  if (static_cast<bool>(getNumColumns()) !=
      static_cast<bool>(getColumnIndices()))
    return emitOpError()
           << "expects both num_columns and column_indices, or neither";
  // The columns are read at the same (list batch, list head, query block).
  if (getNumColumns()) {
    RankedTensorType columnNumType = getNumColumns().getType();
    RankedTensorType columnIndicesType = getColumnIndices().getType();
    for (int64_t dim = 0; dim < 3; ++dim)
      if (!dimsAgree(numType.getDimSize(dim), columnNumType.getDimSize(dim)) ||
          !dimsAgree(numType.getDimSize(dim),
                     columnIndicesType.getDimSize(dim)))
        return emitOpError()
               << "expects num_columns " << columnNumType
               << " and the leading dims of column_indices "
               << columnIndicesType << " to match num_blocks " << numType;
  }
  int64_t listBatch =
      mergeDims(numType.getDimSize(0), indicesType.getDimSize(0));
  if (!isDynamic(listBatch) && listBatch != 1 &&
      !dimsAgree(listBatch, dims->batch))
    return emitOpError() << "expects the block lists' batch dim to be 1 or the "
                            "batch size ("
                         << dims->batch << "), got " << listBatch;
  if (failed(verifyStaticDims(*this, "num_blocks", numType, {1}, "heads")) ||
      failed(
          verifyStaticDims(*this, "block_indices", indicesType, {1}, "heads")))
    return failure();
  int64_t listHeads = numType.getDimSize(1);
  if (listHeads != 1 && listHeads != dims->kvHeads &&
      listHeads != dims->queryHeads)
    return emitOpError() << "expects the block lists' head dim to be 1, Hkv ("
                         << dims->kvHeads << ") or Hq (" << dims->queryHeads
                         << "), got " << listHeads;
  int64_t queryBlocks = numBlocks(dims->queryLen, blockSizes->first);
  int64_t listQueryBlocks =
      mergeDims(numType.getDimSize(2), indicesType.getDimSize(2));
  if (!dimsAgree(queryBlocks, listQueryBlocks))
    return emitOpError() << "expects " << queryBlocks << " query blocks (ceil("
                         << dims->queryLen << " / " << blockSizes->first
                         << ")) in the block lists, got " << listQueryBlocks;
  return verifyMaskOperands(*this, dims->batch, dims->queryLen, dims->kvLen);
}

LogicalResult BlockSparseAttentionOp::verifyRegions() {
  return verifyModRegions(*this, getMaskMod(), getScoreMod());
}

LogicalResult TokenSparseAttentionOp::verify() {
  FailureOr<AttentionDims> dims = verifyAttentionOperands(*this);
  if (failed(dims))
    return failure();
  RankedTensorType indicesType = getTokenIndices().getType();
  return verifyShapedAs(
      *this, "token_indices", indicesType,
      {dims->batch, dims->queryLen, indicesType.getDimSize(2)},
      indicesType.getElementType(), "[B, Sq, n]");
}

//===----------------------------------------------------------------------===//
// BlockMaskOp
//===----------------------------------------------------------------------===//

LogicalResult BlockMaskOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> blockSizes =
      verifyBlockSizes(*this, getBlock());
  if (failed(blockSizes))
    return failure();
  FailureOr<std::pair<int64_t, int64_t>> lengths =
      resolveLengths(*this, getQLenAttr(), getKvLenAttr());
  if (failed(lengths))
    return failure();
  auto [qLen, kvLen] = *lengths;
  if (!getSegmentIdsQ() && (!getQLenAttr() || !getKvLenAttr()))
    return emitOpError() << "expects q_len and kv_len (or segment_ids whose "
                            "shapes give the lengths)";

  if (static_cast<bool>(getFullNumBlocks()) !=
      static_cast<bool>(getFullBlockIndices()))
    return emitOpError()
           << "expects both full_num_blocks and full_block_indices, "
              "or neither";
  RankedTensorType numType = getNumBlocks().getType();
  if (failed(verifyStaticDims(*this, "num_blocks", numType, {1}, "heads")))
    return failure();
  int64_t queryBlocks = numBlocks(qLen, blockSizes->first);
  int64_t kvBlocks = numBlocks(kvLen, blockSizes->second);
  Type i32 = IntegerType::get(getContext(), 32);
  SmallVector<int64_t> rows = {numType.getDimSize(0), numType.getDimSize(1),
                               queryBlocks};
  // Each pair of lists: [B, H, NQ] counts and [B, H, NQ, capacity] entries.
  auto verifyLists = [&](StringRef numName, Type countsType,
                         StringRef indicesName,
                         RankedTensorType indicesType) -> LogicalResult {
    SmallVector<int64_t> entries(rows);
    entries.push_back(indicesType.getDimSize(3));
    return failure(
        failed(verifyShapedAs(*this, numName,
                              cast<RankedTensorType>(countsType), rows, i32,
                              "[B, H, ceil(q_len / block_q)]")) ||
        failed(verifyShapedAs(*this, indicesName, indicesType, entries, i32,
                              "[B, H, ceil(q_len / block_q), capacity]")));
  };
  if (failed(verifyLists("num_blocks", numType, "block_indices",
                         getBlockIndices().getType())) ||
      (getFullNumBlocks() &&
       failed(verifyLists("full_num_blocks", getFullNumBlocks().getType(),
                          "full_block_indices",
                          getFullBlockIndices().getType()))) ||
      failed(verifyMaskOperands(*this, numType.getDimSize(0), qLen, kvLen)))
    return failure();

  // Each capacity must hold the longest list.
  MaskAttrInterface mask = getMaskAttr();
  // The lists are computed only when some capacity is static to check.
  bool staticCapacity =
      !isDynamic(getBlockIndices().getType().getDimSize(3)) ||
      (getFullBlockIndices() &&
       !isDynamic(getFullBlockIndices().getType().getDimSize(3)));
  std::optional<BlockLists> lists;
  if (staticCapacity && !(mask && mask.usesSegmentIds()) && !isDynamic(qLen) &&
      !isDynamic(kvLen)) {
    FailureOr<BlockLists> computed = computeBlockLists(
        mask, qLen, kvLen, blockSizes->first, blockSizes->second);
    if (succeeded(computed))
      lists = std::move(*computed);
  }
  auto verifyCapacity = [&](StringRef name, RankedTensorType indicesType,
                            int64_t needed) -> LogicalResult {
    int64_t capacity = indicesType.getDimSize(3);
    if (isDynamic(capacity))
      return success();
    if (mask && mask.usesSegmentIds()) {
      if (!isDynamic(kvBlocks) && capacity < kvBlocks)
        return emitOpError()
               << "expects a " << name << "capacity of at least " << kvBlocks
               << " (every kv block, since the mask reads segment "
                  "ids), got "
               << capacity;
      return success();
    }
    if (lists && capacity < needed)
      return emitOpError() << "expects a " << name << "capacity of at least "
                           << needed
                           << " (the most kv blocks a query block needs), got "
                           << capacity;
    return success();
  };
  if (!getFullNumBlocks())
    return verifyCapacity("", getBlockIndices().getType(),
                          lists ? lists->maxCount : 0);
  return failure(failed(verifyCapacity("", getBlockIndices().getType(),
                                       lists ? lists->maxPartialCount : 0)) ||
                 failed(verifyCapacity("full_block_indices ",
                                       getFullBlockIndices().getType(),
                                       lists ? lists->maxFullCount : 0)));
}

LogicalResult BlockMaskOp::fold(FoldAdaptor,
                                SmallVectorImpl<OpFoldResult> &results) {
  if (getSegmentIdsQ() || !getQLenAttr() || !getKvLenAttr())
    return failure();
  RankedTensorType numType = getNumBlocks().getType();
  bool withFull = static_cast<bool>(getFullNumBlocks());
  SmallVector<RankedTensorType> numTypes = {numType};
  SmallVector<RankedTensorType> indicesTypes = {getBlockIndices().getType()};
  if (withFull) {
    numTypes.push_back(getFullNumBlocks().getType());
    indicesTypes.push_back(getFullBlockIndices().getType());
  }
  // Folding materializes every element: only static shapes whose element
  // count is below the limit (computed without overflow: the dims of a
  // type may multiply past 2^63).
  for (RankedTensorType type : llvm::concat<RankedTensorType>(numTypes,
                                                              indicesTypes)) {
    std::optional<int64_t> elements = getCheckedNumElements(type);
    if (!elements || *elements > kMaxFoldedElements)
      return failure();
  }
  auto [blockQ, blockKv] = getBlockSizes();
  FailureOr<BlockLists> lists =
      computeBlockLists(getMaskAttr(), getQLenAttr().getInt(),
                        getKvLenAttr().getInt(), blockQ, blockKv);
  if (failed(lists) || lists->numQueryBlocks != numType.getDimSize(2))
    return failure();
  SmallVector<const SmallVector<SmallVector<int32_t>> *> perResult = {
      &lists->kvBlocks};
  SmallVector<int64_t> needed = {lists->maxCount};
  if (withFull) {
    perResult = {&lists->partialKvBlocks, &lists->fullKvBlocks};
    needed = {lists->maxPartialCount, lists->maxFullCount};
  }
  for (auto [indicesType, count] : llvm::zip_equal(indicesTypes, needed))
    if (count > indicesType.getDimSize(3))
      return failure();

  // The lists do not depend on batch or head: repeat them for every (b, h).
  int64_t numLists = numType.getDimSize(0) * numType.getDimSize(1);
  for (auto [countsType, indicesType, blockLists] :
       llvm::zip_equal(numTypes, indicesTypes, perResult)) {
    int64_t capacity = indicesType.getDimSize(3);
    SmallVector<int32_t> counts, indices;
    counts.reserve(numType.getNumElements());
    indices.reserve(indicesType.getNumElements());
    for (int64_t list = 0; list < numLists; ++list) {
      for (const SmallVector<int32_t> &blocks : *blockLists) {
        counts.push_back(static_cast<int32_t>(blocks.size()));
        llvm::append_range(indices, blocks);
        indices.append(capacity - blocks.size(), -1);
      }
    }
    results.push_back(DenseIntElementsAttr::get(countsType, counts));
    results.push_back(DenseIntElementsAttr::get(indicesType, indices));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Indexers
//===----------------------------------------------------------------------===//

LogicalResult PoolOp::verify() {
  int64_t block = getBlock();
  if (block < 1 || block > kMaxSequenceLength)
    return emitOpError() << "expects block in [1, " << kMaxSequenceLength
                         << "], got " << block;
  RankedTensorType inputType = getInput().getType();
  return verifyShapedAs(
      *this, "result", getResult().getType(),
      {inputType.getDimSize(0), inputType.getDimSize(1),
       numBlocks(inputType.getDimSize(2), block), inputType.getDimSize(3)},
      Float32Type::get(getContext()), "[B, H, ceil(S / block), D]");
}

/// The checks of a query-like and a key-like `[B, H, S, D]` operand that
/// are scored against each other (block_scores, vertical_slash): static
/// heads and head dims, one batch size, query heads a multiple of key heads,
/// equal head dims, a finite scale. Returns the batch size.
static FailureOr<int64_t> verifyQueryKeyPair(Operation *op, StringRef queryName,
                                             RankedTensorType queryType,
                                             StringRef keyName,
                                             RankedTensorType keyType,
                                             FloatAttr scale) {
  if (failed(verifyStaticDims(op, queryName, queryType, {1, 3},
                              "heads and head dim")) ||
      failed(
          verifyStaticDims(op, keyName, keyType, {1, 3}, "heads and head dim")))
    return failure();
  if (!dimsAgree(queryType.getDimSize(0), keyType.getDimSize(0)))
    return op->emitOpError()
           << "expects " << queryName << " and " << keyName
           << " to share the batch size, got " << queryType.getDimSize(0)
           << " and " << keyType.getDimSize(0);
  int64_t queryHeads = queryType.getDimSize(1), kvHeads = keyType.getDimSize(1);
  if (kvHeads == 0 || queryHeads % kvHeads != 0)
    return op->emitOpError()
           << "expects query heads (" << queryHeads
           << ") to be a multiple of key heads (" << kvHeads << ")";
  if (queryType.getDimSize(3) != keyType.getDimSize(3))
    return op->emitOpError()
           << "expects query and key head dims to match, got "
           << queryType.getDimSize(3) << " and " << keyType.getDimSize(3);
  if (failed(verifyScale(op, scale)))
    return failure();
  return mergeDims(queryType.getDimSize(0), keyType.getDimSize(0));
}

LogicalResult BlockScoresOp::verify() {
  RankedTensorType queryType = getQueryPooled().getType();
  // The element types may differ (bf16 queries against f32 pooled keys, as
  // in MoBA): the dot products accumulate in f32 either way.
  RankedTensorType keyType = getKeyPooled().getType();
  FailureOr<int64_t> batchOrFailure = verifyQueryKeyPair(
      *this, "query_pooled", queryType, "key_pooled", keyType, getScaleAttr());
  if (failed(batchOrFailure))
    return failure();
  int64_t batch = *batchOrFailure;
  int64_t queryHeads = queryType.getDimSize(1), kvHeads = keyType.getDimSize(1);

  FailureOr<std::pair<int64_t, int64_t>> blockSizes =
      verifyBlockSizes(*this, getBlock());
  if (failed(blockSizes))
    return failure();
  FailureOr<std::pair<int64_t, int64_t>> lengths =
      resolveLengths(*this, getQLenAttr(), getKvLenAttr());
  if (failed(lengths))
    return failure();
  auto [qLen, kvLen] = *lengths;
  if (getMaskAttr() && (isDynamic(qLen) || isDynamic(kvLen)) &&
      !getSegmentIdsQ())
    return emitOpError() << "expects q_len and kv_len when a mask is given";
  int64_t expectedQueryBlocks = numBlocks(qLen, blockSizes->first);
  int64_t expectedKvBlocks = numBlocks(kvLen, blockSizes->second);
  if (!dimsAgree(expectedQueryBlocks, queryType.getDimSize(2)) ||
      !dimsAgree(expectedKvBlocks, keyType.getDimSize(2)))
    return emitOpError()
           << "expects " << formatShape({expectedQueryBlocks, expectedKvBlocks})
           << " pooled query and key blocks for [q_len, kv_len] = "
           << formatShape({qLen, kvLen}) << " and block = " << getBlock()
           << ", got "
           << formatShape({queryType.getDimSize(2), keyType.getDimSize(2)});
  int64_t queryBlocks = mergeDims(expectedQueryBlocks, queryType.getDimSize(2));
  int64_t kvBlocks = mergeDims(expectedKvBlocks, keyType.getDimSize(2));

  RankedTensorType scoresType = getScores().getType();
  int64_t resultHeads = scoresType.getDimSize(1);
  if (resultHeads != queryHeads && resultHeads != kvHeads)
    return emitOpError() << "expects scores with Hq (" << queryHeads
                         << ") or Hkv (" << kvHeads << ") heads, got "
                         << scoresType;
  if (failed(verifyShapedAs(*this, "scores", scoresType,
                            {batch, resultHeads, queryBlocks, kvBlocks},
                            Float32Type::get(getContext()), "[B, H, NQ, NK]")))
    return failure();
  return verifyMaskOperands(*this, batch, qLen, kvLen);
}

/// The rules select_topk and select_threshold share: the counts (`k` named
/// `kName`), the result shapes and the capacity.
static LogicalResult verifySelectionCounts(Operation *op, StringRef kName,
                                           int64_t k, int64_t sink,
                                           int64_t local) {
  if (k < 1 || sink < 0 || local < 0 || k > kMaxSequenceLength ||
      sink > kMaxSequenceLength || local > kMaxSequenceLength)
    return op->emitOpError()
           << "expects 1 <= " << kName
           << " and 0 <= sink, local (all <= " << kMaxSequenceLength
           << "), got " << kName << " = " << k << ", sink = " << sink
           << ", local = " << local;
  return success();
}

static LogicalResult verifyMass(Operation *op, float mass) {
  if (!(mass > 0.0f && mass <= 1.0f))
    return op->emitOpError() << "expects 0 < mass <= 1, got " << mass;
  return success();
}

template <typename OpTy>
static LogicalResult verifyBlockSelection(OpTy op, StringRef kName, int64_t k) {
  int64_t sink = op.getSink(), local = op.getLocal();
  if (failed(verifySelectionCounts(op, kName, k, sink, local)))
    return failure();
  RankedTensorType scoresType = op.getScores().getType();
  RankedTensorType indicesType = op.getBlockIndices().getType();
  Type i32 = IntegerType::get(op.getContext(), 32);
  ArrayRef<int64_t> rows = scoresType.getShape().take_front(3);
  if (failed(verifyShapedAs(op, "num_blocks", op.getNumBlocks().getType(), rows,
                            i32, "[B, H, NQ]")) ||
      failed(
          verifyShapedAs(op, "block_indices", indicesType,
                         {rows[0], rows[1], rows[2], indicesType.getDimSize(3)},
                         i32, "[B, H, NQ, capacity]")))
    return failure();
  int64_t capacity = indicesType.getDimSize(3);
  if (!isDynamic(capacity) && capacity < k + sink + local)
    return op.emitOpError()
           << "expects a capacity of at least " << kName
           << " + sink + local = " << k + sink + local << ", got " << capacity;
  return success();
}

LogicalResult SelectTopKOp::verify() {
  return verifyBlockSelection(*this, "k", getK());
}

LogicalResult SelectThresholdOp::verify() {
  if (failed(verifyMass(*this, getMass().convertToFloat())))
    return failure();
  return verifyBlockSelection(*this, "max_blocks", getMaxBlocks());
}

/// The indexer's operands (`lightning_indexer`'s, and the fused token op's):
/// `qi [B, HI, Sq, DI]` and `ki [B, Skv, DI]` of one element type,
/// `w [B, Sq, HI]`, and `topk`; B, Sq and Skv (dynamic allowed) come from
/// the caller.
static LogicalResult verifyIndexerOperands(Operation *op,
                                           RankedTensorType queryType,
                                           RankedTensorType keyType,
                                           RankedTensorType weightsType,
                                           int64_t batch, int64_t qLen,
                                           int64_t kvLen, int64_t topk) {
  if (queryType.getElementType() != keyType.getElementType())
    return op->emitOpError()
           << "expects index_query and index_key of one element type, got "
           << queryType.getElementType() << " and " << keyType.getElementType();
  if (failed(verifyStaticDims(op, "index_query", queryType, {1, 3},
                              "heads and head dim")))
    return failure();
  int64_t heads = queryType.getDimSize(1), headDim = queryType.getDimSize(3);
  if (failed(verifyShapedAs(op, "index_query", queryType,
                            {batch, heads, qLen, headDim},
                            queryType.getElementType(), "[B, HI, Sq, DI]")) ||
      failed(verifyShapedAs(op, "index_key", keyType, {batch, kvLen, headDim},
                            queryType.getElementType(), "[B, Skv, DI]")) ||
      failed(verifyShapedAs(op, "weights", weightsType, {batch, qLen, heads},
                            weightsType.getElementType(), "[B, Sq, HI]")))
    return failure();
  if (topk < 1 || topk > kMaxSequenceLength)
    return op->emitOpError() << "expects topk in [1, " << kMaxSequenceLength
                             << "], got " << topk;
  return success();
}

LogicalResult LightningIndexerOp::verify() {
  RankedTensorType queryType = getIndexQuery().getType();
  RankedTensorType keyType = getIndexKey().getType();
  int64_t batch = queryType.getDimSize(0);
  if (!dimsAgree(batch, keyType.getDimSize(0)))
    return emitOpError() << "expects index_query and index_key to share the "
                            "batch size, got "
                         << batch << " and " << keyType.getDimSize(0);
  batch = mergeDims(batch, keyType.getDimSize(0));
  int64_t qLen = queryType.getDimSize(2), kvLen = keyType.getDimSize(1);
  int64_t topk = getTopk();
  if (failed(verifyIndexerOperands(*this, queryType, keyType,
                                   getWeights().getType(), batch, qLen, kvLen,
                                   topk)) ||
      failed(verifyShapedAs(*this, "token_indices", getTokenIndices().getType(),
                            {batch, qLen, topk},
                            IntegerType::get(getContext(), 32),
                            "[B, Sq, topk]")))
    return failure();
  return verifyMaskOperands(*this, batch, qLen, kvLen);
}

//===----------------------------------------------------------------------===//
// VerticalSlashOp
//===----------------------------------------------------------------------===//

int64_t VerticalSlashOp::blockCapacity(int64_t slash, int64_t kvLen,
                                       int64_t blockQ, int64_t blockKv) {
  // A diagonal crosses a query block's rows in at most block_q consecutive
  // keys: ceil(block_q / block_kv) + 1 kv blocks.
  int64_t perDiagonal = ceilDiv(blockQ, blockKv) + 1;
  int64_t diagonals = std::min(slash, kvLen);
  int64_t kvBlocks = ceilDiv(kvLen, blockKv);
  if (diagonals > kvBlocks / perDiagonal)
    return kvBlocks;
  return std::min(kvBlocks, diagonals * perDiagonal);
}

LogicalResult VerticalSlashOp::verify() {
  RankedTensorType queryType = getQuery().getType();
  RankedTensorType keyType = getKey().getType();
  if (queryType.getElementType() != keyType.getElementType())
    return emitOpError() << "expects query and key of one element type, got "
                         << queryType.getElementType() << " and "
                         << keyType.getElementType();
  FailureOr<int64_t> batchOrFailure = verifyQueryKeyPair(
      *this, "query", queryType, "key", keyType, getScaleAttr());
  if (failed(batchOrFailure))
    return failure();
  int64_t batch = *batchOrFailure;
  int64_t queryHeads = queryType.getDimSize(1);
  FailureOr<std::pair<int64_t, int64_t>> blockSizes =
      verifyBlockSizes(*this, getBlock());
  if (failed(blockSizes))
    return failure();
  int64_t lastQ = getLastQ(), vertical = getVertical(), slash = getSlash(),
          sink = getSink(), local = getLocal();
  auto inRange = [](int64_t x, int64_t lo) {
    return x >= lo && x <= kMaxSequenceLength;
  };
  if (!inRange(lastQ, 1) || !inRange(vertical, 1) || !inRange(slash, 1))
    return emitOpError() << "expects last_q, vertical and slash in [1, "
                         << kMaxSequenceLength << "], got " << lastQ << ", "
                         << vertical << " and " << slash;
  if (!inRange(sink, 0) || sink > vertical || !inRange(local, 0) ||
      local > slash)
    return emitOpError() << "expects 0 <= sink <= vertical and 0 <= local <= "
                            "slash, got sink = "
                         << sink << ", local = " << local;

  int64_t qLen = queryType.getDimSize(2), kvLen = keyType.getDimSize(2);
  int64_t queryBlocks = numBlocks(qLen, blockSizes->first);
  Type i32 = IntegerType::get(getContext(), 32);
  SmallVector<int64_t> rows = {batch, queryHeads, queryBlocks};
  auto verifyLists = [&](StringRef numName, RankedTensorType countsType,
                         StringRef indicesName, RankedTensorType indicesType,
                         int64_t needed) -> LogicalResult {
    SmallVector<int64_t> entries(rows);
    entries.push_back(indicesType.getDimSize(3));
    if (failed(verifyShapedAs(*this, numName, countsType, rows, i32,
                              "[B, Hq, ceil(Sq / block_q)]")) ||
        failed(verifyShapedAs(*this, indicesName, indicesType, entries, i32,
                              "[B, Hq, ceil(Sq / block_q), capacity]")))
      return failure();
    int64_t capacity = indicesType.getDimSize(3);
    if (!isDynamic(capacity) && !isDynamic(needed) && capacity < needed)
      return emitOpError() << "expects a " << indicesName
                           << " capacity of at least " << needed << ", got "
                           << capacity;
    return success();
  };
  int64_t blocksNeeded =
      isDynamic(kvLen)
          ? ShapedType::kDynamic
          : blockCapacity(slash, kvLen, blockSizes->first, blockSizes->second);
  int64_t columnsNeeded =
      isDynamic(kvLen) ? vertical : std::min(vertical, kvLen);
  return failure(failed(verifyLists(
                     "num_blocks", getNumBlocks().getType(), "block_indices",
                     getBlockIndices().getType(), blocksNeeded)) ||
                 failed(verifyLists(
                     "num_columns", getNumColumns().getType(), "column_indices",
                     getColumnIndices().getType(), columnsNeeded)));
}

//===----------------------------------------------------------------------===//
// Fused selection and attention
//===----------------------------------------------------------------------===//

/// A fused op takes no segment ids: its masks may not read them.
static LogicalResult verifyFusedMask(Operation *op, StringRef name,
                                     MaskAttrInterface mask, int64_t qLen,
                                     int64_t kvLen) {
  if (!mask)
    return success();
  if (mask.usesSegmentIds())
    return op->emitOpError() << "expects a " << name
                             << " that reads no segment ids, got " << mask;
  return mask.verifyLengths(staticDim(qLen), staticDim(kvLen),
                            [&] { return op->emitOpError(); });
}

LogicalResult FusedBlockSparseAttentionOp::verify() {
  FailureOr<AttentionDims> dims = verifyAttentionOperands(*this);
  if (failed(dims))
    return failure();
  FailureOr<std::pair<int64_t, int64_t>> blockSizes =
      verifyBlockSizes(*this, getBlock());
  if (failed(blockSizes))
    return failure();
  // The selector: top-k (k) or threshold (mass, max_blocks).
  if (static_cast<bool>(getKAttr()) == static_cast<bool>(getMassAttr()))
    return emitOpError() << "expects exactly one of k (top-k selection) and "
                            "mass (threshold selection)";
  if (static_cast<bool>(getMassAttr()) != static_cast<bool>(getMaxBlocksAttr()))
    return emitOpError() << "expects max_blocks with mass, and only with it";
  if (getMassAttr() &&
      failed(verifyMass(*this, getMassAttr().getValueAsDouble())))
    return failure();
  if (failed(verifySelectionCounts(*this, getKAttr() ? "k" : "max_blocks",
                                   getKAttr() ? getKAttr().getInt()
                                              : getMaxBlocksAttr().getInt(),
                                   getSink(), getLocal())))
    return failure();
  int64_t listHeads = getListHeads();
  if (listHeads != dims->queryHeads && listHeads != dims->kvHeads)
    return emitOpError() << "expects list_heads to be Hq (" << dims->queryHeads
                         << ") or Hkv (" << dims->kvHeads << "), got "
                         << listHeads;
  // The pooled operands: a row per query / kv block, one head dim.
  RankedTensorType queryPooled = getQueryPooled().getType();
  RankedTensorType keyPooled = getKeyPooled().getType();
  if (failed(verifyStaticDims(*this, "query_pooled", queryPooled, {3},
                              "head dim")))
    return failure();
  int64_t pooledDim = queryPooled.getDimSize(3);
  if (failed(verifyShapedAs(
          *this, "query_pooled", queryPooled,
          {dims->batch, dims->queryHeads,
           numBlocks(dims->queryLen, blockSizes->first), pooledDim},
          queryPooled.getElementType(), "[B, Hq, ceil(Sq / block_q), Dp]")) ||
      failed(verifyShapedAs(
          *this, "key_pooled", keyPooled,
          {dims->batch, dims->kvHeads,
           numBlocks(dims->kvLen, blockSizes->second), pooledDim},
          keyPooled.getElementType(), "[B, Hkv, ceil(Skv / block_kv), Dp]")) ||
      failed(verifyScale(*this, getScoreScaleAttr())))
    return failure();
  if (getScoreMaskAttr() &&
      (isDynamic(dims->queryLen) || isDynamic(dims->kvLen)))
    return emitOpError() << "expects static sequence lengths with a score_mask";
  if (failed(verifyFusedMask(*this, "mask", getMaskAttr(), dims->queryLen,
                             dims->kvLen)) ||
      failed(verifyFusedMask(*this, "score_mask", getScoreMaskAttr(),
                             dims->queryLen, dims->kvLen)))
    return failure();
  return success();
}

int64_t FusedBlockSparseAttentionOp::getListCapacity() {
  int64_t count =
      getKAttr() ? getKAttr().getInt() : getMaxBlocksAttr().getInt();
  return count + getSink() + getLocal();
}

std::pair<Value, Value>
FusedBlockSparseAttentionOp::buildUnfused(OpBuilder &builder) {
  Location loc = getLoc();
  MLIRContext *context = getContext();
  RankedTensorType queryPooled = getQueryPooled().getType();
  RankedTensorType keyPooled = getKeyPooled().getType();
  int64_t batch = queryPooled.getDimSize(0);
  int64_t queryBlocks = queryPooled.getDimSize(2);
  int64_t kvBlocks = keyPooled.getDimSize(2);
  int64_t queryLen = getQuery().getType().getDimSize(2);
  int64_t kvLen = getKey().getType().getDimSize(2);
  int64_t listHeads = getListHeads();
  auto lengthAttr = [&](int64_t length) -> IntegerAttr {
    return isDynamic(length) ? IntegerAttr()
                             : builder.getI64IntegerAttr(length);
  };
  auto scoresType = RankedTensorType::get(
      {batch, listHeads, queryBlocks, kvBlocks}, Float32Type::get(context));
  Value scores = BlockScoresOp::create(
      builder, loc, scoresType, getQueryPooled(), getKeyPooled(),
      /*segment_ids_q=*/Value(), /*segment_ids_kv=*/Value(), getScoreMaskAttr(),
      getBlock(), lengthAttr(queryLen), lengthAttr(kvLen), getScoreScaleAttr());
  Type i32 = IntegerType::get(context, 32);
  auto numType = RankedTensorType::get({batch, listHeads, queryBlocks}, i32);
  auto indicesType = RankedTensorType::get(
      {batch, listHeads, queryBlocks, getListCapacity()}, i32);
  Value num, indices;
  if (getKAttr()) {
    auto select =
        SelectTopKOp::create(builder, loc, numType, indicesType, scores,
                             getKAttr(), getSinkAttr(), getLocalAttr());
    num = select.getNumBlocks();
    indices = select.getBlockIndices();
  } else {
    auto select = SelectThresholdOp::create(
        builder, loc, numType, indicesType, scores, getMassAttr(),
        getMaxBlocksAttr(), getSinkAttr(), getLocalAttr());
    num = select.getNumBlocks();
    indices = select.getBlockIndices();
  }
  auto attention = BlockSparseAttentionOp::create(
      builder, loc, getOutput().getType(), getLse().getType(), getQuery(),
      getKey(), getValue(), num, indices, /*full_num_blocks=*/Value(),
      /*full_block_indices=*/Value(), /*num_columns=*/Value(),
      /*column_indices=*/Value(), /*segment_ids_q=*/Value(),
      /*segment_ids_kv=*/Value(), getBlock(), getMaskAttr(), getScaleAttr());
  return {attention.getOutput(), attention.getLse()};
}

LogicalResult FusedTokenSparseAttentionOp::verify() {
  FailureOr<AttentionDims> dims = verifyAttentionOperands(*this);
  if (failed(dims) ||
      failed(verifyIndexerOperands(*this, getIndexQuery().getType(),
                                   getIndexKey().getType(),
                                   getWeights().getType(), dims->batch,
                                   dims->queryLen, dims->kvLen, getTopk())))
    return failure();
  return verifyFusedMask(*this, "index_mask", getIndexMaskAttr(),
                         dims->queryLen, dims->kvLen);
}

std::pair<Value, Value>
FusedTokenSparseAttentionOp::buildUnfused(OpBuilder &builder) {
  Location loc = getLoc();
  RankedTensorType indexQuery = getIndexQuery().getType();
  auto listType = RankedTensorType::get({getQuery().getType().getDimSize(0),
                                         indexQuery.getDimSize(2),
                                         static_cast<int64_t>(getTopk())},
                                        IntegerType::get(getContext(), 32));
  Value tokens = LightningIndexerOp::create(
      builder, loc, listType, getIndexQuery(), getIndexKey(), getWeights(),
      /*segment_ids_q=*/Value(), /*segment_ids_kv=*/Value(), getTopkAttr(),
      getIndexMaskAttr());
  auto attention = TokenSparseAttentionOp::create(
      builder, loc, getOutput().getType(), getLse().getType(), getQuery(),
      getKey(), getValue(), tokens, getScaleAttr());
  return {attention.getOutput(), attention.getLse()};
}

void sparse_attn::unfuseSelection(
    Operation *root, function_ref<bool(Operation *)> keep,
    function_ref<void(Operation *, Operation *)> unfused) {
  SmallVector<Operation *> fused;
  root->walk([&](Operation *op) {
    if (isa<FusedBlockSparseAttentionOp, FusedTokenSparseAttentionOp>(op) &&
        !(keep && keep(op)))
      fused.push_back(op);
  });
  for (Operation *op : fused) {
    OpBuilder builder(op);
    auto [output, lse] =
        isa<FusedBlockSparseAttentionOp>(op)
            ? cast<FusedBlockSparseAttentionOp>(op).buildUnfused(builder)
            : cast<FusedTokenSparseAttentionOp>(op).buildUnfused(builder);
    if (unfused)
      unfused(op, output.getDefiningOp());
    op->getResult(0).replaceAllUsesWith(output);
    op->getResult(1).replaceAllUsesWith(lse);
    op->erase();
  }
}
