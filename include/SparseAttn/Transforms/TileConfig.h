//===- TileConfig.h - tile sizes of attention kernels -----------*- C++ -*-===//
//
// The cost model that picks the query/kv tile sizes and pipeline stages of
// an attention kernel from the chip's shared memory, the head dims and the
// element type.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TRANSFORMS_TILECONFIG_H
#define SPARSE_ATTN_TRANSFORMS_TILECONFIG_H

#include "SparseAttn/Utils/ChipInfo.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>

namespace mlir::sparse_attn {

/// The tiling of one attention op.
struct AttentionTileConfig {
  int64_t blockQ;
  int64_t blockKv;
  int64_t stages;
  int64_t sharedMemoryBytes;
};

/// Shared memory of a tile: the query tile plus `stages` key and value
/// tiles, in the input element type.
int64_t getAttentionSharedMemoryBytes(int64_t blockQ, int64_t blockKv,
                                      int64_t stages, int64_t headDim,
                                      int64_t valueDim, int64_t elementBytes);

/// The problem a tile is chosen for. Lengths are nullopt when dynamic;
/// `fixedBlockQ/Kv` are set for block-sparse attention, whose tiles must
/// divide its blocks. Requested values (0 = free) override the model.
struct AttentionTileProblem {
  int64_t headDim;
  int64_t valueDim;
  int64_t elementBytes;
  std::optional<int64_t> queryLen;
  std::optional<int64_t> kvLen;
  std::optional<int64_t> fixedBlockQ;
  std::optional<int64_t> fixedBlockKv;
  int64_t requestedBlockQ = 0;
  int64_t requestedBlockKv = 0;
  int64_t requestedStages = 0;
};

/// Picks the largest tiles that fit: query tiles of 128, 64, 32 or 16 rows
/// (no more than a short static query length needs; for block-sparse
/// attention the largest divisor of the block up to 128), kv tiles likewise,
/// then the most stages up to the chip's maximum; configurations with at
/// least two stages (double buffering) win over larger single-stage tiles.
/// Fails with a diagnostic when a request cannot fit.
FailureOr<AttentionTileConfig>
chooseAttentionTile(const ChipInfo &chip, const AttentionTileProblem &problem,
                    function_ref<InFlightDiagnostic()> emitError);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_TRANSFORMS_TILECONFIG_H
