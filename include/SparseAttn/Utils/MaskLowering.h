//===- MaskLowering.h - how each mask attribute lowers ----------*- C++ -*-===//
//
// The mask lowering interface (MaskLoweringInterface.td), the values its
// methods exchange, and entry points that also accept a null mask (every
// pair allowed). Lowerings ask masks through these, never by kind.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_UTILS_MASKLOWERING_H
#define SPARSE_ATTN_UTILS_MASKLOWERING_H

#include "SparseAttn/Utils/IndexArith.h"

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"

#include <optional>

namespace mlir {
class DialectRegistry;
namespace sparse_attn {
class LoweringBuilder;

/// The values a mask reads for one pair; all `index` typed except the
/// segment ids (`BxSxi32` tensors, or memrefs in a kernel; null when the op
/// has none). `segmentQ` and `segmentKv`, when set, are the pair's ids
/// already read (a kernel reads each row's and each key's once per tile);
/// otherwise a mask reads them from the segment ids.
struct MaskPairValues {
  Value batch;
  Value queryRow;
  Value keyRow;
  Value queryLen;
  Value kvLen;
  Value segmentIdsQ;
  Value segmentIdsKv;
  Value segmentQ = nullptr;
  Value segmentKv = nullptr;
};

/// What a kernel knows of the segment ids for the tile-level questions
/// (`index` values; `sorted` an i1): whether the batch's key ids are
/// non-decreasing, the least and greatest id of the query rows in question
/// (or of more rows), for key hulls the keys `[keyLo, keyHi)` that hold
/// every key whose id lies in `[queryMin, queryMax]` when the ids are
/// sorted, and for a kv tile the ids of its first and last key (clamped to
/// the keys). Unset members are not known.
struct SegmentBounds {
  Value sorted;
  Value queryMin, queryMax;
  Value keyLo, keyHi;
  Value firstKeyId, lastKeyId;
};

/// The keys `[lo, hi)` a range of query rows may see and, when `prefixEnd`
/// is set, the keys `[0, prefixEnd)` too (a sink before a window).
struct KeyHull {
  Value lo, hi;
  Value prefixEnd = nullptr;
};

/// A tile of pairs: query positions (bottom-right aligned) in
/// `[firstPosition, lastPosition]`, keys in `[firstKey, lastKey]`.
struct TileBounds {
  Value firstPosition, lastPosition, firstKey, lastKey;
  const SegmentBounds *segments = nullptr;
};

/// The keys `[p - left, p + right]` of the row at position `p`.
struct RowKeyInterval {
  int64_t left, right;
};

} // namespace sparse_attn
} // namespace mlir

#include "SparseAttn/Utils/MaskLoweringInterface.h.inc"

namespace mlir::sparse_attn {

/// Attaches the lowering model of every mask attribute of the dialect.
void registerMaskLoweringInterfaceExternalModels(DialectRegistry &registry);

/// Whether `mask` and every element of it has a lowering model (true for a
/// null mask). Lowerings check this before asking the questions below.
bool hasMaskLowering(Attribute mask);

/// Whether `mask` allows the pair (an i1), following docs/semantics.md. A
/// null mask allows every pair. Fails for a mask without a lowering or one
/// that reads segment ids `pair` lacks.
FailureOr<Value> buildMaskPredicate(OpBuilder &builder, Location loc,
                                    Attribute mask, const MaskPairValues &pair);

/// The keys a query at a position in `[firstPosition, lastPosition]` may see
/// (`[0, kvLen)` for a null mask), before clamping to `[0, kvLen)`, as one
/// range; `segments` (may be null) narrows a document's.
KeyHull buildKeyHull(IndexArith &arith, Attribute mask, Value firstPosition,
                     Value lastPosition, Value kvLen,
                     const SegmentBounds *segments = nullptr);

/// As buildKeyHull, but a mask with a sink may answer a range and a prefix
/// (`prefixEnd` set), for walks that can visit the two apart.
KeyHull buildKeyRanges(IndexArith &arith, Attribute mask, Value firstPosition,
                       Value lastPosition, Value kvLen,
                       const SegmentBounds *segments = nullptr);

/// Whether `mask` allows every pair of `tile` (constant true for a null
/// mask), or null when it has no such test.
Value buildTileFullyAllowed(IndexArith &arith, Attribute mask,
                            const TileBounds &tile);

/// Whether `mask` allows no pair of `tile`, or null when it has no such test
/// (always for a null mask).
Value buildTileWhollyMasked(IndexArith &arith, Attribute mask,
                            const TileBounds &tile);

/// Each row's key interval under `mask`, when it has one (never for a null
/// mask, whose rows need no masking).
std::optional<RowKeyInterval> getRowKeyInterval(Attribute mask);

/// The keys `[lo, hi)` each of a tile's rows may see inside the tile, when
/// they are one interval per row provided `condition` (an i1) holds on the
/// tile: kernels then mask a score with two compares.
struct TileRowKeys {
  SmallVector<KeyHull> rows;
  Value condition;
};

/// The TileRowKeys of the rows at `positions` of `tile` under `mask`: masks
/// with a row interval qualify on every tile; a neighborhood whose innermost
/// dimension is not dilated on tiles inside one innermost row of its grid;
/// an intersection whose elements qualify or have a fully-allowed tile test
/// under all their conditions (causal inside one document). Nullopt
/// otherwise.
std::optional<TileRowKeys> buildTileRowKeys(IndexArith &arith, Attribute mask,
                                            const TileBounds &tile,
                                            ArrayRef<Value> positions);

/// Whether `mask` bounds its rows' keys from below (false for a null mask).
bool hasLowerEdge(Attribute mask);

/// The run-time length checks `mask` needs (none for a null mask).
void checkMaskLengths(LoweringBuilder &builder, Attribute mask, Value kvLen);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_UTILS_MASKLOWERING_H
