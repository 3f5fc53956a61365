//===- TileConfig.h - tile sizes of attention kernels -----------*- C++ -*-===//
//
// The cost model that picks the query/kv tile sizes and pipeline stages of
// an attention kernel from the chip's shared memory, the head dims and the
// element type.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TRANSFORMS_TILECONFIG_H
#define SPARSE_ATTN_TRANSFORMS_TILECONFIG_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>

namespace mlir::sparse_attn {

/// What the tiling needs to know of a GPU.
struct ChipInfo {
  StringRef name;
  /// Shared memory one thread block may use (the opt-in maximum).
  int64_t sharedMemoryPerBlock;
  /// Pipeline stages the chip's asynchronous copies make worthwhile.
  int64_t maxStages;
  /// Whether the target has warpgroup matrix products (wgmma: sm_90a).
  bool warpgroupMma = false;
  /// Shared memory of one multiprocessor, and what each resident thread
  /// block reserves of it besides its own.
  int64_t sharedMemoryPerSM = 0;
  int64_t reservedSharedMemoryPerBlock = 1024;
  /// 32-bit registers of one multiprocessor.
  int64_t registersPerSM = 65536;
};

/// How many thread blocks of `sharedBytes` dynamic shared memory one
/// multiprocessor holds, at most `limit` (at least 1).
int64_t getBlocksPerSM(const ChipInfo &chip, int64_t sharedBytes, int64_t limit);

/// The per-thread register cap under which `blocks` thread blocks of
/// `threads` threads fit one multiprocessor (a multiple of 8), or 0 when the
/// hardware maximum of 255 already fits them.
int64_t getRegisterCap(const ChipInfo &chip, int64_t threads, int64_t blocks);

/// sm_80 (A100: 163 KB per block), sm_90 (H100: 227 KB per block) and
/// sm_90a (sm_90 with the architecture-specific wgmma and setmaxnreg).
std::optional<ChipInfo> getChipInfo(StringRef chip);

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
