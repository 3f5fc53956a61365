//===- SegmentBounds.h - what the kernel knows of segment ids ---*- C++ -*-===//
//
// The launch that runs before a tensor-core kernel whose mask reads segment
// ids: per batch, whether the key ids are sorted; per query tile, the least
// and greatest id of its rows and the keys of its documents.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_SEGMENTBOUNDS_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_SEGMENTBOUNDS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

#include <cstdint>

namespace mlir::sparse_attn {

/// The buffers the segment-bounds launch writes.
struct SegmentBoundsBuffers {
  /// `memref<?x?xi32>`, per batch and chunk of kChunkPairs neighbouring
  /// key pairs: 1 when the ids do not decrease over them, else 0.
  Value keysSorted;
  /// `memref<?x?x4xi32>`, per batch and query tile of `blockQ` rows: the
  /// least and greatest id of its rows, then the first key whose id is at
  /// least the least and the first whose id exceeds the greatest (the
  /// tile's documents' keys `[lo, hi)`, meaningful when the key ids are
  /// sorted).
  Value tileBounds;
};

/// Neighbouring key pairs each block of the order check takes.
constexpr int64_t kChunkPairs = 2048;

/// The chunks of the order check for `kvLen` keys (an index value).
Value getSortedChunks(OpBuilder &builder, Location loc, Value kvLen);

/// In a kernel, over one warp (every lane must take part): whether
/// `batch`'s key ids are sorted by every chunk's flag in `keysSorted` (an
/// i1).
class KernelBuilder;
Value buildKeysSortedFlag(KernelBuilder &emit, Value lane, Value batch,
                          Value keysSorted, Value kvLen);

/// Emits at `builder`'s insertion point the allocation of the buffers and
/// one launch that fills them: a block per eight query tiles (a warp each:
/// the rows' ids reduced over its lanes, then two 32-way searches of the
/// key ids in step, a ballot counting the probes before each bound), and a
/// block per chunk of key pairs comparing neighbouring ids (eight
/// independent loads per thread). `idsQ` and `idsKv` are `BxS` i32
/// buffers; lengths and `batch` are index values.
SegmentBoundsBuffers buildSegmentBoundsLaunch(OpBuilder &builder, Location loc,
                                              Value idsQ, Value idsKv,
                                              Value batch, Value queryLen,
                                              Value kvLen, int64_t blockQ);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTONVGPU_SEGMENTBOUNDS_H
